"""The `blockhook` command line against the whole local stack, run as a user runs it: a process of its own
talking HTTP to the API. Monitors as code (apply, --dry-run, --prune), the exit codes, a CSV round trip of
100,000 addresses, following deliveries as they arrive, and replaying a failed one."""

from __future__ import annotations

import csv
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from blockhook.local.servers import REPO_ROOT, free_port
from tests.support.builders import new_address
from tests.support.contracts import ANVIL_ACCOUNTS, send_tx
from tests.support.local_stack import API_KEY, LocalStack, running_stack
from tests.support.receiver import WebhookReceiver, status

pytestmark = pytest.mark.e2e

APPLY_KEY = "cli-apply-key"  # a tenant of its own: --prune deletes every monitor of its tenant not in the file


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("stack"), extra_env={"BLOCKHOOK_API_KEYS": f"{API_KEY},{APPLY_KEY}"}) as local:
        yield local


def cli_env(stack: LocalStack, key: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("BLOCKHOOK_")}
    # the package as `pip install ./cli` would provide it, and never the server's package
    env["PYTHONPATH"] = str(REPO_ROOT / "cli")
    env["BLOCKHOOK_API_URL"] = stack.api  # .../v1: the CLI takes the base with or without it
    env["BLOCKHOOK_API_KEY"] = key
    return env


def blockhook(stack: LocalStack, *args: str, key: str = API_KEY, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "blockhook_cli", *args], env=cli_env(stack, key), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def call_as(stack: LocalStack, key: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, stack.api + path, headers={"x-api-key": key}, timeout=60, **kwargs)


def tenant_monitors(stack: LocalStack, key: str = APPLY_KEY) -> dict[str, dict]:
    answer = call_as(stack, key, "GET", "/monitors?limit=100")
    assert answer.status_code == 200, answer.text
    return {monitor["name"]: monitor for monitor in answer.json()["items"]}


def addresses_of(stack: LocalStack, monitor_id: str, key: str = API_KEY) -> dict[str, str | None]:
    found, cursor = {}, None
    while True:
        query = "?limit=1000" + (f"&cursor={cursor}" if cursor else "")
        answer = call_as(stack, key, "GET", f"/monitors/{monitor_id}/addresses{query}")
        assert answer.status_code == 200, answer.text
        found.update({item["address"]: item["label"] for item in answer.json()["items"]})
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return found


def monitors_file(path: Path, hook: str, everything_hook: str = "http://127.0.0.1:9/all") -> Path:
    path.write_text(f"""
monitors:
  - name: hot wallets
    chain_ids: [31337]
    webhook_url: {hook}
    filters:
      kinds: [native_transfer, erc20_transfer]
      addresses:
        - 0x70997970C51812dc3A010C7d01b50e0d17dc79C8
        - {{address: "0x{'ab' * 20}", label: customer-42}}
    confirmations: 0
    addresses_file: more.csv
  - name: everything
    chain_ids: [31337]
    webhook_url: {everything_hook}
""")
    (path.parent / "more.csv").write_text("address,label\n0x" + "cd" * 20 + ",from-csv\n0x" + "ef" * 20 + "\n")
    return path


def test_apply_creates_then_changes_nothing_then_patches_only_what_changed_and_prunes(stack, tmp_path):
    spec = monitors_file(tmp_path / "monitors.yaml", "http://127.0.0.1:9/hook")
    first = blockhook(stack, "apply", str(spec), key=APPLY_KEY)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("secret: whsec_") == 2 and "shown only now" in first.stdout
    created = tenant_monitors(stack)
    assert set(created) == {"hot wallets", "everything"}
    hot, everything = created["hot wallets"], created["everything"]
    assert hot["filters"]["kinds"] == ["native_transfer", "erc20_transfer"] and hot["confirmations"] == 0
    assert addresses_of(stack, hot["id"], APPLY_KEY) == {
        "0x70997970c51812dc3a010c7d01b50e0d17dc79c8": None, "0x" + "ab" * 20: "customer-42",
        "0x" + "cd" * 20: "from-csv", "0x" + "ef" * 20: None,
    }  # fmt: skip
    assert everything["filters"]["address_scope"] == "all"

    again = blockhook(stack, "apply", str(spec), key=APPLY_KEY)
    assert again.returncode == 0, again.stderr
    assert "= unchanged 'hot wallets'" in again.stdout and "= unchanged 'everything'" in again.stdout
    assert "secret" not in again.stdout
    after = tenant_monitors(stack)
    assert {name: m["updated_at"] for name, m in after.items()} == {name: m["updated_at"] for name, m in created.items()}
    assert after["hot wallets"]["address_count"] == 4

    time.sleep(1.1)  # updated_at is in seconds: a change now shows in it
    monitors_file(spec, "http://127.0.0.1:9/hook", everything_hook="http://127.0.0.1:9/changed")
    plan = blockhook(stack, "apply", str(spec), "--dry-run", "--exit-code", key=APPLY_KEY)
    assert plan.returncode == 4, plan.stderr
    assert "~ update 'everything'" in plan.stdout
    assert "webhook_url: 'http://127.0.0.1:9/all' -> 'http://127.0.0.1:9/changed'" in plan.stdout
    assert "= unchanged 'hot wallets'" in plan.stdout
    assert tenant_monitors(stack)["everything"]["updated_at"] == everything["updated_at"]  # a plan changes nothing

    applied = blockhook(stack, "apply", str(spec), key=APPLY_KEY)
    assert applied.returncode == 0, applied.stderr
    now = tenant_monitors(stack)
    assert now["everything"]["webhook_url"] == "http://127.0.0.1:9/changed"
    assert now["everything"]["updated_at"] > everything["updated_at"]
    assert now["hot wallets"]["updated_at"] == hot["updated_at"]  # only what changed is PATCHed

    call_as(stack, APPLY_KEY, "POST", "/monitors", json={
        "name": "made by hand", "chain_ids": [31337], "webhook_url": "http://127.0.0.1:9/hand",
    })  # fmt: skip
    spec.write_text(spec.read_text().split("  - name: everything")[0])  # the file keeps only 'hot wallets'
    pruning = blockhook(stack, "apply", str(spec), "--prune", "--dry-run", key=APPLY_KEY)
    assert pruning.returncode == 0, pruning.stderr
    assert "- delete 'everything'" in pruning.stdout and "- delete 'made by hand'" in pruning.stdout
    assert set(tenant_monitors(stack)) == {"hot wallets", "everything", "made by hand"}
    pruned = blockhook(stack, "apply", str(spec), "--prune", key=APPLY_KEY)
    assert pruned.returncode == 0, pruned.stderr
    assert set(tenant_monitors(stack)) == {"hot wallets"}


def test_a_bad_file_changes_nothing_and_exits_2(stack, tmp_path):
    before = tenant_monitors(stack)
    spec = tmp_path / "bad.yaml"
    spec.write_text("""
monitors:
  - name: fine
    chain_ids: [31337]
    webhook_url: http://127.0.0.1:9/fine
  - name: broken
    chain_ids: [31337]
    webhook_url: http://127.0.0.1:9/broken
    filters: {addresses: ["0x1234"]}
    colour: red
""")
    result = blockhook(stack, "apply", str(spec), "--prune", key=APPLY_KEY)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "monitors[1] ('broken'): unknown key 'colour'" in result.stderr
    assert "monitors[1] ('broken'): filters.addresses[0]" in result.stderr
    assert result.stdout == ""
    assert tenant_monitors(stack) == before


def test_an_api_error_exits_1_with_its_code_and_an_unreachable_api_exits_3(stack):
    wrong = blockhook(stack, "monitors", "list", key="not-a-key")
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("error: unauthorized: ")
    monitor = stack.create_monitor({"name": "ranges", "chain_ids": [31337], "webhook_url": "http://127.0.0.1:9/r"})
    invalid = blockhook(stack, "backfill", monitor["id"], "--from", "5", "--to", "1")
    assert invalid.returncode == 1 and invalid.stderr.startswith("error: invalid_range: "), invalid.stderr
    missing = blockhook(stack, "monitors", "get", "nothing has this name")
    assert missing.returncode == 1 and missing.stderr.startswith("error: not_found: ")
    env = cli_env(stack, API_KEY)
    env["BLOCKHOOK_API_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    gone = subprocess.run([sys.executable, "-m", "blockhook_cli", "chains"], env=env, capture_output=True, text=True)
    assert gone.returncode == 3, gone.stderr
    assert gone.stderr.startswith("error: cannot reach the API")


def test_100000_addresses_round_trip_through_csv(stack, tmp_path):
    monitor = stack.create_monitor({
        "name": "csv round trip", "chain_ids": [31337], "webhook_url": "http://127.0.0.1:9/csv",
        "filters": {"kinds": ["native_transfer"], "addresses": []},
    })  # fmt: skip
    bad = tmp_path / "bad.csv"
    bad.write_text("address,label\n0x" + "11" * 20 + ",ok\nnot-an-address,x\n")
    refused = blockhook(stack, "addresses", "import", monitor["id"], str(bad))
    assert refused.returncode == 2 and "line 3: 'not-an-address'" in refused.stderr
    assert stack.call("GET", f"/monitors/{monitor['id']}").json()["address_count"] == 0  # nothing was sent

    rows = {new_address(): (f"customer, {n}" if n % 3 else None) for n in range(100_000)}
    source = tmp_path / "in.csv"
    source.write_text("".join(f'{address},"{label}"\n' if label else f"{address}\n" for address, label in rows.items()))
    started = time.monotonic()
    imported = blockhook(stack, "addresses", "import", "csv round trip", str(source))
    print(f"blockhook addresses import of 100,000 addresses: {time.monotonic() - started:.1f} s")
    assert imported.returncode == 0, imported.stderr
    assert "100000 new" in imported.stdout

    exported_file = tmp_path / "out.csv"
    exported = blockhook(stack, "addresses", "export", "csv round trip", str(exported_file))
    assert exported.returncode == 0, exported.stderr
    lines = exported_file.read_text().splitlines()
    assert lines[0] == "address,label"
    back = {address: label or None for address, label in csv.reader(lines[1:])}
    assert back == rows


def wait_line(process: subprocess.Popen, stream, timeout: float) -> str:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        ready, _, _ = select.select([stream], [], [], 0.2)
        if ready:
            line = stream.readline()
            if line:
                return line
        if process.poll() is not None:
            break
    raise AssertionError(f"no line from the CLI within {timeout}s (exit code {process.poll()})")


def test_tail_prints_a_delivery_as_it_arrives_and_stops_on_ctrl_c(stack):
    watched = new_address()
    with WebhookReceiver() as receiver:
        monitor = stack.create_monitor({
            "name": "tailed", "chain_ids": [31337], "webhook_url": receiver.url, "confirmations": 0,
            "filters": {"kinds": ["native_transfer"], "addresses": [watched]},
        })  # fmt: skip
        tail = subprocess.Popen(
            [sys.executable, "-m", "blockhook_cli", "deliveries", "tail", "tailed", "--json", "--interval", "0.3"],
            env=cli_env(stack, API_KEY), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert "following the deliveries of 'tailed'" in wait_line(tail, tail.stderr, 30)
            send_tx(stack.rpc, ANVIL_ACCOUNTS[2], watched, value=10**18)
            (request,) = receiver.wait_for(timeout=30)
            line = json.loads(wait_line(tail, tail.stdout, 30))
            assert line["id"] == request.json()["id"] and line["event_count"] == 1
        finally:
            tail.send_signal(signal.SIGINT)
            tail.wait(timeout=10)
        assert tail.returncode == 0, tail.stderr.read()
        assert tail.stdout.read() == ""  # printed once
        receiver.verify_all(monitor["secret"])


def test_a_failed_delivery_is_replayed(stack):
    watched = new_address()
    # three failed attempts (the stack's retry schedule is 1,2,4 s), then the endpoint is fixed
    with WebhookReceiver(status(500), status(500), status(500), status(500)) as receiver:
        monitor = stack.create_monitor({
            "name": "replayed", "chain_ids": [31337], "webhook_url": receiver.url, "confirmations": 0,
            "filters": {"kinds": ["native_transfer"], "addresses": [watched]},
        })  # fmt: skip
        send_tx(stack.rpc, ANVIL_ACCOUNTS[3], watched, value=10**18)
        give_up = time.monotonic() + 60
        while True:
            failed = stack.call("GET", f"/monitors/{monitor['id']}/deliveries?status=failed").json()["items"]
            if failed or time.monotonic() > give_up:
                break
            time.sleep(0.5)
        (delivery,) = failed
        attempts = len(receiver.requests)

        listed = blockhook(stack, "deliveries", "list", "replayed", "--status", "failed")
        assert listed.returncode == 0 and delivery["id"] in listed.stdout
        replayed = blockhook(stack, "replay", "replayed", "--status", "failed", "--since", "10m")
        assert replayed.returncode == 0, replayed.stderr
        assert replayed.stdout.split() == [delivery["id"]]
        assert "replayed 1 failed deliveries" in replayed.stderr

        again = receiver.wait_for(lambda seen: len(seen) > attempts, timeout=30)
        assert again[-1].json()["id"] == delivery["id"]
        receiver.verify_all(monitor["secret"])
        give_up = time.monotonic() + 30
        while stack.call("GET", f"/monitors/{monitor['id']}/deliveries/{delivery['id']}").json()["status"] != "delivered":
            assert time.monotonic() < give_up, "the replayed delivery was not delivered"
            time.sleep(0.3)
        shown = blockhook(stack, "deliveries", "get", "replayed", delivery["id"])
        assert shown.returncode == 0, shown.stderr
        assert "delivered" in shown.stdout and "HTTP 500" in shown.stdout and watched in shown.stdout
        stats = blockhook(stack, "stats", "replayed", "--hours", "2", "--json")
        assert stats.returncode == 0, stats.stderr
        hours = json.loads(stats.stdout)["hours"]
        assert len(hours) == 2 and sum(hour["delivered"] for hour in hours) == 1
        table = blockhook(stack, "stats", "replayed", "--hours", "2")
        assert table.returncode == 0 and table.stdout.startswith("HOUR") and "latency over 2 h" in table.stdout
        listed = blockhook(stack, "monitors", "list")
        (row,) = [line for line in listed.stdout.splitlines() if monitor["id"] in line]
        assert "replayed" in row and "delivered" in row  # its last delivery


def test_backfill_and_reconcile_follow_their_job_to_the_end(stack):
    watched = new_address()
    paid = send_tx(stack.rpc, ANVIL_ACCOUNTS[4], watched, value=10**18)  # before any monitor watched it
    block = int(paid["blockNumber"], 16)
    # a block above it: a new monitor is matched from the head of its creation on, and this one is past
    later = send_tx(stack.rpc, ANVIL_ACCOUNTS[4], new_address(), value=1)
    stack.wait_processed(31337, int(later["blockNumber"], 16))
    with WebhookReceiver() as receiver:
        stack.create_monitor({
            "name": "looking back", "chain_ids": [31337], "webhook_url": receiver.url, "confirmations": 0,
            "filters": {"kinds": ["native_transfer"], "addresses": [watched]},
        })  # fmt: skip
        checked = blockhook(stack, "reconcile", "looking back", "--from", str(block), "--to", str(block))
        assert checked.returncode == 0, checked.stderr
        assert "missing: 1" in checked.stdout and "extra: 0" in checked.stdout
        backfilled = blockhook(stack, "backfill", "looking back", "--from", str(block), "--to", str(block))
        assert backfilled.returncode == 0, backfilled.stderr
        assert backfilled.stdout.rstrip().endswith(": done")
        (request,) = receiver.wait_for(timeout=30)
        assert request.json()["events"][0]["tx_hash"] == paid["transactionHash"]


def test_smoke_checks_a_deployment_end_to_end_and_leaves_nothing_behind(stack):
    with WebhookReceiver() as receiver:
        passed = blockhook(stack, "smoke", "--webhook-url", receiver.url)
        assert passed.returncode == 0, passed.stderr
        steps = [line.split(":")[0] for line in passed.stdout.splitlines()]
        assert steps == ["ok    health", "ok    chains", "ok    create", "ok    test delivery", "ok    read back",
                         "ok    delete"]  # fmt: skip
        (delivery,) = receiver.requests
        assert delivery.json()["test"] is True
    with WebhookReceiver(status(500)) as failing:
        failed = blockhook(stack, "smoke", "--webhook-url", failing.url)
        assert failed.returncode == 1
        assert "error: smoke step 'test delivery' failed" in failed.stderr and "answered 500" in failed.stderr
        assert "ok    delete" in failed.stdout  # the throwaway monitor is gone all the same
    names = [monitor["name"] for monitor in stack.call("GET", "/monitors?limit=100").json()["items"]]
    assert not [name for name in names if name.startswith("blockhook-smoke-")]

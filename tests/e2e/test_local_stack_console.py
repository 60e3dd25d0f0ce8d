"""`make up` as a server: its console has one readable line per API request, delivery attempt and
ingested batch and nothing else below a warning; the metrics go to a file; SIGTERM and SIGINT both stop
it and every server it started, with exit code 0 and no error."""

from __future__ import annotations

import json
import re
import signal
import time

import pytest

from tests.support.contracts import ANVIL_ACCOUNTS, send_tx
from tests.support.local_stack import LocalStack, pid_alive
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

CLOCK = r"\d\d:\d\d:\d\d\.\d{3}"
REQUEST = re.compile(rf"{CLOCK} blockhook-api +(GET|POST) (/v1/\S*) (\d{{3}}) \d+ ms tenant=(tenant_[0-9a-f]{{16}}|-)")
ATTEMPT = re.compile(rf"{CLOCK} blockhook-deliver +delivery (dlv_\w+) monitor=(mon_\w+) origin=(\w+) -> (\d{{3}}) in \d+ ms \(\w+\)")
BATCH = re.compile(rf"{CLOCK} blockhook-ingest +chain 31337 blocks (\d+)-(\d+): \d+ events, (\d+) transactions, \d+ ms")
# The lines of the program itself: its banner and its stop.
BANNER = ("blockhook is running", "  ", "Ctrl-C stops everything.", "stopping...", "stopped")


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_console_has_a_line_per_request_attempt_and_batch_and_a_signal_stops_everything(
    tmp_path, signal_number
):
    watched = "0x" + "5e" * 20
    stack = LocalStack(tmp_path)
    try:
        stack.wait_ready()
        with WebhookReceiver() as receiver:
            monitor = stack.create_monitor(
                {"name": "console", "chain_ids": [31337], "webhook_url": receiver.url,
                 "filters": {"kinds": ["native_transfer"], "addresses": [watched]}, "confirmations": 0}
            )  # fmt: skip
            receipt = send_tx(stack.rpc, ANVIL_ACCOUNTS[2], watched, value=7)
            (delivered,) = receiver.wait_for(timeout=60)
            # The receiver answers after it records the post: stopping before deliver reads that answer
            # would make the attempt one without an answer.
            give_up = time.monotonic() + 30
            while _statuses(stack, monitor["id"]) != ["delivered"] and time.monotonic() < give_up:
                time.sleep(0.1)
        children = stack.children()
    finally:
        stack.stop(signal_number)
    output = stack.output()
    assert stack.process.returncode == 0, output
    assert len(children) == 3, children  # Anvil, Tansu, the AWS server
    give_up = time.monotonic() + 10
    while any(pid_alive(pid) for pid in children) and time.monotonic() < give_up:
        time.sleep(0.1)
    assert not [pid for pid in children if pid_alive(pid)], "a server outlived the stack"

    assert "ERROR" not in output and "Traceback" not in output and "UserWarning" not in output, output
    lines = output.splitlines()
    requests = [m for m in map(REQUEST.fullmatch, lines) if m]
    attempts = [m for m in map(ATTEMPT.fullmatch, lines) if m]
    batches = [m for m in map(BATCH.fullmatch, lines) if m]
    unexplained = [
        line for line in lines
        if not (REQUEST.fullmatch(line) or ATTEMPT.fullmatch(line) or BATCH.fullmatch(line))
        and not line.startswith(BANNER)
    ]  # fmt: skip
    assert unexplained == [], output
    assert ("POST", "/v1/monitors", "201") in [m.group(1, 2, 3) for m in requests]
    assert [m.group(4) for m in requests if m.group(2) == "/v1/monitors"][0].startswith("tenant_")
    assert [m.group(1, 2, 3, 4) for m in attempts] == [
        (delivered.header("Blockhook-Delivery-Id"), monitor["id"], "live", "200")
    ]
    block = int(receipt["blockNumber"], 16)
    assert any(int(m.group(1)) <= block <= int(m.group(2)) and int(m.group(3)) >= 1 for m in batches), output

    metrics = (tmp_path / "logs" / "metrics.log").read_text().splitlines()
    published = [json.loads(line) for line in metrics]
    assert all("_aws" in document for document in published)
    assert any(document.get("service") == "blockhook-deliver" for document in published)
    assert '"_aws"' not in output


def _statuses(stack: LocalStack, monitor_id: str) -> list[str]:
    answer = stack.call("GET", f"/monitors/{monitor_id}/deliveries")
    return [item["status"] for item in answer.json()["items"]]

"""The local stack under load: does the pipeline keep up with a block a second?

1,000 monitors of 50 addresses each (50,000 watched addresses), Anvil
mining a block every second, and 50-100 native transfers sent into each block, a tenth of them to
watched addresses. Every `--sample` seconds: the node's head and the matcher's last processed block
(GET /v1/chains); the lag is head - last processed. At the end: the lag, the blocks processed per
second, the webhooks received against the watched transfers mined, and the resident memory of the
embedded servers (moto server, Tansu, Anvil: the launchers the stack uses, started here so that
their processes are known).

The first monitor is created through the API; the others, alike but for their addresses, by the
store's own create_monitor from this process (one API call at a time, as a Lambda instance serves
them, 1,000 creates take ~10 minutes here, each re-counting the tenant's monitors; `--via-api`
creates them all through the API).

    .venv/bin/python bench/load_bench.py [--monitors 1000] [--per-monitor 50] [--minutes 2.5]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import common
import requests

from tests.support.contracts import ANVIL_ACCOUNTS, rpc
from tests.support.local_stack import running_stack
from tests.support.receiver import WebhookReceiver

CHAIN_ID = 31337


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def send_batch(url: str, transfers: list[tuple[str, str, int]]) -> None:
    """One JSON-RPC batch of eth_sendTransaction (Anvil fills nonces and gas)."""
    calls = [{"jsonrpc": "2.0", "id": n, "method": "eth_sendTransaction",
              "params": [{"from": sender, "to": to, "value": hex(value), "gas": hex(21_000)}]}
             for n, (sender, to, value) in enumerate(transfers)]
    answers = requests.post(url, json=calls, timeout=30).json()
    errors = [answer["error"] for answer in answers if "error" in answer]
    if errors:
        raise RuntimeError(f"eth_sendTransaction: {errors[:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitors", type=int, default=1000)
    parser.add_argument("--per-monitor", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=2.5)
    parser.add_argument("--sample", type=float, default=10.0)
    parser.add_argument("--watched-share", type=float, default=0.1)
    parser.add_argument("--name", default="load")
    parser.add_argument("--via-api", action="store_true", help="create every monitor through the API")
    parser.add_argument("--profile-moto", type=Path, help="sample moto server's stacks into this file")
    options = parser.parse_args()
    from blockhook.local import servers

    rng = random.Random(11)
    watched = [f"0x{rng.getrandbits(160):040x}" for _ in range(options.monitors * options.per_monitor)]
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, WebhookReceiver() as receiver:
        root = Path(tmp)
        anvil = servers.anvil(servers.free_port(), CHAIN_ID, block_time=1, log_path=root / "anvil.log").start()
        tansu = servers.tansu(servers.free_port(), log_path=root / "tansu.log").start()
        moto = servers.moto(servers.free_port(), log_path=root / "moto.log")
        if options.profile_moto:
            moto.argv = [sys.executable, str(Path(__file__).with_name("moto_profiled.py")),
                         "--out", str(options.profile_moto.resolve()), *moto.argv[3:]]
        moto.start()
        env = {"BLOCKHOOK_RPC_URL": anvil.url, "BLOCKHOOK_KAFKA_BOOTSTRAP": f"127.0.0.1:{tansu.port}",
               "AWS_ENDPOINT_URL": moto.url}
        try:
            stack_dir = root / "stack"
            stack_dir.mkdir()
            with running_stack(stack_dir, env) as stack:
                started = time.monotonic()

                def addresses(n: int) -> list[str]:
                    return watched[n * options.per_monitor : (n + 1) * options.per_monitor]

                def create(n: int) -> None:
                    stack.create_monitor({
                        "name": f"load {n}", "chain_ids": [CHAIN_ID], "webhook_url": receiver.url,
                        "filters": {"kinds": ["native_transfer"], "addresses": addresses(n)}, "confirmations": 0})

                create(0)
                if options.via_api:
                    with ThreadPoolExecutor(4) as pool:
                        list(pool.map(create, range(1, options.monitors)))
                else:
                    os.environ["AWS_ENDPOINT_URL"] = moto.url
                    from blockhook.store import monitors as monitor_store
                    from blockhook.store.models import MonitorModel
                    from blockhook.store.secret_box import KmsSecretBox, ensure_local_key

                    (first,) = MonitorModel.scan()
                    fields = {name: getattr(first, name) for name in
                              ("chain_ids", "webhook_url", "kinds", "confirmations", "active")}
                    box = KmsSecretBox(ensure_local_key())

                    def store_create(n: int) -> None:
                        monitor_store.create_monitor(first.tenant_id, {**fields, "name": f"load {n}"}, box,
                                                     [(address, None) for address in addresses(n)])

                    with ThreadPoolExecutor(4) as pool:
                        list(pool.map(store_create, range(1, options.monitors)))
                setup_seconds = time.monotonic() - started
                print(f"{options.monitors} monitors created in {setup_seconds:.0f} s", flush=True)
                head = int(rpc(anvil.url, "eth_blockNumber", []), 16)
                stack.wait_processed(CHAIN_ID, head, timeout=300)

                samples = []
                sent = sent_watched = 0
                start_head = head
                started = next_sample = time.monotonic()
                last_block = head
                senders = ANVIL_ACCOUNTS[1:]
                while time.monotonic() - started < options.minutes * 60:
                    block = int(rpc(anvil.url, "eth_blockNumber", []), 16)
                    if block != last_block:  # a new block: fill the next one
                        last_block = block
                        transfers = []
                        for _ in range(rng.randint(50, 100)):
                            to_watched = rng.random() < options.watched_share
                            to = rng.choice(watched) if to_watched else f"0x{rng.getrandbits(160):040x}"
                            transfers.append((rng.choice(senders), to, rng.randint(1, 10**9)))
                            sent_watched += to_watched
                        send_batch(anvil.url, transfers)
                        sent += len(transfers)
                    now = time.monotonic()
                    if now >= next_sample:
                        status = stack.chains().get(CHAIN_ID) or {}
                        samples.append({"second": round(now - started), "head": block,
                                        "processed": status.get("last_processed"),
                                        "lag": block - (status.get("last_processed") or start_head),
                                        "moto_rss_mb": rss_mb(moto.process.pid)})
                        print(samples[-1], flush=True)
                        next_sample += options.sample
                    time.sleep(0.05)
                seconds = time.monotonic() - started
                final = samples[-1]
                memory = {"moto_server": rss_mb(moto.process.pid), "tansu": rss_mb(tansu.process.pid),
                          "anvil": rss_mb(anvil.process.pid)}
                received = sum(len(r.json().get("events", [])) for r in receiver.requests)
        finally:
            for server in (moto, tansu, anvil):
                server.stop()

    blocks = final["head"] - start_head
    processed = (final["processed"] or start_head) - start_head
    result = {
        "what": f"{options.monitors:,} monitors of {options.per_monitor} addresses on the local stack (moto server: "
                f"blockhook.local.aws_server), Anvil mining a block a second, 50-100 native transfers into each "
                f"block ({options.watched_share:.0%} to watched addresses), for {options.minutes} minutes",
        "setup_seconds_creating_monitors": round(setup_seconds),
        "seconds": round(seconds),
        "blocks_mined": blocks,
        "blocks_processed": processed,
        "blocks_processed_per_second": round(processed / seconds, 2),
        "lag_blocks_at_end": final["lag"],
        "max_lag_blocks": max(sample["lag"] for sample in samples),
        "transfers_sent": sent,
        "watched_transfers_sent": sent_watched,
        "events_delivered_by_end": received,
        "rss_mb_at_end": memory,
        "samples": samples,
        "meets_target": final["lag"] <= 2,
    }
    path = common.write_result(options.name, result)
    print({k: v for k, v in result.items() if k != "samples"})
    print(f"wrote {common.relative(path)}")


if __name__ == "__main__":
    main()

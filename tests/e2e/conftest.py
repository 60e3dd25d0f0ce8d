"""Fixtures of the whole-stack tests that put faults between the stack and its dependencies: a moto
server of the module's own, and fault proxies in front of it and of the module's `node` fixture
(the stack is pointed at the proxies; a test sets their plans)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from blockhook.local.servers import free_port, moto
from blockhook.local.stack import QUEUE_NAME
from tests.support.contracts import rpc
from tests.support.fault_proxy import FaultProxy
from tests.support.local_stack import LocalStack, running_stack

# The deliveries queue's visibility timeout in these stacks: a message whose deliver run failed comes
# back after this, not the production 60 s.
DELIVERY_VISIBILITY_SECONDS = 5


@pytest.fixture(scope="module")
def aws_endpoint(tmp_path_factory) -> str:
    server = moto(free_port(), log_path=tmp_path_factory.mktemp("moto") / "moto.log").start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def rpc_proxy(node):
    with FaultProxy(node) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def aws_proxy(aws_endpoint):
    with FaultProxy(aws_endpoint) as proxy:
        yield proxy


@contextlib.contextmanager
def stack_behind_proxies(
    state_dir: Path, chain_id: int, rpc_proxy: FaultProxy, aws_proxy: FaultProxy, aws_endpoint: str, node: str,
    retry_schedule: str, poll_interval: float,
) -> Iterator[LocalStack]:  # fmt: skip
    """The local stack on one chain, reaching its node and AWS through the proxies; ready once it has
    processed the node's head (a new chain starts there: every later block is ingested)."""
    chains_file = state_dir / "chains.json"
    chains_file.write_text(json.dumps({"chains": [{"chain_id": chain_id, "rpc_urls": [rpc_proxy.url], "confirmations": 0}]}))
    extra_env = {
        "BLOCKHOOK_CHAINS_FILE": str(chains_file),
        "AWS_ENDPOINT_URL": aws_proxy.url,
        "BLOCKHOOK_RETRY_SCHEDULE": retry_schedule,
        "BLOCKHOOK_POLL_INTERVAL": str(poll_interval),
    }
    with running_stack(state_dir, extra_env=extra_env) as local:
        sqs = boto3.client("sqs", endpoint_url=aws_endpoint)  # straight to moto: no fault meets this
        queue_url = sqs.get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": str(DELIVERY_VISIBILITY_SECONDS)})
        local.wait_processed(chain_id, head(node), timeout=60)
        yield local


def head(url: str) -> int:
    return int(rpc(url, "eth_blockNumber", []), 16)

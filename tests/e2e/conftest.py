"""Fixtures of the whole-stack tests that put faults between the stack and its dependencies: a moto
server of the module's own, and fault proxies in front of it and of the module's `node` fixture
(the stack is pointed at the proxies; a test sets their plans)."""

from __future__ import annotations

import pytest

from blockhook.local.servers import free_port, moto
from tests.support.fault_proxy import FaultProxy


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

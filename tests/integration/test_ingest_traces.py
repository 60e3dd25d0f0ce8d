"""Which call traces ingest reads a chain's blocks with: asked of the node at start, or set in the configuration."""

from __future__ import annotations

import secrets

import pytest

from blockhook.chain.reader import RpcChainReader
from blockhook.chain.registry import ChainConfig
from blockhook.chain.rpc import JsonRpcClient, RpcError, RpcUnavailable
from blockhook.ingest.service import RETRYABLE, ChainIngest
from blockhook.store.chain_state import record_trace_format, recorded_trace_format
from tests.support.contracts import ACT_CALL, ACTOR_RUNTIME, ANVIL_ACCOUNTS, act, place_contract, send_tx
from tests.support.fault_proxy import FaultProxy, ProxiedRequest, json_rpc_error

pytestmark = pytest.mark.integration

TRACE_METHODS = ("debug_traceBlockByNumber", "trace_block")


def refusing_traces(request: ProxiedRequest):
    """A node without the trace namespaces: it answers 'method not found' to any request that asks for one."""
    sent = request.json()
    calls = sent if isinstance(sent, list) else [sent]
    if any(isinstance(call, dict) and call.get("method") in TRACE_METHODS for call in calls):
        return json_rpc_error(-32601, "the method does not exist/is not available")(request)
    return None


def chain_ingest(url: str, traces: str = "auto") -> ChainIngest:
    config = ChainConfig(chain_id=2_000_000 + secrets.randbelow(10**9), rpc_urls=[url], traces=traces)
    return ChainIngest(config, RpcChainReader(JsonRpcClient([url], timeout=5, max_rounds=1)), producer=None)


@pytest.fixture
def payout_block(anvil_rpc) -> int:
    """A block in which a contract pays an account: one internal transfer."""
    actor = "0x" + secrets.token_hex(20)
    place_contract(anvil_rpc, actor, ACTOR_RUNTIME)
    receipt = send_tx(anvil_rpc, ANVIL_ACCOUNTS[2], actor, 10, act(ACT_CALL, ANVIL_ACCOUNTS[3], 4), gas=500_000)
    return int(receipt["blockNumber"], 16)


def internal_of(ingest: ChainIngest, number: int) -> list[tuple]:
    from blockhook.chain.events import block_events

    [block] = ingest.read(number, number)
    return [(e["trace_address"], e["value"]) for e in block_events(1, block) if e["kind"] == "internal_transfer"]


def test_auto_asks_the_node_and_records_what_it_serves(moto_endpoint, anvil_rpc, payout_block):
    ingest = chain_ingest(anvil_rpc)
    assert recorded_trace_format(ingest.chain_id) is None
    assert internal_of(ingest, payout_block) == [("0", "4")]
    assert ingest.reader.trace_format == "parity"  # Anvil serves both; trace_block, the cheaper, is asked first
    assert recorded_trace_format(ingest.chain_id) == "parity"


def test_a_node_without_traces_is_recorded_as_such_and_its_blocks_still_read(moto_endpoint, anvil_rpc, payout_block):
    with FaultProxy(anvil_rpc, refusing_traces) as proxy:
        ingest = chain_ingest(proxy.url)
        assert internal_of(ingest, payout_block) == []
        assert recorded_trace_format(ingest.chain_id) == "none"


def test_a_node_that_stops_serving_traces_makes_the_chain_wait_never_lose_them(moto_endpoint, anvil_rpc, payout_block):
    with FaultProxy(anvil_rpc, refusing_traces) as proxy:
        ingest = chain_ingest(proxy.url)
        record_trace_format(ingest.chain_id, "call_tracer")  # what an earlier run found
        with pytest.raises(RETRYABLE) as raised:
            ingest.read(payout_block, payout_block)
        assert isinstance(raised.value, RpcError)
        assert ingest.reader.trace_format == "call_tracer"
        assert recorded_trace_format(ingest.chain_id) == "call_tracer"


def test_an_unreachable_node_is_not_taken_for_one_without_traces(moto_endpoint):
    ingest = chain_ingest("http://127.0.0.1:9")
    with pytest.raises(RpcUnavailable):
        ingest.read(1, 1)
    assert recorded_trace_format(ingest.chain_id) is None


@pytest.mark.parametrize(("configured", "reads"), [("call_tracer", "call_tracer"), ("off", None)])
def test_the_configuration_decides_when_it_names_a_format(moto_endpoint, anvil_rpc, payout_block, configured, reads):
    ingest = chain_ingest(anvil_rpc, traces=configured)
    assert internal_of(ingest, payout_block) == ([("0", "4")] if reads else [])
    assert ingest.reader.trace_format == reads
    assert recorded_trace_format(ingest.chain_id) == (reads or "none")

"""JsonRpcClient against real local HTTP servers that misbehave in every way the client must survive."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from blockhook.chain.reader import ChainReadError, RawBlock, RpcChainReader
from blockhook.chain.rpc import MAX_CALLS_PER_REQUEST, JsonRpcClient, RpcError, RpcUnavailable, redact_url
from blockhook.local.servers import free_port

SECRET = "k3y-do-not-leak"

# A behaviour gets the parsed request and returns (HTTP status, body); a body that is not bytes is sent as JSON.
Behaviour = Callable[[Any], tuple[int, Any]]


class FakeNode:
    """A JSON-RPC server on 127.0.0.1 whose answers a test chooses; it counts the requests it gets."""

    def __init__(self, behaviour: Behaviour, delay: float = 0.0):
        self.behaviour = behaviour
        self.delay = delay
        self.requests: list[Any] = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server naming)
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                node.requests.append(request)
                if node.delay:
                    time.sleep(node.delay)
                status, body = node.behaviour(request)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v2/{SECRET}?apikey={SECRET}"

    @property
    def hits(self) -> int:
        return len(self.requests)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def node():
    started: list[FakeNode] = []

    def start(behaviour: Behaviour, delay: float = 0.0) -> FakeNode:
        fake = FakeNode(behaviour, delay)
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


def answer(request: dict, result: Any = None) -> dict:
    return {"jsonrpc": "2.0", "id": request["id"], "result": result if result is not None else echo(request)}


def echo(request: dict) -> dict:
    return {"method": request["method"], "params": request["params"]}


def good(request: Any) -> tuple[int, Any]:
    """Answers each call with an echo of it; batches in reverse order to prove matching by id."""
    if isinstance(request, list):
        return 200, [answer(call) for call in reversed(request)]
    return 200, answer(request)


def rpc_error(code: int, message: str) -> Behaviour:
    def behaviour(request: Any) -> tuple[int, Any]:
        if isinstance(request, list):
            return 200, [
                {"jsonrpc": "2.0", "id": c["id"], "error": {"code": code, "message": message}}
                for c in request
            ]
        return 200, {"jsonrpc": "2.0", "id": request["id"], "error": {"code": code, "message": message}}

    return behaviour


def refused_url() -> str:
    return f"http://127.0.0.1:{free_port()}/{SECRET}"  # nothing listens there


def test_fails_over_every_kind_of_bad_node_then_prefers_the_good_one(node):
    bad = [
        node(lambda r: (429, {"error": "slow down"})),
        node(lambda r: (500, b"internal server error")),
        node(lambda r: (502, b"<html>bad gateway</html>")),
        node(lambda r: (200, b"{not json")),
        node(lambda r: (200, {"hello": "not json-rpc"})),
        node(lambda r: (200, [answer(r)])),  # a list for a single call
        node(lambda r: (200, {"jsonrpc": "2.0", "id": 999_999, "result": "0x1"})),  # someone else's answer
        node(rpc_error(-32000, "header not found")),
        node(rpc_error(-32005, "limit exceeded")),
        node(rpc_error(-32603, "internal error")),
        node(rpc_error(-32600, "daily request count exceeded, request rate limited")),
        node(good, delay=2.0),  # slower than the client's timeout
    ]
    healthy = node(good)
    urls = [fake.url for fake in bad] + [refused_url(), healthy.url]
    client = JsonRpcClient(urls, timeout=0.5, max_rounds=1, backoff=0)

    assert client.call("eth_getBalance", ["0xabc", "latest"]) == {
        "method": "eth_getBalance",
        "params": ["0xabc", "latest"],
    }
    assert [fake.hits for fake in bad] == [1] * len(bad)
    assert healthy.hits == 1

    assert client.call("eth_chainId", []) == {"method": "eth_chainId", "params": []}
    assert [fake.hits for fake in bad] == [1] * len(bad), "the URL that worked is asked first next time"
    assert healthy.hits == 2


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (-32601, "the method eth_foo does not exist/is not available"),
        (-32602, "invalid argument 0"),
        (3, "execution reverted"),
    ],
)
def test_caller_fault_raises_at_once_without_failover(node, code, message):
    failing, healthy = node(rpc_error(code, message)), node(good)
    client = JsonRpcClient([failing.url, healthy.url], timeout=2, max_rounds=3, backoff=0)

    with pytest.raises(RpcError) as caught:
        client.call("eth_foo", [1])

    assert (caught.value.code, caught.value.message, caught.value.method) == (code, message, "eth_foo")
    assert "eth_foo" in str(caught.value)
    assert (failing.hits, healthy.hits) == (1, 0)


def test_method_missing_in_server_range_is_still_the_callers_fault(node):
    failing, healthy = (
        node(rpc_error(-32000, "the method eth_getBlockReceipts does not exist/is not available")),
        node(good),
    )
    client = JsonRpcClient([failing.url, healthy.url], backoff=0)
    with pytest.raises(RpcError) as caught:
        client.call("eth_getBlockReceipts", ["0x1"])
    assert caught.value.method_not_found
    assert healthy.hits == 0


def test_all_urls_failing_raises_unavailable_with_each_reason_and_no_secrets(node):
    too_many, broken = node(lambda r: (429, b"")), node(lambda r: (503, b""))
    missing = refused_url()
    client = JsonRpcClient([too_many.url, broken.url, missing], timeout=1, max_rounds=3, backoff=0.01)

    with pytest.raises(RpcUnavailable) as caught:
        client.call("eth_blockNumber", [])

    message = str(caught.value)
    assert (too_many.hits, broken.hits) == (3, 3)
    assert f"{redact_url(too_many.url)}: HTTP 429" in message
    assert f"{redact_url(broken.url)}: HTTP 503" in message
    assert f"{redact_url(missing)}: ConnectionError" in message
    assert "3 round(s)" in message
    assert SECRET not in message and "apikey" not in message
    # no chained exception either: requests' own messages hold the full URL
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert len(caught.value.failures) == 3


@pytest.mark.parametrize(
    ("answer", "delay", "overloaded"),
    [
        (lambda r: (429, b""), 0, True),
        (lambda r: (503, b""), 0, True),
        (rpc_error(-32005, "rate limited"), 0, True),
        (good, 2.0, True),  # slower than the timeout
        (lambda r: (500, b"internal server error"), 0, False),
        (lambda r: (200, b"{not json"), 0, False),
        (rpc_error(-32000, "header not found"), 0, False),
    ],
)
def test_unavailable_says_whether_a_node_asked_for_fewer_requests(node, answer, delay, overloaded):
    client = JsonRpcClient([node(answer, delay=delay).url], timeout=0.5, max_rounds=1, backoff=0)
    with pytest.raises(RpcUnavailable) as caught:
        client.batch([("eth_blockNumber", [])])
    assert caught.value.overloaded is overloaded


def test_one_overloaded_url_among_failures_marks_the_whole_failure(node):
    broken, limited = node(lambda r: (500, b"")), node(lambda r: (429, b""))
    client = JsonRpcClient([broken.url, limited.url], timeout=1, max_rounds=1, backoff=0)
    with pytest.raises(RpcUnavailable) as caught:
        client.call("eth_blockNumber", [])
    assert caught.value.overloaded


def test_later_round_succeeds_after_backoff(node):
    answers = iter([(500, b""), (429, b"")])
    flaky = node(lambda r: next(answers, None) or good(r))
    client = JsonRpcClient([flaky.url], timeout=2, max_rounds=3, backoff=0.01)
    assert client.call("eth_blockNumber", []) == {"method": "eth_blockNumber", "params": []}
    assert flaky.hits == 3


def test_http_error_with_a_json_rpc_body_is_read(node):
    failing, healthy = node(lambda r: (400, rpc_error(-32602, "invalid params")(r)[1])), node(good)
    client = JsonRpcClient([failing.url, healthy.url], backoff=0)
    with pytest.raises(RpcError, match="invalid params"):
        client.call("eth_getLogs", [{}])
    assert healthy.hits == 0


def test_http_error_without_json_rpc_body_fails_over(node):
    forbidden, healthy = node(lambda r: (403, {"message": "invalid api key"})), node(good)
    client = JsonRpcClient([forbidden.url, healthy.url], max_rounds=1, backoff=0)
    assert client.call("eth_chainId", []) == {"method": "eth_chainId", "params": []}
    assert forbidden.hits == 1


def test_rate_limit_answered_with_null_id_fails_over(node):
    limited = node(
        lambda r: (200, {"jsonrpc": "2.0", "id": None, "error": {"code": -32005, "message": "rate limited"}})
    )
    healthy = node(good)
    client = JsonRpcClient([limited.url, healthy.url], max_rounds=1, backoff=0)
    assert client.call("eth_chainId", [])["method"] == "eth_chainId"


def test_batch_matches_answers_by_id_in_call_order(node):
    healthy = node(good)
    client = JsonRpcClient([healthy.url])
    calls = [("eth_getBlockByNumber", [hex(n), True]) for n in range(5)]
    assert client.batch(calls) == [{"method": m, "params": p} for m, p in calls]
    assert healthy.hits == 1 and len(healthy.requests[0]) == 5


def test_large_batch_is_split_into_requests_of_at_most_100(node):
    healthy = node(good)
    client = JsonRpcClient([healthy.url])
    calls = [("eth_getTransactionReceipt", [f"0x{n:064x}"]) for n in range(250)]
    assert client.batch(calls) == [{"method": m, "params": p} for m, p in calls]
    assert [len(request) for request in healthy.requests] == [
        MAX_CALLS_PER_REQUEST,
        MAX_CALLS_PER_REQUEST,
        50,
    ]


def test_empty_batch_sends_nothing(node):
    healthy = node(good)
    assert JsonRpcClient([healthy.url]).batch([]) == []
    assert healthy.hits == 0


def test_batch_answer_missing_an_id_fails_over(node):
    lossy, healthy = node(lambda r: (200, [answer(c) for c in r[1:]])), node(good)
    client = JsonRpcClient([lossy.url, healthy.url], max_rounds=1, backoff=0)
    assert client.batch([("a", []), ("b", [1])]) == [
        {"method": "a", "params": []},
        {"method": "b", "params": [1]},
    ]
    assert (lossy.hits, healthy.hits) == (1, 1)


@pytest.mark.parametrize(
    "body",
    [
        {"jsonrpc": "2.0", "id": None, "error": {"code": 429, "message": "Too Many Requests"}},
        {"result": "not a list"},
        [{"no": "ids"}],
    ],
)
def test_batch_answer_that_is_not_a_batch_fails_over(node, body):
    odd, healthy = node(lambda r: (200, body)), node(good)
    client = JsonRpcClient([odd.url, healthy.url], max_rounds=1, backoff=0)
    assert client.batch([("a", [])]) == [{"method": "a", "params": []}]
    assert odd.hits == 1


def test_batch_with_one_server_side_error_fails_over(node):
    def partly_limited(request):
        first, *rest = request
        limited = {
            "jsonrpc": "2.0",
            "id": first["id"],
            "error": {"code": -32005, "message": "limit exceeded"},
        }
        return 200, [limited] + [answer(call) for call in rest]

    limited, healthy = node(partly_limited), node(good)
    client = JsonRpcClient([limited.url, healthy.url], max_rounds=1, backoff=0)
    assert client.batch([("a", []), ("b", [])]) == [
        {"method": "a", "params": []},
        {"method": "b", "params": []},
    ]
    assert (limited.hits, healthy.hits) == (1, 1)


def test_batch_with_a_caller_fault_raises_naming_that_call(node):
    def no_receipts_method(request):
        return 200, [
            {"jsonrpc": "2.0", "id": c["id"], "error": {"code": -32601, "message": "Method not found"}}
            if c["method"] == "eth_getBlockReceipts"
            else answer(c)
            for c in request
        ]

    picky, healthy = node(no_receipts_method), node(good)
    client = JsonRpcClient([picky.url, healthy.url], backoff=0)
    with pytest.raises(RpcError) as caught:
        client.batch([("eth_getBlockByNumber", ["0x1", True]), ("eth_getBlockReceipts", ["0x1"])])
    assert caught.value.method == "eth_getBlockReceipts" and caught.value.method_not_found
    assert healthy.hits == 0


def test_null_results_are_results(node):
    nulls = node(lambda r: (200, [{"jsonrpc": "2.0", "id": c["id"], "result": None} for c in r]))
    assert JsonRpcClient([nulls.url]).batch([("eth_getBlockByNumber", ["0x99", True])]) == [None]


class RawNode:
    """A node that answers every request with the bytes a test gives (status line, headers and body as
    sent, then the connection closed or kept), counting the connections it accepts."""

    def __init__(self, reply: Callable[[socket.socket, Any], None]) -> None:
        self.reply = reply
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as incoming:
            while True:
                headers = {}
                while (line := incoming.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                if not headers:
                    return
                self.reply(connection, json.loads(incoming.read(int(headers.get("content-length", 0)))))

    def stop(self) -> None:
        self.listener.close()


def http_answer(body: bytes, *headers: str, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    head = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {size}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def one_result(request: dict) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "0x10"}).encode()


def cut(connection: socket.socket, request: dict) -> None:
    connection.sendall(http_answer(one_result(request)[:10], length=len(one_result(request))))
    connection.shutdown(socket.SHUT_RDWR)


def stall(connection: socket.socket, request: dict) -> None:
    connection.sendall(http_answer(one_result(request)[:10], length=len(one_result(request))))
    time.sleep(1.5)


@pytest.mark.parametrize(
    ("reply", "timeout", "reason", "overloaded"),
    [
        (cut, 2, "answer cut short", False),
        (stall, 0.5, "timed out after 0.5s", True),  # stalls midway: the node is slow, ask it less
    ],
    ids=["cut short", "stalls midway"],
)
def test_an_answer_not_read_whole_fails_over_with_its_reason(reply, timeout, reason, overloaded):
    node = RawNode(reply)
    try:
        client = JsonRpcClient([node.url], timeout=timeout, max_rounds=1, backoff=0)
        with pytest.raises(RpcUnavailable) as caught:
            client.call("eth_blockNumber", [])
    finally:
        node.stop()
    assert reason in str(caught.value) and caught.value.overloaded is overloaded


def test_answers_read_whole_keep_their_connection_and_gzip_is_decoded():
    # Hosted providers compress their answers; each answer is read in one call and the connection reused.
    def compressed(connection: socket.socket, request: dict) -> None:
        connection.sendall(http_answer(gzip.compress(one_result(request)), "Content-Encoding: gzip"))

    node = RawNode(compressed)
    try:
        client = JsonRpcClient([node.url], timeout=2)
        answers = [client.call("eth_blockNumber", []) for _ in range(20)]
    finally:
        node.stop()
    assert answers == ["0x10"] * 20
    assert node.connections == 1


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://eth-mainnet.g.alchemy.com/v2/abcdef", "https://eth-mainnet.g.alchemy.com"),
        ("https://user:pass@node.example:8443/path?key=1", "https://node.example:8443"),
        ("http://[::1]:8545/x", "http://[::1]:8545"),
        ("http://127.0.0.1:99999999/", "<invalid url>"),
    ],
)
def test_redact_url_keeps_scheme_and_host_only(url, shown):
    assert redact_url(url) == shown


def test_client_needs_urls():
    with pytest.raises(ValueError):
        JsonRpcClient([])


# RpcChainReader over a fake node: the node's inconsistencies must become clear errors.


def block_hash_of(number: int, branch: str = "a") -> str:
    return "0x" + (branch * 2 + f"{number:062x}")[-64:]


def tx_hash_of(number: int, index: int) -> str:
    return "0x" + f"{number:032x}{index:032x}"


class FakeChain:
    """Blocks 0..head, two transactions each; tests spoil parts of its answers."""

    def __init__(self, head: int, block_receipts: bool = True):
        self.head = head
        self.block_receipts = block_receipts
        self.blocks = {n: self._block(n) for n in range(head + 1)}
        self.receipts = {n: [self._receipt(n, i) for i in range(2)] for n in range(head + 1)}
        self.methods: list[str] = []
        self.tags: dict[str, int] = {}  # block tags the node knows besides numbers: "safe", "finalized"

    def _block(self, n: int) -> dict:
        return {
            "number": hex(n),
            "hash": block_hash_of(n),
            "parentHash": block_hash_of(n - 1) if n else "0x" + "00" * 32,
            "timestamp": hex(1_700_000_000 + n),
            "transactions": [{"hash": tx_hash_of(n, i), "transactionIndex": hex(i)} for i in range(2)],
        }

    def _receipt(self, n: int, i: int) -> dict:
        return {
            "transactionHash": tx_hash_of(n, i),
            "blockHash": block_hash_of(n),
            "status": "0x1",
            "logs": [],
        }

    def result(self, method: str, params: list) -> dict:
        self.methods.append(method)
        if method == "eth_chainId":
            return {"result": "0x7a69"}
        if method == "eth_blockNumber":
            return {"result": hex(self.head)}
        if method == "eth_getBlockByNumber":
            if not params[0].startswith("0x"):
                if params[0] not in self.tags:
                    return {"error": {"code": -32602, "message": f"unknown block tag {params[0]}"}}
                params = [hex(self.tags[params[0]]), *params[1:]]
            block = self.blocks.get(int(params[0], 16))
            if block is not None and not params[1]:
                block = {**block, "transactions": [tx["hash"] for tx in block["transactions"]]}
            return {"result": block}
        if method == "eth_getBlockReceipts":
            if not self.block_receipts:
                return {"error": {"code": -32601, "message": "Method not found"}}
            return {"result": self.receipts.get(int(params[0], 16))}
        if method == "eth_getTransactionReceipt":
            found = [r for rs in self.receipts.values() for r in rs if r["transactionHash"] == params[0]]
            return {"result": found[0] if found else None}
        return {"error": {"code": -32601, "message": "Method not found"}}

    def __call__(self, request: Any) -> tuple[int, Any]:
        calls = request if isinstance(request, list) else [request]
        answers = [{"jsonrpc": "2.0", "id": c["id"], **self.result(c["method"], c["params"])} for c in calls]
        return 200, answers if isinstance(request, list) else answers[0]


@pytest.fixture
def chain_node(node):
    def start(head: int = 9, block_receipts: bool = True) -> tuple[FakeChain, RpcChainReader]:
        chain = FakeChain(head, block_receipts)
        return chain, RpcChainReader(JsonRpcClient([node(chain).url], max_rounds=1, backoff=0))

    return start


def test_reader_reads_a_range_in_one_request_and_stops_at_the_first_missing_block(chain_node):
    chain, reader = chain_node(head=6)
    assert reader.chain_id() == 31337 and reader.head() == 6

    blocks = reader.blocks(4, 9)

    assert [b.number for b in blocks] == [4, 5, 6]
    assert blocks[0] == RawBlock(
        number=4,
        hash=block_hash_of(4),
        parent_hash=block_hash_of(3),
        timestamp=1_700_000_004,
        transactions=chain.blocks[4]["transactions"],
        receipts=chain.receipts[4],
    )
    assert chain.methods.count("eth_getBlockReceipts") == 6  # all asked in the same batch
    assert reader.blocks(7, 9) == [] and reader.blocks(3, 2) == []
    assert reader.block_hash(5) == block_hash_of(5) and reader.block_hash(7) is None


def test_reader_falls_back_to_transaction_receipts_and_remembers(chain_node):
    chain, reader = chain_node(block_receipts=False)
    first = reader.blocks(0, 2)
    chain.methods.clear()
    second = reader.blocks(3, 4)

    assert [b.number for b in first + second] == [0, 1, 2, 3, 4]
    assert [r["transactionHash"] for r in second[1].receipts] == [tx_hash_of(4, 0), tx_hash_of(4, 1)]
    assert "eth_getBlockReceipts" not in chain.methods
    assert chain.methods.count("eth_getTransactionReceipt") == 4


def spoil_count(chain: FakeChain) -> None:
    chain.receipts[2] = chain.receipts[2][:1]


def spoil_hash(chain: FakeChain) -> None:
    chain.receipts[2] = list(reversed(chain.receipts[2]))


def spoil_block_hash(chain: FakeChain) -> None:
    chain.receipts[2][0]["blockHash"] = block_hash_of(2, "b")


def spoil_link(chain: FakeChain) -> None:
    chain.blocks[2]["parentHash"] = block_hash_of(1, "b")


def spoil_receipts_missing(chain: FakeChain) -> None:
    chain.receipts[2] = None


def spoil_block_field(chain: FakeChain) -> None:
    chain.blocks[2]["timestamp"] = "soon"


def spoil_number(chain: FakeChain) -> None:
    chain.blocks[2]["number"] = "0x3"


def spoil_tx_hashes_only(chain: FakeChain) -> None:
    chain.blocks[2]["transactions"] = [tx["hash"] for tx in chain.blocks[2]["transactions"]]


@pytest.mark.parametrize(
    ("spoil", "expected"),
    [
        (spoil_count, "1 receipts for 2 transactions"),
        (spoil_hash, f"receipt 0 is for {tx_hash_of(2, 1)}"),
        (spoil_block_hash, "belongs to block"),
        (spoil_link, "parent hash"),
        (spoil_receipts_missing, "no receipts"),
        (spoil_block_field, "timestamp"),
        (spoil_number, "answered block 3"),
        (spoil_tx_hashes_only, "transaction 0 is not an object"),
    ],
)
def test_reader_refuses_inconsistent_answers(chain_node, spoil, expected):
    chain, reader = chain_node()
    spoil(chain)
    with pytest.raises(ChainReadError, match="block 2") as caught:
        reader.blocks(1, 3)
    assert expected in str(caught.value)


def test_reader_fallback_refuses_a_missing_transaction_receipt(chain_node):
    chain, reader = chain_node(block_receipts=False)
    chain.receipts[2] = chain.receipts[2][:1]
    with pytest.raises(ChainReadError, match=f"no receipt for {tx_hash_of(2, 1)}"):
        reader.blocks(2, 2)


def test_finality_reads_the_nodes_safe_and_finalized_blocks_and_none_for_a_tag_it_lacks(chain_node):
    chain, reader = chain_node(head=9)
    assert reader.finality() == {"safe": None, "finalized": None}
    chain.tags = {"safe": 7, "finalized": 5}
    assert reader.finality() == {"safe": 7, "finalized": 5}
    chain.tags = {"safe": 7}
    assert reader.finality() == {"safe": 7, "finalized": None}

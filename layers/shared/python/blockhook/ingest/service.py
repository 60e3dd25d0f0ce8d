"""Read new blocks of each chain and publish them to Kafka, checkpoint after the ack.

Order of one step: fetch a batch of blocks, check each block's parent hash against the
block before it, produce the blocks, wait for the broker's acknowledgement, then move
the checkpoint. A crash anywhere repeats blocks, never skips one. Several batches are fetched at
once (the chain's request window, `OrderedFetch`), but only fetching runs ahead: batches are handed
out strictly by block number, each checked, produced, acknowledged and checkpointed before the next
is looked at, and a batch the node refused is fetched again before any batch behind it is used.
So what reaches Kafka, and when the checkpoint moves, is as with one request at a time.

A parent-hash mismatch is a reorganisation: walk back to the common ancestor, publish a `revert` for each
replaced block (newest first), and continue on the new branch. So is a node whose head is
below the checkpoint on another branch (a failover node on another fork).

The checkpoint is rewound, with the reverts it owes, before they are published: after a crash
in between, the next poll publishes them first. Had it moved after them, a chain that came back
to the reverted blocks meanwhile would find its checkpoint on them again and never publish them
anew, though the matcher had taken them back.
"""

from __future__ import annotations

import contextvars
import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

from blockhook.chain.events import MalformedBlockError, block_events
from blockhook.chain.reader import ChainReader, ChainReadError, RawBlock
from blockhook.chain.registry import ChainConfig
from blockhook.chain.rpc import RpcError, RpcUnavailable
from blockhook.ingest.window import RequestWindow
from blockhook.store.chain_state import (
    NO_TRACES,
    Checkpoint,
    CheckpointConflict,
    NodeHeads,
    load_checkpoint,
    load_node_heads,
    record_genesis,
    record_head,
    record_node_heads,
    record_trace_format,
    recorded_genesis,
    recorded_trace_format,
    reset_chain,
    rewind_checkpoint,
    save_checkpoint,
)
from blockhook.store.leases import ChainLeases
from blockhook.store.matches import drop_waiting
from blockhook.streaming.codec import BackfillTarget, BlockHeader, correlation_id
from blockhook.streaming.producer import BlockProducer, ProduceFailed

logger = logging.getLogger(__name__)

# The expected failures that end one chain's poll (logged without a trace); any other ends it too, and
# every one is retried at the chain's next poll: nothing was checkpointed.
RETRYABLE = (RpcUnavailable, RpcError, ChainReadError, CheckpointConflict, ProduceFailed, MalformedBlockError)

# How often an invocation asks again for a chain's lease that another holds.
LEASE_RETRY_SECONDS = 1.0


class PastBlocks(Protocol):
    """The past blocks a chain's thread publishes between its polls, for monitors' backfills and
    reconciles (ingest/backfill.py)."""

    def step(self, chain_id: int) -> int:
        """Publish a batch of the chain's jobs; how many blocks it published."""

    def close(self, chain_id: int) -> None:
        """End whatever the chain's jobs keep running between steps."""


@dataclass
class PollResult:
    chain_id: int
    head: int | None = None
    head_age: float | None = None  # seconds since the node's head last moved
    blocks: int = 0
    reverts: int = 0
    error: str | None = None


class ChainIngest:
    def __init__(self, config: ChainConfig, reader: ChainReader, producer: BlockProducer) -> None:
        self.config = config
        self.reader = reader
        self.producer = producer
        self._genesis_checked = False
        self._traces_decided = False
        self._heads: NodeHeads | None = None  # what the node said last (loaded on the first poll)
        self._heads_loaded = False
        self._finality_tags = True  # until the node shows it knows neither tag
        self.clock = time.time
        # Requests in flight, kept from poll to poll: a provider that limited us stays asked gently.
        self.window = RequestWindow(config.max_requests_in_flight)
        self.monotonic = time.monotonic
        self.sleep = time.sleep

    @property
    def chain_id(self) -> int:
        return self.config.chain_id

    def read(self, start: int, end: int) -> list[RawBlock]:
        """Blocks start..end from the node, with call traces where this chain reads them."""
        self._decide_traces()
        return self.reader.blocks(start, end)

    def fetch(self, last: int, should_stop: Callable[[], bool] = lambda: False) -> OrderedFetch:
        """Batches of this chain's blocks up to `last`, fetched through its request window, handed
        out in order (`with ingest.fetch(last) as fetcher: fetcher.take(start)`)."""
        return OrderedFetch(self, last, should_stop)

    def _check_genesis(self) -> None:
        """Once per process, before the checkpoint is used: a checkpoint belongs to the chain it was made
        on. A node whose genesis block is another one (a local node started anew, a node swapped for
        another network under the same chain id) has none of its blocks: the chain starts fresh there,
        at the node's head, instead of reading its blocks against hashes it never had."""
        if self._genesis_checked:
            return
        genesis = self.reader.genesis_hash()
        if genesis is None:
            return  # the node does not say: asked again at the next poll
        recorded = recorded_genesis(self.chain_id)
        if recorded is not None and recorded != genesis:
            logger.warning(
                "chain %s: the node's genesis block is %s, not %s as when the checkpoint was made: "
                "starting the chain fresh at the node's head",
                self.chain_id, genesis, recorded,
                extra={"chain_id": self.chain_id, "genesis": genesis, "recorded_genesis": recorded},
            )  # fmt: skip
            reset_chain(self.chain_id)
            dropped = drop_waiting(self.chain_id)
            if dropped:
                logger.warning(
                    "chain %s: %d matches that waited for confirmations on the old chain are dropped",
                    self.chain_id, dropped, extra={"chain_id": self.chain_id, "dropped": dropped},
                )  # fmt: skip
            self._traces_decided, self._heads, self._heads_loaded = False, None, False
        if recorded != genesis:
            record_genesis(self.chain_id, genesis)
        self._genesis_checked = True

    def _decide_traces(self) -> None:
        """Once per process, before any block is read: which trace format the blocks are read with.

        "auto" asks the node; a node that no longer answers for a format it served before keeps
        that format (its blocks then fail to read and the chain waits, alarmed) rather than
        silently losing internal transfers."""
        if self._traces_decided:
            return
        self._check_genesis()
        wanted = self.config.traces
        recorded = recorded_trace_format(self.chain_id)
        if wanted == "off":
            chosen = None
        elif wanted != "auto":
            chosen = wanted
        else:
            chosen = self.reader.detect_trace_format()
            if chosen is None and recorded not in (None, NO_TRACES):
                logger.error(
                    "node no longer serves the call traces it served: still reading them",
                    extra={"chain_id": self.chain_id, "trace_format": recorded},
                )
                chosen = recorded
        if (chosen or NO_TRACES) != recorded:
            record_trace_format(self.chain_id, chosen)
        self.reader.trace_format = chosen
        self._traces_decided = True
        logger.info("call traces", extra={"chain_id": self.chain_id, "trace_format": chosen or NO_TRACES})

    def poll(self, should_stop: Callable[[], bool] = lambda: False) -> PollResult:
        """Publish every block up to the current head (or until told to stop)."""
        result = PollResult(self.chain_id)
        self._check_genesis()
        self._decide_traces()
        checkpoint = load_checkpoint(self.chain_id)
        head = self.reader.head()
        finality = self._finality()
        self._record_heads(head, finality)
        result.head, result.head_age = head, self.clock() - self._heads.head_moved_at
        if checkpoint.reverting:
            checkpoint = self._publish_reverts(checkpoint)  # owed since a poll that failed
        if self._left_our_branch(checkpoint, head):
            checkpoint, reverted = self._unwind(checkpoint)
            result.reverts += reverted
        next_number = self._first_block(checkpoint, head)
        # Batches are fetched ahead, several requests in flight (the chain's window), while this one is
        # produced; only the fetch runs ahead: each batch is still checked against the checkpoint,
        # produced, acknowledged and checkpointed in order, one at a time.
        with self.fetch(head, should_stop) as fetcher:
            while next_number <= head and not should_stop():
                blocks = fetcher.take(next_number)
                if not blocks:
                    break
                accepted = _linked_prefix(checkpoint.hash, blocks)
                if accepted:
                    self.publish(accepted, finality=finality)
                    checkpoint = save_checkpoint(checkpoint, [(b.number, b.hash) for b in accepted], head)
                    result.blocks += len(accepted)
                if len(accepted) < len(blocks):
                    fetcher.drop()  # fetched on the old branch; the reorg walk below reads the node itself
                    checkpoint, reverted = self._unwind(checkpoint)
                    result.reverts += reverted
                next_number = (checkpoint.number or 0) + 1
        if checkpoint.head != head and result.blocks == 0 and result.reverts == 0:
            record_head(self.chain_id, head)
        return result

    def _left_our_branch(self, checkpoint: Checkpoint, head: int) -> bool:
        """Whether a node behind our checkpoint is on another branch: a node that is only behind
        (a lagging failover node) has our block at its head. At or past our checkpoint, the next
        block's parent hash tells."""
        if checkpoint.number is None or head >= checkpoint.number or head not in checkpoint.window:
            return False
        found = self.reader.block_hash(head)
        # No block there (a load balancer's node further behind than the one that told the head)
        # says nothing about branches.
        return found is not None and found != checkpoint.window[head]

    def _first_block(self, checkpoint: Checkpoint, head: int) -> int:
        if checkpoint.number is not None:
            return checkpoint.number + 1
        # A new chain starts at its head (or the configured block): history is what backfill is for.
        return self.config.start_block if self.config.start_block is not None else head

    def _finality(self) -> dict[str, int | None]:
        """The node's safe and finalized heads; asked no more once the node showed it knows neither."""
        if not self._finality_tags:
            return {}
        finality = self.reader.finality()
        self._finality_tags = any(head is not None for head in finality.values())
        return finality

    def _record_heads(self, head: int, finality: dict[str, int | None]) -> None:
        if not self._heads_loaded:
            self._heads, self._heads_loaded = load_node_heads(self.chain_id), True
        self._heads = record_node_heads(self.chain_id, head, finality, self.clock(), self._heads)

    def publish(
        self,
        blocks: Sequence[RawBlock],
        backfill: BackfillTarget | None = None,
        finality: dict[str, int | None] | None = None,
    ) -> None:
        """Produce the blocks and wait for the broker's acknowledgement of every message. `finality`: the
        node's safe and finalized heads, which the matcher releases waiting matches by."""
        started = time.monotonic()
        headers = []
        events = 0
        for block in blocks:
            header = BlockHeader(self.chain_id, block.number, block.hash, block.parent_hash, block.timestamp)
            found = block_events(self.chain_id, block)
            self.producer.send_block(header, found, backfill=backfill, finality=finality)
            headers.append(header)
            events += len(found)
        self.producer.flush()
        backfill_job = {"backfill_job_id": backfill.job_id} if backfill is not None else {}
        if blocks:
            logger.info(
                "blocks published",
                extra={
                    "chain_id": self.chain_id, "first_block": blocks[0].number, "last_block": blocks[-1].number,
                    "events": events, "transactions": sum(len(block.transactions) for block in blocks),
                    "ms": round((time.monotonic() - started) * 1000), **backfill_job,
                },
            )  # fmt: skip
        for header in headers:  # acknowledged: the first log line of the block's correlation id
            logger.info(
                "block published",
                extra={"correlation_id": header.correlation_id, "block_number": header.number, **backfill_job},
            )

    def _unwind(self, checkpoint: Checkpoint) -> tuple[Checkpoint, int]:
        """Revert the blocks above the common ancestor of our window and the canonical chain."""
        ancestor = None
        for number in sorted(checkpoint.window, reverse=True):
            if self.reader.block_hash(number) == checkpoint.window[number]:
                ancestor = number
                break
        if ancestor is None:
            oldest = min(checkpoint.window) if checkpoint.window else (checkpoint.number or 0)
            ancestor = oldest - 1
            logger.error(
                "reorg deeper than the hash window",
                extra={"chain_id": self.chain_id, "window_from": oldest, "checkpoint": checkpoint.number},
            )
        replaced = sorted(((n, h) for n, h in checkpoint.window.items() if n > ancestor), reverse=True)
        logger.warning(
            "reorg", extra={"chain_id": self.chain_id, "ancestor": ancestor, "reverted": len(replaced)}
        )
        checkpoint = rewind_checkpoint(checkpoint, ancestor, reverting=replaced)
        return self._publish_reverts(checkpoint), len(replaced)

    def _publish_reverts(self, checkpoint: Checkpoint) -> Checkpoint:
        """Publish the reverts the checkpoint owes, wait for the broker's acknowledgement, then
        forget them."""
        for number, block_hash in checkpoint.reverting:
            self.producer.send_revert(self.chain_id, number, block_hash)
        self.producer.flush()
        for number, block_hash in checkpoint.reverting:
            logger.info(
                "revert published",
                extra={"correlation_id": correlation_id(self.chain_id, block_hash), "block_number": number},
            )
        return save_checkpoint(checkpoint, [], checkpoint.head)


# A batch refused as too much (or timed out) is sent again after the back-off this many times
# before the poll gives up on it (and the chain is tried again at its next poll, from the same block).
OVERLOAD_RETRIES = 4


@dataclass
class _Batch:
    start: int
    end: int
    future: Future | None = None  # None: to be sent (again)
    sent_at: float = 0.0
    attempts: int = 0


class OrderedFetch:
    """Batches of `max_blocks_per_batch` blocks from a start up to `last`, each one batched JSON-RPC
    request; up to the chain's window of them in flight at once on worker threads, handed out in
    order by `take`. A batch the node refused as too much (or that timed out) narrows the window
    and is sent again after its back-off; the batches behind it wait their turn, so nothing is
    skipped or handed out twice. The ingest's reader and client are used from the worker threads:
    they keep no state per request."""

    def __init__(self, ingest: ChainIngest, last: int, should_stop: Callable[[], bool]) -> None:
        self.ingest = ingest
        self.last = last
        self.should_stop = should_stop
        self.window = ingest.window
        self.size = ingest.config.max_blocks_per_batch
        self._pending: deque[_Batch] = deque()
        self._pool = ThreadPoolExecutor(
            max_workers=self.window.maximum, thread_name_prefix=f"fetch-{ingest.chain_id}"
        )

    def __enter__(self) -> OrderedFetch:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Forget what is fetched ahead and wait for the requests still running: no fetch outlives its
        poll (or, for a backfill's, its invocation)."""
        self.drop()
        self._pool.shutdown(wait=True)

    def take(self, start: int) -> list[RawBlock]:
        """The blocks of the batch that begins at `start` (fewer when the node does not have them all
        yet: the batches fetched past it are then dropped); [] past `last` or when told to stop
        while backing off. Raises what the fetch raised, as a direct read would."""
        if self._pending and self._pending[0].start != start:
            self.drop()
        while True:
            if start > self.last:
                return []
            self._fill(start)
            batch = self._pending[0] if self._pending else None
            if batch is None or batch.future is None:
                if self.should_stop():
                    return []
                self._pause()
                continue
            error = batch.future.exception()
            if error is not None:
                if self._overloaded(batch, error):
                    continue
                self.drop()
                raise error
            blocks = batch.future.result()
            self._pending.popleft()
            self.window.answered(batch.sent_at)
            if len(blocks) < batch.end - batch.start + 1:
                self.drop()  # the node has no more yet: what was fetched past it cannot follow on
            else:
                self._fill(batch.end + 1)  # its room goes to the next batch now, not after this one is published
            return blocks

    def drop(self) -> None:
        """Forget the batches fetched ahead (a reorg, a short batch); those still running finish
        unseen."""
        for batch in self._pending:
            if batch.future is not None:
                batch.future.cancel()
        self._pending.clear()

    def _fill(self, start: int) -> None:
        """Note the batches refused as too much, then send what the window has room for: batches to
        send again first, in order, then new ones after the last."""
        for batch in list(self._pending)[1:]:
            if batch.future is not None and batch.future.done() and batch.future.exception() is not None:
                self._overloaded(batch, batch.future.exception())
        now = self.ingest.monotonic()
        for batch in self._pending:
            if batch.future is None:
                if not self.window.room(self._in_flight(), now):
                    return
                self._send(batch, now)
        while len(self._pending) < self.window.size and self.window.room(self._in_flight(), now):
            first = self._pending[-1].end + 1 if self._pending else start
            if first > self.last:
                return
            batch = _Batch(first, min(self.last, first + self.size - 1))
            self._pending.append(batch)
            self._send(batch, now)

    def _overloaded(self, batch: _Batch, error: BaseException) -> bool:
        """For a batch the node refused as too much: narrow the window and mark the batch to be sent
        again (True); any other failure, or too many refusals of the batch, is its reader's to raise."""
        if not (isinstance(error, RpcUnavailable) and error.overloaded) or batch.attempts > OVERLOAD_RETRIES:
            return False
        before = self.window.size
        self.window.overloaded(batch.sent_at, self.ingest.monotonic())
        batch.future = None
        if self.window.size < before:
            logger.warning(
                "node overloaded: fewer requests in flight",
                extra={"chain_id": self.ingest.chain_id, "requests_in_flight": self.window.size,
                       "back_off_seconds": round(self.window.wait(self.ingest.monotonic()), 2), "error": str(error)},
            )  # fmt: skip
        return True

    def _send(self, batch: _Batch, now: float) -> None:
        batch.sent_at, batch.attempts = now, batch.attempts + 1
        read = contextvars.copy_context().run  # its log lines are this poll's
        batch.future = self._pool.submit(read, self.ingest.read, batch.start, batch.end)

    def _in_flight(self) -> int:
        return sum(1 for batch in self._pending if batch.future is not None and not batch.future.done())

    def _pause(self) -> None:
        """Wait out the back-off, or for a request in flight to end (its room is the next send's)."""
        wait_for = self.window.wait(self.ingest.monotonic())
        if wait_for > 0:
            self.ingest.sleep(min(wait_for, 0.5))
            return
        running = [b.future for b in self._pending if b.future is not None and not b.future.done()]
        if running:
            wait(running, timeout=0.5, return_when=FIRST_COMPLETED)


def _linked_prefix(parent_hash: str | None, blocks: Sequence[RawBlock]) -> list[RawBlock]:
    """The leading blocks that chain onto `parent_hash` and onto each other."""
    accepted: list[RawBlock] = []
    expected = parent_hash
    for block in blocks:
        if expected is not None and block.parent_hash != expected:
            break
        accepted.append(block)
        expected = block.hash
    return accepted


# Collections of the youngest generation after this many new objects, not CPython's 700: see settle_heap.
GC_THRESHOLD = (100_000, 20, 100)


def settle_heap() -> None:
    """The ingest process's garbage collection, set once wired and again at each run's start.

    Catching up, a batch of 25 blocks parses into several hundred thousand objects that live about a
    second, in no cycle, and are freed by reference counting; at CPython's thresholds they were
    promoted generation by generation and walked, with every object of the process (botocore's
    models, the Kafka client), by a full collection several times a batch: about a third of
    ingest's CPU on mainnet-shaped blocks (bench/README.md). What is alive now is frozen out of the
    collections (gc.freeze; still freed by reference counting when dropped), and the young
    generation is collected 140x less often. Cyclic garbage is still collected, later."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def run_ingest(
    ingests: Sequence[ChainIngest],
    should_stop: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    backfills: PastBlocks | None = None,
    leases: ChainLeases | None = None,
) -> list[PollResult]:
    """Poll every chain at its own interval until `should_stop` says the time is up; after a chain's
    poll, publish a batch of that chain's pending backfills (its live blocks always go first), and
    close them when the chain's thread ends.

    Each chain runs in a thread of its own: a node that hangs holds up its own chain for as long as
    its RPC timeout, never another chain, and whatever one chain's poll raises ends that poll alone.
    With `leases`, a chain is polled only while this invocation holds its lease (store/leases.py),
    waited for while another does."""
    results: list[PollResult] = []
    lock = threading.Lock()

    def run_chain(ingest: ChainIngest) -> None:
        if leases is None:
            return poll_chain(ingest)
        if not _take_lease(leases, ingest.chain_id, should_stop, sleep):
            return None
        try:
            return poll_chain(ingest)
        finally:
            _release_lease(leases, ingest.chain_id)

    def poll_chain(ingest: ChainIngest) -> None:
        try:
            while not should_stop():
                started = clock()
                result = _poll_safely(ingest, should_stop)
                with lock:
                    results.append(result)
                if backfills is not None and not should_stop() and _backfill_safely(backfills, ingest.chain_id):
                    continue  # more backfill work may be waiting: poll again without sleeping
                while not should_stop():
                    left = started + ingest.config.poll_interval - clock()
                    if left <= 0:
                        break
                    sleep(min(left, 0.5))
        finally:
            if backfills is not None:
                _close_safely(backfills, ingest.chain_id)

    # Each thread in a copy of the caller's context: the invocation's logging keys hold in it too.
    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(run_chain, ingest),
                         name=f"ingest-{ingest.chain_id}", daemon=True)
        for ingest in ingests
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    # Every chain's thread ends once `should_stop` holds and its current call returns (bounded by the
    # node's RPC timeout): none is left running into the next invocation of a warm Lambda.
    for thread in threads:
        thread.join()
    return results


def _take_lease(
    leases: ChainLeases, chain_id: int, should_stop: Callable[[], bool], sleep: Callable[[float], None]
) -> bool:
    """Wait for the chain's lease until `should_stop`: a holder about to stop lets go within a second or
    two of this invocation's start, and one that crashed frees it at its deadline."""
    waited = False
    while True:
        try:
            if leases.take(chain_id):
                return True
        except Exception as error:  # the state table unreachable: nothing polled, asked again below
            logger.warning("cannot take the chain's ingest lease", extra={"chain_id": chain_id, "error": str(error)})
        if not waited:
            logger.info("chain held by another ingest: waiting for its lease", extra={"chain_id": chain_id})
            waited = True
        if should_stop():
            return False
        sleep(LEASE_RETRY_SECONDS)


def _release_lease(leases: ChainLeases, chain_id: int) -> None:
    try:
        leases.release(chain_id)
    except Exception as error:  # it runs out at this invocation's deadline anyway
        logger.warning("cannot release the chain's ingest lease", extra={"chain_id": chain_id, "error": str(error)})


def _backfill_safely(backfills: PastBlocks, chain_id: int) -> int:
    try:
        return backfills.step(chain_id)
    except Exception as error:  # one chain's backfill trouble is that chain's alone; retried next time
        logger.warning(
            "backfill step failed",
            extra={"chain_id": chain_id, "error": f"{type(error).__name__}: {error}"},
            exc_info=not isinstance(error, RETRYABLE),
        )
        return 0


def _close_safely(backfills: PastBlocks, chain_id: int) -> None:
    try:
        backfills.close(chain_id)
    except Exception:  # its requests were still running; nothing was published from them
        logger.warning("cannot end the backfill fetches", extra={"chain_id": chain_id}, exc_info=True)


def _poll_safely(ingest: ChainIngest, should_stop: Callable[[], bool]) -> PollResult:
    try:
        return ingest.poll(should_stop)
    except Exception as error:
        # Nothing past the last acknowledged batch was checkpointed: the next poll resumes there, and the
        # chain waits at the block that failed (a node down or answering garbage, a block that cannot be
        # read or encoded, a produce refused). The other chains go on. An unexpected kind is logged whole.
        ingest.producer.discard()
        logger.warning(
            "ingest poll failed",
            extra={"chain_id": ingest.chain_id, "error": f"{type(error).__name__}: {error}"},
            exc_info=not isinstance(error, RETRYABLE),
        )
        return PollResult(ingest.chain_id, error=f"{type(error).__name__}: {error}")

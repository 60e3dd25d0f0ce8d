"""Delivery records: written before their queue message, found again by id.

Each delivery of a monitor on a chain is numbered with the next `sequence`, 1, 2, 3, ... The
counter (SequenceModel) and the deliveries it numbers are written in one DynamoDB transaction: the
counter moves from the value read to that value plus the number of new deliveries, on condition
that it still holds the value read, and each delivery is put on condition that its id does not
exist. All of it is written or none of it, so a crash or a retry at any point leaves no number
unused and none given twice, and a repeat (delivery ids are deterministic) finds its delivery and
consumes no number. Two writers racing for one counter: one commits, the other reads it again.
The value read is the one this process committed last when it has one (no read at all), else a
strongly consistent read.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import size
from pynamodb.transactions import TransactWrite

from blockhook.delivery.origin import TEST
from blockhook.delivery.payload import numbered
from blockhook.store.blobs import MAX_INLINE_ITEM_BYTES, spill, unspill
from blockhook.store.matches import matcher_position
from blockhook.store.models import AttemptAttribute, DeliveryModel, SequenceModel
from blockhook.store.paging import decode_cursor, encode_cursor
from blockhook.store.versions import Change, changes_between, monitors_version

logger = logging.getLogger(__name__)

DELIVERED_RETENTION_SECONDS = 30 * 24 * 3600
# Attempts kept on a delivery, the latest: the default schedule's 35 and the first ones of a replay.
# Each is small (an error and a 256-character answer at most), so 50 stay well within the room an
# item keeps beside a 300 KB body (store/blobs.py).
MAX_KEPT_ATTEMPTS = 50
_MAX_KEPT_ERROR_CHARS = 300
# TransactWriteItems takes at most 100 items (these and the counter) and 4 MB in all.
MAX_DELIVERIES_PER_TRANSACTION = 99
MAX_TRANSACTION_BYTES = 3_500_000
_SEQUENCE_AND_ATTRIBUTES_BYTES = 1_000  # a record's attributes beside its body, generously
_NUMBERING_TRIES = 20


class NumberingContended(RuntimeError):
    """The counter of a (monitor, chain) kept moving or held by other transactions: nothing was written
    for the deliveries left, and the caller fails and is retried (nothing is skipped)."""


class DeliveryNotFound(LookupError):
    pass


def record_deliveries(
    tenant_id: str, payloads: Sequence[Mapping[str, Any]], origin: str | None = None
) -> list[tuple[DeliveryModel, bool]]:
    """Store pending deliveries of one monitor on one chain, each numbered with the next `sequence`,
    except those whose (deterministic) id exists already: a repeat is found, not numbered again
    (and keeps the origin it was recorded with).

    `payloads` are bodies without `sequence` (delivery/payload.py); the stored body has it.
    `origin`: what made them (delivery/origin.py).
    Returns each payload's record and whether this call created it, in the order given."""
    keys = {(payload["monitor_id"], payload["chain_id"]) for payload in payloads}
    if len(keys) > 1:
        raise ValueError(f"deliveries of several monitors or chains cannot be numbered together: {sorted(keys)}")
    recorded: dict[str, tuple[DeliveryModel, bool]] = {}
    for group in _transaction_groups(payloads):
        recorded.update(_record_group(tenant_id, group, origin))
    return [recorded[payload["id"]] for payload in payloads]


def _transaction_groups(payloads: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Consecutive runs of payloads that fit one transaction with the counter (count and bytes)."""
    groups: list[list[Mapping[str, Any]]] = []
    size = 0
    for payload in payloads:
        inline = len(_encode(payload)) + _SEQUENCE_AND_ATTRIBUTES_BYTES
        item_bytes = inline if inline <= MAX_INLINE_ITEM_BYTES else _SEQUENCE_AND_ATTRIBUTES_BYTES  # else spilled
        if not groups or len(groups[-1]) == MAX_DELIVERIES_PER_TRANSACTION or size + item_bytes > MAX_TRANSACTION_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(payload)
        size += item_bytes
    return groups


def _record_group(
    tenant_id: str, payloads: list[Mapping[str, Any]], origin: str | None
) -> dict[str, tuple[DeliveryModel, bool]]:
    monitor_id, chain_id = payloads[0]["monitor_id"], int(payloads[0]["chain_id"])
    recorded: dict[str, tuple[DeliveryModel, bool]] = {}
    new = list(payloads)
    key = (monitor_id, chain_id)
    for attempt in range(_NUMBERING_TRIES):
        if not new:
            return recorded
        last = _known_last.get(key)
        if last is None:
            last = last_sequence(monitor_id, chain_id)
        records = [
            _new_record(tenant_id, payload, last + number, origin) for number, payload in enumerate(new, start=1)
        ]
        try:
            with TransactWrite(connection=_connection()) as transaction:
                for record in records:
                    transaction.save(record, condition=DeliveryModel.delivery_id.does_not_exist())
                transaction.update(
                    SequenceModel(sequence_key(monitor_id, chain_id)),
                    actions=[
                        SequenceModel.last.set(last + len(records)),
                        SequenceModel.monitor_id.set(monitor_id),
                        SequenceModel.chain_id.set(chain_id),
                    ],
                    condition=SequenceModel.last == last if last else SequenceModel.key.does_not_exist(),
                )
        except TransactWriteError as error:
            _known_last.forget(key)
            if error.cause_response_code != "TransactionCanceledException":
                raise
            reasons = list(error.cancellation_reasons or [])
        else:
            _known_last.put(key, last + len(records))
            recorded.update((record.delivery_id, (record, True)) for record in records)
            return recorded
        # Nothing was written. A delivery that exists is a repeat: found, and numbered no more. The counter
        # may have moved (another writer numbered deliveries since the read) or another transaction held an
        # item: read it again and number what is left.
        for index, payload in enumerate(list(new)):
            reason = reasons[index] if index < len(reasons) else None
            if reasons and (reason is None or reason.code != "ConditionalCheckFailed"):
                continue
            try:
                recorded[payload["id"]] = (get_delivery(payload["id"]), False)
                new.remove(payload)
            except DeliveryNotFound:
                pass
        if attempt:
            time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))  # contention: back off a little
    raise NumberingContended(
        f"could not number deliveries of monitor {monitor_id} on chain {chain_id} in {_NUMBERING_TRIES} tries"
    )


def _new_record(tenant_id: str, payload: Mapping[str, Any], sequence: int, origin: str | None) -> DeliveryModel:
    body = numbered(payload, sequence)
    return DeliveryModel(
        body["id"],
        monitor_id=body["monitor_id"],
        tenant_id=tenant_id,
        chain_id=body["chain_id"],
        sequence=sequence,
        block_number=body["block"]["number"],
        block_hash=body["block"]["hash"],
        removed=body["removed"],
        event_count=len(body["events"]),
        **_payload_attributes(body),
        status="pending",
        attempts=0,
        created_at=int(time.time() * 1000),
        origin=origin,
    )


def record_test_delivery(
    tenant_id: str, monitor_id: str, chain_id: int, delivery_id: str, body: bytes, lease_until: float
) -> tuple[DeliveryModel, str]:
    """Record a test delivery (`POST .../test`) about to be posted, and its claim token for that post.

    Not a delivery of the chain: no sequence, no block (its body's block is a placeholder), and
    never retried. Claimed from the start (as claim_attempt would), so that nothing else posts it
    meanwhile; its TTL is set at once, as it is settled by its one attempt."""
    now = time.time()
    token = secrets.token_hex(8)
    record = DeliveryModel(
        delivery_id,
        monitor_id=monitor_id,
        tenant_id=tenant_id,
        chain_id=chain_id,
        block_number=0,
        block_hash=json.loads(body)["block"]["hash"],
        removed=False,
        event_count=0,
        **_body_attributes(body),
        status="pending",
        attempts=0,
        created_at=int(now * 1000),
        origin=TEST,
        claim_token=token,
        next_attempt_at=int(lease_until),
        expires_at=int(now) + DELIVERED_RETENTION_SECONDS,
    )
    try:
        record.save(condition=DeliveryModel.delivery_id.does_not_exist())
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise ValueError(f"a delivery {delivery_id} exists already") from None
        raise
    return record, token


class _KnownCounters:
    """The counter values this process committed last, so that the next numbering of a (monitor, chain)
    needs no read: the matcher is nearly always its only writer. A value is only ever a guess: the
    transaction's condition checks it, and a wrong one costs a cancelled transaction and a read."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[tuple[str, int], int] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> int | None:
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: tuple[str, int], value: int) -> None:
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self._size:
                self._values.popitem(last=False)

    def forget(self, key: tuple[str, int]) -> None:
        with self._lock:
            self._values.pop(key, None)


_known_last = _KnownCounters(10_000)


def sequence_key(monitor_id: str, chain_id: int) -> str:
    return f"sequence#{monitor_id}#{int(chain_id)}"


def last_sequence(monitor_id: str, chain_id: int) -> int:
    """The last sequence given to the monitor's deliveries on the chain; 0 before the first."""
    try:
        return int(SequenceModel.get(sequence_key(monitor_id, chain_id), consistent_read=True).last)
    except SequenceModel.DoesNotExist:
        return 0


def last_sequences(monitor_id: str, chain_ids: Collection[int]) -> dict[int, int]:
    """last_sequence of each chain, in one consistent batch read."""
    found = {
        int(item.chain_id): int(item.last)
        for item in SequenceModel.batch_get([sequence_key(monitor_id, chain_id) for chain_id in chain_ids],
                                            consistent_read=True)
    }
    return {int(chain_id): found.get(int(chain_id), 0) for chain_id in chain_ids}


class SequenceMark(NamedTuple):
    chain_id: int
    matched_through_block: int | None  # None: no block released for the monitor yet
    last_sequence: int


def sequence_marks(monitor_id: str, confirmations: Mapping[int, int | str]) -> list[SequenceMark]:
    """Per chain of `confirmations` (chain id -> the monitor's confirmations there, a number of
    blocks or a finality tag): the last block
    up to which everything has been matched and released for the monitor, and the last sequence,
    such that every delivery of those blocks has a sequence up to it.

    The read order makes that true: the matcher records a batch's progress only after it has
    recorded the batch's deliveries, so every delivery of a block the progress covers exists before
    the progress is read here, and the counters, read after, count it. A monitor with confirmations
    N has released the blocks up to progress - N; one waiting for "safe" or "finalized", those up to
    the node's block of that tag the matcher released by (and up to its progress). An address added is matched from the chain's head
    of that moment, which the matcher may have processed already: it catches those blocks up in its
    next batch. So while it has not applied the latest changes of monitors, the blocks from the
    lowest head they added addresses at are not counted (nothing is, for a moment, if those changes
    cannot be read: one is being written, or too many are waiting)."""
    positions = {chain_id: matcher_position(chain_id) for chain_id in confirmations}
    current = monitors_version()
    last = last_sequences(monitor_id, list(confirmations))
    unseen: dict[int, dict[int, Change] | None] = {}
    marks = []
    for chain_id, depth in confirmations.items():
        position = positions[chain_id]
        through = None
        if position is not None:
            number, version, finality = position
            if isinstance(depth, str):
                through = min(number, finality[depth]) if depth in finality else None
            else:
                through = number - int(depth)
            if through is not None and (version is None or version < current):
                seen = version or 0
                if seen not in unseen:
                    unseen[seen] = changes_between(seen, current)
                through = _before_catch_up(through, unseen[seen], int(chain_id))
        marks.append(SequenceMark(int(chain_id), through if through is not None and through >= 0 else None,
                                  last[int(chain_id)]))
    return marks


def _before_catch_up(through: int, changes: Mapping[int, Change] | None, chain_id: int) -> int | None:
    """`through`, lowered below the blocks that changes not yet applied by the matcher may still add
    matches to (from the head each one added addresses at); None when the changes are not known."""
    if changes is None:
        return None
    heads = [change.heads[chain_id] for change in changes.values() if chain_id in change.heads]
    return min(through, min(heads) - 1) if heads else through


@lru_cache(maxsize=1)
def _connection() -> Connection:
    # The models' endpoint and region (botocore's defaults, AWS_ENDPOINT_URL locally).
    return Connection()


def _encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _payload_attributes(payload: Mapping[str, Any]) -> dict[str, Any]:
    return _body_attributes(_encode(payload))


def _body_attributes(body: bytes) -> dict[str, Any]:
    """`payload`, or `payload_ref` when the body would pass a DynamoDB item's size (an event of
    megabytes, or a hundred large ones)."""
    inline, key = spill("deliveries", body)
    return {"payload": None if inline is None else inline.decode(), "payload_ref": key}


def delivery_payload(record: DeliveryModel) -> str:
    """The JSON body of a delivery, wherever it is kept: posted as these characters, UTF-8 encoded."""
    if record.payload_ref:
        return unspill(None, record.payload_ref).decode()
    return record.payload


def get_delivery(delivery_id: str) -> DeliveryModel:
    try:
        return DeliveryModel.get(delivery_id, consistent_read=True)
    except DoesNotExist:
        raise DeliveryNotFound(delivery_id) from None


def record_attempt(
    record: DeliveryModel,
    *,
    status: str,
    status_code: int | None,
    error: str | None,
    latency_ms: int,
    next_attempt_at: float | None,
    claim: str | None = None,
    response_excerpt: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> bool:
    """Record an attempt's outcome and the delivery's new state; True when recorded so.

    The attempt joins the delivery's `attempt_log` (the latest MAX_KEPT_ATTEMPTS are kept), with the
    start of the endpoint's answer; `headers`, those it was posted with (None: not posted), replace
    the delivery's `sent_headers`.

    With `claim` (the token of claim_attempt), the state is set only while the claim holds. A replay
    made while the attempt was in flight took the claim away: then the attempt is recorded as history
    only (count, last result) and the replayed delivery stays due, so the replay's own message sends it
    again and this outcome cannot settle it (`failed` after the last step, say). Returns False then."""
    now = time.time()
    entry = AttemptAttribute(
        at=int(now * 1000),
        status_code=status_code,
        error=error[:_MAX_KEPT_ERROR_CHARS] if error else None,
        latency_ms=latency_ms,
        response=response_excerpt or None,
    )
    outcome = [
        # Appended in the write itself: an attempt superseded by a replay and the replay's own attempt
        # may be recorded at once, and neither may lose the other's entry.
        DeliveryModel.attempt_log.set((DeliveryModel.attempt_log | []).append([entry])),
        DeliveryModel.attempts.add(1),
        DeliveryModel.last_attempt_at.set(int(now)),
        DeliveryModel.last_latency_ms.set(latency_ms),
        DeliveryModel.last_status_code.set(status_code) if status_code is not None else DeliveryModel.last_status_code.remove(),
        DeliveryModel.last_error.set(error) if error else DeliveryModel.last_error.remove(),
    ]
    if headers is not None:
        outcome.append(DeliveryModel.sent_headers.set(json.dumps(dict(headers))))
    state = [
        DeliveryModel.status.set(status),
        DeliveryModel.next_attempt_at.set(int(next_attempt_at)) if next_attempt_at else DeliveryModel.next_attempt_at.remove(),
        DeliveryModel.claim_token.remove(),
    ]
    if claim is not None:
        state.append(DeliveryModel.recorded_claim.set(claim))
    if status == "delivered":
        state.append(DeliveryModel.expires_at.set(int(now) + DELIVERED_RETENTION_SECONDS))
    try:
        record.update(actions=outcome + state, condition=None if claim is None else DeliveryModel.claim_token == claim)
        _trim_attempt_log(record)
        return True
    except UpdateError as error:
        if claim is None or error.cause_response_code != "ConditionalCheckFailedException":
            raise
    # The SDK sends a write again when its answer was lost (a 500 or a timeout after DynamoDB applied
    # it); the repeat then fails the condition on a claim the write itself removed.
    record.refresh(consistent_read=True)
    if record.recorded_claim == claim:
        return True
    # Superseded by a replay (or, after this attempt outlived its lease, by a later claim): count the
    # attempt, as made before the replay, so the replayed delivery still gets the whole schedule (in
    # the rarer case that costs the schedule nothing but one more attempt).
    record.update(actions=outcome + [DeliveryModel.replayed_at_attempt.add(1)])
    _trim_attempt_log(record)
    return False


def _trim_attempt_log(record: DeliveryModel) -> None:
    """Drop the oldest entries past MAX_KEPT_ATTEMPTS of `record` as just written (an update answers
    the item as it is now). A list that changed meanwhile is left to the write that changed it; a
    trim that fails costs nothing but a list one entry longer until the next attempt trims it."""
    kept = len(record.attempt_log or [])
    if kept <= MAX_KEPT_ATTEMPTS:
        return
    try:
        record.update(
            actions=[DeliveryModel.attempt_log[index].remove() for index in range(kept - MAX_KEPT_ATTEMPTS)],
            condition=size(DeliveryModel.attempt_log) == kept,
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            logger.warning("attempt log not trimmed", extra={"delivery_id": record.delivery_id, "error": str(error)})


MAX_ITEMS_READ_PER_PAGE = 2000  # bounds one page's work when a status filter skips most items
_READ_PAGE_SIZE = 200
_INDEX_KEY = frozenset({"delivery_id", "monitor_id", "created_at"})
# A delivery's id (delivery/payload.py), or a test delivery's (delivery/service.py TEST_DELIVERY_PREFIX).
_DELIVERY_ID = re.compile(r"dlv_(?:[0-9a-f]{32}|test_[0-9a-f]{24})")


def is_delivery_id(value: str) -> bool:
    """Whether `value` has the shape of a recorded delivery's id."""
    return bool(_DELIVERY_ID.fullmatch(value))


def list_deliveries(
    monitor_id: str, status: str | Collection[str] | None, limit: int, cursor: str | None
) -> tuple[list[DeliveryModel], str | None]:
    """A page of the monitor's deliveries, newest first, and the next page's cursor (None on the last).

    `status`: a stored status or several (e.g. ("pending", "retrying")); None for all. The filter
    runs after DynamoDB reads the items, so one call reads at most MAX_ITEMS_READ_PER_PAGE of them:
    when a filter skips that many, the page is shorter than `limit` (maybe empty) and has a cursor.
    Raises InvalidCursor for a cursor of another monitor or one this API did not return."""
    start = decode_cursor(cursor, _INDEX_KEY, {"monitor_id": monitor_id})
    statuses = [status] if isinstance(status, str) else sorted(status or ())
    pages = DeliveryModel.by_monitor.query(
        monitor_id,
        scan_index_forward=False,  # newest first
        filter_condition=DeliveryModel.status.is_in(*statuses) if statuses else None,
        last_evaluated_key=start,
        page_size=_READ_PAGE_SIZE,
    ).page_iter
    items: list[DeliveryModel] = []
    last_key: dict[str, Any] | None = None
    read = 0
    for page in pages:
        read += int(page.get("ScannedCount", 0))
        for raw in page.get("Items", []):
            if len(items) == limit:
                # One more matches: the next page starts after the last item taken.
                return items, encode_cursor(last_key)
            items.append(DeliveryModel.from_raw_data(raw))
            last_key = {name: raw[name] for name in _INDEX_KEY}
        if pages.last_evaluated_key is None:
            return items, None
        if read >= MAX_ITEMS_READ_PER_PAGE:
            return items, encode_cursor(pages.last_evaluated_key)
    return items, None


def newest_delivery(monitor_id: str) -> DeliveryModel | None:
    """The monitor's newest delivery (a test delivery too), or None when it has none."""
    return next(iter(DeliveryModel.by_monitor.query(monitor_id, scan_index_forward=False, limit=1)), None)


def deliveries_created_between(
    monitor_id: str, statuses: Collection[str], since_ms: int, until_ms: int, limit: int
) -> list[DeliveryModel]:
    """Up to `limit` of the monitor's deliveries in one of `statuses` created in [since_ms, until_ms]
    (unix milliseconds), oldest first. Read with the attributes a replay needs only (the index is
    eventually consistent: a status may have moved since)."""
    found = DeliveryModel.by_monitor.query(
        monitor_id,
        DeliveryModel.created_at.between(since_ms, until_ms),
        filter_condition=DeliveryModel.status.is_in(*statuses),
        attributes_to_get=["delivery_id", "monitor_id", "created_at", "status", "attempts"],
        page_size=_READ_PAGE_SIZE,
    )
    return list(itertools.islice(found, limit))


def reset_for_replay(record: DeliveryModel) -> DeliveryModel:
    """Make a delivery due again at once, whatever its state; past attempts stay counted as history.

    `replayed_at_attempt` restarts the retry schedule from its first step. The TTL is cleared:
    nothing in flight expires. Raises DeliveryNotFound when the record is gone."""
    try:
        record.update(
            actions=[
                DeliveryModel.status.set("pending"),
                DeliveryModel.replayed_at_attempt.set(int(record.attempts or 0)),
                DeliveryModel.next_attempt_at.remove(),
                DeliveryModel.expires_at.remove(),
                DeliveryModel.claim_token.remove(),  # an attempt in flight no longer settles it
            ],
            condition=DeliveryModel.delivery_id.exists(),
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        raise DeliveryNotFound(record.delivery_id) from None
    return record


def claim_attempt(record: DeliveryModel, lease_until: float) -> str | None:
    """Take the right to make the next attempt of `record` as read: a claim token, or None when another
    message has it.

    Two queue messages for one delivery (an SQS duplicate, or the old delayed message of a
    delivery that was replayed meanwhile) must not both post: the claim moves `next_attempt_at`
    to `lease_until` on condition that nothing changed since the read, so only one wins. If the
    winner dies before recording its attempt, the delivery is due again when the lease ends. The
    token lets record_attempt tell whether a replay came while the attempt was in flight."""
    attempts = int(record.attempts or 0)
    unchanged = (DeliveryModel.attempts == attempts) & (DeliveryModel.status == record.status)
    if record.next_attempt_at is None:
        unchanged &= DeliveryModel.next_attempt_at.does_not_exist()
    else:
        unchanged &= DeliveryModel.next_attempt_at == record.next_attempt_at
    token = secrets.token_hex(8)
    try:
        record.update(
            actions=[DeliveryModel.next_attempt_at.set(int(lease_until)), DeliveryModel.claim_token.set(token)],
            condition=unchanged,
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        # Lost to another message, or won by this very write, sent again by the SDK after its answer
        # was lost: the write moved `next_attempt_at`, so its repeat fails the condition.
        try:
            record.refresh(consistent_read=True)
        except DeliveryModel.DoesNotExist:
            return None
        return token if record.claim_token == token else None
    return token


WAITING_STATUSES = ("pending", "retrying")


def waiting_deliveries(monitor_id: str, limit: int) -> list[DeliveryModel]:
    """Up to `limit` of the monitor's newest deliveries that are neither delivered nor failed.

    Newest first, reading at most MAX_ITEMS_READ_PER_PAGE items: the ones an endpoint outage left
    waiting are the recent ones, and any older one still comes back on its own schedule. The
    index is eventually consistent; make_due re-checks each item with a conditional write."""
    pages = DeliveryModel.by_monitor.query(
        monitor_id,
        scan_index_forward=False,
        filter_condition=DeliveryModel.status.is_in(*WAITING_STATUSES),
        page_size=_READ_PAGE_SIZE,
    ).page_iter
    found: list[DeliveryModel] = []
    for page in pages:
        found += [DeliveryModel.from_raw_data(raw) for raw in page.get("Items", [])]
        if len(found) >= limit or pages.last_evaluated_key is None:
            break
        if pages.total_scanned_count >= MAX_ITEMS_READ_PER_PAGE:
            break
    return found[:limit]


def make_due(record: DeliveryModel) -> bool:
    """Clear the wait of a waiting delivery, on condition that it is still as read; False otherwise.

    The next message for it posts at once; its older delayed message then finds it settled, or
    loses the claim."""
    unchanged = (DeliveryModel.status == record.status) & (DeliveryModel.attempts == int(record.attempts or 0))
    if record.next_attempt_at is None:
        return True  # due already: only its message may be missing
    # Not while an attempt is in flight: its lease is not a wait, and a second post would race it.
    unchanged &= (DeliveryModel.next_attempt_at == record.next_attempt_at) & DeliveryModel.claim_token.does_not_exist()
    try:
        record.update(actions=[DeliveryModel.next_attempt_at.remove()], condition=unchanged)
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False
    return True


def deliveries_of_block(monitor_id: str, chain_id: int, number: int) -> list[DeliveryModel]:
    """Every recorded delivery of the monitor for block `number` of the chain, whatever its hash
    (the by_monitor_block index is eventually consistent: one recorded a moment ago may be missing).
    Test deliveries are of no block, whatever number their placeholder holds."""
    found = DeliveryModel.by_monitor_block.query(
        monitor_id,
        DeliveryModel.block_number == number,
        filter_condition=DeliveryModel.chain_id == chain_id,
    )
    return [record for record in found if record.origin != TEST]

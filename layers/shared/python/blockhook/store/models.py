"""PynamoDB models of blockhook's tables.

Table names come from the environment (the CDK app sets them; the local stack
uses the defaults). The endpoint is botocore's own `AWS_ENDPOINT_URL`, so the
same code talks to moto server, LocalStack or DynamoDB.
"""

from __future__ import annotations

import os

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


def _table(variable: str, default: str) -> str:
    return os.environ.get(variable, default)


class BackfillAttribute(MapAttribute):
    """A monitor's latest backfill job and its progress."""

    job_id = UnicodeAttribute()
    chain_id = NumberAttribute()
    from_block = NumberAttribute()
    to_block = NumberAttribute()
    next_block = NumberAttribute()
    status = UnicodeAttribute()  # queued, running, done, failed
    error = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


class ReconcileAttribute(MapAttribute):
    """A monitor's latest reconcile job: its progress, and what it found (store/reconciles.py)."""

    job_id = UnicodeAttribute()
    chain_id = NumberAttribute()
    from_block = NumberAttribute()
    to_block = NumberAttribute()
    heal = BooleanAttribute(default=False)
    next_block = NumberAttribute()  # the next block ingest publishes for it
    # The last block (and chunk of it) the matcher compared: from_block - 1 before the first.
    checked_block = NumberAttribute()
    checked_chunk = NumberAttribute(default=0)
    status = UnicodeAttribute()  # queued, running, done, failed
    error = UnicodeAttribute(null=True)
    # Event ids found, the first MAX_REPORTED_IDS of each list, and how many in all.
    missing = ListAttribute(of=UnicodeAttribute, default=list)
    extra = ListAttribute(of=UnicodeAttribute, default=list)
    missing_count = NumberAttribute(default=0)
    extra_count = NumberAttribute(default=0)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


class MonitorModel(Model):
    """A tenant's monitor. Its watched addresses live in MonitorAddressModel, not here:
    a monitor may hold a million of them."""

    class Meta:
        table_name = _table("BLOCKHOOK_MONITORS_TABLE", "blockhook-monitors")
        billing_mode = "PAY_PER_REQUEST"

    tenant_id = UnicodeAttribute(hash_key=True)
    monitor_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    chain_ids = ListAttribute(of=NumberAttribute)
    webhook_url = UnicodeAttribute()
    kinds = ListAttribute(of=UnicodeAttribute)
    contracts = ListAttribute(of=UnicodeAttribute, default=list)
    event_signatures = ListAttribute(of=UnicodeAttribute, default=list)
    condition = UnicodeAttribute(null=True)
    confirmations = NumberAttribute(null=True)  # null: the chain's default
    finality = UnicodeAttribute(null=True)  # "safe" or "finalized": sent once the node's tag covers the block
    active = BooleanAttribute(default=True)
    # Webhook secrets as KMS ciphertext (store/secret_box.py), never in the clear.
    sealed_secret = UnicodeAttribute()
    # During a rotation the replaced secret still signs (a second v1= entry) until it expires.
    sealed_previous_secret = UnicodeAttribute(null=True)
    previous_secret_expires_at = NumberAttribute(null=True)  # unix seconds
    # Endpoint health (delivery/health.py), written by the deliver function without bumping `version`:
    # the matcher has no use for it. Degraded from DEGRADED_AFTER_FAILURES failed attempts in a row.
    consecutive_failures = NumberAttribute(default=0)
    failing_since = NumberAttribute(null=True)  # unix seconds of the first failure of the run
    last_failure = UnicodeAttribute(null=True)
    probe_at = NumberAttribute(null=True)  # unix seconds: when a degraded endpoint is tried next
    address_count = NumberAttribute(default=0)
    # "all": watches every party; "list": only its listed addresses. Absent on monitors stored
    # before the attribute existed, which are read as "list" (store/monitors.py address_scope).
    address_scope = UnicodeAttribute(null=True)
    # The list's committed version: an address item counts for it by its since/until
    # (store/monitors.py is_listed). One address change at a time writes the next version,
    # `list_pending` (since `list_pending_at`), and commits it here; the versions of changes that
    # died half-written are in `list_aborted` and never count.
    list_version = NumberAttribute(default=0)
    list_pending = NumberAttribute(null=True)
    list_pending_at = NumberAttribute(null=True)  # unix seconds
    list_aborted = NumberSetAttribute(null=True)
    version = NumberAttribute(default=1)
    created_at = NumberAttribute()  # unix seconds
    updated_at = NumberAttribute()
    backfill = BackfillAttribute(null=True)
    reconcile = ReconcileAttribute(null=True)


class MonitorAddressModel(Model):
    """One watched address of one monitor, with its optional label."""

    class Meta:
        table_name = _table("BLOCKHOOK_MONITOR_ADDRESSES_TABLE", "blockhook-monitor-addresses")
        billing_mode = "PAY_PER_REQUEST"

    monitor_id = UnicodeAttribute(hash_key=True)
    address = UnicodeAttribute(range_key=True)
    label = UnicodeAttribute(null=True)
    added_at = NumberAttribute()
    # The list versions from which the address counts and from which it no longer does (absent:
    # always / never); a removed item stays as a tombstone until `expires_at` (TTL). `earlier`
    # holds the spans it counted before it was removed and added again, as flat since, until
    # pairs (since 0: always), for readers holding an older version of the list.
    since = NumberAttribute(null=True)
    until = NumberAttribute(null=True)
    earlier = ListAttribute(of=NumberAttribute, null=True)
    expires_at = NumberAttribute(null=True)


class AddressIndexModel(Model):
    """address -> one monitor watching it (and that monitor's label for it).

    Keyed (address, monitor_id) so that adds are BatchWrites and the matcher gets
    every monitor and label of a candidate address with one Query."""

    class Meta:
        table_name = _table("BLOCKHOOK_ADDRESS_INDEX_TABLE", "blockhook-address-index")
        billing_mode = "PAY_PER_REQUEST"

    address = UnicodeAttribute(hash_key=True)
    monitor_id = UnicodeAttribute(range_key=True)
    tenant_id = UnicodeAttribute()
    label = UnicodeAttribute(null=True)
    since = NumberAttribute(null=True)  # as in MonitorAddressModel
    until = NumberAttribute(null=True)
    earlier = ListAttribute(of=NumberAttribute, null=True)
    expires_at = NumberAttribute(null=True)


class _StateMeta:
    table_name = _table("BLOCKHOOK_STATE_TABLE", "blockhook-state")
    billing_mode = "PAY_PER_REQUEST"


class ChainStateModel(Model):
    """A chain's ingest checkpoint (last block produced to Kafka) and its recent hashes.

    key = "chain#<chain_id>". `window` holds "number:hash" of the latest blocks, newest
    last, so a reorg can be walked back to the common ancestor."""

    Meta = _StateMeta
    key = UnicodeAttribute(hash_key=True)
    chain_id = NumberAttribute()
    number = NumberAttribute(null=True)
    hash = UnicodeAttribute(null=True)
    window = ListAttribute(of=UnicodeAttribute, default=list)
    head = NumberAttribute(null=True)
    updated_at = NumberAttribute(null=True)
    # "number:hash" of the blocks a rewind took back whose reverts are not yet acknowledged by Kafka
    reverting = ListAttribute(of=UnicodeAttribute, null=True)
    # On the item "traces#<chain_id>": the trace format the chain's blocks are read with, or "none".
    traces = UnicodeAttribute(null=True)
    # On the item "node#<chain_id>": what the node last said (head, safe, finalized), when, and since
    # when its head has not moved.
    safe = NumberAttribute(null=True)
    finalized = NumberAttribute(null=True)
    seen_at = NumberAttribute(null=True)
    head_moved_at = NumberAttribute(null=True)
    # On the item "lease#<chain_id>": the ingest invocation polling the chain, and until when at most
    # (store/leases.py).
    holder = UnicodeAttribute(null=True)
    held_until = NumberAttribute(null=True)


class VersionModel(Model):
    """A counter bumped on every change of monitors or watched addresses.

    key = "version#monitors". The matcher reads it once per batch and reloads its
    in-memory view only when it moved."""

    Meta = _StateMeta
    key = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(default=0)


class ChangeModel(Model):
    """What one version bump changed (key = "change#<version>"), so the matcher can follow it
    without rereading every address: `heads` is JSON {chain_id: head} at the time addresses were
    added ({} when none were), `added` the addresses it added, 20 raw bytes each (empty: none;
    absent: unknown, reload everything)."""

    Meta = _StateMeta
    key = UnicodeAttribute(hash_key=True)
    heads = UnicodeAttribute()
    added = BinaryAttribute(legacy_encoding=False, null=True)


class MatcherProgressModel(Model):
    """The last block of a chain the matcher has processed (key = "matched#<chain_id>")."""

    Meta = _StateMeta
    key = UnicodeAttribute(hash_key=True)
    chain_id = NumberAttribute()
    number = NumberAttribute()
    updated_at = NumberAttribute()
    # The monitors version (VersionModel) the matcher had applied, its catch-up done, when it recorded
    # this progress: a later change may still owe recent blocks a catch-up.
    version = NumberAttribute(null=True)
    # The node's safe / finalized blocks the matcher has released waiting matches by (from the last
    # block message that carried them).
    safe = NumberAttribute(null=True)
    finalized = NumberAttribute(null=True)


class SequenceModel(Model):
    """The last `sequence` given to a monitor's deliveries on one chain
    (key = "sequence#<monitor_id>#<chain_id>"). It moves only together with the deliveries it
    numbers, in one transaction (store/deliveries.py record_deliveries)."""

    Meta = _StateMeta
    key = UnicodeAttribute(hash_key=True)
    monitor_id = UnicodeAttribute()
    chain_id = NumberAttribute()
    last = NumberAttribute()


class PendingByChain(GlobalSecondaryIndex):
    """Sparse: only matches still waiting for confirmations carry `pending_chain`."""

    class Meta:
        index_name = "pending_by_chain"
        projection = AllProjection()

    pending_chain = NumberAttribute(hash_key=True)
    release_at = NumberAttribute(range_key=True)


class PendingByFinality(GlobalSecondaryIndex):
    """Sparse: only matches waiting for a finality tag carry `pending_finality` ("<chain_id>#safe")."""

    class Meta:
        index_name = "pending_by_finality"
        projection = AllProjection()

    pending_finality = UnicodeAttribute(hash_key=True)
    block_number = NumberAttribute(range_key=True)


class MatchModel(Model):
    """One monitor's matched events of one block (one chunk of it), kept so that they can be
    released once confirmed, and taken back with a `removed` delivery if the block is replaced.

    Status: pending (waiting for confirmations) -> sent, or pending -> dropped (reverted
    before it was sent), or sent -> removed (reverted after it was sent). A removed or dropped
    match whose block is canonical again starts a new generation, pending or sent: each
    generation's deliveries have ids of their own (store/matches.py)."""

    class Meta:
        table_name = _table("BLOCKHOOK_MATCHES_TABLE", "blockhook-matches")
        billing_mode = "PAY_PER_REQUEST"

    block_key = UnicodeAttribute(hash_key=True)  # "<chain_id>#<block_hash>"
    match_key = UnicodeAttribute(range_key=True)  # "<monitor_id>#<chunk>"
    monitor_id = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    chain_id = NumberAttribute()
    block_number = NumberAttribute()
    block = UnicodeAttribute()  # JSON: number, hash, parent_hash, timestamp
    chunk = NumberAttribute(null=True)  # set when the block crossed Kafka in several messages
    part = UnicodeAttribute(null=True)  # set for a catch-up: events found after the index changed
    # zlib-compressed JSON list of delivered events; or, when that would pass an item's size, null and
    # `events_ref` holds the S3 key of those bytes (store/blobs.py)
    events = BinaryAttribute(legacy_encoding=False, null=True)
    events_ref = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    release_at = NumberAttribute(null=True)  # block number at which it is deep enough
    pending_chain = NumberAttribute(null=True)
    pending_finality = UnicodeAttribute(null=True)  # waits for a finality tag instead: "<chain_id>#<tag>"
    expires_at = NumberAttribute(null=True)  # TTL once settled
    generation = NumberAttribute(null=True)  # times the block came back after a revert (absent: 0)
    # The topic record that last changed it ("<topic>-<partition>", offset): a record at or before
    # it is a repeat, not the block coming back.
    applied_partition = UnicodeAttribute(null=True)
    applied_offset = NumberAttribute(null=True)
    # What found it, handed on to its deliveries (delivery/origin.py): live or catch_up. Null on a
    # record stored without one: read by its `part` (store/matches.py origin_of).
    origin = UnicodeAttribute(null=True)
    pending_by_chain = PendingByChain()
    pending_by_finality = PendingByFinality()


class ActiveBackfillsModel(Model):
    """Which monitors have a backfill to run (key = "backfills#active"): ingest reads this one
    item per poll instead of scanning monitors. Entries are "<tenant_id>|<monitor_id>"."""

    Meta = _StateMeta
    key = UnicodeAttribute(hash_key=True)
    monitors = UnicodeSetAttribute(null=True)


class AttemptAttribute(MapAttribute):
    """One attempt of a delivery, as the delivery log shows it."""

    at = NumberAttribute()  # unix milliseconds when it was made
    status_code = NumberAttribute(null=True)  # null: no answer (or not sent)
    error = UnicodeAttribute(null=True)
    latency_ms = NumberAttribute()
    response = UnicodeAttribute(null=True)  # the start of the endpoint's answer (delivery/http.py EXCERPT_CHARS)


class DeliveriesByMonitor(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_monitor"
        projection = AllProjection()

    monitor_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class DeliveriesByMonitorBlock(GlobalSecondaryIndex):
    """A monitor's deliveries by block number (every chain's): what reconcile compares a block with."""

    class Meta:
        index_name = "by_monitor_block"
        projection = AllProjection()

    monitor_id = UnicodeAttribute(hash_key=True)
    block_number = NumberAttribute(range_key=True)


class DeliveryModel(Model):
    """One webhook delivery and its state: pending -> delivered, or -> retrying -> failed."""

    class Meta:
        table_name = _table("BLOCKHOOK_DELIVERIES_TABLE", "blockhook-deliveries")
        billing_mode = "PAY_PER_REQUEST"

    delivery_id = UnicodeAttribute(hash_key=True)
    monitor_id = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    chain_id = NumberAttribute()
    block_number = NumberAttribute()
    block_hash = UnicodeAttribute()
    removed = BooleanAttribute(default=False)
    event_count = NumberAttribute()
    # 1, 2, 3, ... per (monitor, chain), in the order deliveries are created (SequenceModel)
    sequence = NumberAttribute(null=True)
    # The JSON body to post, without the signature; or, when that would pass an item's size, null and
    # `payload_ref` holds the S3 key of the body (store/blobs.py)
    payload = UnicodeAttribute(null=True)
    payload_ref = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="pending")
    attempts = NumberAttribute(default=0)
    created_at = NumberAttribute()  # unix milliseconds: orders the log
    next_attempt_at = NumberAttribute(null=True)
    last_attempt_at = NumberAttribute(null=True)
    last_status_code = NumberAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    last_latency_ms = NumberAttribute(null=True)
    # TTL, set only once delivered: nothing in flight expires (a test delivery's at once: one attempt settles it)
    expires_at = NumberAttribute(null=True)
    # `attempts` at the last replay: the retry schedule counts the attempts made since then.
    replayed_at_attempt = NumberAttribute(null=True)
    # The token of the attempt in flight (claim_attempt); a replay takes it away, so that attempt's
    # outcome is recorded as history and does not settle the replayed delivery.
    claim_token = UnicodeAttribute(null=True)
    # The token of the attempt recorded last: a write whose answer was lost is sent again by the SDK and
    # fails its own condition; this tells that apart from a replay's.
    recorded_claim = UnicodeAttribute(null=True)
    # What made it (delivery/origin.py); null on a record stored without one.
    origin = UnicodeAttribute(null=True)
    # The latest attempts, oldest first, at most store/deliveries.py MAX_KEPT_ATTEMPTS of them.
    attempt_log = ListAttribute(of=AttemptAttribute, null=True)
    # JSON: the headers the latest posted attempt was sent with (signatures, never a secret).
    sent_headers = UnicodeAttribute(null=True)
    by_monitor = DeliveriesByMonitor()
    by_monitor_block = DeliveriesByMonitorBlock()


ALL_MODELS: tuple[type[Model], ...] = (
    MonitorModel,
    MonitorAddressModel,
    AddressIndexModel,
    ChainStateModel,
    DeliveryModel,
    MatchModel,
)


def create_tables() -> None:
    """Create every table that does not exist yet, and the bucket of values too large for an item (local
    stack and tests; the cloud uses CDK)."""
    from blockhook.store.blobs import create_local_bucket

    # Not a PynamoDB model: powertools' idempotency records, in its own layout.
    from blockhook.store.idempotency import create_idempotency_table

    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(wait=True)
    create_idempotency_table()
    create_local_bucket()  # not a table: the values too large for an item (store/blobs.py)

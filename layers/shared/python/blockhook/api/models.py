"""Request and response models of the REST API (CONTRACT section 2)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from blockhook.chain import kinds
from blockhook.chain.hashing import is_checksum_address
from blockhook.delivery.origin import Origin
from blockhook.matching.signatures import InvalidSignature, topic0

EventKind = Literal[kinds.KIND_NAMES]  # type: ignore[valid-type]
DEFAULT_KINDS: list[str] = list(kinds.DEFAULT_KINDS)
MAX_ADDRESSES_PER_CALL = 10_000
MAX_ADDRESSES_PER_MONITOR = 1_000_000
MAX_LABEL_LENGTH = 200  # characters
MAX_CHAIN_ID = 2**63 - 1  # bounds what reaches a DynamoDB number; real chain ids are far smaller

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def normalise_address(value: str) -> str:
    """Any case is accepted; mixed case must pass its EIP-55 checksum; the answer is lowercase."""
    # fullmatch: `$` would also let a trailing newline through.
    if not _HEX_ADDRESS.fullmatch(value):
        raise ValueError("an address is 0x followed by 40 hex digits")
    digits = value[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(value):
        raise ValueError("mixed-case address fails its EIP-55 checksum")
    return value.lower()


def _check_signature(value: str) -> str:
    try:
        topic0(value)
    except InvalidSignature as error:
        raise ValueError(str(error)) from None
    return value


Address = Annotated[str, AfterValidator(normalise_address)]
EventSignature = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_check_signature)]


Confirmations = Annotated[
    Annotated[StrictInt, Field(ge=0, le=1000)] | Literal["safe", "finalized"] | None,
    Field(
        description="Blocks that must stand on a block before its events are sent; or \"safe\" / \"finalized\": "
        "sent once the chain's node reports the block at or below its safe / finalized block; null: the "
        "chain's default"
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Request(Strict):
    """A request body: its values are taken as their JSON types say, never converted ("5" is not 5,
    "true" is not true, 5.0 is not 5)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class LabelledAddress(Request):
    address: Address
    label: str | None = Field(default=None, max_length=MAX_LABEL_LENGTH)


AddressItem = Address | LabelledAddress


AddressScope = Literal["all", "list"]


class Filters(Request):
    kinds: list[EventKind] = Field(default_factory=lambda: list(DEFAULT_KINDS), min_length=1)
    addresses: list[AddressItem] | None = Field(
        default=None,
        description=(
            "A list (even empty): the monitor watches only these addresses, and an empty list matches"
            " nothing. Absent or null on create: it watches every party. On PATCH, a list replaces the"
            " watched addresses and null makes the monitor watch every party; absent leaves them as they are"
        ),
    )
    contracts: list[Address] = Field(default_factory=list, max_length=1000)
    event_signatures: list[EventSignature] = Field(default_factory=list, max_length=100)


class MonitorCreate(Request):
    name: str = Field(min_length=1, max_length=200)
    chain_ids: list[Annotated[int, Field(gt=0, le=MAX_CHAIN_ID)]] = Field(min_length=1, max_length=50)
    webhook_url: str = Field(min_length=1, max_length=2048)
    filters: Filters = Field(default_factory=Filters)
    condition: str | None = Field(default=None, max_length=4096)
    confirmations: Confirmations = None
    active: bool = True


class MonitorPatch(Request):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    webhook_url: str | None = Field(default=None, min_length=1, max_length=2048)
    filters: Filters | None = None
    condition: str | None = Field(default=None, max_length=4096)
    confirmations: Confirmations = None
    active: bool | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> MonitorPatch:
        # Only condition and confirmations may be cleared with null; the rest always has a value.
        nulled = sorted(
            name
            for name in ("name", "webhook_url", "filters", "active")
            if name in self.model_fields_set and getattr(self, name) is None
        )
        if nulled:
            raise ValueError(f"may not be null: {', '.join(nulled)}")
        return self


class AddressChange(Request):
    add: list[AddressItem] = Field(default_factory=list)
    remove: list[Address] = Field(default_factory=list)


class FiltersOut(Strict):
    address_scope: AddressScope = Field(
        description=(
            "all: every party of an event; list: only the watched addresses (GET .../addresses), none"
            " when the list is empty. Changed only by PATCH of filters.addresses"
        )
    )
    kinds: list[str]
    contracts: list[str]
    event_signatures: list[str]


class BackfillRequest(Request):
    from_block: int = Field(ge=0, le=2**63 - 1)
    to_block: int = Field(ge=0, le=2**63 - 1)
    chain_id: int | None = Field(default=None, gt=0, le=2**63 - 1, description="Needed when the monitor watches several chains")


class BackfillOut(Strict):
    id: str
    chain_id: int
    from_block: int
    to_block: int
    next_block: int = Field(description="The next block to publish; from_block..next_block-1 are done")
    status: Literal["queued", "running", "done", "failed"]
    error: str | None = None
    created_at: int
    updated_at: int


class ReconcileRequest(Request):
    from_block: int = Field(ge=0, le=2**63 - 1)
    to_block: int = Field(ge=0, le=2**63 - 1)
    heal: StrictBool = Field(  # true or false only: it sends deliveries
        default=False,
        description="Also send the missing events (deliveries of their own) and a removed: true delivery"
        " of the events whose block is no longer on the chain",
    )
    chain_id: int | None = Field(default=None, gt=0, le=2**63 - 1, description="Needed when the monitor watches several chains")


class ReconcileProgress(Strict):
    id: str
    chain_id: int
    from_block: int
    to_block: int
    heal: bool
    next_block: int = Field(description="The next block to read from the chain; from_block..next_block-1 are read")
    checked_through: int = Field(
        description="The last block compared with the deliveries, those before it all are (from_block - 1: none yet)"
    )
    status: Literal["queued", "running", "done", "failed"] = Field(
        description="done once every block of the range is compared: then missing and extra are complete"
    )
    error: str | None = None
    missing_count: int = Field(description="Event ids matched now on the canonical chain and never delivered")
    extra_count: int = Field(description="Event ids delivered whose block is no longer on the chain, never taken back")
    created_at: int
    updated_at: int


class ReconcileOut(ReconcileProgress):
    missing: list[str] = Field(description="The first 1000 missing event ids, in block order")
    extra: list[str] = Field(description="The first 1000 extra event ids, in block order")


class EndpointHealthOut(Strict):
    """How the monitor's webhook endpoint has answered lately."""

    status: Literal["healthy", "degraded"] = Field(
        description="degraded after 5 failed attempts in a row: deliveries wait (none is dropped) and one"
        " attempt at a time probes the endpoint; the first 2xx, a successful test or a new webhook_url"
        " makes it healthy and sends what waits"
    )
    consecutive_failures: int
    failing_since: int | None = Field(description="Unix seconds of the first failure of the current run")
    last_failure: str | None = Field(description="The last failed attempt's error or status")
    next_probe_at: int | None = Field(description="Unix seconds: when a degraded endpoint is tried next")


class LastDeliveryOut(Strict):
    """The monitor's newest delivery, in short (GET .../deliveries/{id} shows it whole)."""

    id: str
    status: Literal["pending", "delivered", "failed"]
    created_at: int = Field(description="Unix seconds")
    last_status_code: int | None = Field(description="The endpoint's status of the latest attempt; null before"
                                         " one or when it did not answer")


class MonitorOut(Strict):
    id: str
    name: str
    chain_ids: list[int]
    webhook_url: str
    filters: FiltersOut
    address_count: int
    condition: str | None
    confirmations: int | Literal["safe", "finalized"] | None
    active: bool
    created_at: int
    updated_at: int
    backfill: BackfillOut | None = Field(default=None, description="The latest backfill and its progress")
    reconcile: ReconcileProgress | None = Field(
        default=None, description="The latest reconcile and its progress (its event ids: GET .../reconcile)"
    )
    health: EndpointHealthOut
    last_delivery: LastDeliveryOut | None = Field(
        default=None, description="The monitor's newest delivery (test deliveries included); null when it has none"
    )


class ChainSequenceOut(Strict):
    """Where the monitor's deliveries on one chain stand: a receiver holding the sequences
    1..last_sequence has every delivery of the blocks up to matched_through_block."""

    chain_id: int
    matched_through_block: int | None = Field(
        description="Every block up to this one has been matched for this monitor and its deliveries created"
        " (its confirmations counted); null when nothing can be promised: before the first block, or for a"
        " moment while a change of monitors is being recorded"
    )
    last_sequence: int = Field(
        description="The highest sequence of the monitor's deliveries on this chain (0 before the first):"
        " every delivery of the blocks up to matched_through_block has a sequence up to it"
    )


class MonitorDetail(MonitorOut):
    """One monitor, with where its deliveries stand on each of its chains."""

    chains: list[ChainSequenceOut]


class MonitorWithSecret(MonitorOut):
    """A monitor as answered by create and rotate-secret, the only answers that show its secret."""

    secret: str


class MonitorWithRotatedSecret(MonitorWithSecret):
    """A monitor as answered by rotate-secret: its new secret, and until when the secret it replaced
    still signs."""

    previous_secret_expires_at: int = Field(
        description="Unix seconds, 24 hours after this rotation: until then each delivery carries a second"
        " v1= signature made with the secret this rotation replaced. A rotation within that time replaces"
        " this one: the secret before it stops signing at once"
    )


class MonitorPage(Strict):
    items: list[MonitorOut]
    next_cursor: str | None


class AddressOut(Strict):
    address: str
    label: str | None = None


class AddressPage(Strict):
    items: list[AddressOut]
    next_cursor: str | None


class AddressChangeResult(Strict):
    added: int
    removed: int
    address_count: int


class ErrorBody(Strict):
    code: str
    message: str
    details: list[Any] = Field(default_factory=list)


class ErrorEnvelope(Strict):
    error: ErrorBody


class Health(Strict):
    status: str


class ChainStatus(Strict):
    chain_id: int
    head: int | None = Field(description="The chain's head as ingest last saw it")
    last_processed: int | None = Field(description="The last block the matcher has processed")
    lag_blocks: int | None
    traces: bool | None = Field(
        description="Whether the chain's node serves call traces, so the chain has internal_transfer events; "
        "null until ingest has asked the node"
    )
    safe: int | None = Field(description="The node's safe block as ingest last saw it; null where the node has none")
    finalized: int | None = Field(
        description="The node's finalized block as ingest last saw it; null where the node has none"
    )
    status: Literal["live", "stalled", "unknown"] = Field(
        description="stalled: the node's head has not moved for 10 block times (the chain's poll interval), or "
        "ingest has not heard from the node that long; unknown: ingest has not polled the chain yet"
    )
    head_moved_at: int | None = Field(description="Unix seconds: when the head last moved")


class ChainList(Strict):
    items: list[ChainStatus]


class DeliveryOut(Strict):
    """One entry of a monitor's delivery log. Times are unix seconds."""

    id: str
    status: Literal["pending", "delivered", "failed"]
    retrying: bool = Field(description="True while a pending delivery waits for its next attempt after a failure")
    chain_id: int
    sequence: int | None = Field(
        description="The delivery's number among the monitor's deliveries on this chain: 1, 2, 3, ... with no gaps"
    )
    block_number: int
    block_hash: str
    removed: bool
    event_count: int
    attempts: int = Field(description="Attempts made, replays included")
    last_status_code: int | None
    last_error: str | None
    last_latency_ms: int | None
    next_attempt_at: int | None
    created_at: int
    last_attempt_at: int | None
    origin: Origin | None = Field(
        description="What made it: live (a block from the chain), removed (a reorg took its events back),"
        " backfill, catch_up (an added address matched over blocks already passed), reconcile (its heal), test"
        " (POST .../test); null when the record does not say"
    )


class DeliveryPage(Strict):
    items: list[DeliveryOut]
    next_cursor: str | None


class WebhookTestResult(Strict):
    status_code: int | None = Field(description="The endpoint's HTTP status, null when it did not answer")
    ok: bool = Field(description="True for a 2xx answer")
    error: str | None
    latency_ms: int
    delivery_id: str | None = Field(
        default=None, description="The test delivery's id: GET .../deliveries/{delivery_id} shows it"
    )


class DeliveryAttemptOut(Strict):
    """One attempt of a delivery. Times are unix seconds."""

    at: int
    status_code: int | None = Field(description="The endpoint's HTTP status; null when it did not answer")
    error: str | None = Field(description="Why the attempt failed (a status, a timeout, not sent); null on success")
    duration_ms: int
    response: str | None = Field(description="The first 256 characters of the endpoint's answer, if it had one")


class DeliveryDetail(DeliveryOut):
    """One delivery with what was posted and every attempt kept."""

    body: str = Field(
        description="The body exactly as posted: these characters, UTF-8 encoded, are the bytes the webhook"
        " received and the signature covers"
    )
    headers: dict[str, str] | None = Field(
        description="The headers the latest posted attempt was sent with (its signatures, never the secret);"
        " null before the first post"
    )
    attempt_log: list[DeliveryAttemptOut] = Field(
        description="The attempts, oldest first: the latest 50 are kept (attempts counts them all)"
    )


LATENCY_DESCRIPTION = (
    "Delivery latency in milliseconds, from a delivery's creation to the end of its first 2xx attempt."
    " Estimates: each is the upper bound of the histogram bucket that holds the percentile (buckets grow"
    " in steps of about 1.5x from 10 ms to 24 h; a latency over 24 h counts as 24 h)"
)


class LatencyOut(Strict):
    p50: int
    p90: int
    p99: int


class WindowLatencyOut(LatencyOut):
    count: int = Field(description="The deliveries whose latency is counted")


class HourStatsOut(Strict):
    """One UTC hour of a monitor's deliveries."""

    hour: int = Field(description="Unix seconds at the start of the hour (UTC)")
    delivered: int = Field(description="Deliveries that reached delivered in this hour (a replay's again)")
    failed: int = Field(description="Deliveries that gave up (failed) in this hour")
    attempts: int = Field(description="Attempts made in this hour, test deliveries' included")
    failed_attempts: int = Field(description="Attempts without a 2xx answer (or not sent: endpoint degraded)")
    latency_ms: LatencyOut | None = Field(
        description="Of the deliveries first delivered in this hour; null when none was. " + LATENCY_DESCRIPTION
    )


class MonitorStats(Strict):
    """A monitor's deliveries hour by hour. Test deliveries count in attempts and failed_attempts only."""

    monitor_id: str
    hours: list[HourStatsOut] = Field(
        description="Every hour of the window, oldest first, zeros included; the last one is the current hour"
    )
    latency_ms: WindowLatencyOut | None = Field(
        description="Over the whole window; null when no delivery was delivered in it. " + LATENCY_DESCRIPTION
    )


class BulkReplayRequest(Request):
    status: Literal["failed", "delivered"] = Field(default="failed", description="The deliveries to send again")
    since: int = Field(ge=0, le=2**53, description="Unix seconds: deliveries created at or after this")
    until: int | None = Field(
        default=None, ge=0, le=2**53, description="Unix seconds: deliveries created at or before this (default: now)"
    )


class BulkReplayResult(Strict):
    replayed: int
    delivery_ids: list[str] = Field(description="The deliveries sent again, oldest first: each is pending now")
    more: bool = Field(
        description="More deliveries of that status and range remain: call again (those replayed are pending"
        " now, so the next call goes on with the next ones)"
    )

"""The matching rule of CONTRACT section 3, example by example, then against a brute-force reference."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from blockhook.matching.conditions import cached_condition
from blockhook.matching.index import WatchIndex
from blockhook.matching.matcher import Match, MonitorView, Watcher, match_events
from blockhook.matching.service import MatchService
from blockhook.streaming.codec import BlockHeader, decode, encode_block
from tests.support.builders import (
    ALL_KINDS,
    BLOCK_HASH,
    BLOCK_NUMBER,
    BLOCK_TIMESTAMP,
    erc20,
    erc721,
    erc1155,
    internal_transfer,
    log,
    native_transfer,
    transaction,
    withdrawal,
)
from tests.support.builders import address_topic as pad
from tests.support.builders import monitor_view as monitor

# Topic 0s computed here, not through the code under test.
TRANSFER = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
TRANSFER_SINGLE = "0x" + keccak(text="TransferSingle(address,address,address,uint256,uint256)").hex()
TRANSFER_BATCH = "0x" + keccak(text="TransferBatch(address,address,address,uint256[],uint256[])").hex()
APPROVAL = "0x" + keccak(text="Approval(address,address,uint256)").hex()
OTHER_TOPIC = "0x" + "42" * 32

ALICE, BOB, CAROL, DAVE = ("0x" + c * 40 for c in "abcd")
TOKEN, NFT = "0x" + "7" * 40, "0x" + "8" * 40


def run(events, monitors, watched: dict[str, list[tuple[str, str | None]]] | None = None) -> list[Match]:
    """match_events with watchers from {address: [(monitor_id, label)]}; watch-all monitors passed apart."""
    by_id = {m.monitor_id: m for m in monitors}
    watchers = {
        address: [Watcher(monitor_id, label) for monitor_id, label in pairs]
        for address, pairs in (watched or {}).items()
    }
    return match_events(events, by_id, watchers, [m for m in monitors if m.watches_all_addresses])


def pairs(matches: list[Match]) -> list[tuple[str, str]]:
    return [(m.monitor_id, m.event["id"]) for m in matches]


# --- kinds ------------------------------------------------------------------------------------------


def test_event_matches_only_monitors_whose_kinds_hold_its_kind():
    events = [transaction(ALICE, BOB), native_transfer(ALICE, BOB, tx_index=1), erc20(TOKEN, ALICE, BOB, tx_index=2)]
    only_erc20 = monitor("m1", kinds={"erc20_transfer"})
    matches = run(events, [only_erc20], {ALICE: [("m1", None)]})
    assert pairs(matches) == [("m1", events[2]["id"])]


def test_kinds_filter_applies_to_monitors_watching_all_addresses_too():
    events = [transaction(ALICE, BOB), log(TOKEN, [APPROVAL], log_index=3)]
    logs_only = monitor("m1", kinds={"log"}, watches_all=True)
    assert pairs(run(events, [logs_only])) == [("m1", events[1]["id"])]


# --- addresses: the parties -------------------------------------------------------------------------


def test_transaction_matches_on_from():
    event = transaction(ALICE, BOB)
    assert run([event], [monitor()], {ALICE: [("m1", None)]})[0].matched_addresses == [ALICE]


def test_transaction_matches_on_to():
    event = transaction(ALICE, BOB)
    assert run([event], [monitor()], {BOB: [("m1", None)]})[0].matched_addresses == [BOB]


def test_contract_creation_matches_on_contract_address():
    event = transaction(ALICE, None, contract_address=CAROL)
    assert run([event], [monitor()], {CAROL: [("m1", None)]})[0].matched_addresses == [CAROL]


def test_event_with_no_watched_party_does_not_match():
    events = [transaction(ALICE, BOB), native_transfer(ALICE, BOB), erc20(TOKEN, ALICE, BOB)]
    assert run(events, [monitor()], {CAROL: [("m1", None)]}) == []


def test_token_transfers_match_on_from_and_to():
    events = [
        native_transfer(CAROL, ALICE),
        erc20(TOKEN, ALICE, CAROL, log_index=1),
        erc721(NFT, CAROL, ALICE, log_index=2),
        erc1155(NFT, DAVE, ALICE, CAROL, log_index=3),
    ]
    matches = run(events, [monitor()], {ALICE: [("m1", None)]})
    assert pairs(matches) == [("m1", event["id"]) for event in events]
    assert all(match.matched_addresses == [ALICE] for match in matches)


def test_token_and_operator_are_not_parties():
    # CONTRACT: parties are from, to, contract_address (and a log's address); the token is the
    # emitting contract, filtered by `contracts`, and an ERC-1155 operator is neither.
    events = [erc20(TOKEN, ALICE, BOB), erc1155(NFT, CAROL, ALICE, BOB, log_index=1)]
    assert run(events, [monitor()], {TOKEN: [("m1", None)], NFT: [("m1", None)], CAROL: [("m1", None)]}) == []


def test_log_matches_on_its_address_not_on_addresses_in_its_topics():
    watched_log = log(ALICE, [TRANSFER, pad(BOB), pad(CAROL)])
    other_log = log(TOKEN, [TRANSFER, pad(ALICE), pad(CAROL)], log_index=1)
    matches = run([watched_log, other_log], [monitor()], {ALICE: [("m1", None)]})
    assert pairs(matches) == [("m1", watched_log["id"])]
    assert matches[0].matched_addresses == [ALICE]


def test_log_address_is_its_only_party():
    # A log has no from/to: a stray field of that name is not a party of a log.
    event = {**log(TOKEN, [OTHER_TOPIC]), "from": ALICE}
    assert run([event], [monitor()], {ALICE: [("m1", None)]}) == []


def test_internal_transfer_matches_on_from_and_to():
    events = [internal_transfer(ALICE, BOB), internal_transfer(CAROL, ALICE, "0.1", tx_index=1)]
    matches = run(events, [monitor()], {ALICE: [("m1", "vault")], BOB: [("m1", None)]})
    assert [(match.event["id"], match.matched_addresses) for match in matches] == [
        (events[0]["id"], [ALICE, BOB]), (events[1]["id"], [ALICE])
    ]  # fmt: skip


def test_withdrawal_matches_on_its_address_only():
    # The withdrawal address is its one party; a withdrawal has no sender, and a stray field named
    # like one is not a party.
    event = {**withdrawal(BOB, withdrawal_index=9), "from": ALICE}
    assert pairs(run([event], [monitor()], {BOB: [("m1", None)]})) == [("m1", event["id"])]
    assert run([event], [monitor()], {ALICE: [("m1", None)]}) == []


# --- contracts ------------------------------------------------------------------------------------------


def test_contracts_hold_the_token_of_token_transfers():
    events = [
        erc20(TOKEN, ALICE, BOB),
        erc20(NFT, ALICE, BOB, log_index=1),
        erc721(TOKEN, ALICE, BOB, log_index=2),
        erc1155(TOKEN, CAROL, ALICE, BOB, log_index=3),
    ]
    m = monitor(contracts=frozenset({TOKEN}))
    assert pairs(run(events, [m], {ALICE: [("m1", None)]})) == [
        ("m1", events[0]["id"]), ("m1", events[2]["id"]), ("m1", events[3]["id"])
    ]


def test_contracts_hold_the_address_of_logs():
    events = [log(TOKEN, [OTHER_TOPIC]), log(NFT, [OTHER_TOPIC], log_index=1)]
    m = monitor(contracts=frozenset({TOKEN}), watches_all=True)
    assert pairs(run(events, [m])) == [("m1", events[0]["id"])]


def test_transactions_have_no_emitting_contract_so_a_contracts_filter_excludes_them():
    events = [transaction(ALICE, TOKEN), native_transfer(ALICE, TOKEN), internal_transfer(TOKEN, ALICE),
              withdrawal(TOKEN)]  # fmt: skip
    m = monitor(contracts=frozenset({TOKEN}))
    assert run(events, [m], {ALICE: [("m1", None)], TOKEN: [("m1", None)]}) == []


def test_contracts_and_addresses_must_both_hold():
    events = [erc20(TOKEN, ALICE, BOB), erc20(TOKEN, CAROL, BOB, log_index=1)]
    m = monitor(contracts=frozenset({TOKEN}))
    assert pairs(run(events, [m], {ALICE: [("m1", None)]})) == [("m1", events[0]["id"])]


# --- event_signatures: topic 0 ----------------------------------------------------------------------


def test_signature_matches_a_logs_topic0_only():
    events = [
        log(TOKEN, [TRANSFER, pad(ALICE), pad(BOB)]),
        log(TOKEN, [APPROVAL, TRANSFER], log_index=1),  # Transfer as topic 1 is not topic 0
        log(TOKEN, [], log_index=2),  # anonymous event: no topic 0
    ]
    m = monitor(kinds={"log"}, topics=frozenset({TRANSFER}), watches_all=True)
    assert pairs(run(events, [m])) == [("m1", events[0]["id"])]


def test_any_of_several_signatures_matches():
    events = [log(TOKEN, [TRANSFER]), log(TOKEN, [APPROVAL], log_index=1), log(TOKEN, [OTHER_TOPIC], log_index=2)]
    m = monitor(kinds={"log"}, topics=frozenset({TRANSFER, APPROVAL}), watches_all=True)
    assert pairs(run(events, [m])) == [("m1", events[0]["id"]), ("m1", events[1]["id"])]


def test_erc20_and_erc721_transfers_come_from_the_transfer_log():
    events = [erc20(TOKEN, ALICE, BOB), erc721(NFT, ALICE, BOB, log_index=1)]
    transfer = monitor("m1", topics=frozenset({TRANSFER}), watches_all=True)
    approval = monitor("m2", topics=frozenset({APPROVAL}), watches_all=True)
    single = monitor("m3", topics=frozenset({TRANSFER_SINGLE}), watches_all=True)
    assert pairs(run(events, [transfer, approval, single])) == [("m1", events[0]["id"]), ("m1", events[1]["id"])]


def test_erc1155_transfers_come_from_transfer_single_or_transfer_batch():
    single_event = erc1155(NFT, CAROL, ALICE, BOB)
    batch_events = [erc1155(NFT, CAROL, ALICE, BOB, batch_n=n, log_index=1) for n in range(2)]
    events = [single_event, *batch_events]
    single = monitor("single", topics=frozenset({TRANSFER_SINGLE}), watches_all=True)
    batch = monitor("batch", topics=frozenset({TRANSFER_BATCH}), watches_all=True)
    either = monitor("either", topics=frozenset({TRANSFER_SINGLE, TRANSFER_BATCH}), watches_all=True)
    transfer = monitor("transfer", topics=frozenset({TRANSFER}), watches_all=True)
    matches = set(pairs(run(events, [single, batch, either, transfer])))
    assert matches == {
        ("single", single_event["id"]),
        ("batch", batch_events[0]["id"]),
        ("batch", batch_events[1]["id"]),
        ("either", single_event["id"]),
        ("either", batch_events[0]["id"]),
        ("either", batch_events[1]["id"]),
    }


def test_transaction_kinds_have_no_topic0_so_a_signature_filter_excludes_them():
    events = [transaction(ALICE, BOB), native_transfer(ALICE, BOB), internal_transfer(ALICE, BOB), withdrawal(ALICE)]
    m = monitor(topics=frozenset({TRANSFER}))
    assert run(events, [m], {ALICE: [("m1", None)]}) == []


# --- active, chain ids ------------------------------------------------------------------------------------


def test_inactive_monitor_matches_nothing():
    events = [transaction(ALICE, BOB), log(ALICE, [TRANSFER], log_index=0)]
    watching = monitor("m1", active=False)
    watching_all = monitor("m2", active=False, watches_all=True)
    assert run(events, [watching, watching_all], {ALICE: [("m1", None)]}) == []


def test_event_matches_only_monitors_of_its_chain():
    events = [transaction(ALICE, BOB, chain_id=1), transaction(ALICE, BOB, tx_index=1, chain_id=10)]
    mainnet = monitor("m1", chain_ids={1})
    both = monitor("m2", chain_ids={1, 10})
    optimism_all = monitor("m3", chain_ids={10}, watches_all=True)
    matches = run(events, [mainnet, both, optimism_all], {ALICE: [("m1", None), ("m2", None)]})
    assert sorted(pairs(matches)) == sorted(
        [("m1", events[0]["id"]), ("m2", events[0]["id"]), ("m2", events[1]["id"]), ("m3", events[1]["id"])]
    )


# --- matched_addresses and labels -------------------------------------------------------------------


def test_matched_addresses_and_labels_in_the_delivered_event():
    event = transaction(ALICE, BOB, tx_index=4)
    (match,) = run([event], [monitor()], {ALICE: [("m1", "customer-42")], BOB: [("m1", None)]})
    delivered = match.delivered_event()
    assert delivered["matched_addresses"] == [ALICE, BOB]
    assert delivered["labels"] == {ALICE: "customer-42"}
    assert {k: v for k, v in delivered.items() if k not in ("matched_addresses", "labels")} == event
    assert "matched_addresses" not in event  # the block's event itself is left alone


def test_labels_absent_when_no_matched_address_has_one():
    (match,) = run([erc20(TOKEN, ALICE, BOB)], [monitor()], {BOB: [("m1", None)]})
    delivered = match.delivered_event()
    assert delivered["matched_addresses"] == [BOB]
    assert "labels" not in delivered


def test_labels_are_per_monitor():
    event = native_transfer(ALICE, BOB)
    matches = run([event], [monitor("m1"), monitor("m2")], {ALICE: [("m1", "cold"), ("m2", "exchange")]})
    assert {m.monitor_id: m.delivered_event()["labels"] for m in matches} == {
        "m1": {ALICE: "cold"}, "m2": {ALICE: "exchange"}
    }


def test_self_transfer_names_the_address_once():
    (match,) = run([native_transfer(ALICE, ALICE)], [monitor()], {ALICE: [("m1", "me")]})
    assert match.matched_addresses == [ALICE]
    assert match.labels == {ALICE: "me"}


def test_one_match_per_monitor_and_event_in_event_order():
    events = [transaction(ALICE, BOB, tx_index=n) for n in range(3)]
    matches = run(events, [monitor("m1"), monitor("m2")], {ALICE: [("m1", None), ("m2", None)], BOB: [("m1", None)]})
    assert [event_id for _, event_id in pairs(matches)] == [e["id"] for e in events for _ in ("m1", "m2")]
    assert all(m.matched_addresses == ([ALICE, BOB] if m.monitor_id == "m1" else [ALICE]) for m in matches)


# --- monitors with no address filter -----------------------------------------------------------------


def test_monitor_with_no_addresses_matches_every_party_with_no_matched_address():
    events = [transaction(ALICE, BOB), erc20(TOKEN, CAROL, DAVE, log_index=0), log(TOKEN, [TRANSFER], log_index=0)]
    m = monitor(watches_all=True)
    matches = run(events, [m])
    assert pairs(matches) == [("m1", e["id"]) for e in events]
    assert all(match.matched_addresses == [] and "labels" not in match.delivered_event() for match in matches)


def test_watch_all_monitor_listed_by_a_stale_address_entry_matches_once():
    m = monitor(watches_all=True)
    matches = run([transaction(ALICE, BOB)], [m], {ALICE: [("m1", "stale")]})
    assert len(matches) == 1


def test_watcher_of_an_unknown_monitor_is_ignored():
    assert run([transaction(ALICE, BOB)], [monitor("m1")], {ALICE: [("deleted", None)]}) == []


# --- property: match_events equals a brute-force reading of the CONTRACT --------------------------

ADDRESS_POOL = [ALICE, BOB, CAROL, DAVE]
CONTRACT_POOL = [TOKEN, NFT, CAROL]  # CAROL is both a party and a contract: collisions on purpose
TOPIC_POOL = [TRANSFER, TRANSFER_SINGLE, TRANSFER_BATCH, APPROVAL, OTHER_TOPIC, pad(ALICE)]
CHAINS = [1, 10, 137]


@dataclass
class Generated:
    event: dict
    source_topic0: str | None  # topic 0 of the log a token kind came from; a log's own topics[0]


@dataclass
class RefMonitor:
    monitor_id: str
    chain_ids: frozenset[int]
    kinds: frozenset[str]
    addresses: dict[str, str | None] = field(default_factory=dict)  # address -> label
    contracts: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()
    active: bool = True


addresses = st.sampled_from(ADDRESS_POOL)
maybe_address = st.one_of(st.none(), addresses)
contracts = st.sampled_from(CONTRACT_POOL)


@st.composite
def generated_event(draw, n: int) -> Generated:
    kind = draw(st.sampled_from(ALL_KINDS))
    chain_id = draw(st.sampled_from(CHAINS))
    if kind == "transaction":
        to = draw(maybe_address)
        created = None if to is not None else draw(st.one_of(st.none(), st.sampled_from(ADDRESS_POOL + CONTRACT_POOL)))
        return Generated(transaction(draw(addresses), to, created, tx_index=n, chain_id=chain_id), None)
    if kind == "native_transfer":
        return Generated(native_transfer(draw(addresses), draw(addresses), tx_index=n, chain_id=chain_id), None)
    if kind == "internal_transfer":
        path = ".".join(map(str, draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))))
        # A created contract or a selfdestruct's heir can be any account, a token contract too.
        target = draw(st.sampled_from(ADDRESS_POOL + CONTRACT_POOL))
        event = internal_transfer(
            draw(st.sampled_from(ADDRESS_POOL + CONTRACT_POOL)), target, path, tx_index=n, chain_id=chain_id
        )
        return Generated(event, None)
    if kind == "withdrawal":
        return Generated(withdrawal(draw(st.sampled_from(ADDRESS_POOL + CONTRACT_POOL)), n, chain_id=chain_id), None)
    if kind in ("erc20_transfer", "erc721_transfer"):
        build = erc20 if kind == "erc20_transfer" else erc721
        event = build(draw(contracts), draw(addresses), draw(addresses), tx_index=n, chain_id=chain_id)
        return Generated(event, TRANSFER)
    if kind == "erc1155_transfer":
        batch_n = draw(st.one_of(st.none(), st.integers(0, 3)))
        event = erc1155(
            draw(contracts), draw(addresses), draw(addresses), draw(addresses),
            batch_n=batch_n, tx_index=n, chain_id=chain_id,
        )
        return Generated(event, TRANSFER_SINGLE if batch_n is None else TRANSFER_BATCH)
    topics = draw(st.lists(st.sampled_from(TOPIC_POOL), max_size=4))
    address = draw(st.sampled_from(ADDRESS_POOL + CONTRACT_POOL))
    return Generated(log(address, topics, tx_index=n, chain_id=chain_id), topics[0] if topics else None)


@st.composite
def generated_events(draw) -> list[Generated]:
    count = draw(st.integers(0, 12))
    return [draw(generated_event(n)) for n in range(count)]


@st.composite
def ref_monitor(draw, monitor_id: str) -> RefMonitor:
    watch_all = draw(st.booleans())
    watched = {} if watch_all else draw(
        st.dictionaries(addresses, st.one_of(st.none(), st.sampled_from(["hot", "cold"])), min_size=1)
    )
    return RefMonitor(
        monitor_id=monitor_id,
        chain_ids=frozenset(draw(st.sets(st.sampled_from(CHAINS), min_size=1))),
        kinds=frozenset(draw(st.sets(st.sampled_from(ALL_KINDS), min_size=1))),
        addresses=watched,
        contracts=frozenset(draw(st.one_of(st.just(set()), st.sets(contracts, min_size=1)))),
        topics=frozenset(draw(st.one_of(st.just(set()), st.sets(st.sampled_from(TOPIC_POOL), min_size=1)))),
        active=draw(st.sampled_from([True, True, True, False])),
    )


@st.composite
def ref_monitors(draw) -> list[RefMonitor]:
    count = draw(st.integers(1, 6))
    return [draw(ref_monitor(f"m{n}")) for n in range(count)]


def reference(generated: list[Generated], monitors: list[RefMonitor]) -> set[tuple]:
    """CONTRACT section 3, read literally, by brute force over every (monitor, event) pair."""
    found = set()
    for item in generated:
        event = item.event
        # The parties, as the contract states them: a log's address; a withdrawal's address (`to`);
        # else from, to and contract_address, whichever the event has.
        if event["kind"] == "log":
            event_parties = {event["address"]}
        elif event["kind"] == "withdrawal":
            event_parties = {event["to"]}
        else:
            event_parties = {event.get(name) for name in ("from", "to", "contract_address")} - {None}
        # The emitting contract: a token event's token, a log's address; other kinds have none.
        emitting = event.get("token", event.get("address"))
        for m in monitors:
            if not m.active or event["chain_id"] not in m.chain_ids or event["kind"] not in m.kinds:
                continue
            matched = sorted(event_parties & set(m.addresses))
            if m.addresses and not matched:
                continue
            if m.contracts and emitting not in m.contracts:
                continue
            if m.topics and item.source_topic0 not in m.topics:
                continue
            labels = tuple(sorted((a, m.addresses[a]) for a in matched if m.addresses[a] is not None))
            found.add((m.monitor_id, event["id"], tuple(matched), labels))
    return found


def views_and_watchers(monitors: list[RefMonitor]):
    views = {
        m.monitor_id: MonitorView(
            monitor_id=m.monitor_id,
            tenant_id="t1",
            chain_ids=m.chain_ids,
            kinds=m.kinds,
            contracts=m.contracts,
            topics=m.topics,
            active=m.active,
            watches_all_addresses=not m.addresses,
        )
        for m in monitors
    }
    watchers: dict[str, list[Watcher]] = {}
    for m in monitors:
        for address, label in m.addresses.items():
            watchers.setdefault(address, []).append(Watcher(m.monitor_id, label))
    all_address = [view for view in views.values() if view.watches_all_addresses]
    return views, watchers, all_address


@settings(max_examples=300, deadline=None, derandomize=True)
@given(generated=generated_events(), monitors=ref_monitors())
def test_match_events_equals_brute_force_reference(generated, monitors):
    views, watchers, all_address = views_and_watchers(monitors)
    matches = match_events([g.event for g in generated], views, watchers, all_address)
    got = [
        (m.monitor_id, m.event["id"], tuple(sorted(m.matched_addresses)), tuple(sorted(m.labels.items())))
        for m in matches
    ]
    assert len(got) == len(set(got)), "a (monitor, event) pair matched twice"
    assert set(got) == reference(generated, monitors)
    # In event order, as the contract's deliveries list them.
    order = {g.event["id"]: n for n, g in enumerate(generated)}
    assert [order[m.event["id"]] for m in matches] == sorted(order[m.event["id"]] for m in matches)


# --- version 2 messages: only the events a monitor may match are read ---------------------------------


class DictWatchIndex(WatchIndex):
    """A WatchIndex whose watchers come from a dict instead of the address index."""

    def __init__(self, monitors: list[RefMonitor]) -> None:
        super().__init__()
        views, self.by_address, everyone = views_and_watchers(monitors)
        self.monitors, self.all_address_monitors = views, [m for m in everyone if m.active]
        self.prefilter = frozenset(self.by_address)
        self.asked: set[str] = set()

    def watchers(self, candidates):
        self.asked |= set(candidates)
        return {address: self.by_address[address] for address in candidates if address in self.by_address}


def matched(service: MatchService, value: bytes) -> list[tuple]:
    return [(m.monitor_id, m.event, tuple(m.matched_addresses), tuple(m.labels.items()))
            for m in service._match(decode(value, lazy=True))]  # fmt: skip


@settings(max_examples=300, deadline=None, derandomize=True)
@given(generated=generated_events(), monitors=ref_monitors(), scope=st.sampled_from(["any", "all", "list"]))
def test_version_2_read_lazily_matches_what_version_1_matches(generated, monitors, scope):
    if scope != "any":  # blocks where only monitors of every party, or only address lists, exist
        monitors = [replace(m, addresses={} if scope == "all" else (m.addresses or {ALICE: None})) for m in monitors]
    events = [g.event for g in generated]
    header = BlockHeader(1, BLOCK_NUMBER, BLOCK_HASH, "0x" + "cc" * 32, BLOCK_TIMESTAMP)
    (v1,) = encode_block(header, events, version=1)
    (v2,) = encode_block(header, events)
    old, new = MatchService(DictWatchIndex(monitors), None), MatchService(DictWatchIndex(monitors), None)
    assert matched(new, v2) == matched(old, v1)
    assert {(m[0], m[1]["id"], tuple(sorted(m[2])), tuple(sorted(m[3]))) for m in matched(new, v2)} == reference(
        generated, monitors
    )
    assert new.index.asked == old.index.asked  # the same candidates looked up


def test_version_2_with_conditions_reads_and_matches_as_version_1():
    events = [transaction(ALICE, BOB, value="5"), transaction(CAROL, DAVE, value="0", tx_index=1),
              erc20(TOKEN, BOB, CAROL, log_index=2)]  # fmt: skip
    everyone = RefMonitor("m1", frozenset({1}), frozenset(ALL_KINDS))
    listed = RefMonitor("m2", frozenset({1}), frozenset(ALL_KINDS), addresses={CAROL: "c"})
    header = BlockHeader(1, BLOCK_NUMBER, BLOCK_HASH, "0x" + "cc" * 32, BLOCK_TIMESTAMP)
    for monitors in ([everyone], [listed], [everyone, listed]):
        results = []
        for version in (1, 2):
            index = DictWatchIndex(monitors)
            condition = cached_condition('event.kind == "transaction" && event.value == 0')
            index.monitors = {k: replace(v, condition=condition) for k, v in index.monitors.items()}
            index.all_address_monitors = [index.monitors[m.monitor_id] for m in index.all_address_monitors]
            (value,) = encode_block(header, events, version=version)
            results.append(matched(MatchService(index, None), value))
        assert results[0] == results[1] and [m[1]["id"] for m in results[1]] == [events[1]["id"]] * len(monitors)

"""monitors.yaml: monitors as code. The whole file is checked before any call, and every problem is
reported with the monitor's position and name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from blockhook_cli.addresses import MAX_LABEL_LENGTH, BadRows, Entry, address_problem, read_csv

KINDS = (
    "transaction", "native_transfer", "internal_transfer", "withdrawal",
    "erc20_transfer", "erc721_transfer", "erc1155_transfer", "log",
)  # fmt: skip
# What the API watches when a monitor names no kinds.
DEFAULT_KINDS = (
    "transaction", "native_transfer", "withdrawal", "erc20_transfer", "erc721_transfer", "erc1155_transfer",
)  # fmt: skip
MONITOR_KEYS = ("name", "chain_ids", "webhook_url", "filters", "condition", "confirmations", "active", "addresses_file")
FILTER_KEYS = ("kinds", "addresses", "contracts", "event_signatures")
MAX_CHAIN_ID = 2**63 - 1


class SpecError(Exception):
    """The file is not a valid monitors file; `problems` lists each problem in words."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: {len(problems)} problems")
        self.source = source
        self.problems = problems


@dataclass
class DesiredMonitor:
    """A monitor as the file wants it, its values as the API would store them."""

    name: str
    chain_ids: list[int]
    webhook_url: str
    kinds: list[str]
    contracts: list[str]  # lowercase, sorted, unique
    event_signatures: list[str]
    condition: str | None
    confirmations: int | str | None
    active: bool
    addresses: list[Entry] | None  # None: the monitor watches every party


class _Loader(yaml.SafeLoader):
    """YAML as written: `0x70997970...` stays a string (YAML 1.1 would read it as a hex number), and a key
    written twice in one mapping is an error rather than silently the last one."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:int"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(0|[1-9][0-9_]*)$"), list("-+0123456789")
)


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is written twice", key_node.start_mark
            )
        seen[key] = loader.construct_object(value_node, deep=deep)
    return seen


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load(path: Path) -> list[DesiredMonitor]:
    """The monitors of a file; raises SpecError listing every problem."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(source, [f"cannot read it: {error}"]) from None
    try:
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as error:
        raise SpecError(source, [f"not valid YAML: {error}"]) from None
    return parse(document, path.parent, source)


def parse(document: Any, base: Path, source: str = "<monitors>") -> list[DesiredMonitor]:
    if not isinstance(document, dict) or "monitors" not in document:
        raise SpecError(source, ["the file is a mapping with a `monitors:` list"])
    unknown = sorted(str(key) for key in document if key != "monitors")
    problems = [f"unknown top-level key {key!r} (the file holds `monitors:`)" for key in unknown]
    entries = document["monitors"]
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise SpecError(source, [*problems, "`monitors` is a list of monitors"])
    monitors: list[DesiredMonitor] = []
    positions: dict[str, int] = {}
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"monitors[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")
        found: list[str] = []
        monitor = _monitor(entry, base, found)
        problems += [f"{where}: {problem}" for problem in found]
        if isinstance(name, str):
            if name in positions:
                problems.append(f"{where}: the name is also monitors[{positions[name]}]'s; names are unique")
            positions.setdefault(name, index)
        if monitor is not None:
            monitors.append(monitor)
    if problems:
        raise SpecError(source, problems)
    return monitors


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _monitor(entry: Any, base: Path, problems: list[str]) -> DesiredMonitor | None:
    if not isinstance(entry, dict):
        problems.append("a monitor is a mapping of name, chain_ids, webhook_url, filters, ...")
        return None
    for key in entry:
        if key not in MONITOR_KEYS:
            problems.append(f"unknown key {key!r} (a monitor has {', '.join(MONITOR_KEYS)})")
    name = entry.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 200:
        problems.append("name: a string of 1 to 200 characters is required")
    chain_ids = entry.get("chain_ids")
    if (
        not isinstance(chain_ids, list) or not 1 <= len(chain_ids) <= 50
        or not all(_is_int(chain) and 0 < chain <= MAX_CHAIN_ID for chain in chain_ids)
    ):  # fmt: skip
        problems.append("chain_ids: a list of 1 to 50 positive integers is required")
        chain_ids = []
    url = entry.get("webhook_url")
    if not isinstance(url, str) or not 1 <= len(url) <= 2048:
        problems.append("webhook_url: a string of 1 to 2048 characters is required")
    condition = entry.get("condition")
    if condition is not None and (not isinstance(condition, str) or len(condition) > 4096):
        problems.append("condition: a CEL expression as a string (at most 4096 characters), or null")
    confirmations = entry.get("confirmations")
    if confirmations is not None and not (
        (_is_int(confirmations) and 0 <= confirmations <= 1000) or confirmations in ("safe", "finalized")
    ):
        problems.append('confirmations: an integer 0..1000, "safe", "finalized" or null')
    active = entry.get("active", True)
    if not isinstance(active, bool):
        problems.append("active: true or false")
    filters = entry.get("filters") or {}
    if not isinstance(filters, dict):
        problems.append("filters: a mapping of kinds, addresses, contracts, event_signatures")
        filters = {}
    for key in filters:
        if key not in FILTER_KEYS:
            problems.append(f"filters: unknown key {key!r} (filters has {', '.join(FILTER_KEYS)})")
    kinds = filters.get("kinds", list(DEFAULT_KINDS))
    if not isinstance(kinds, list) or not kinds or not all(kind in KINDS for kind in kinds):
        problems.append(f"filters.kinds: a non-empty list of {', '.join(KINDS)}")
        kinds = []
    contracts = filters.get("contracts") or []
    if not isinstance(contracts, list):
        problems.append("filters.contracts: a list of addresses")
        contracts = []
    for position, contract in enumerate(contracts):
        problem = address_problem(contract)
        if problem:
            problems.append(f"filters.contracts[{position}]: {problem}")
    signatures = filters.get("event_signatures") or []
    if not isinstance(signatures, list) or not all(
        isinstance(signature, str) and 1 <= len(signature) <= 1000 for signature in signatures
    ):
        problems.append("filters.event_signatures: a list of event signatures, e.g. 'Transfer(address,address,uint256)'")
        signatures = []
    addresses = _addresses(filters, entry.get("addresses_file"), base, problems)
    if problems:
        return None
    return DesiredMonitor(
        name=name, chain_ids=sorted(set(chain_ids)), webhook_url=url, kinds=list(dict.fromkeys(kinds)),
        contracts=sorted({contract.lower() for contract in contracts}),
        event_signatures=list(dict.fromkeys(signatures)), condition=condition, confirmations=confirmations,
        active=active, addresses=addresses,
    )  # fmt: skip


def _addresses(filters: dict[str, Any], file: Any, base: Path, problems: list[str]) -> list[Entry] | None:
    """filters.addresses and the rows of addresses_file together (a row after the list wins); None when
    neither is given: the monitor watches every party."""
    listed = filters.get("addresses")
    if listed is None and file is None:
        return None
    entries: dict[str, Entry] = {}
    if listed is not None and not isinstance(listed, list):
        problems.append("filters.addresses: a list of addresses or {address, label} mappings, or null")
        listed = []
    for position, item in enumerate(listed or []):
        where = f"filters.addresses[{position}]"
        label = None
        if isinstance(item, dict):
            extra = sorted(str(key) for key in item if key not in ("address", "label"))
            if extra:
                problems.append(f"{where}: unknown key {extra[0]!r} (an item has address and label)")
                continue
            address, label = item.get("address"), item.get("label")
            if label is not None and (not isinstance(label, str) or len(label) > MAX_LABEL_LENGTH):
                problems.append(f"{where}.label: a string of at most {MAX_LABEL_LENGTH} characters")
                continue
        else:
            address = item
        problem = address_problem(address)
        if problem:
            shown = f" {address!r}" if isinstance(address, str) else ""
            problems.append(f"{where}:{shown} {problem}")
            continue
        entries.pop(address.lower(), None)
        entries[address.lower()] = Entry(address.lower(), label)
    if file is not None:
        if not isinstance(file, str) or not file:
            problems.append("addresses_file: a path to a CSV file of address,label rows")
        else:
            try:
                for entry in read_csv(base / file):
                    entries.pop(entry.address, None)
                    entries[entry.address] = entry
            except BadRows as bad:
                problems += [f"addresses_file {bad.source}: {problem}" for problem in bad.problems]
    return list(entries.values())

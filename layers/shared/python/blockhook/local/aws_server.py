"""The local stack's AWS endpoint: moto server, with DynamoDB reads that cost what DynamoDB's
cost, and (with --state-dir) its state kept across restarts.

    python -m blockhook.local.aws_server -H 127.0.0.1 -p PORT [--state-dir DIR]

Reads. Stock moto answers every Query, GSI Query and Scan from `Table.all_items()`: every item
of the table, sorted, on each call, so a page of a monitor's addresses costs O(N log N) in the
size of the whole table. Here the answers come from moto's own code, fed only the items that
code would look at:

- a table's items are kept by hash key in `Partition`s whose range keys are kept sorted (from
  KEPT_ORDER items on; smaller ones are sorted when read), so a table Query hands moto the
  page it asked for, from its ExclusiveStartKey, within its key condition, up to Limit + 1
  items or 1 MB (where moto stops; with a key condition whose matches end before that, moto
  goes on through the rest of the partition, and so does this); a Scan likewise walks the
  sorted hash keys;
- a GSI Query hands moto the items carrying the index's hash value, from a per-index map
  (hash value -> table keys) filled on every put and update and pruned of deleted or changed
  items when read;
- TransactWriteItems keeps copies of the items it touches to roll back, where moto deep-copies
  every table it touches (the deliveries table on each delivery).

moto then filters, sorts, pages and projects as it always does, so the items, their order,
LastEvaluatedKey and counts are moto's (tests/unit/test_aws_server.py compares both on random
tables). Shapes handed to moto whole, as stock moto does: legacy QueryFilter/ScanFilter, Scan
segments, a Scan of an index, a Query with a multi-attribute key, on an LSI, or whose
ExclusiveStartKey is not in the queried partition; blockhook uses none of them.

Also: moto keeps every model object it ever made (every item of every answer: gigabytes under
load) and lists its own package on every request; neither here. Query, Scan, GetItem and
BatchGetItem answers are written as JSON as they are (they are DynamoDB's wire form already),
not by moto's serializer, which walks every attribute of every item (3/5 of a page's time). Written items' short strings
are interned (an address is in both address tables).

State (--state-dir). Every backend of DynamoDB, SQS, S3 and KMS is pickled to
DIR/aws-state.pickle: on SIGTERM/SIGINT, and every SNAPSHOT_SECONDS while something was written
(a Query, GetItem, ReceiveMessage, GetObject, Decrypt... writes nothing). A periodic snapshot is
taken by a forked child from a copy-on-write image of the process, taken between writes, so the
server never waits for the pickling; the next one waits SNAPSHOT_PAUSE_FACTOR times as long as
that one took, so a hard kill loses at most the writes of the last SNAPSHOT_SECONDS plus one
snapshot's time, or of five snapshots' time for a big state (~2 minutes with a million addresses,
the child then busy a fifth of the time). Files are written to a temporary name and renamed.
Messages received but not deleted since the last snapshot are visible again after a restart, as
after their visibility timeout. With 1,000,000 watched addresses (2,000,000 items in the two
address tables, ~3 GB of the server's memory) a snapshot takes ~25 s and ~180 MB, a restore
~70 s, half of it rebuilding the kept orders (bench/moto_scale.py, bench/results/moto_scale.json):
items are pickled flat (_Pickler), as a plain pickle of moto's objects takes over twice as long
each way.
"""

from __future__ import annotations

import argparse
import base64
import copy
import inspect
import json
import logging
import os
import pickle
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from moto import backends as moto_backends
from moto.core.common_models import BaseModel
from moto.core.responses import BaseResponse
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table
from moto.dynamodb.responses import DynamoHandler
from sortedcontainers import SortedKeyList

logger = logging.getLogger("blockhook.aws_server")

SNAPSHOT_SECONDS = 5.0
SNAPSHOT_PAUSE_FACTOR = 4  # after a snapshot, wait at least this many times as long as it took
STATE_FILE = "aws-state.pickle"
SERVICES = ("dynamodb", "sqs", "s3", "kms")

# Guards the sorted orders and the index maps: moto server answers requests in threads.
_lock = threading.RLock()
_local = threading.local()


def _native(key: DynamoType) -> Any:
    """The value DynamoType compares by (its `<` is `cast_value <`)."""
    return key.cast_value


# Past this many keys a dict's order is kept (a SortedKeyList, maintained on every write); below,
# it is sorted when read, so a million one-item partitions carry no order of their own.
KEPT_ORDER = 64


class _Sorted:
    """Keys of a dict in DynamoType order (`ordered()`)."""

    _order: SortedKeyList | None = None

    def ordered(self) -> SortedKeyList:
        with _lock:
            if self._order is not None:
                return self._order
            order = SortedKeyList(dict.keys(self), key=_native)
            if len(order) >= KEPT_ORDER:
                self._order = order
            return order

    def __setitem__(self, key, value) -> None:
        with _lock:
            if not dict.__contains__(self, key):
                if self._order is not None:
                    self._order.add(key)
                elif dict.__len__(self) + 1 >= KEPT_ORDER:
                    self._order = SortedKeyList([*dict.keys(self), key], key=_native)
            dict.__setitem__(self, key, value)

    def __delitem__(self, key) -> None:
        with _lock:
            dict.__delitem__(self, key)
            if self._order is not None:
                self._order.remove(key)

    def pop(self, key, *default):
        with _lock:
            if dict.__contains__(self, key):
                value = dict.pop(self, key)
                if self._order is not None:
                    self._order.remove(key)
                return value
            return dict.pop(self, key, *default)

    def popitem(self):
        with _lock:
            self._order = None
            return dict.popitem(self)

    def clear(self) -> None:
        with _lock:
            self._order = None
            dict.clear(self)

    def setdefault(self, key, default=None):
        with _lock:
            if not dict.__contains__(self, key):
                self[key] = default
            return dict.__getitem__(self, key)

    def update(self, *args, **kwargs) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


class Partition(_Sorted, dict):
    """A range-key table's items of one hash key, by range key."""

    def __reduce__(self):
        # The order is rebuilt when first read: snapshots and copies carry only the items.
        return (self.__class__, (), None, None, iter(dict.items(self)))


class TableItems(_Sorted, defaultdict):
    """A table's items by hash key (a Partition each, or the Item of a hash-only table)."""

    def __missing__(self, key):
        value = self[key] = self.default_factory()
        return value

    def __reduce__(self):
        return (self.__class__, (self.default_factory,), None, None, iter(dict.items(self)))


# --- reads -------------------------------------------------------------------------------------

_moto_table_init = Table.__init__
_moto_query = Table.query
_moto_scan = Table.scan
_moto_all_items = Table.all_items
_moto_put_item = Table.put_item
_moto_update_item = DynamoDBBackend.update_item
_QUERY_ARGS = list(inspect.signature(_moto_query).parameters)[1:-1]  # without self and **filter_kwargs
_SCAN_ARGS = list(inspect.signature(_moto_scan).parameters)[1:]
_GSI_MEMBERS = "_blockhook_gsi_members"


def _table_init(self: Table, *args, **kwargs) -> None:
    _moto_table_init(self, *args, **kwargs)
    self.items = TableItems(Partition)


def _table_getstate(self: Table) -> dict[str, Any]:
    state = self.__dict__.copy()
    state.pop(_GSI_MEMBERS, None)  # rebuilt from the items when first needed
    return state


def all_items(self: Table) -> list[Item]:
    chosen = getattr(_local, "items", None)
    if chosen is not None and chosen[0] is self:
        return list(chosen[1])
    return _moto_all_items(self)


@contextmanager
def _reading(table: Table, items: list[Item]) -> Iterator[None]:
    """moto's all_items() returns `items` for this table, in this thread, meanwhile."""
    _local.items = (table, items)
    try:
        yield
    finally:
        _local.items = None


def _enough(items: Iterator[Item], limit: int | None) -> tuple[list[Item], int, bool]:
    """The first items moto's page loop can reach: it stops at Limit (taking one more to tell
    that there is more) or once the page passes RESULT_SIZE_LIMIT. Returns them, their size and
    whether the loop stops among them."""
    chosen, size = [], 0
    for item in items:
        chosen.append(item)
        size += item.size()
        if (limit is not None and len(chosen) > limit) or size > RESULT_SIZE_LIMIT:
            return chosen, size, True
    return chosen, size, False


def _bounds(order: SortedKeyList, comparison: str | None, values: list[Any]) -> tuple[int, int] | None:
    """The slice of `order` a key condition can match (None: not one we bound)."""
    lo, hi = 0, len(order)
    if comparison is None:
        return lo, hi
    if comparison == "EQ":
        return order.bisect_key_left(values[0]), order.bisect_key_right(values[0])
    if comparison == "LT":
        return lo, order.bisect_key_left(values[0])
    if comparison == "LE":
        return lo, order.bisect_key_right(values[0])
    if comparison == "GT":
        return order.bisect_key_right(values[0]), hi
    if comparison == "GE":
        return order.bisect_key_left(values[0]), hi
    if comparison == "BETWEEN":
        return order.bisect_key_left(values[0]), order.bisect_key_right(values[1])
    if comparison == "BEGINS_WITH" and isinstance(values[0], str):
        # The keys starting with a prefix follow it in order, together.
        start = order.bisect_key_left(values[0])
        end = start
        for key in order.islice(start):
            if not key.cast_value.startswith(values[0]):
                break
            end += 1
        return start, end
    return None


def _table_query_items(table: Table, a: dict[str, Any]) -> list[Item] | None:
    hash_key = a["hash_key"]
    if not table.range_key_attr:
        item = dict.get(table.items, hash_key)
        return [] if item is None else [item]
    partition = dict.get(table.items, hash_key)  # dict.get: the defaultdict must not grow
    if not partition:
        return []
    comparison, objects = a.get("range_comparison"), a.get("range_objs") or []
    if any(obj.type != table.range_key_type for obj in objects):
        return None
    forward = a.get("scan_index_forward") is not False
    start = a.get("exclusive_start_key")
    after = None
    if start is not None:
        start_hash, start_range = start.get(table.hash_key_attr), start.get(table.range_key_attr)
        if start_hash is None or start_range is None or DynamoType(start_hash) != hash_key:
            return None
        after = DynamoType(start_range)
        if after.type != table.range_key_type:
            return None
    with _lock:
        order = partition.ordered()
        bounds = _bounds(order, comparison, [obj.cast_value for obj in objects])
        if bounds is None:
            return None
        lo, hi = bounds
        if after is not None:
            if forward:
                lo = max(lo, order.bisect_key_right(after.cast_value))
            else:
                hi = min(hi, order.bisect_key_left(after.cast_value))
        if lo >= hi:
            return []
        limit = a.get("limit")
        keys = order.islice(lo, hi, reverse=not forward)
        chosen, size, stops = _enough((dict.__getitem__(partition, key) for key in keys), limit)
        if stops or comparison is None:
            return chosen
        # moto goes on through the rest of the partition, which its key condition skips, and
        # stops with a LastEvaluatedKey at the first item met with Limit reached, or with one too
        # big for the page: those items are its too.
        matched = len(chosen)
        beyond = order.islice(hi) if forward else order.islice(0, lo, reverse=True)
        for key in beyond:
            item = dict.__getitem__(partition, key)
            chosen.append(item)
            if matched == limit or size + item.size() > RESULT_SIZE_LIMIT:
                break
        return chosen


def _index_hash_attr(table: Table, index_name: str) -> str | None:
    for index in table.global_indexes or ():
        if index.name == index_name:
            hashes = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
            return hashes[0] if len(hashes) == 1 else None
    return None


def _members(table: Table, index_name: str, attr: str) -> dict[DynamoType, set]:
    """The index's map hash value -> table keys (a superset: deletes and changes are pruned on read)."""
    with _lock:
        maps = table.__dict__.setdefault(_GSI_MEMBERS, {})
        members = maps.get(index_name)
        if members is None:
            members = maps[index_name] = {}
            for item in _every_item(table):
                value = item.attrs.get(attr)
                if value is not None:
                    members.setdefault(value, set()).add((item.hash_key, item.range_key))
        return members


def _every_item(table: Table) -> Iterator[Item]:
    for value in list(dict.values(table.items)):
        if table.range_key_attr:
            yield from list(dict.values(value))
        else:
            yield value


def _remember(table: Table, item: Item) -> None:
    """Enter a written item in the index maps built so far."""
    maps = table.__dict__.get(_GSI_MEMBERS)
    if not maps:
        return
    with _lock:
        for index_name, members in maps.items():
            attr = _index_hash_attr(table, index_name)
            value = item.attrs.get(attr) if attr else None
            if value is not None:
                members.setdefault(value, set()).add((item.hash_key, item.range_key))


def _stored(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
    value = dict.get(table.items, hash_key)
    if table.range_key_attr:
        return None if value is None else dict.get(value, range_key)
    return value


def _index_query_items(table: Table, a: dict[str, Any]) -> list[Item] | None:
    index_name = a["index_name"]
    attr = _index_hash_attr(table, index_name)
    if attr is None:
        return None
    conditions = a.get("hash_key_conditions") or [(attr, a["hash_key"])]
    values = [value for name, value in conditions if name == attr]
    if len(values) != 1 or values[0] is None:
        return None
    value = values[0]
    members = _members(table, index_name, attr)
    with _lock:
        keys = members.get(value)
        if not keys:
            return []
        items, gone = [], []
        for key in keys:
            item = _stored(table, *key)
            current = None if item is None else item.attrs.get(attr)
            if current is None or current != value:
                gone.append(key)
            else:
                items.append(item)
        keys.difference_update(gone)
        if not keys:
            del members[value]
        return items


def query(self: Table, *args, **kwargs):
    a = dict(zip(_QUERY_ARGS, args, strict=False))
    a.update(kwargs)
    items = None
    plain = set(a) <= set(_QUERY_ARGS) and len(a.get("range_key_conditions") or ()) <= 1
    if plain and a.get("hash_key") is not None:
        items = _index_query_items(self, a) if a.get("index_name") else _table_query_items(self, a)
    if items is None:
        return _moto_query(self, *args, **kwargs)
    with _reading(self, items):
        return _moto_query(self, *args, **kwargs)


def _scan_items(table: Table, a: dict[str, Any]) -> list[Item] | None:
    if a.get("index_name") or a.get("filters") or tuple(a.get("segments") or (None, None)) != (None, None):
        return None
    start = a.get("exclusive_start_key")
    start_hash = start_range = None
    if start is not None:
        if table.hash_key_attr not in start or (table.range_key_attr and table.range_key_attr not in start):
            return None
        start_hash = DynamoType(start[table.hash_key_attr])
        if start_hash.type != table.hash_key_type:
            return None
        if table.range_key_attr:
            start_range = DynamoType(start[table.range_key_attr])
            if start_range.type != table.range_key_type:
                return None

    def walk() -> Iterator[Item]:
        order = table.items.ordered()
        first = 0 if start_hash is None else order.bisect_key_left(start_hash.cast_value)
        for hash_key in order.islice(first):
            value = dict.__getitem__(table.items, hash_key)
            at_start = start_hash is not None and hash_key == start_hash
            if not table.range_key_attr:
                if not at_start:
                    yield value
                continue
            keys = value.ordered()
            begin = keys.bisect_key_right(start_range.cast_value) if at_start else 0
            for range_key in keys.islice(begin):
                yield dict.__getitem__(value, range_key)

    with _lock:
        return _enough(walk(), a.get("limit"))[0]


def scan(self: Table, *args, **kwargs):
    a = dict(zip(_SCAN_ARGS, args, strict=False))
    a.update(kwargs)
    items = _scan_items(self, a)
    if items is None:
        return _moto_scan(self, *args, **kwargs)
    with _reading(self, items):
        return _moto_scan(self, *args, **kwargs)


# --- writes ------------------------------------------------------------------------------------


def _interned(attrs: dict[str, Any]) -> dict[str, Any]:
    """The item's short strings, one copy each process-wide: an address is in both address tables,
    a monitor id in each of its address items (~10% of the memory of the address tables)."""
    for value in attrs.values():
        text = value.get("S") if type(value) is dict else None
        if type(text) is str and len(text) <= _INTERNED_LENGTH:
            value["S"] = sys.intern(text)
    return attrs


_INTERNED_LENGTH = 100


def put_item(self: Table, item_attrs: dict[str, Any], *args, **kwargs) -> Item:
    item = _moto_put_item(self, _interned(item_attrs), *args, **kwargs)
    _remember(self, item)
    return item


def _key_of(table: Table, key: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    hash_key = DynamoType(key[table.hash_key_attr])
    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_key, range_key


def update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args, **kwargs):
    result = _moto_update_item(self, table_name, key, *args, **kwargs)
    table = self.get_table(table_name)
    item = _stored(table, *_key_of(table, key))
    if item is not None:
        _remember(table, item)  # updated in place: its index keys may have changed
    return result


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's TransactWriteItems, rolled back from copies of the items it touches rather than of
    every table it touches."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    originals: dict[tuple[str, DynamoType, DynamoType | None], Item | None] = {}
    for item in transact_items:
        _, op = next(iter(item.items()))
        table_name = op.get("TableName")
        if table_name not in self.tables:
            continue
        table = self.tables[table_name]
        try:
            key = _key_of(table, op["Item"] if "Item" in op else op["Key"])
        except (KeyError, TypeError):
            continue  # the operation fails on its own, writing nothing
        stored = _stored(table, *key)
        originals.setdefault((table_name, *key), None if stored is None else copy.deepcopy(stored))

    def rollback() -> None:
        for (table_name, hash_key, range_key), original in originals.items():
            table = self.tables.get(table_name)
            if table is None:
                continue
            if original is None:
                table.delete_item(hash_key, range_key)
            elif table.range_key_attr:
                table.items[hash_key][range_key] = original
                _remember(table, original)
            else:
                table.items[hash_key] = original
                _remember(table, original)

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")
            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            check_unicity(table_name, key)
            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression, expression_attribute_names, expression_attribute_values
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            rollback()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - as moto: each operation's error goes into the cancellation reasons
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]
    if any(code is not None for code, _, _ in errors):
        rollback()
        raise TransactionCanceledException(errors)


# DynamoDB reads answered as they are: their results are already DynamoDB's wire form (attribute values
# as {"S": ...}), bytes aside, and moto's shape-driven serializer walks every attribute of every item to
# write the same JSON: most of the time of a page of 1,000 addresses. Other answers go through it.
_WIRE_FORM_READS = {"Query", "Scan", "GetItem", "BatchGetItem"}
_moto_serialized = BaseResponse.serialized


def _wire_bytes(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()  # a binary attribute (B, BS), as the JSON protocol sends it
    raise TypeError(f"{type(value).__name__} in a DynamoDB answer")


def serialized(self: BaseResponse, action_result):
    result = action_result.result
    if isinstance(self, DynamoHandler) and isinstance(result, dict) and self._get_action() in _WIRE_FORM_READS:
        try:
            body = json.dumps({k: v for k, v in result.items() if v is not None}, default=_wire_bytes)
        except TypeError:
            return _moto_serialized(self, action_result)
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "server": "amazon.com",
            "date": formatdate(usegmt=True),
            "x-amzn-requestid": uuid.uuid4().hex,
            **self.response_headers,
        }
        return 200, headers, body
    return _moto_serialized(self, action_result)


def _new_model(cls, *args, **kwargs):
    instance = object.__new__(cls)
    if cls.__module__.startswith("moto.s3"):
        cls.instances_tracked.append(instance)  # what moto's S3 reset closes
    return instance


def install() -> None:
    """Patch moto's models (idempotent)."""
    if Table.query is query:
        return
    # moto keeps every model object ever made (BaseModel.instances_tracked, for its /moto-api
    # listing): every item of every Query answer, every SQS message, never freed.
    BaseModel.__new__ = staticmethod(_new_model)
    # moto lists its package directory on every request to find the service (os.listdir + isdir
    # of ~150 entries): a sixth of its time under the local stack's load.
    modules = list(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = lambda: modules
    Table.__init__ = _table_init
    Table.__getstate__ = _table_getstate
    Table.all_items = all_items
    Table.query = query
    Table.scan = scan
    Table.put_item = put_item
    BaseResponse.serialized = serialized
    DynamoDBBackend.update_item = update_item
    DynamoDBBackend.transact_write_items = transact_write_items


# --- state -------------------------------------------------------------------------------------

_dirty = threading.Event()

# Calls that change nothing worth keeping (a received message not deleted becomes visible again).
_READS = {
    "dynamodb": {"GetItem", "BatchGetItem", "Query", "Scan", "DescribeTable", "ListTables", "DescribeTimeToLive",
                 "DescribeContinuousBackups", "ListTagsOfResource", "DescribeEndpoints"},
    "sqs": {"ReceiveMessage", "GetQueueUrl", "GetQueueAttributes", "ListQueues", "ListQueueTags",
            "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"},
    "kms": {"Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "ListKeys",
            "ListAliases", "GenerateRandom", "ReEncrypt", "GetKeyPolicy", "ListResourceTags"},
}


def _writes(environ: dict[str, Any]) -> bool:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        action = target.rsplit(".", 1)[-1]
        return not any(action in reads for reads in _READS.values())
    path = environ.get("PATH_INFO", "")
    if path.startswith("/moto-api"):
        return False
    return environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD")


class Gate:
    """Requests pass together; a snapshot waits for those in flight and holds new ones back."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._active = 0
        self._closed = False

    @contextmanager
    def request(self) -> Iterator[None]:
        with self._condition:
            while self._closed:
                self._condition.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._condition:
                self._active -= 1
                self._condition.notify_all()

    @contextmanager
    def closed(self) -> Iterator[None]:
        with self._condition:
            while self._closed:
                self._condition.wait()
            self._closed = True
            while self._active:
                self._condition.wait()
        try:
            yield
        finally:
            with self._condition:
                self._closed = False
                self._condition.notify_all()


def _backend_dicts() -> dict[str, Any]:
    return {name: moto_backends.get_backend(name) for name in SERVICES}


def state() -> dict[str, dict[str, dict[str, Any]]]:
    """service -> account -> region -> moto backend."""
    return {
        name: {account: dict(dict.items(regions)) for account, regions in dict.items(backends)}
        for name, backends in _backend_dicts().items()
    }


def _private_key(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, password=None)


def _item(key: tuple, attrs: tuple) -> Item:
    """An Item from _Pickler's flat form: the keys' (type, value) and (name, type, value) triples;
    the keys share the attributes' objects (moto's put_item builds a copy of each)."""
    made = object.__new__(Item)
    made.attrs = values = LimitedSizeDict.__new__(LimitedSizeDict)  # sized when written, not again
    new = object.__new__
    for name, kind, value in attrs:
        if kind == "S" and len(value) <= _INTERNED_LENGTH:
            value = sys.intern(value)
        typed = new(DynamoType)
        typed.type, typed.value = kind, value
        dict.__setitem__(values, name, typed)
    by_value = {(typed.type, typed.value): typed for typed in dict.values(values) if typed.type in ("S", "N", "B")}
    hash_type, hash_value, range_type, range_value = key
    made.hash_key = by_value.get((hash_type, hash_value)) or _dynamo_type(hash_type, hash_value)
    made.range_key = None if range_type is None else (
        by_value.get((range_type, range_value)) or _dynamo_type(range_type, range_value))
    return made


def _dynamo_type(kind: str, value: Any) -> DynamoType:
    made = object.__new__(DynamoType)
    made.type, made.value = kind, value
    return made


class _Pickler(pickle.Pickler):
    """Pickles moto's items compactly (a plain pickle of 1,000,000 items takes ~35 s and as long
    again to load), and what moto's backends hold beside data: locks (saved as new ones) and KMS
    keys' private keys (saved as PEM)."""

    _LOCKS = (type(threading.Lock()), type(threading.RLock()))

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is Item:
            range_key = obj.range_key
            key = (obj.hash_key.type, obj.hash_key.value,
                   None if range_key is None else range_key.type, None if range_key is None else range_key.value)
            return _item, (key, tuple((name, typed.type, typed.value) for name, typed in dict.items(obj.attrs)))
        if kind is DynamoType:  # within lists and maps
            return _dynamo_type, (obj.type, obj.value)
        if isinstance(obj, threading.Condition):
            return threading.Condition, ()
        if isinstance(obj, self._LOCKS):
            return (threading.RLock if isinstance(obj, self._LOCKS[1]) else threading.Lock), ()
        private_bytes = getattr(obj, "private_bytes", None)
        if private_bytes is not None and callable(private_bytes) and type(obj).__module__.startswith("cryptography"):
            pem = private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            return _private_key, (pem,)
        return NotImplemented


def save(state_dir: Path) -> int:
    """Write the state atomically; returns its size in bytes."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".aws-state.", dir=state_dir)
    try:
        with os.fdopen(fd, "wb") as file:
            _Pickler(file, protocol=pickle.HIGHEST_PROTOCOL).dump(state())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, state_dir / STATE_FILE)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return (state_dir / STATE_FILE).stat().st_size


def load(state_dir: Path) -> bool:
    """Restore the state saved in state_dir, if any."""
    path = state_dir / STATE_FILE
    if not path.exists():
        return False
    with open(path, "rb") as file:
        saved = pickle.load(file)
    backends = _backend_dicts()
    for name, accounts in saved.items():
        for account, regions in accounts.items():
            for region, backend in regions.items():
                dict.__setitem__(backends[name][account], region, backend)
    return True


class Snapshots:
    """Periodic snapshots in a forked child while something changed; a last one at stop."""

    def __init__(self, state_dir: Path, gate: Gate, interval: float = SNAPSHOT_SECONDS) -> None:
        self.state_dir = state_dir
        self.gate = gate
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="snapshots", daemon=True)
        _backend_dicts()  # every service imported here, not in a forked child

    def start(self) -> Snapshots:
        self._thread.start()
        return self

    def _run(self) -> None:
        pause = self.interval
        while not self._stop.wait(pause):
            if not _dirty.is_set():
                pause = self.interval
                continue
            started = time.monotonic()
            try:
                self._fork_snapshot()
            except Exception:  # noqa: BLE001 - the next round tries again; the stop snapshot says if it cannot
                logger.exception("snapshot failed")
            # A big state is not pickled back to back: its child busies a core for each snapshot.
            pause = max(self.interval, SNAPSHOT_PAUSE_FACTOR * (time.monotonic() - started))

    def _fork_snapshot(self) -> None:
        started = time.monotonic()
        with self.gate.closed(), _lock:
            # No request in flight and no index being read: the child's copy is consistent, and
            # holds no lock another thread had taken.
            _dirty.clear()
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    save(self.state_dir)
                except BaseException:  # noqa: BLE001 - the child reports through its exit code only
                    code = 1
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            _dirty.set()
            logger.error("snapshot child failed")
        else:
            logger.info("snapshot written in %.1f s", time.monotonic() - started)

    def final(self) -> None:
        self._stop.set()
        with self.gate.closed(), _lock:
            started = time.monotonic()
            size = save(self.state_dir)
            logger.info("state saved: %d bytes in %.1f s", size, time.monotonic() - started)


def app(state_dir: Path | None):
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    inner = DomainDispatcherApplication(create_backend_app)
    inner.debug = True  # type: ignore[attr-defined]
    gate = Gate()

    def respond(environ, start_response) -> list[bytes]:
        response = inner(environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()

    def wsgi(environ, start_response):
        if not _writes(environ):
            # Reads pass the gate: one may wait 20 s for a message, and a snapshot taken meanwhile
            # loses nothing by it.
            return respond(environ, start_response)
        with gate.request():
            if state_dir is not None:
                _dirty.set()
            return respond(environ, start_response)

    return wsgi, gate


class _Stop(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, default=None, help="keep the state here across restarts")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # werkzeug's line per request was a fifth of the server's time under load; errors are still logged.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    install()

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    wsgi, gate = app(args.state_dir)
    snapshots = None
    if args.state_dir is not None:
        started = time.monotonic()
        if load(args.state_dir):
            logger.info("state restored from %s in %.1f s", args.state_dir, time.monotonic() - started)
        snapshots = Snapshots(args.state_dir, gate).start()

    def stop(_signum, _frame):
        raise _Stop

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server = make_server(args.host, args.port, wsgi, threaded=True, request_handler=MotoRequestHandler)
    try:
        server.serve_forever()
    except _Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        server.server_close()
        if snapshots is not None:
            snapshots.final()
    return 0


if __name__ == "__main__":
    # Run from the imported module, not __main__: the snapshots name its classes (TableItems...).
    from blockhook.local import aws_server

    code = aws_server.main()
    logging.shutdown()
    sys.stdout.flush()
    os._exit(code)  # freeing a million items one by one at exit takes minutes

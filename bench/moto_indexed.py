"""moto server whose table Query reads only the queried partition (benchmarks at 100,000+ items).

Why: moto 5's `Table.query` (moto/dynamodb/models/table.py) answers a Query on a table's hash
key by building `all_items()` -- every item of the table, sorted by (hash, range) key -- and
then keeping the items of that hash key. So one Query costs O(N log N) in the table's size,
whatever the key: with 1,000,000 addresses in the address index one `watchers_of` Query took
longer than botocore's 60 s read timeout. DynamoDB reads only the partition. No query shape of
ours avoids it: moto's GSI queries and Scans go through `all_items()` too, and a GetItem needs the
full key (the matcher does not know which monitors watch an address: that is the question).

This wrapper makes `all_items()` return only the queried partition, sorted by range key, for
the duration of a table (not index) Query with a hash key: the same items in the same order as
moto's own path, so answers are unchanged. Everything else is moto as it is. Benchmarks that
use it say so in their results (`"moto": "indexed"`).

    .venv/bin/python bench/moto_indexed.py -H 127.0.0.1 -p PORT     # arguments as moto.server's
"""

from __future__ import annotations

import sys
import threading

from moto.dynamodb.models.table import Table
from moto.server import main

_query = Table.query
_all_items = Table.all_items
_local = threading.local()


def all_items(self):
    partition = getattr(_local, "partition", None)
    if partition is not None and partition[0] is self:
        items = partition[1]
        if items is None:
            return []
        if self.range_key_attr:
            return sorted(items.values(), key=lambda item: item.range_key)
        return [items]
    return _all_items(self)


def query(self, hash_key, *args, **kwargs):
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name or hash_key is None:
        return _query(self, hash_key, *args, **kwargs)
    _local.partition = (self, self.items.get(hash_key))  # .get: the defaultdict must not grow
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        _local.partition = None


Table.all_items = all_items
Table.query = query

if __name__ == "__main__":
    sys.exit(main())

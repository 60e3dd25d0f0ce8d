"""An in-memory stand-in for the AWS calls of the matcher (benchmarks only).

It replaces botocore's `BaseClient._make_api_call`, the one method boto3 and pynamodb both send
every call through, so all the code above it runs as in the Lambda: the store functions,
pynamodb's serialisation and deserialisation, the thread pool of `watchers_of`, the SQS batches.
What is skipped is botocore's own request building and the network. Answers:

- GetItem of the monitors version: the current `version`;
- BatchGetItem of change records: the changes in `changes` (version -> addresses added);
- Scan of the address index: every watched address, page by page (`page_items` a page, made
  lazily from the `addresses` generator: nothing of the million is held here);
- Scan of the monitors table: the `monitors` items;
- Query of the address index: the monitors watching that address (`owners(address)`);
- Query of the matches table's pending index: nothing pending (every bench monitor has 0
  confirmations);
- GetItem of a delivery counter (`sequence#...`): none yet (each bench delivery numbers from 0);
- PutItem and TransactWriteItems (a delivery's record with its counter): accepted (as a first write);
  SendMessageBatch: every entry accepted.

Any other call raises, so a change in what the matcher calls shows up here. Every call is
counted by operation, as `common.AwsCallCounter` counts the real ones.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any


class FakeAws:
    def __init__(
        self,
        *,
        monitors: list[dict[str, Any]],
        addresses: Callable[[], Iterator[tuple[str, str]]],
        owners: Callable[[str], Iterable[tuple[str, str]]],
        version: int = 1,
        page_items: int = 10_000,
    ) -> None:
        from blockhook.store.models import (
            AddressIndexModel,
            ChangeModel,
            MatchModel,
            MonitorModel,
            VersionModel,
        )

        self.monitors = monitors  # DynamoDB items (MonitorModel(...).serialize())
        self.addresses = addresses  # () -> (address, monitor_id) of every watched address
        self.owners = owners  # address -> (monitor_id, tenant_id) of its watchers
        self.version = version
        self.changes: dict[int, tuple[str, bytes | None]] = {}  # version -> (heads JSON, packed addresses)
        self.page_items = page_items
        self.calls: Counter[str] = Counter()
        self._tables = {
            "address_index": AddressIndexModel.Meta.table_name,
            "monitors": MonitorModel.Meta.table_name,
            "state": VersionModel.Meta.table_name,
            "matches": MatchModel.Meta.table_name,
        }
        assert ChangeModel.Meta.table_name == self._tables["state"]
        self._scans: dict[str, Iterator[tuple[str, str]]] = {}
        self._original = None

    # -- the patch ----------------------------------------------------------------------------
    def __enter__(self) -> FakeAws:
        from botocore.client import BaseClient

        self._original = BaseClient._make_api_call
        fake = self

        def answer(client, operation_name, api_params):
            service = client.meta.service_model.service_name
            fake.calls[f"{service}.{operation_name}"] += 1
            return fake.answer(service, operation_name, api_params)

        BaseClient._make_api_call = answer
        return self

    def __exit__(self, *exc_info) -> None:
        from botocore.client import BaseClient
        from pynamodb.models import Model

        from blockhook.store import models

        BaseClient._make_api_call = self._original
        # The models' connections were made while faking, against whatever endpoint the environment
        # named then: drop them, so later calls (a test session's moto server) connect afresh.
        for value in vars(models).values():
            if isinstance(value, type) and issubclass(value, Model) and value is not Model:
                value._connection = None

    def total(self, service: str) -> int:
        return sum(count for name, count in self.calls.items() if name.startswith(service + "."))

    # -- the answers --------------------------------------------------------------------------
    def answer(self, service: str, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if service == "sqs" and operation == "SendMessageBatch":
            return {"Successful": [{"Id": entry["Id"], "MessageId": entry["Id"]} for entry in params["Entries"]],
                    "Failed": []}
        if service != "dynamodb":
            raise NotImplementedError(f"{service}.{operation}")
        table = params.get("TableName")
        if operation in ("PutItem", "TransactWriteItems"):
            return {}
        if operation == "GetItem" and table == self._tables["state"] and params["Key"]["key"]["S"].startswith("sequence#"):
            return {}
        if operation == "GetItem" and table == self._tables["state"] and params["Key"]["key"]["S"] == "version#monitors":
            return {"Item": {"key": {"S": "version#monitors"}, "version": {"N": str(self.version)}}}
        if operation == "BatchGetItem":
            return self._changes(params)
        if operation == "Scan" and table == self._tables["monitors"]:
            return {"Items": list(self.monitors), "Count": len(self.monitors), "ScannedCount": len(self.monitors)}
        if operation == "Scan" and table == self._tables["address_index"]:
            return self._address_page(params.get("ExclusiveStartKey"))
        if operation == "Query" and table == self._tables["address_index"]:
            address = params["ExpressionAttributeValues"][":0"]["S"]
            items = [{"address": {"S": address}, "monitor_id": {"S": monitor_id}, "tenant_id": {"S": tenant_id}}
                     for monitor_id, tenant_id in self.owners(address)]
            return {"Items": items, "Count": len(items), "ScannedCount": len(items)}
        if operation == "Query" and table == self._tables["matches"] and params.get("IndexName"):
            return {"Items": [], "Count": 0, "ScannedCount": 0}
        raise NotImplementedError(f"dynamodb.{operation} on {table}: {dict(params)}")

    def _address_page(self, start: Mapping[str, Any] | None) -> dict[str, Any]:
        if start is None:
            rows = self.addresses()
        else:
            rows = self._scans.pop(start["address"]["S"] + "|" + start["monitor_id"]["S"])
        page = list(itertools.islice(rows, self.page_items))
        items = [{"address": {"S": address}} for address, _ in page]
        answer: dict[str, Any] = {"Items": items, "Count": len(items), "ScannedCount": len(items)}
        if len(page) == self.page_items:
            address, monitor_id = page[-1]
            self._scans[address + "|" + monitor_id] = rows
            answer["LastEvaluatedKey"] = {"address": {"S": address}, "monitor_id": {"S": monitor_id}}
        return answer

    def _changes(self, params: Mapping[str, Any]) -> dict[str, Any]:
        (table, request), = params["RequestItems"].items()
        if table != self._tables["state"]:
            raise NotImplementedError(f"dynamodb.BatchGetItem on {table}")
        found = []
        for key in request["Keys"]:
            name = key["key"]["S"]
            version = int(name.split("#", 1)[1])
            if version in self.changes:
                heads, added = self.changes[version]
                item = {"key": {"S": name}, "heads": {"S": heads}}
                if added is not None:
                    item["added"] = {"B": added}
                found.append(item)
        return {"Responses": {table: found}, "UnprocessedKeys": {}}

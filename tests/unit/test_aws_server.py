"""The local AWS endpoint's DynamoDB reads (blockhook.local.aws_server) answer exactly what
moto's own path answers: same items, same order, same pages, same counts, on random tables,
GSIs, key conditions, Limits and directions, after random puts, updates, deletes and
transactions. Each request is asked twice of the same in-process moto: once through the
wrapper, once with moto's own Table.query / Table.scan."""

from __future__ import annotations

import itertools
from contextlib import contextmanager

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.core.responses import BaseResponse
from moto.dynamodb.models.table import Table

from blockhook.local import aws_server

aws_server.install()

HASHES = ["a", "b", "c"]
GSI_HASHES = ["x", "y"]
_names = itertools.count()


@pytest.fixture(scope="module")
def dynamodb():
    # Orders kept from 3 keys on: the random partitions take both paths (kept, sorted when read).
    kept, aws_server.KEPT_ORDER = aws_server.KEPT_ORDER, 3
    with mock_aws():
        # A real AWS address, which mock_aws intercepts (the tests point AWS_ENDPOINT_URL elsewhere).
        yield boto3.client("dynamodb", region_name="us-east-1", endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
    aws_server.KEPT_ORDER = kept


@contextmanager
def plain_moto():
    wrapped = Table.query, Table.scan, BaseResponse.serialized
    Table.query, Table.scan = aws_server._moto_query, aws_server._moto_scan
    BaseResponse.serialized = aws_server._moto_serialized
    try:
        yield
    finally:
        Table.query, Table.scan, BaseResponse.serialized = wrapped


def range_value(kind: str, n: int) -> dict:
    return {"N": str(n - 20)} if kind == "N" else {"S": f"k{n:03d}"[: 2 + n % 3]}


item_spec = st.fixed_dictionaries({
    "hash": st.sampled_from(HASHES),
    "range": st.integers(0, 40),
    "g": st.none() | st.sampled_from(GSI_HASHES),
    "gr": st.none() | st.integers(0, 5),
    "pad": st.sampled_from([0] * 7 + [200_000]),  # a few items big enough for the 1 MB page limit
})
change_spec = st.tuples(st.sampled_from(["update", "delete", "transact", "failed_transact"]), item_spec)


def condition(kind: str, attr: str, draw_value, op: str) -> tuple[str, dict]:
    if op == "=":
        return "#r = :v1", {":v1": draw_value()}
    if op in ("<", "<=", ">", ">="):
        return f"#r {op} :v1", {":v1": draw_value()}
    if op == "between":
        low, high = sorted([draw_value(), draw_value()], key=lambda v: float(v["N"]) if "N" in v else v["S"])
        return "#r BETWEEN :v1 AND :v2", {":v1": low, ":v2": high}
    return "begins_with(#r, :v1)", {":v1": {"S": draw_value()["S"][:2]}}


def pages(client, **request) -> list[tuple]:
    """Every page of a Query or Scan, following LastEvaluatedKey."""
    call = client.query if "KeyConditionExpression" in request else client.scan
    found = []
    for _ in range(200):
        answer = call(**request)
        found.append((answer["Items"], answer["Count"], answer["ScannedCount"], answer.get("LastEvaluatedKey")))
        if "LastEvaluatedKey" not in answer:
            return found
        request = {**request, "ExclusiveStartKey": answer["LastEvaluatedKey"]}
    raise AssertionError("more than 200 pages")


def both(client, **request) -> None:
    wrapped = pages(client, **request)
    with plain_moto():
        plain = pages(client, **request)
    assert wrapped == plain


def write(client, table: str, kind: str, spec: dict) -> dict:
    item = {"h": {"S": spec["hash"]}, "r": range_value(kind, spec["range"])}
    if spec["g"] is not None:
        item["g"] = {"S": spec["g"]}
    if spec["gr"] is not None:
        item["gr"] = {"N": str(spec["gr"])}
    if spec["pad"]:
        item["pad"] = {"S": "p" * spec["pad"]}
    client.put_item(TableName=table, Item=item)
    return item


def change(client, table: str, kind: str, what: str, spec: dict) -> None:
    key = {"h": {"S": spec["hash"]}, "r": range_value(kind, spec["range"])}
    if what == "delete":
        client.delete_item(TableName=table, Key=key)
    elif what == "update":
        # Moves the item to another GSI partition, or out of the index.
        if spec["g"] is None:
            client.update_item(TableName=table, Key=key, UpdateExpression="REMOVE g")
        else:
            client.update_item(TableName=table, Key=key, UpdateExpression="SET g = :g",
                               ExpressionAttributeValues={":g": {"S": spec["g"]}})
    else:
        other = {"h": {"S": "c"}, "r": range_value(kind, 41)}
        condition = "attribute_not_exists(h)" if what == "failed_transact" else "attribute_exists(h) OR attribute_not_exists(h)"
        items = [
            {"Update": {"TableName": table, "Key": key, "UpdateExpression": "SET g = :g",
                        "ExpressionAttributeValues": {":g": {"S": spec["g"] or "x"}}}},
            {"Put": {"TableName": table, "Item": {**other, "g": {"S": "y"}}, "ConditionExpression": condition}},
        ]
        if what == "failed_transact":
            client.put_item(TableName=table, Item=other)  # the Put's condition fails: nothing changes
        try:
            client.transact_write_items(TransactItems=items)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "TransactionCanceledException"


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["S", "N"]),
    specs=st.lists(item_spec, max_size=30),
    changes=st.lists(change_spec, max_size=8),
    data=st.data(),
)
def test_queries_and_scans_answer_as_moto(dynamodb, kind, specs, changes, data):
    table = f"t{next(_names)}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "h", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "h", "AttributeType": "S"}, {"AttributeName": "r", "AttributeType": kind},
                              {"AttributeName": "g", "AttributeType": "S"}, {"AttributeName": "gr", "AttributeType": "N"}],
        GlobalSecondaryIndexes=[
            {"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                                 {"AttributeName": "gr", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "by_g_only", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "ALL"}},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        for spec in specs:
            write(dynamodb, table, kind, spec)
        for what, spec in changes:
            change(dynamodb, table, kind, what, spec)

        for _ in range(4):
            limit = data.draw(st.none() | st.integers(1, 6), label="limit")
            forward = data.draw(st.booleans(), label="forward")
            paging = {} if limit is None else {"Limit": limit}
            # A table query, with or without a range condition.
            hash_value = data.draw(st.sampled_from(HASHES + ["absent"]), label="hash")
            op = data.draw(st.sampled_from([None, "=", "<", "<=", ">", ">=", "between"]
                                           + (["begins_with"] if kind == "S" else [])), label="op")
            expression, values = "h = :h", {":h": {"S": hash_value}}
            names = {}
            if op:
                part, extra = condition(kind, "r", lambda: range_value(kind, data.draw(st.integers(0, 42))), op)
                expression += " AND " + part
                values.update(extra)
                names = {"#r": "r"}
            both(dynamodb, TableName=table, KeyConditionExpression=expression, ExpressionAttributeValues=values,
                 ScanIndexForward=forward, **({"ExpressionAttributeNames": names} if names else {}), **paging)
            # A GSI query, with or without a range condition on the index's range key.
            index = data.draw(st.sampled_from(["by_g", "by_g_only"]), label="index")
            expression, values, names = "g = :g", {":g": {"S": data.draw(st.sampled_from(GSI_HASHES))}}, {}
            gop = data.draw(st.sampled_from([None, "=", "<", ">=", "between"]), label="gop") if index == "by_g" else None
            if gop:
                part, extra = condition("N", "gr", lambda: {"N": str(data.draw(st.integers(-1, 6)))}, gop)
                expression += " AND " + part
                values.update(extra)
                names = {"#r": "gr"}
            both(dynamodb, TableName=table, IndexName=index, KeyConditionExpression=expression,
                 ExpressionAttributeValues=values, ScanIndexForward=forward,
                 **({"ExpressionAttributeNames": names} if names else {}), **paging)
            # A scan, and a query with a filter and a projection (applied after the page).
            both(dynamodb, TableName=table, **paging)
            both(dynamodb, TableName=table, KeyConditionExpression="h = :h", FilterExpression="attribute_exists(g)",
                 ProjectionExpression="h, r, gr", ExpressionAttributeValues={":h": {"S": hash_value}},
                 ScanIndexForward=forward, **paging)
    finally:
        dynamodb.delete_table(TableName=table)


def test_a_hash_only_table_answers_as_moto(dynamodb):
    dynamodb.create_table(
        TableName="hash_only",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "m", "AttributeType": "S"},
                              {"AttributeName": "n", "AttributeType": "N"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_m", "KeySchema": [{"AttributeName": "m", "KeyType": "HASH"},
                                                                     {"AttributeName": "n", "KeyType": "RANGE"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(60):
        dynamodb.put_item(TableName="hash_only", Item={"id": {"S": f"d{i * 7 % 60:02d}"}, "m": {"S": f"m{i % 3}"},
                                                        "n": {"N": str(i % 11)}})
    dynamodb.delete_item(TableName="hash_only", Key={"id": {"S": "d07"}})
    for limit in (None, 1, 7):
        paging = {} if limit is None else {"Limit": limit}
        both(dynamodb, TableName="hash_only", **paging)
        both(dynamodb, TableName="hash_only", KeyConditionExpression="id = :i",
             ExpressionAttributeValues={":i": {"S": "d14"}}, **paging)
        for forward in (True, False):
            both(dynamodb, TableName="hash_only", IndexName="by_m", KeyConditionExpression="m = :m AND n > :n",
                 ExpressionAttributeValues={":m": {"S": "m1"}, ":n": {"N": "3"}}, ScanIndexForward=forward, **paging)


def test_reads_written_as_they_are_answer_as_moto_serializes_them(dynamodb):
    """Query, Scan, GetItem and BatchGetItem skip moto's serializer: every attribute type, projections,
    consumed capacity and the unprocessed keys come back as moto writes them."""
    dynamodb.create_table(
        TableName="types",
        KeySchema=[{"AttributeName": "h", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "h", "AttributeType": "S"}, {"AttributeName": "r", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    every_type = {
        "s": {"S": "text ü"}, "n": {"N": "-12.5"}, "b": {"B": b"\x00\xff"}, "ss": {"SS": ["x", "y"]},
        "ns": {"NS": ["1", "2"]}, "bs": {"BS": [b"\x01", b"\x02"]}, "bool": {"BOOL": False}, "null": {"NULL": True},
        "l": {"L": [{"N": "1"}, {"M": {"k": {"S": "v"}}}]}, "m": {"M": {"nested": {"L": [{"B": b"\x03"}]}}},
    }  # fmt: skip
    for r in range(3):
        dynamodb.put_item(TableName="types", Item={"h": {"S": "a"}, "r": {"N": str(r)}, **every_type})
    key = {"h": {"S": "a"}, "r": {"N": "1"}}
    reads = [
        (dynamodb.query, {"TableName": "types", "KeyConditionExpression": "h = :h", "Limit": 2,
                          "ExpressionAttributeValues": {":h": {"S": "a"}}, "ReturnConsumedCapacity": "TOTAL"}),
        (dynamodb.scan, {"TableName": "types", "ProjectionExpression": "h, r, m.nested, bs"}),
        (dynamodb.get_item, {"TableName": "types", "Key": key, "ReturnConsumedCapacity": "TOTAL"}),
        (dynamodb.get_item, {"TableName": "types", "Key": {"h": {"S": "none"}, "r": {"N": "0"}}}),
        (dynamodb.batch_get_item, {"RequestItems": {"types": {"Keys": [key, {"h": {"S": "a"}, "r": {"N": "2"}}]}}}),
    ]  # fmt: skip
    for call, request in reads:
        fast = call(**request)
        with plain_moto():
            plain = call(**request)
        for answer in (fast, plain):
            answer.pop("ResponseMetadata")
        assert fast == plain, call


def test_a_failed_transaction_leaves_every_item_as_it_was(dynamodb):
    dynamodb.create_table(
        TableName="transactions",
        KeySchema=[{"AttributeName": "h", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "h", "AttributeType": "S"}, {"AttributeName": "r", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="transactions", Item={"h": {"S": "a"}, "r": {"N": "1"}, "v": {"N": "1"}})
    before = dynamodb.scan(TableName="transactions")["Items"]
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "transactions", "Key": {"h": {"S": "a"}, "r": {"N": "1"}},
                        "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"N": "2"}}}},
            {"Put": {"TableName": "transactions", "Item": {"h": {"S": "b"}, "r": {"N": "2"}}}},
            {"ConditionCheck": {"TableName": "transactions", "Key": {"h": {"S": "z"}, "r": {"N": "0"}},
                                "ConditionExpression": "attribute_exists(h)"}},
        ])
    assert dynamodb.scan(TableName="transactions")["Items"] == before
    assert dynamodb.query(TableName="transactions", KeyConditionExpression="h = :h",
                          ExpressionAttributeValues={":h": {"S": "b"}})["Items"] == []

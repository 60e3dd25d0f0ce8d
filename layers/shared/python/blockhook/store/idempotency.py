"""Idempotency-Key records: powertools' idempotency utility on a DynamoDB table of its own.

A record is keyed by a hash of (scope, key) -- the scope is the tenant, so two tenants never
share a key -- and holds a hash of the request and, once done, the answer. A repeat with the
same key and request within 24 h gets that answer back; the same key with another request is
a conflict. An action that fails saves nothing, so its retry runs it again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

TABLE_VARIABLE = "BLOCKHOOK_IDEMPOTENCY_TABLE"
DEFAULT_TABLE = "blockhook-idempotency"
# powertools' own attribute names: the partition key, and the expiry (unix seconds) the TTL deletes by.
KEY_ATTRIBUTE = "id"
EXPIRY_ATTRIBUTE = "expiration"
RECORD_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255


class IdempotencyConflict(Exception):
    """The key was used for a different request."""


class IdempotencyInProgress(Exception):
    """The first request with this key is still running."""


def table_name() -> str:
    return os.environ.get(TABLE_VARIABLE, DEFAULT_TABLE)


def create_idempotency_table() -> None:
    """Create the records table unless it exists (local stack and tests; the cloud uses CDK)."""
    client = boto3.client("dynamodb")
    name = table_name()
    try:
        client.describe_table(TableName=name)
        return
    except client.exceptions.ResourceNotFoundException:
        pass
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name)
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRY_ATTRIBUTE}
    )


def run_once(
    operation: str,
    scope: str,
    key: str,
    request: Any,
    action: Callable[[], dict[str, Any]],
    lambda_context: Any = None,
) -> dict[str, Any]:
    """`action()`'s answer, computed once per (operation, scope, key) for 24 h.

    `request` (JSON-able) is hashed: a repeat with an equal request gets the saved answer, one
    with a different request raises IdempotencyConflict, and a repeat while the first is still
    running raises IdempotencyInProgress. With the Lambda context, a request that died mid-way
    stops holding its key when its invocation's time is up, instead of after 24 h."""
    config = IdempotencyConfig(
        event_key_jmespath="[scope, key]",
        payload_validation_jmespath="request",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=RECORD_SECONDS,
        hash_function="sha256",
        lambda_context=lambda_context,
    )

    def once(record: dict[str, Any]) -> dict[str, Any]:
        return action()

    guarded = idempotent_function(
        once,
        data_keyword_argument="record",
        persistence_store=_persistence(table_name(), os.environ.get("AWS_ENDPOINT_URL")),
        config=config,
        key_prefix=operation,
    )
    try:
        return guarded(record={"scope": scope, "key": key, "request": request})
    except IdempotencyValidationError:
        raise IdempotencyConflict(
            f"this Idempotency-Key was used with a different request in the last {RECORD_SECONDS // 3600} h"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise IdempotencyInProgress("a request with this Idempotency-Key is still in progress") from None


@lru_cache(maxsize=4)
def _persistence(table: str, endpoint: str | None) -> DynamoDBPersistenceLayer:
    # One client per table and endpoint (the endpoint is botocore's own AWS_ENDPOINT_URL).
    return DynamoDBPersistenceLayer(
        table_name=table, key_attr=KEY_ATTRIBUTE, expiry_attr=EXPIRY_ATTRIBUTE, boto3_client=boto3.client("dynamodb")
    )

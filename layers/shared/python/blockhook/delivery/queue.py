"""The SQS queue between the matcher and the deliver function: a message names a delivery.

A message is `{"delivery_id": ..., "correlation_id": ..., "monitor_id": ...}`; the correlation id
(optional: messages written before it existed have none) is the id the deliver function logs the
attempt under; the monitor id (optional too) lets the deliver function post one monitor's deliveries
of a batch in order while other monitors' go side by side. The
matcher sends a block's deliveries under the block's id; any other message takes the id of the work
that sends it (`correlation`): an API request's replay or drain, or the attempt whose retry it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache

import boto3

SEND_BATCH_LIMIT = 10  # SQS SendMessageBatch limit

# Per thread (and task): the deliver function attempts several messages at once on a pool.
_current_correlation_id: ContextVar[str | None] = ContextVar("delivery_correlation_id", default=None)


@lru_cache(maxsize=1)
def _sqs():
    return boto3.client("sqs")


@contextmanager
def correlation(correlation_id: str | None) -> Iterator[None]:
    """Messages sent inside, without a correlation id of their own, carry `correlation_id`."""
    token = _current_correlation_id.set(correlation_id)
    try:
        yield
    finally:
        _current_correlation_id.reset(token)


@dataclass(frozen=True)
class DeliveryMessage:
    delivery_id: str
    correlation_id: str | None = None
    monitor_id: str | None = None


class DeliveryQueue:
    def __init__(self, queue_url: str, client=None) -> None:
        if not queue_url:
            raise ValueError("no delivery queue configured (BLOCKHOOK_DELIVERY_QUEUE_URL)")
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self):
        return self._client or _sqs()

    def send(
        self,
        delivery_ids: Sequence[str],
        delay_seconds: int = 0,
        correlation_id: str | None = None,
        monitor_id: str | None = None,
    ) -> None:
        """Queue a message per delivery (all of `monitor_id`, when given), under `correlation_id`, or
        else the current `correlation`."""
        correlation_id = correlation_id or _current_correlation_id.get()
        for start in range(0, len(delivery_ids), SEND_BATCH_LIMIT):
            chunk = delivery_ids[start : start + SEND_BATCH_LIMIT]
            entries = [
                {"Id": str(n), "MessageBody": _message_body(delivery_id, correlation_id, monitor_id), "DelaySeconds": delay_seconds}
                for n, delivery_id in enumerate(chunk)
            ]
            answer = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if answer.get("Failed"):
                # The records exist and stay pending; raising makes the caller's batch retry the send.
                raise RuntimeError(f"SQS refused {len(answer['Failed'])} delivery messages: {answer['Failed'][0]}")


def _message_body(delivery_id: str, correlation_id: str | None, monitor_id: str | None) -> str:
    message = {"delivery_id": delivery_id}
    if correlation_id:
        message["correlation_id"] = correlation_id
    if monitor_id:
        message["monitor_id"] = monitor_id
    return json.dumps(message)


def _optional_text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def read_message(body: str) -> DeliveryMessage:
    """The delivery a queue message names, and the correlation and monitor ids it carries (None when
    absent or not a string: only the delivery id decides whether a message is ours)."""
    try:
        document = json.loads(body)
        delivery_id = document["delivery_id"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"not a delivery message: {body[:200]!r}") from error
    if not isinstance(delivery_id, str) or not delivery_id:
        raise ValueError(f"not a delivery message: {body[:200]!r}")
    return DeliveryMessage(
        delivery_id, _optional_text(document.get("correlation_id")), _optional_text(document.get("monitor_id"))
    )


def parse_message(body: str) -> str:
    """The delivery id a queue message names."""
    return read_message(body).delivery_id

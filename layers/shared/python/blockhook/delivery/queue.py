"""The SQS queue between the matcher and the deliver function: a message names a delivery."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache

import boto3

SEND_BATCH_LIMIT = 10  # SQS SendMessageBatch limit


@lru_cache(maxsize=1)
def _sqs():
    return boto3.client("sqs")


class DeliveryQueue:
    def __init__(self, queue_url: str, client=None) -> None:
        if not queue_url:
            raise ValueError("no delivery queue configured (BLOCKHOOK_DELIVERY_QUEUE_URL)")
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self):
        return self._client or _sqs()

    def send(self, delivery_ids: Sequence[str], delay_seconds: int = 0) -> None:
        for start in range(0, len(delivery_ids), SEND_BATCH_LIMIT):
            chunk = delivery_ids[start : start + SEND_BATCH_LIMIT]
            entries = [
                {"Id": str(n), "MessageBody": json.dumps({"delivery_id": delivery_id}), "DelaySeconds": delay_seconds}
                for n, delivery_id in enumerate(chunk)
            ]
            answer = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if answer.get("Failed"):
                # The records exist and stay pending; raising makes the caller's batch retry the send.
                raise RuntimeError(f"SQS refused {len(answer['Failed'])} delivery messages: {answer['Failed'][0]}")


def parse_message(body: str) -> str:
    """The delivery id a queue message names."""
    try:
        delivery_id = json.loads(body)["delivery_id"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"not a delivery message: {body[:200]!r}") from error
    if not isinstance(delivery_id, str) or not delivery_id:
        raise ValueError(f"not a delivery message: {body[:200]!r}")
    return delivery_id

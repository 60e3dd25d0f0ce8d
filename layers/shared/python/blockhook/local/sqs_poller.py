"""A local stand-in for the SQS event source mapping of the deliver function."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import boto3

from blockhook.local.lambdas import LocalFunction
from blockhook.local.worker import BackgroundWorker

logger = logging.getLogger(__name__)


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }


class SqsPoller(BackgroundWorker):
    name = "sqs-poller"
    join_timeout = 15.0  # a webhook attempt in flight may take its 10 s

    def __init__(self, function: LocalFunction, queue_url: str, batch_size: int = 10) -> None:
        super().__init__()
        self.function = function
        self.queue_url = queue_url
        self.batch_size = batch_size
        self._client = boto3.client("sqs")

    def _run(self) -> None:
        queue_arn = self._client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.ready()
        # A failure to delete handled messages restarts this poller; those messages come back after their
        # visibility timeout and their deliveries' claims keep them from being posted twice.
        while not self.stop_event.is_set():
            try:
                messages = self._client.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size, WaitTimeSeconds=1
                ).get("Messages", [])
            except Exception:
                logger.exception("receiving from the delivery queue failed")
                self.stop_event.wait(1.0)
                continue
            if not messages:
                continue
            try:
                answer = self.function.invoke(sqs_event(messages, queue_arn), self.stop_event) or {}
            except Exception:
                # Nothing is deleted: every message comes back after its visibility timeout.
                logger.exception("deliver function failed")
                continue
            failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                self._client.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)],
                )

"""Where the matcher's event source mapping puts a batch it gave up on: an S3 bucket.

S3 rather than SQS or SNS because Lambda writes the whole invocation record (the Kafka records
themselves) only to S3; the others get metadata alone, and the topic may have dropped the records
by the time someone looks. An operator replays a kept block with the backfill API of its range.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .buckets import private_bucket

# Long enough to notice (the alarm fires at once) and replay; short enough not to pile up.
FAILED_BATCH_RETENTION_DAYS = 90


class FailedBatches(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # Evidence of blocks that were not matched, kept when the stack is deleted.
        self.bucket = private_bucket(self, [s3.LifecycleRule(expiration=Duration.days(FAILED_BATCH_RETENTION_DAYS))])

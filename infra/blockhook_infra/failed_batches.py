"""Where the matcher's event source mapping puts a batch it gave up on: an S3 bucket.

S3 rather than SQS or SNS because Lambda writes the whole invocation record (the Kafka records
themselves) only to S3; the others get metadata alone, and the topic may have dropped the records
by the time someone looks. An operator replays a kept block with the backfill API of its range.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

# Long enough to notice (the alarm fires at once) and replay; short enough not to pile up.
FAILED_BATCH_RETENTION_DAYS = 90


class FailedBatches(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(FAILED_BATCH_RETENTION_DAYS))],
            # Evidence of blocks that were not matched: deleting the stack must not delete it.
            removal_policy=RemovalPolicy.RETAIN,
        )

"""Where the matcher's event source mapping puts a batch it gave up on: an S3 bucket.

S3 rather than SQS or SNS because Lambda writes the whole invocation record (the Kafka records
themselves) only to S3; the others get metadata alone, and the topic may have dropped the records
by the time someone looks. An operator replays a kept block with the backfill API of its range.
"""

from __future__ import annotations

import jsii
from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
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

    def on_failure_destination(self) -> lambda_.IEventSourceDlq:
        """The mapping's on-failure destination, granting the consuming function's role only what Lambda
        needs to write there (CDK's S3OnFailureDestination grants read, write and delete)."""
        return _WriteOnlyBucketDestination(self.bucket)


@jsii.implements(lambda_.IEventSourceDlq)
class _WriteOnlyBucketDestination:
    def __init__(self, bucket: s3.IBucket) -> None:
        self.bucket = bucket

    def bind(self, _target: lambda_.IEventSourceMapping, target_handler: lambda_.IFunction) -> lambda_.DlqDestinationConfig:
        # AWS's list for an S3 on-failure destination of a Kafka mapping: s3:PutObject and s3:ListBucket.
        # ListBucket shows keys, not contents; nothing lets the role read or delete an object.
        target_handler.add_to_role_policy(
            iam.PolicyStatement(
                sid="FailedBatchesWrite", actions=["s3:PutObject"], resources=[self.bucket.arn_for_objects("*")]
            )
        )
        target_handler.add_to_role_policy(
            iam.PolicyStatement(sid="FailedBatchesList", actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn])
        )
        return lambda_.DlqDestinationConfig(destination=self.bucket.bucket_arn)

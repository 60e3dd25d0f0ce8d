"""The one way this stack makes a bucket: private, encrypted, TLS only, kept when the stack goes."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct


def private_bucket(scope: Construct, lifecycle_rules: list[s3.LifecycleRule]) -> s3.Bucket:
    return s3.Bucket(
        scope,
        "Bucket",
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=lifecycle_rules,
        # Both hold what the tables or an operator still refer to: deleting the stack must not delete it.
        removal_policy=RemovalPolicy.RETAIN,
    )

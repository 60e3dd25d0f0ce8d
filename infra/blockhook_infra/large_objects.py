"""The bucket of values too large for where they would go (layers/shared/python/blockhook/store/blobs.py).

`events/`: ingest's claim checks, events too large to cross Kafka inline, read by the matcher.
`matches/`, `deliveries/`: the matcher's match records and webhook bodies too large for a DynamoDB item,
read back by the matcher (to release or take back a match) and by deliver (to post a body).
Each function may touch only its prefixes, and only as it needs (functions.py).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .buckets import private_bucket

# A claim check is read while its block's message is on the topic: MSK Serverless keeps a message 7 days
# and the matcher's mapping gives up on one older than that (triggers.py). A block replayed later is read
# from the chain again (backfill), with claim checks of its own.
CLAIM_CHECK_RETENTION_DAYS = 14
BUCKET_ENV = "BLOCKHOOK_LARGE_OBJECTS_BUCKET"


class LargeObjects(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # Delivery bodies that deliveries in the tables refer to: kept like the tables.
        self.bucket = private_bucket(
            self,
            [
                s3.LifecycleRule(
                    id="claim-checks",
                    prefix="events/",
                    expiration=Duration.days(CLAIM_CHECK_RETENTION_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                # Match records and delivery bodies are kept as long as the item that refers to them, which
                # for a failed delivery (replayable at any time) has no end: no expiry, cheaper storage once cold.
                *(
                    s3.LifecycleRule(
                        id=f"{prefix}-tiering",
                        prefix=f"{prefix}/",
                        transitions=[
                            s3.Transition(
                                storage_class=s3.StorageClass.INTELLIGENT_TIERING, transition_after=Duration.days(0)
                            )
                        ],
                        abort_incomplete_multipart_upload_after=Duration.days(1),
                    )
                    for prefix in ("matches", "deliveries")
                ),
            ],
        )

    def grant(self, grantee: iam.IGrantable, actions: list[str], prefix: str) -> None:
        """`actions` (e.g. s3:GetObject) on the objects under `prefix` alone."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=[self.bucket.arn_for_objects(f"{prefix}/*")])
        )

"""DynamoDB tables. Key schemas mirror the PynamoDB models in blockhook.store.models
(tests/infra checks that they agree)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from blockhook.store import idempotency

S = dynamodb.AttributeType.STRING
N = dynamodb.AttributeType.NUMBER
# The webhook secrets key's alias (a side-by-side deployment's is prefixed: stack.py).
KEY_ALIAS = "alias/blockhook/webhook-secrets"


class DataTables(Construct):
    """monitors, monitor_addresses, address_index, state, deliveries, matches; and idempotency."""

    def __init__(self, scope: Construct, construct_id: str, *, key_alias: str = KEY_ALIAS) -> None:
        super().__init__(scope, construct_id)

        self.monitors = self._table("Monitors", partition=("tenant_id", S), sort=("monitor_id", S))
        # A removed address stays as a tombstone for a day (its expires_at), for readers whose copy
        # of the monitor is older than the removal.
        self.monitor_addresses = self._table(
            "MonitorAddresses", partition=("monitor_id", S), sort=("address", S), ttl="expires_at"
        )
        # One item per (address, monitor): adds are plain BatchWrites and the matcher gets
        # every monitor and label watching a candidate address with one Query.
        self.address_index = self._table(
            "AddressIndex", partition=("address", S), sort=("monitor_id", S), ttl="expires_at"
        )
        # Chain checkpoints (number, hash window) and the monitors version item.
        self.state = self._table("State", partition=("key", S))
        # Delivered records expire (expires_at is set only once delivered: nothing in flight expires).
        self.deliveries = self._table("Deliveries", partition=("delivery_id", S), ttl="expires_at")
        self.deliveries.add_global_secondary_index(
            index_name="by_monitor",
            partition_key=dynamodb.Attribute(name="monitor_id", type=S),
            sort_key=dynamodb.Attribute(name="created_at", type=N),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        # A monitor's deliveries by block number: what a reconcile compares each block read again with.
        self.deliveries.add_global_secondary_index(
            index_name="by_monitor_block",
            partition_key=dynamodb.Attribute(name="monitor_id", type=S),
            sort_key=dynamodb.Attribute(name="block_number", type=N),
            projection_type=dynamodb.ProjectionType.ALL,
        )

        # Each monitor's matched events of a block: pending until confirmed, kept a week once
        # settled so that a reorg can take them back. The sparse index holds only pending ones.
        self.matches = self._table(
            "Matches", partition=("block_key", S), sort=("match_key", S), ttl="expires_at"
        )
        self.matches.add_global_secondary_index(
            index_name="pending_by_chain",
            partition_key=dynamodb.Attribute(name="pending_chain", type=N),
            sort_key=dynamodb.Attribute(name="release_at", type=N),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        # Pending matches of monitors with confirmations "safe" / "finalized", by chain and tag.
        self.matches.add_global_secondary_index(
            index_name="pending_by_finality",
            partition_key=dynamodb.Attribute(name="pending_finality", type=S),
            sort_key=dynamodb.Attribute(name="block_number", type=N),
            projection_type=dynamodb.ProjectionType.ALL,
        )

        # Idempotency-Key records of the API (powertools' layout): each lives 24 h, so nothing in it
        # is worth a backup or outlives the stack. No deletion protection either: it goes with the stack
        # (which protection would make `cdk destroy` fail on), and losing it loses nothing of a tenant's.
        self.idempotency = dynamodb.Table(
            self,
            "Idempotency",
            partition_key=dynamodb.Attribute(name=idempotency.KEY_ATTRIBUTE, type=S),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=idempotency.EXPIRY_ATTRIBUTE,
            removal_policy=RemovalPolicy.DESTROY,
        )

        # Monitors' webhook signing secrets are encrypted with this key before they are stored (the api
        # encrypts, deliver decrypts), so a table export or backup alone does not give them away.
        # Customer managed, so that its use is in CloudTrail and its policy is ours; rotated yearly.
        self.webhook_secrets_key = kms.Key(
            self,
            "WebhookSecretsKey",
            description="blockhook: encrypts monitors' webhook signing secrets",
            enable_key_rotation=True,
            alias=key_alias,
            # Without the key the stored secrets are unreadable: it outlives the stack like the tables.
            removal_policy=RemovalPolicy.RETAIN,
            pending_window=Duration.days(30),
        )

    @property
    def all(self) -> list[dynamodb.Table]:
        return [
            self.monitors,
            self.monitor_addresses,
            self.address_index,
            self.state,
            self.deliveries,
            self.matches,
            self.idempotency,
        ]

    def _table(
        self,
        construct_id: str,
        *,
        partition: tuple[str, dynamodb.AttributeType],
        sort: tuple[str, dynamodb.AttributeType] | None = None,
        ttl: str | None = None,
    ) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name=partition[0], type=partition[1]),
            sort_key=dynamodb.Attribute(name=sort[0], type=sort[1]) if sort else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=ttl,
            # Tenants' monitors and delivery logs outlive the stack: deleting it must not delete them,
            # and neither may a stray `delete-table` (deletion protection; turn it off to delete one).
            removal_policy=RemovalPolicy.RETAIN,
            deletion_protection=True,
        )

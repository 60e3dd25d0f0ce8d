"""BlockhookStack: everything blockhook runs on in one AWS account and region."""

from __future__ import annotations

from typing import Any

from aws_cdk import Annotations, CfnOutput, Stack
from constructs import Construct

from .api import Api
from .chains import chains_env_value, placeholder_hosts, rpc_secret_names
from .console import Console
from .data import DataTables
from .delivery_queue import DeliveryQueue
from .failed_batches import FailedBatches
from .functions import ARCHITECTURE, METRICS_NAMESPACE, RUNTIME, SPECS, Functions
from .large_objects import LargeObjects
from .monitoring import Monitoring
from .nag import acknowledge_findings
from .options import BASE_STACK_NAME, deliver_max_concurrency, prefix_from_context, prefixed, stack_name
from .streaming import Streaming
from .tenants import tenants_from_context
from .topics import Topics
from .triggers import Triggers

STACK_NAME = BASE_STACK_NAME


class BlockhookStack(Stack):
    """Context `prefix` (e.g. staging) names a deployment that lives beside others in the account: the stack is
    `<prefix>-BlockhookStack` and every fixed name below is prefixed. Without it, the names are the ones a
    deployment has always had, so an existing stack is updated, not replaced."""

    def __init__(self, scope: Construct, construct_id: str | None = None, **kwargs: Any) -> None:
        prefix = prefix_from_context(scope.node.try_get_context("prefix"))
        kwargs.setdefault("stack_name", stack_name(prefix))
        super().__init__(scope, construct_id or kwargs["stack_name"], **kwargs)
        self.prefix = prefix

        chains_json = chains_env_value(self.node.try_get_context("chains"))
        tenants = tenants_from_context(self.node.try_get_context("tenants"))
        placeholders = placeholder_hosts(chains_json)
        if placeholders:
            Annotations.of(self).add_warning_v2(
                "blockhook:placeholderRpcUrl",
                f"RPC hosts {placeholders} are cdk.json's placeholders: set context `chains` to real nodes "
                "before deploying (cdk.json, or -c chains='[...]')",
            )

        self.data = DataTables(self, "Data", key_alias="alias/" + prefixed(prefix, "blockhook/webhook-secrets", "/"))
        self.delivery_queue = DeliveryQueue(self, "Queue", consumer_timeout=SPECS["deliver"].timeout)
        self.streaming = Streaming(self, "Streaming")
        self.large_objects = LargeObjects(self, "LargeObjects")
        self.functions = Functions(
            self,
            "Functions",
            data=self.data,
            delivery_queue=self.delivery_queue,
            streaming=self.streaming,
            chains_json=chains_json,
            large_objects=self.large_objects,
            rpc_secrets=rpc_secret_names(chains_json),
            metrics_namespace=prefixed(prefix, METRICS_NAMESPACE, "/"),
        )
        self.topics = Topics(
            self,
            "Topics",
            streaming=self.streaming,
            layers=[self.functions.deps_layer, self.functions.shared_layer],
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
        )
        self.failed_batches = FailedBatches(self, "FailedBatches")
        self.triggers = Triggers(
            self,
            "Triggers",
            functions=self.functions,
            streaming=self.streaming,
            delivery_queue=self.delivery_queue,
            topics=self.topics,
            failed_batches=self.failed_batches,
            deliver_max_concurrency=deliver_max_concurrency(self.node.try_get_context("deliver_max_concurrency")),
        )
        # Ingest produces only once the topic exists (MSK Serverless does not create topics on use).
        self.functions.ingest.node.add_dependency(self.topics.blocks)
        self.console = Console(
            self, "Console", shared_layer=self.functions.shared_layer, runtime=RUNTIME, architecture=ARCHITECTURE
        )
        self.api = Api(
            self,
            "Api",
            handler=self.functions.api,
            console_handler=self.console.function,
            waf=_flag(self.node.try_get_context("waf")),
            tenants=tenants,
            prefix=prefix,
        )
        # A tenant's later keys (rotations) act as its first, whose id names the tenant in the tables.
        self.functions.api.add_environment("BLOCKHOOK_TENANT_KEYS", self.to_json_string(self.api.tenant_keys))
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            functions=self.functions,
            delivery_queue=self.delivery_queue,
            chains_json=chains_json,
            alarm_email=self.node.try_get_context("alarm_email") or None,
            prefix=prefix,
        )

        CfnOutput(self, "ApiUrl", value=self.api.v1_url, description="Base URL of the REST API (ends in /v1)")
        CfnOutput(
            self, "ConsoleUrl", value=self.api.console_url, description="The web console: sign in with a tenant's API key"
        )
        CfnOutput(
            self,
            "ApiKeyId",
            value=self.api.api_key.key_id,
            description="First tenant's API key id; its value: aws apigateway get-api-key --include-value --api-key <id>",
        )
        CfnOutput(
            self,
            "TenantApiKeyIds",
            value=self.to_json_string({name: key.key_id for name, key in self.api.api_keys.items()}),
            description="Each tenant's newest live API key id, as JSON {name: id}: the key to hand out",
        )
        CfnOutput(
            self,
            "TenantIds",
            value=self.to_json_string(self.api.tenant_ids),
            description="Each tenant's id in the tables (key_<id of its first key>), as JSON {name: id}",
        )
        CfnOutput(
            self, "MskClusterArn", value=self.streaming.cluster_arn, description="MSK cluster (Serverless, or provisioned: context kafka)"
        )
        CfnOutput(
            self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn, description="SNS topic of every alarm"
        )
        CfnOutput(
            self,
            "FailedBatchesBucket",
            value=self.failed_batches.bucket.bucket_name,
            description="Matcher batches given up after retries (replay their blocks with backfill)",
        )
        CfnOutput(
            self,
            "LargeObjectsBucket",
            value=self.large_objects.bucket.bucket_name,
            description="Events too large for a Kafka message, match records and webhook bodies too large for DynamoDB",
        )
        CfnOutput(
            self,
            "DeliveriesQueueUrl",
            value=self.delivery_queue.queue.queue_url,
            description="SQS queue of webhook deliveries",
        )
        # cdk-nag AwsSolutions findings we accept, each with its reason (checked by infra/app.py at synth).
        acknowledge_findings(self)


def _flag(value: object) -> bool:
    """A boolean context value: true in cdk.json, or "true" from `-c waf=true`."""
    return value is True or (isinstance(value, str) and value.strip().lower() in ("1", "true", "yes"))

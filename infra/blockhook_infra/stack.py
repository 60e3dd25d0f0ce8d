"""BlockhookStack: everything blockhook runs on in one AWS account and region."""

from __future__ import annotations

from typing import Any

from aws_cdk import Annotations, CfnOutput, Stack
from constructs import Construct

from .api import Api
from .chains import chains_env_value, placeholder_hosts
from .data import DataTables
from .delivery_queue import DeliveryQueue
from .functions import SPECS, Functions
from .streaming import Streaming
from .triggers import Triggers

STACK_NAME = "BlockhookStack"


class BlockhookStack(Stack):
    def __init__(self, scope: Construct, construct_id: str = STACK_NAME, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)

        chains_json = chains_env_value(self.node.try_get_context("chains"))
        placeholders = placeholder_hosts(chains_json)
        if placeholders:
            Annotations.of(self).add_warning_v2(
                "blockhook:placeholderRpcUrl",
                f"RPC hosts {placeholders} are cdk.json's placeholders: set context `chains` to real nodes "
                "before deploying (cdk.json, or -c chains='[...]')",
            )

        self.data = DataTables(self, "Data")
        self.delivery_queue = DeliveryQueue(self, "Queue", consumer_timeout=SPECS["deliver"].timeout)
        self.streaming = Streaming(self, "Streaming")
        self.functions = Functions(
            self,
            "Functions",
            data=self.data,
            delivery_queue=self.delivery_queue,
            streaming=self.streaming,
            chains_json=chains_json,
        )
        self.triggers = Triggers(
            self,
            "Triggers",
            functions=self.functions,
            streaming=self.streaming,
            delivery_queue=self.delivery_queue,
        )
        self.api = Api(self, "Api", handler=self.functions.api)

        CfnOutput(self, "ApiUrl", value=self.api.v1_url, description="Base URL of the REST API (ends in /v1)")
        CfnOutput(
            self,
            "ApiKeyId",
            value=self.api.api_key.key_id,
            description="First tenant's API key id; its value: aws apigateway get-api-key --include-value --api-key <id>",
        )
        CfnOutput(
            self, "MskClusterArn", value=self.streaming.cluster_arn, description="MSK Serverless cluster"
        )
        CfnOutput(
            self,
            "DeliveriesQueueUrl",
            value=self.delivery_queue.queue.queue_url,
            description="SQS queue of webhook deliveries",
        )

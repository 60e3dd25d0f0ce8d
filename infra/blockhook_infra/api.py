"""The REST API: API Gateway in front of the api function, an API key per tenant, a usage plan."""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

STAGE = "prod"
# Per API key (that is, per tenant): steady requests per second, and the burst above it.
THROTTLE_RATE_LIMIT = 50
THROTTLE_BURST_LIMIT = 100

# Errors API Gateway answers itself (no key, throttled, unknown path) in the contract's error shape,
# {"error": {"code", "message", "details"}}, instead of its own {"message": "..."}.
_GATEWAY_ERRORS = {
    apigw.ResponseType.INVALID_API_KEY: ("401", "unauthorized"),
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: ("404", "not_found"),
    apigw.ResponseType.THROTTLED: ("429", "rate_limited"),
    apigw.ResponseType.QUOTA_EXCEEDED: ("429", "rate_limited"),
    apigw.ResponseType.REQUEST_TOO_LARGE: ("413", "payload_too_large"),
    apigw.ResponseType.DEFAULT_4_XX: (None, "bad_request"),
    apigw.ResponseType.DEFAULT_5_XX: (None, "internal_error"),
}


class Api(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)

        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            description="blockhook REST API (paths start with /v1)",
            # Access logging needs API Gateway's account-level CloudWatch role; let CDK create it.
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                tracing_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(
                    json.dumps(
                        {
                            "requestId": apigw.AccessLogField.context_request_id(),
                            "requestTime": apigw.AccessLogField.context_request_time(),
                            "httpMethod": apigw.AccessLogField.context_http_method(),
                            "resourcePath": apigw.AccessLogField.context_resource_path(),
                            "path": apigw.AccessLogField.context_path(),
                            "status": apigw.AccessLogField.context_status(),
                            "responseLength": apigw.AccessLogField.context_response_length(),
                            "latencyMs": apigw.AccessLogField.context_response_latency(),
                            "ip": apigw.AccessLogField.context_identity_source_ip(),
                            "apiKeyId": apigw.AccessLogField.context_identity_api_key_id(),
                            "error": apigw.AccessLogField.context_error_message(),
                        }
                    )
                ),
            ),
        )
        for response_type, (status, code) in _GATEWAY_ERRORS.items():
            self.rest_api.add_gateway_response(
                f"Error{response_type.response_type}",
                type=response_type,
                status_code=status,
                templates={
                    "application/json": json.dumps(
                        {"error": {"code": code, "message": "$context.error.messageString", "details": []}}
                    ).replace('"$context.error.messageString"', "$context.error.messageString")
                },
            )

        # The function routes every path itself (the same handler serves the local stack's adapter).
        integration = apigw.LambdaIntegration(handler, proxy=True, allow_test_invoke=False)
        v1 = self.rest_api.root.add_resource("v1")
        self.health = v1.add_resource("health")
        self.health.add_method("GET", integration, api_key_required=False)
        self.proxy = v1.add_resource("{proxy+}")
        # The API key's id is the tenant (BLOCKHOOK_AUTH_MODE=apigateway).
        self.proxy.add_method("ANY", integration, api_key_required=True)

        self.usage_plan = self.rest_api.add_usage_plan(
            "UsagePlan",
            name="blockhook",
            description=f"Per API key: {THROTTLE_RATE_LIMIT} requests/s, bursts of {THROTTLE_BURST_LIMIT}",
            throttle=apigw.ThrottleSettings(rate_limit=THROTTLE_RATE_LIMIT, burst_limit=THROTTLE_BURST_LIMIT),
            api_stages=[apigw.UsagePlanPerApiStage(api=self.rest_api, stage=self.rest_api.deployment_stage)],
        )
        # The first tenant's key. More tenants: more keys in this usage plan (each key id is a tenant).
        self.api_key = apigw.ApiKey(self, "ApiKey", description="blockhook first tenant")
        self.usage_plan.add_api_key(self.api_key)

    @property
    def v1_url(self) -> str:
        return self.rest_api.url_for_path("/v1")

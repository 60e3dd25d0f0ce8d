"""The REST API: API Gateway in front of the api function, an API key and a usage plan per tenant, and the
web console's page at /console in front of the console function."""

from __future__ import annotations

import json
import math
import re

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from blockhook.api.limits import MAX_BODY_BYTES

from .options import prefixed
from .tenants import DEFAULT_TENANT, DEFAULT_TENANTS, STAGE_BURST_LIMIT, STAGE_RATE_LIMIT, Tenant

STAGE = "prod"
# Per API key (that is, per tenant) by default: steady requests per second, and the burst above it.
# Each tenant's own numbers come from context `tenants` (tenants.py). The whole stage, all tenants
# together, is capped at STAGE_RATE_LIMIT / STAGE_BURST_LIMIT: a ceiling that protects the function's
# concurrency and the tables from a flood of keys; each key's own limit still applies first.
THROTTLE_RATE_LIMIT = DEFAULT_TENANTS[0].rate_limit
THROTTLE_BURST_LIMIT = DEFAULT_TENANTS[0].burst
# Optional WAF (context `waf`): requests per client IP in WAF's 5-minute window before it is blocked. Never
# below what one tenant sends at its full rate from one address (waf_rate_limit_per_ip), nor below this floor.
WAF_RATE_WINDOW_SECONDS = 300
WAF_RATE_LIMIT_FLOOR = 3000
# WAF estimates request rates; AWS says its rate rules are not meant for precise limits. The margin keeps a
# tenant just under its own throttle clear of the WAF.
WAF_RATE_MARGIN = 1.1
# Request size, in layers (docs/deploy.md): the api function answers 413 for a body over MAX_BODY_BYTES
# (blockhook/api/limits.py: room for the largest call of addresses); Lambda refuses an invoke over 6 MB and API
# Gateway a request over 10 MB, each in its own shape, not the contract's. So with the optional WAF, a
# request whose Content-Length header says more than MAX_BODY_BYTES is refused there, with the contract's
# 413, before it reaches either. The header, not the body: WAF sees only the first 16-64 KB of an API
# Gateway request's body, so no body size rule can see a megabyte. The common rule set's own body rule
# (over 8 KB) only counts: address lists are larger.
_TOO_LARGE_BODY_KEY = "payload_too_large"

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
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        console_handler: lambda_.IFunction,
        waf: bool = False,
        tenants: tuple[Tenant, ...] = DEFAULT_TENANTS,
        prefix: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.prefix = prefix

        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            # None keeps CDK's default name (the construct id), as deployed before prefixes existed.
            rest_api_name=prefixed(prefix, "RestApi") if prefix else None,
            description="blockhook REST API (paths start with /v1)",
            # Access logging needs API Gateway's account-level CloudWatch role; let CDK create it.
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                tracing_enabled=True,
                # Execution logs of errors only (access logs below have every request).
                logging_level=apigw.MethodLoggingLevel.ERROR,
                throttling_rate_limit=STAGE_RATE_LIMIT,
                throttling_burst_limit=STAGE_BURST_LIMIT,
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

        # The web console's page needs no key (its data calls to /v1 send the one its user types).
        site = apigw.LambdaIntegration(console_handler, proxy=True, allow_test_invoke=False)
        self.console = self.rest_api.root.add_resource("console")
        self.console_files = self.console.add_resource("{proxy+}")
        for resource in (self.console, self.console_files):
            for method in ("GET", "HEAD"):
                resource.add_method(method, site, api_key_required=False)

        # One key and one usage plan per tenant (the key's id is the tenant).
        self.tenants = tenants
        self.api_keys: dict[str, apigw.IApiKey] = {}  # each tenant's newest live key
        self.usage_plans: dict[str, apigw.UsagePlan] = {}
        self.tenant_ids: dict[str, str] = {}  # tenant name -> its id in the tables, key_<first key's id>
        # API key id -> tenant id, for the keys that are not their tenant's first (the api function's
        # BLOCKHOOK_TENANT_KEYS)
        self.tenant_keys: dict[str, str] = {}
        for tenant in tenants:
            self._add_tenant(tenant)
        # The first tenant's (the `ApiKeyId` output).
        self.api_key = self.api_keys[tenants[0].name]
        self.usage_plan = self.usage_plans[tenants[0].name]

        self.web_acl = self._web_acl() if waf else None

    def _first_key(self, tenant: Tenant, legacy: bool, live: bool) -> apigw.IApiKey:
        """The tenant's first key, whose id names the tenant: attached (api_key_id) or created; kept while the
        stack lives and after it, disabled once retired (out of `keys`)."""
        if tenant.api_key_id:
            return apigw.ApiKey.from_api_key_id(self, f"ExistingApiKey-{tenant.name}", tenant.api_key_id)
        created = apigw.ApiKey(
            self,
            "ApiKey" if legacy else f"ApiKey-{tenant.name}",
            description="blockhook first tenant" if legacy else f"blockhook tenant {tenant.name}",
            api_key_name=None if legacy else f"{Stack.of(self).stack_name}-{tenant.name}",
            enabled=live,
        )
        # The key's id is the tenant id its monitors and deliveries are stored under, in tables that
        # outlive the stack: keep the key too, so that a later stack can attach it again (api_key_id).
        created.apply_removal_policy(RemovalPolicy.RETAIN)
        return created

    def _add_tenant(self, tenant: Tenant) -> None:
        # The `default` tenant keeps the construct ids (so the logical ids) and the unnamed key of the stack
        # before tenants were configurable: an API key's Name cannot change without replacing the key, and
        # a new key would be a new tenant, cut off from its monitors.
        legacy = tenant.name == DEFAULT_TENANT
        quota = (
            apigw.QuotaSettings(limit=tenant.quota_per_day, period=apigw.Period.DAY)
            if tenant.quota_per_day is not None
            else None
        )
        limits = f"{tenant.rate_limit:g} requests/s, bursts of {tenant.burst}" + (
            f", {tenant.quota_per_day} requests/day" if quota else ""
        )
        plan = self.rest_api.add_usage_plan(
            "UsagePlan" if legacy else f"UsagePlan-{tenant.name}",
            name=prefixed(self.prefix, "blockhook" if legacy else f"blockhook-{tenant.name}"),
            description=f"Tenant {tenant.name}, per API key: {limits}" if not legacy else f"Per API key: {limits}",
            throttle=apigw.ThrottleSettings(rate_limit=tenant.rate_limit, burst_limit=tenant.burst),
            quota=quota,
            api_stages=[apigw.UsagePlanPerApiStage(api=self.rest_api, stage=self.rest_api.deployment_stage)],
        )
        first = self._first_key(tenant, legacy, live=1 in tenant.keys)
        self.tenant_ids[tenant.name] = f"key_{first.key_id}"
        for generation in tenant.keys:
            if generation == 1:
                key = first
                plan.add_api_key(key)
                continue
            # A later key of the tenant (a rotation): its id is mapped to the tenant's name, the first key's
            # (tenant_keys). Not retained: the tenant's identity does not depend on it.
            key = apigw.ApiKey(
                self,
                f"ApiKey-{generation}" if legacy else f"ApiKey-{tenant.name}-{generation}",
                description=f"blockhook tenant {tenant.name}, key {generation}",
                api_key_name=f"{Stack.of(self).stack_name}-{tenant.name}-{generation}",
            )
            self.tenant_keys[key.key_id] = self.tenant_ids[tenant.name]
            # Its binding's logical id by generation, not by order: retiring key 1 must not hand its id on.
            plan.add_api_key(key, override_logical_id=_binding_id(tenant.name, generation))
        self.api_keys[tenant.name] = key  # the newest live key (keys are sorted): the one to hand out
        self.usage_plans[tenant.name] = plan

    def _web_acl(self) -> wafv2.CfnWebACL:
        def managed(name: str, priority: int, overrides: list[str] = ()) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=name,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                            )
                            for rule in overrides
                        ]
                        or None,
                    )
                ),
                visibility_config=_visibility(name),
            )

        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("blockhook-api"),
            custom_response_bodies={
                _TOO_LARGE_BODY_KEY: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON",
                    content=json.dumps(
                        {
                            "error": {
                                "code": "payload_too_large",
                                "message": f"request body over {MAX_BODY_BYTES} bytes",
                                "details": [],
                            }
                        }
                    ),
                )
            },
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="BodyTooLarge",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(
                        block=wafv2.CfnWebACL.BlockActionProperty(
                            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                                response_code=413, custom_response_body_key=_TOO_LARGE_BODY_KEY
                            )
                        )
                    ),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        or_statement=wafv2.CfnWebACL.OrStatementProperty(
                            statements=[
                                wafv2.CfnWebACL.StatementProperty(
                                    regex_match_statement=wafv2.CfnWebACL.RegexMatchStatementProperty(
                                        regex_string=pattern,
                                        field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                                            single_header={"Name": "content-length"}
                                        ),
                                        text_transformations=[
                                            wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                                        ],
                                    )
                                )
                                for pattern in greater_than_patterns(MAX_BODY_BYTES)
                            ]
                        )
                    ),
                    visibility_config=_visibility("BodyTooLarge"),
                ),
                wafv2.CfnWebACL.RuleProperty(
                    name="RatePerIp",
                    priority=1,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=waf_rate_limit_per_ip(self.tenants), aggregate_key_type="IP"
                        )
                    ),
                    visibility_config=_visibility("RatePerIp"),
                ),
                managed("AWSManagedRulesCommonRuleSet", 2, overrides=["SizeRestrictions_BODY"]),
                managed("AWSManagedRulesKnownBadInputsRuleSet", 3),
                managed("AWSManagedRulesAmazonIpReputationList", 4),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self, "WebAclAssociation", resource_arn=self.rest_api.deployment_stage.stage_arn, web_acl_arn=acl.attr_arn
        )
        return acl

    @property
    def v1_url(self) -> str:
        return self.rest_api.url_for_path("/v1")

    @property
    def console_url(self) -> str:
        return self.rest_api.url_for_path("/console/")


def _binding_id(tenant: str, generation: int) -> str:
    """The CloudFormation logical id of a later key's usage-plan binding: fixed by tenant and generation."""
    return "UsagePlanKey" + re.sub(r"[^A-Za-z0-9]", "", tenant) + f"Key{generation}"


def waf_rate_limit_per_ip(tenants: tuple[Tenant, ...]) -> int:
    """The WAF's per-IP limit: above what the fastest tenant may send in WAF's window from one address, its
    steady rate all along plus its burst (API Gateway's own throttle answers 429 past that, per key)."""
    fastest = max(tenant.rate_limit * WAF_RATE_WINDOW_SECONDS + tenant.burst for tenant in tenants)
    return max(WAF_RATE_LIMIT_FLOOR, math.ceil(fastest * WAF_RATE_MARGIN))


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def greater_than_patterns(limit: int) -> list[str]:
    """Regexes that together match exactly the decimal numbers above `limit` (leading zeros allowed).

    Several plain patterns rather than one with alternation: WAF's regex support refuses capturing
    groups and many `|` branches, and a WAF OR of simple matches says the same."""
    digits = str(limit)
    width = len(digits)
    patterns = [f"^0*[1-9][0-9]{{{width},}}$"]  # more digits than the limit
    for position, digit in enumerate(digits):  # as many digits: larger at this position, same before
        if digit == "9":
            continue
        larger = "9" if digit == "8" else f"[{int(digit) + 1}-9]"
        rest = width - position - 1
        patterns.append(f"^0*{digits[:position]}{larger}" + (f"[0-9]{{{rest}}}" if rest else "") + "$")
    return patterns

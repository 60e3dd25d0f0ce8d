"""API Gateway REST API, API key, usage plan and the stack outputs in the synthesised template."""

from __future__ import annotations

import json

from aws_cdk.assertions import Template


def test_one_rest_api_with_v1_and_console_paths(template: Template, paths: dict, methods: dict) -> None:
    template.resource_count_is("AWS::ApiGateway::RestApi", 1)
    assert set(paths.values()) == {"/v1", "/v1/health", "/v1/{proxy+}", "/console", "/console/{proxy+}"}
    assert set(methods) == {("/v1/health", "GET"), ("/v1/{proxy+}", "ANY")} | {
        (path, method) for path in ("/console", "/console/{proxy+}") for method in ("GET", "HEAD")
    }


def test_health_is_open_everything_else_needs_a_key(methods: dict) -> None:
    assert methods[("/v1/health", "GET")]["ApiKeyRequired"] is False
    assert methods[("/v1/{proxy+}", "ANY")]["ApiKeyRequired"] is True


def test_both_v1_methods_proxy_to_the_api_function(methods: dict, functions: dict) -> None:
    api, _ = functions["api"]
    for (path, _method), props in methods.items():
        if not path.startswith("/v1"):
            continue
        integration = props["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert integration["IntegrationHttpMethod"] == "POST"
        assert {"Fn::GetAtt": [api, "Arn"]} in integration["Uri"]["Fn::Join"][1]


def test_stage_prod_with_access_logs(by_type: dict) -> None:
    (stage,) = by_type["AWS::ApiGateway::Stage"].values()
    props = stage["Properties"]
    assert props["StageName"] == "prod"
    # The log group's ARN without its trailing ":*" (@aws-cdk/aws-apigateway:logGroupDestinationArnWithoutWildcard).
    (log_group,) = [part["Ref"] for part in props["AccessLogSetting"]["DestinationArn"]["Fn::Join"][1]
                    if isinstance(part, dict) and part.get("Ref") in by_type["AWS::Logs::LogGroup"]]  # fmt: skip
    assert by_type["AWS::Logs::LogGroup"][log_group]["Properties"]["RetentionInDays"] == 30
    assert "$context.identity.apiKeyId" in props["AccessLogSetting"]["Format"]
    json.loads(props["AccessLogSetting"]["Format"])  # one JSON document per request


def test_usage_plan_throttles_and_holds_the_key(by_type: dict) -> None:
    ((plan_id, plan),) = by_type["AWS::ApiGateway::UsagePlan"].items()
    props = plan["Properties"]
    assert props["Throttle"] == {"RateLimit": 50, "BurstLimit": 100}
    (stage_id,) = by_type["AWS::ApiGateway::Stage"]
    (rest_api,) = by_type["AWS::ApiGateway::RestApi"]
    assert [(s["ApiId"], s["Stage"]) for s in props["ApiStages"]] == [({"Ref": rest_api}, {"Ref": stage_id})]
    (key_id,) = by_type["AWS::ApiGateway::ApiKey"]
    (plan_key,) = by_type["AWS::ApiGateway::UsagePlanKey"].values()
    assert plan_key["Properties"]["KeyId"] == {"Ref": key_id}
    assert plan_key["Properties"]["UsagePlanId"] == {"Ref": plan_id}
    assert plan_key["Properties"]["KeyType"] == "API_KEY"


def test_gateway_errors_use_the_contract_shape(by_type: dict) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in by_type["AWS::ApiGateway::GatewayResponse"].values()
    }
    assert responses["INVALID_API_KEY"]["StatusCode"] == "401"
    assert responses["THROTTLED"]["StatusCode"] == "429"
    for props in responses.values():
        body = props["ResponseTemplates"]["application/json"].replace(
            "$context.error.messageString", '"a message"'
        )
        error = json.loads(body)["error"]
        assert set(error) == {"code", "message", "details"}


def test_every_answer_api_gateway_gives_itself_is_an_error_envelope(by_type: dict) -> None:
    """The 4xx and 5xx defaults cover every response type not configured on its own (a header too large,
    a missing key, an integration failure): each keeps API Gateway's status and carries the envelope."""
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in by_type["AWS::ApiGateway::GatewayResponse"].values()
    }
    for default, code in (("DEFAULT_4XX", "bad_request"), ("DEFAULT_5XX", "internal_error")):
        props = responses[default]
        assert "StatusCode" not in props, props  # API Gateway's own status, whichever it is
        template = props["ResponseTemplates"]["application/json"]
        assert json.loads(template.replace("$context.error.messageString", '"Request Header Fields Too Large"')) == {
            "error": {"code": code, "message": "Request Header Fields Too Large", "details": []}
        }
    assert responses["REQUEST_TOO_LARGE"]["StatusCode"] == "413"


def test_outputs(template: Template, by_type: dict) -> None:
    outputs = template.to_json()["Outputs"]
    (key_id,) = by_type["AWS::ApiGateway::ApiKey"]
    (cluster,) = by_type["AWS::MSK::ServerlessCluster"]
    assert outputs["ApiKeyId"]["Value"] == {"Ref": key_id}
    assert outputs["MskClusterArn"]["Value"] == {"Fn::GetAtt": [cluster, "Arn"]}
    queue = outputs["DeliveriesQueueUrl"]["Value"]["Ref"]
    assert by_type["AWS::SQS::Queue"][queue]["Properties"].get("RedrivePolicy")  # the main queue, not the DLQ
    url = outputs["ApiUrl"]["Value"]["Fn::Join"][1]
    assert url[0] == "https://" and url[-1] == "/v1"

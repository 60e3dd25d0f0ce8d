"""cdk-nag's AwsSolutions checks, and every finding we accept, each with its reason.

`make synth` runs the checks as a CDK policy-validation plugin (infra/app.py): an unacknowledged
finding fails synth. tests/infra checks the same with the pack's `validate_scope`.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

_MANAGED = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"


def _ack(scope: IConstruct, rule: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions-{rule}", reason=reason))


# The Lambda function behind CDK's AwsCustomResource (the bootstrap-broker lookup): a singleton CDK
# creates at stack scope under this fixed id.
AWS_CUSTOM_RESOURCE_FUNCTION_ID = "AWS679f53fac002430cb0da5b7982bd2287"


def acknowledge_findings(stack: Stack) -> None:
    """Acknowledge the findings blockhook accepts, on the narrowest construct that has them: never on the
    stack, so that a construct added later is checked afresh (tests/infra/test_infra_nag.py)."""
    functions, api = stack.functions, stack.api
    ours = list(functions.all.values())  # api, ingest, matcher, deliver
    in_vpc = [functions.ingest, stack.topics.function]
    custom_resource_function = stack.node.try_find_child(AWS_CUSTOM_RESOURCE_FUNCTION_ID)
    if custom_resource_function is None:
        raise RuntimeError(
            f"cdk-nag acknowledgments: CDK's AwsCustomResource function {AWS_CUSTOM_RESOURCE_FUNCTION_ID} is "
            "not in the stack any more: find where it moved and acknowledge its findings there (nag.py)"
        )
    provider_framework = stack.topics.node.find_child("Provider")

    for function in [*ours, stack.topics.function, stack.console.function]:
        _ack(function, "L1", "python3.12 is the runtime the dependency layer is built for (pip --python-version "
             "3.12, manylinux x86_64); moving to a newer runtime is a deliberate change of layer, tests and this line.")
    for scope in [*(f.role for f in ours), stack.topics.function.role, stack.console.function.role,
                  custom_resource_function, provider_framework]:  # fmt: skip
        _ack(scope, f"IAM4[{_MANAGED}AWSLambdaBasicExecutionRole]", "AWS's minimal Lambda logging policy "
             "(logs:CreateLogStream/PutLogEvents): our functions, CDK's custom resource function and the custom "
             "resource provider framework's.")
    for function in in_vpc:
        _ack(function.role, f"IAM4[{_MANAGED}AWSLambdaVPCAccessExecutionRole]", "In-VPC functions need "
             "ec2:CreateNetworkInterface and friends, which IAM cannot scope to resources; this is AWS's policy for it.")
    for function in ours:
        # tests/infra/test_infra_nag.py checks that X-Ray's is the only Resource "*" statement of these roles.
        _ack(function.role, "IAM5[Resource::*]", "X-Ray (xray:PutTraceSegments, PutTelemetryRecords; active "
             "tracing) supports no resource-level permissions.")
    _ack(functions.matcher.role, f"IAM4[{_MANAGED}AWSLambdaMSKExecutionRole]", "Attached by the MSK event source "
         "mapping: the network interfaces it makes in the cluster's subnets cannot be scoped to resources. Kafka "
         "data access itself is granted by our own statements on the cluster, topic and group ARNs.")
    indexed = {
        stack.data.deliveries: [functions.api, functions.matcher, functions.deliver],
        stack.data.matches: [functions.matcher],
    }
    for table, readers in indexed.items():
        for function in readers:
            _ack(function.role, f"IAM5[Resource::<{_logical_id(table)}.Arn>/index/*]", "Query on the table's own "
                 "global secondary indexes (by_monitor, pending_by_chain); CDK's table grant covers its indexes this way.")
    _ack(functions.matcher.role, f"IAM5[Resource::<{_logical_id(stack.failed_batches.bucket)}.Arn>/*]", "The "
         "mapping writes one object per failed batch under keys it chooses, in the failed-batches bucket only.")
    _ack(provider_framework, f"IAM5[Resource::<{_logical_id(stack.topics.function)}.Arn>:*]", "The custom "
         "resource provider framework invokes any version of our own onEvent function.")
    large_objects = _logical_id(stack.large_objects.bucket)
    for function, prefixes in ((functions.ingest, ["events"]), (functions.matcher, ["events", "matches", "deliveries"]),
                               (functions.deliver, ["deliveries"]), (functions.api, ["deliveries"])):  # fmt: skip
        for prefix in prefixes:
            _ack(function.role, f"IAM5[Resource::<{large_objects}.Arn>/{prefix}/*]", "Objects are content-addressed "
                 f"(<prefix>/<sha256>), so unknown in advance: the grant names one action on the `{prefix}/` "
                 "objects of the large-objects bucket alone (functions.py, _grant_large_objects).")
    _ack(stack.large_objects, "S1", "Written and read only by our functions under least-privilege grants, each "
         "value content-addressed; CloudTrail data events are the audit trail if wanted. An access-log bucket "
         "would need its own, and so on.")
    _ack(stack.failed_batches, "S1", "Written only by Lambda's event source mapping and read by operators; "
         "CloudTrail data events are the audit trail if wanted. An access-log bucket would need its own, and so on.")
    _ack(api, "APIG2", "The api function validates every body and query with pydantic models and answers the "
         "contract's error shape (422 with details); gateway validation would answer another shape.")
    _ack(api, "APIG4", "Authorization is the API key (x-api-key, CONTRACT section 2), checked by API Gateway "
         "against the usage plan; the key id is the tenant. /v1/health is open on purpose, and so is the web console's page at /console: "
         "it holds no data, and its calls to /v1 carry the key its user types.")
    _ack(api, "COG4", "Tenants authenticate with API keys, not Cognito users (CONTRACT section 2).")
    _ack(api, f"IAM4[{_MANAGED}AmazonAPIGatewayPushToCloudWatchLogs]", "API Gateway's account-level role "
         "for writing access and execution logs: AWS's own policy for exactly that.")
    if api.web_acl is None:
        _ack(api, "APIG3", "WAF is optional (context waf=true; docs/deploy.md): it costs a fixed monthly fee "
             "and API Gateway already throttles per key and per stage.")
    if getattr(stack.data, "idempotency", None) is not None:
        _ack(stack.data.idempotency, "DDB3", "Idempotency records live 24 hours and can be lost without harm "
             "(a retried create is then refused or repeated); point-in-time recovery would restore nothing useful.")


def _logical_id(construct: IConstruct) -> str:
    """The CloudFormation logical id of an L2 construct's resource, as cdk-nag names it in finding ids."""
    return Stack.of(construct).get_logical_id(construct.node.default_child)

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


def acknowledge_findings(stack: Stack) -> None:
    """Acknowledge the findings blockhook accepts, on the narrowest construct that has them."""
    functions, api = stack.functions, stack.api

    _ack(stack, "L1", "python3.12 is the runtime the dependency layer is built for (pip --python-version "
         "3.12, manylinux x86_64); moving to a newer runtime is a deliberate change of layer, tests and this line.")
    _ack(stack, f"IAM4[{_MANAGED}AWSLambdaBasicExecutionRole]", "AWS's minimal Lambda logging policy "
         "(logs:CreateLogStream/PutLogEvents); the functions' log groups are their own, with retention.")
    _ack(stack, f"IAM4[{_MANAGED}AWSLambdaVPCAccessExecutionRole]", "In-VPC functions need "
         "ec2:CreateNetworkInterface and friends, which IAM cannot scope to resources; this is AWS's policy for it.")
    _ack(functions.matcher, f"IAM4[{_MANAGED}AWSLambdaMSKExecutionRole]", "Attached by the MSK event source "
         "mapping: the network interfaces it makes in the cluster's subnets cannot be scoped to resources. Kafka "
         "data access itself is granted by our own statements on the cluster, topic and group ARNs.")
    _ack(stack, "IAM5[Resource::*]", "X-Ray (xray:PutTraceSegments, PutTelemetryRecords) and the ENI actions "
         "of in-VPC functions support no resource-level permissions.")
    for table in ("DataDeliveries440B443D", "DataMatches8545CC3F"):
        _ack(functions, f"IAM5[Resource::<{table}.Arn>/index/*]", "Query on the table's own global "
             "secondary indexes (by_monitor, pending_by_chain); CDK's table grant covers its indexes this way.")
    for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
        _ack(functions, f"IAM5[Action::{action}]", "CDK's encrypt/decrypt grant on the one webhook secrets key "
             "(resource-scoped to it); the wildcard covers the variants of the same operation.")
    for action in ("s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*"):
        _ack(functions.matcher, f"IAM5[Action::{action}]", "CDK's grant for the MSK mapping's S3 on-failure "
             "destination, scoped to the failed-batches bucket alone.")
    _ack(functions.matcher, "IAM5[Resource::<FailedBatchesBucketD51F47E2.Arn>/*]", "The mapping writes one "
         "object per failed batch under keys it chooses, in the failed-batches bucket only.")
    _ack(stack.topics, "IAM5[Resource::<TopicsOnEvent91CF0168.Arn>:*]", "The custom resource provider framework "
         "invokes any version of our own onEvent function.")
    _ack(stack.failed_batches, "S1", "Written only by Lambda's event source mapping and read by operators; "
         "CloudTrail data events are the audit trail if wanted. An access-log bucket would need its own, and so on.")
    _ack(api, "APIG2", "The api function validates every body and query with pydantic models and answers the "
         "contract's error shape (422 with details); gateway validation would answer another shape.")
    _ack(api, "APIG4", "Authorization is the API key (x-api-key, CONTRACT section 2), checked by API Gateway "
         "against the usage plan; the key id is the tenant. /v1/health is open on purpose.")
    _ack(api, "COG4", "Tenants authenticate with API keys, not Cognito users (CONTRACT section 2).")
    _ack(api, f"IAM4[{_MANAGED}AmazonAPIGatewayPushToCloudWatchLogs]", "API Gateway's account-level role "
         "for writing access and execution logs: AWS's own policy for exactly that.")
    if api.web_acl is None:
        _ack(api, "APIG3", "WAF is optional (context waf=true; docs/deploy.md): it costs a fixed monthly fee "
             "and API Gateway already throttles per key and per stage.")
    if getattr(stack.data, "idempotency", None) is not None:
        _ack(stack.data.idempotency, "DDB3", "Idempotency records live 24 hours and can be lost without harm "
             "(a retried create is then refused or repeated); point-in-time recovery would restore nothing useful.")

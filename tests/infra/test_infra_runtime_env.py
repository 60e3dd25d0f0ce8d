"""Each function starts with exactly the environment the template gives it.

For every function, a fresh interpreter gets the synthesised template's environment variables (and
nothing of this session's), with CloudFormation references replaced by values of the right shape,
imports the function's handler.py the way Lambda does, and builds the services that handler builds
on its first event (blockhook.wiring). No AWS call and no network: building them must not need any.
This catches a variable the code needs that the stack does not set (the matcher once lacked the
secrets key id its DeliveryService is built with), and a table falling back to its local default name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, REGION = "123456789012", "us-east-1"
BOOTSTRAP = "b-1.blockhook.invalid:9098,b-2.blockhook.invalid:9098"

# What the fresh interpreter runs: argv[1] is the function's name. It prints one JSON line.
PROBE = r"""
import importlib.util, json, sys
from pathlib import Path

name, root = sys.argv[1], Path(sys.argv[2])
producer_options = {}
if name == "ingest":
    # The producer would dial the brokers at construction; record what it is given instead.
    import blockhook.streaming.producer as producer

    class RecordingProducer:
        def __init__(self, **options):
            producer_options.update(options)

    producer.KafkaProducer = RecordingProducer

spec = importlib.util.spec_from_file_location("handler", root / "functions" / name / "handler.py")
handler = importlib.util.module_from_spec(spec)
spec.loader.exec_module(handler)
assert callable(handler.handler)

from blockhook import wiring
from blockhook.chain.registry import load_chains
from blockhook.config import settings
from blockhook.store import blobs, idempotency, models

built = {
    "api": lambda: (wiring.delivery_service(), load_chains()),
    "ingest": lambda: (wiring.chain_ingests(), wiring.backfill_runner()),
    "matcher": lambda: wiring.match_service(),
    "deliver": lambda: wiring.delivery_service(),
}[name]()
config = settings()
print(json.dumps({
    "mode": config.mode,
    "auth_mode": config.auth_mode,
    "chains": [chain.chain_id for chain in load_chains()],
    "tables": {model.__name__: model.Meta.table_name for model in (
        models.MonitorModel, models.MonitorAddressModel, models.AddressIndexModel, models.ChainStateModel,
        models.ActiveBackfillsModel, models.DeliveryModel, models.MatchModel,
    )},
    "idempotency_table": idempotency.table_name(),
    "large_objects_bucket": blobs.bucket_name(),
    "producer": {key: value for key, value in producer_options.items()
                 if key in ("bootstrap_servers", "security_protocol", "sasl_mechanism")},
    # The IAM token provider's region, and a token made from the environment's credentials (no network).
    "token_region": getattr(producer_options.get("sasl_oauth_token_provider"), "region", None),
    "token_made": bool(producer_options.get("sasl_oauth_token_provider")
                       and producer_options["sasl_oauth_token_provider"].token()),
}))
"""


def placeholder(value, resources: dict) -> str:
    """A value of the right shape for a CloudFormation reference in an environment variable."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        lid = value["Ref"]
        kind = resources[lid]["Type"]
        if kind == "AWS::DynamoDB::Table":
            return f"table-{lid}"
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{lid}"
        if kind == "AWS::S3::Bucket":
            return f"bucket-{lid.lower()}"
    if "Fn::GetAtt" in value:
        lid, attribute = value["Fn::GetAtt"]
        kind = resources[lid]["Type"]
        if kind == "AWS::KMS::Key" and attribute == "Arn":
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
        if attribute == "BootstrapBrokerStringSaslIam":
            return BOOTSTRAP
    raise AssertionError(f"no placeholder for {value}: teach this test the new kind of reference")


def probe(name: str, functions: dict, resources: dict) -> tuple[dict, dict]:
    variables = functions[name][1]["Environment"]["Variables"]
    env = {key: placeholder(value, resources) for key, value in variables.items()}
    runtime = {
        # What Lambda itself sets, and fake credentials; a stray AWS call would go to a closed local port.
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO_ROOT / "layers" / "shared" / "python"),
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_LAMBDA_FUNCTION_NAME": f"blockhook-{name}",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE, name, str(REPO_ROOT)],
        env={**runtime, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{name} cannot start with the template's environment:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1]), env


@pytest.mark.parametrize("name", ("api", "ingest", "matcher", "deliver"))
def test_function_starts_with_the_template_environment(name: str, functions: dict, resources: dict) -> None:
    found, env = probe(name, functions, resources)
    assert found["mode"] == "cloud"
    assert found["chains"] == ([1] if name != "deliver" else [])  # cdk.json's chain; deliver needs none
    # Every table the code may touch is the stack's, not a local default name.
    tables = {
        "MonitorModel": "BLOCKHOOK_MONITORS_TABLE",
        "MonitorAddressModel": "BLOCKHOOK_MONITOR_ADDRESSES_TABLE",
        "AddressIndexModel": "BLOCKHOOK_ADDRESS_INDEX_TABLE",
        "ChainStateModel": "BLOCKHOOK_STATE_TABLE",
        "ActiveBackfillsModel": "BLOCKHOOK_STATE_TABLE",
        "DeliveryModel": "BLOCKHOOK_DELIVERIES_TABLE",
        "MatchModel": "BLOCKHOOK_MATCHES_TABLE",
    }
    assert found["tables"] == {model: env[variable] for model, variable in tables.items()}
    # Each keeps or reads values too large for Kafka or DynamoDB (the api: a delivery's body, to show it).
    assert found["large_objects_bucket"] == env["BLOCKHOOK_LARGE_OBJECTS_BUCKET"]
    if name == "api":
        assert found["auth_mode"] == "apigateway"
        assert found["idempotency_table"] == env["BLOCKHOOK_IDEMPOTENCY_TABLE"]
    if name == "ingest":
        # MSK Serverless: IAM over TLS on 9098, AWS's signer's token over OAUTHBEARER, from the function's role.
        assert found["producer"] == {
            "bootstrap_servers": BOOTSTRAP.split(","),
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "OAUTHBEARER",
        }
        assert found["token_region"] == REGION and found["token_made"] is True

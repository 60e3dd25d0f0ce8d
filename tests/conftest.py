"""Session fixtures: real servers (moto server, Tansu, Anvil) on free loopback ports.

Nothing here reaches the internet: AWS calls go to an unroutable local port until a
test asks for the moto server, and credentials are fakes."""

from __future__ import annotations

import os
import uuid

import pytest

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    AWS_ENDPOINT_URL="http://127.0.0.1:9",  # discard port: a stray AWS call fails fast, locally
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_LOG_LEVEL="WARNING",
    POWERTOOLS_METRICS_NAMESPACE="blockhook-tests",
)
for variable in ("BLOCKHOOK_RPC_URL", "BLOCKHOOK_CHAINS_FILE", "BLOCKHOOK_CHAINS", "AWS_PROFILE"):
    os.environ.pop(variable, None)

from blockhook.local import servers  # noqa: E402


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory) -> str:
    """A moto server, with every blockhook table created, as the process's AWS endpoint."""
    server = servers.moto(servers.free_port(), log_path=tmp_path_factory.mktemp("moto") / "moto.log").start()
    os.environ["AWS_ENDPOINT_URL"] = server.url
    from blockhook.config import settings
    from blockhook.store.models import create_tables
    from blockhook.store.secret_box import ensure_local_key

    create_tables()
    os.environ["BLOCKHOOK_SECRETS_KEY_ID"] = ensure_local_key()
    settings.cache_clear()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> str:
    server = servers.tansu(servers.free_port(), log_path=tmp_path_factory.mktemp("tansu") / "tansu.log").start()
    yield f"{servers.HOST}:{server.port}"
    server.stop()


@pytest.fixture(scope="session")
def anvil_rpc(tmp_path_factory) -> str:
    server = servers.anvil(servers.free_port(), log_path=tmp_path_factory.mktemp("anvil") / "anvil.log").start()
    yield server.url
    server.stop()


@pytest.fixture
def tenant_id() -> str:
    """A fresh tenant per test: tests share the tables, never each other's data."""
    return "tenant_test_" + uuid.uuid4().hex[:12]


@pytest.fixture
def delivery_queue_url(moto_endpoint) -> str:
    import boto3

    return boto3.client("sqs").create_queue(QueueName="deliveries-" + uuid.uuid4().hex[:8])["QueueUrl"]

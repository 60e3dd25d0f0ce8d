"""infra/topic_provider/index.py, the custom resource that creates topic `blocks`, against a real
Kafka broker (Tansu on loopback, plaintext: the IAM path differs only in connection options)."""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def provider():
    spec = importlib.util.spec_from_file_location("topic_provider_under_test", REPO_ROOT / "infra/topic_provider/index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def partitions_of(bootstrap: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        (description,) = admin.describe_topics([topic])
        return len(description["partitions"])
    finally:
        admin.close()


def test_creates_the_topic_once(provider, kafka_bootstrap: str) -> None:
    topic = "blocks-" + uuid.uuid4().hex[:8]
    assert provider.ensure_topic(kafka_bootstrap, topic, 3, auth="plaintext") is True
    assert provider.ensure_topic(kafka_bootstrap, topic, 3, auth="plaintext") is False
    assert partitions_of(kafka_bootstrap, topic) == 3


def test_update_never_changes_an_existing_topic(provider, kafka_bootstrap: str) -> None:
    topic = "blocks-" + uuid.uuid4().hex[:8]
    provider.ensure_topic(kafka_bootstrap, topic, 2, auth="plaintext")
    assert provider.ensure_topic(kafka_bootstrap, topic, 6, auth="plaintext") is False
    assert partitions_of(kafka_bootstrap, topic) == 2


def test_delete_leaves_the_topic_and_ids_are_stable(provider, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(provider, "ensure_topic", lambda *args: calls.append(args) or True)
    props = {"ClusterArn": "arn:aws:kafka:us-east-1:1:cluster/c/u", "BootstrapBrokers": "b:9098", "Topic": "blocks", "Partitions": "3"}
    created = provider.on_event({"RequestType": "Create", "ResourceProperties": props}, None)
    deleted = provider.on_event({"RequestType": "Delete", "ResourceProperties": props}, None)
    assert calls == [("b:9098", "blocks", 3)]  # Delete does not touch the broker
    assert created["PhysicalResourceId"] == deleted["PhysicalResourceId"] == "arn:aws:kafka:us-east-1:1:cluster/c/u/blocks"


# The IAM path, without a network: what the provider hands kafka-python for MSK Serverless.

CLOUD_BOOTSTRAP = "b-1.blockhook.abc123.c2.kafka-serverless.us-east-1.amazonaws.com:9098"


class RecordingAdmin:
    """Stands in for KafkaAdminClient: records its options and the topics it is asked to create."""

    instances: list[RecordingAdmin] = []

    def __init__(self, **options) -> None:
        self.options = options
        self.created: list = []
        self.closed = False
        RecordingAdmin.instances.append(self)

    def list_topics(self) -> list[str]:
        return []

    def create_topics(self, topics) -> None:
        self.created.extend(topics)

    def close(self) -> None:
        self.closed = True


def test_cloud_create_connects_with_sasl_iam_over_tls(provider, monkeypatch) -> None:
    RecordingAdmin.instances.clear()
    monkeypatch.setattr(provider, "KafkaAdminClient", RecordingAdmin)
    props = {
        "ClusterArn": "arn:aws:kafka:us-east-1:123456789012:cluster/blockhook-kafka/uuid",
        "BootstrapBrokers": CLOUD_BOOTSTRAP,
        "Topic": "blocks",
        "Partitions": "3",
    }
    provider.on_event({"RequestType": "Create", "ResourceProperties": props}, None)
    (admin,) = RecordingAdmin.instances
    # What the custom resource passes (on_event's default auth is "iam"): SASL/IAM over TLS on 9098.
    assert admin.options == {
        "client_id": "blockhook-topic-provider",
        "bootstrap_servers": [CLOUD_BOOTSTRAP],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "AWS_MSK_IAM",
    }
    (topic,) = admin.created
    assert (topic.name, topic.num_partitions, topic.replication_factor) == ("blocks", 3, -1)
    assert admin.closed


def test_kafka_python_signs_the_connect_with_the_functions_role(monkeypatch) -> None:
    """The options above are enough for kafka-python to sign MSK's IAM handshake from the Lambda
    environment's credentials and region (no network: only the first SASL message is built)."""
    from kafka.net.sasl import get_sasl_mechanism

    from blockhook.streaming.kafka_config import connection_options

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    options = connection_options(CLOUD_BOOTSTRAP, "iam")
    host = CLOUD_BOOTSTRAP.rsplit(":", 1)[0]
    mechanism = get_sasl_mechanism(options["sasl_mechanism"])(host=host, **options)
    message = json.loads(mechanism.auth_bytes())
    assert message["action"] == "kafka-cluster:Connect"
    assert message["host"] == host
    assert message["x-amz-credential"].startswith("AKIAEXAMPLE/")
    assert message["x-amz-credential"].endswith("/eu-west-1/kafka-cluster/aws4_request")
    assert message["x-amz-security-token"] == "session-token"


def test_plaintext_is_only_for_the_local_broker() -> None:
    from blockhook.streaming.kafka_config import connection_options

    assert connection_options("127.0.0.1:9092", "plaintext") == {"bootstrap_servers": ["127.0.0.1:9092"]}
    with pytest.raises(ValueError, match="unknown Kafka auth"):
        connection_options(CLOUD_BOOTSTRAP, "sasl")

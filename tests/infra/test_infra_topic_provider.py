"""infra/topic_provider/index.py, the custom resource that creates topic `blocks`, against a real
Kafka broker (Tansu on loopback, plaintext: the IAM path differs only in connection options)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import logging
import socket
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaTimeoutError

from blockhook.streaming.kafka_config import MskIamTokens

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
    # What the custom resource passes (on_event's default auth is "iam"): SASL OAUTHBEARER over TLS on 9098,
    # with AWS's MSK IAM token provider, and bounded waits.
    options = dict(admin.options)
    tokens = options.pop("sasl_oauth_token_provider")
    assert options == {
        "client_id": "blockhook-topic-provider",
        "bootstrap_servers": [CLOUD_BOOTSTRAP],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "OAUTHBEARER",
        **provider.ADMIN_TIMEOUTS,
    }
    assert isinstance(tokens, MskIamTokens)
    (topic,) = admin.created
    assert (topic.name, topic.num_partitions, topic.replication_factor) == ("blocks", 3, -1)
    assert admin.closed


def test_the_token_is_the_signers_presigned_connect_url_in_kafkas_oauthbearer_message(monkeypatch) -> None:
    """The token AWS's signer documents: base64url (unpadded) of a SigV4-presigned URL of
    https://kafka.<region>.amazonaws.com/?Action=kafka-cluster:Connect, valid 900 s, signed with the
    environment's credentials; kafka-python frames it as OAUTHBEARER's first message. No network."""
    from kafka.net.sasl import get_sasl_mechanism

    from blockhook.streaming.kafka_config import connection_options

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    options = connection_options(CLOUD_BOOTSTRAP, "iam")
    mechanism = get_sasl_mechanism(options["sasl_mechanism"])(**options)
    message = mechanism.auth_bytes().decode()
    assert message.startswith("n,,\x01auth=Bearer ") and message.endswith("\x01\x01")
    token = message.removeprefix("n,,\x01auth=Bearer ").removesuffix("\x01\x01")
    assert "=" not in token and "+" not in token and "/" not in token  # base64url, unpadded
    url = urlsplit(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    assert (url.scheme, url.netloc, url.path) == ("https", "kafka.eu-west-1.amazonaws.com", "/")
    query = dict(parse_qsl(url.query))
    assert query["Action"] == "kafka-cluster:Connect"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    key, date, region, service, terminator = query["X-Amz-Credential"].split("/")
    assert (key, region, service, terminator) == ("AKIAEXAMPLE", "eu-west-1", "kafka-cluster", "aws4_request")
    assert query["X-Amz-Date"].startswith(date)
    assert query["X-Amz-Expires"] == "900"
    assert query["X-Amz-SignedHeaders"] == "host"
    assert query["X-Amz-Security-Token"] == "session-token"
    assert query["User-Agent"].startswith("aws-msk-iam-sasl-signer-python/")
    assert _sigv4_signature(url, query, "secret") == query["X-Amz-Signature"]
    # One token for every connection until shortly before it expires.
    assert options["sasl_oauth_token_provider"].token() == token


def _sigv4_signature(url, query: dict[str, str], secret: str) -> str:
    """The presigned URL's signature, computed again by the SigV4 rules (query auth, host signed, empty body)."""
    signed = {name: value for name, value in query.items() if name not in ("X-Amz-Signature", "User-Agent")}
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(signed.items()))
    canonical = "\n".join(["GET", "/", canonical_query, f"host:{url.netloc}", "", "host", hashlib.sha256(b"").hexdigest()])
    _, date, region, service, _ = query["X-Amz-Credential"].split("/")
    to_sign = "\n".join([
        "AWS4-HMAC-SHA256", query["X-Amz-Date"], f"{date}/{region}/{service}/aws4_request",
        hashlib.sha256(canonical.encode()).hexdigest(),
    ])  # fmt: skip
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def test_a_cluster_out_of_reach_fails_the_resource_in_bounded_time_with_a_reason(provider, monkeypatch, caplog) -> None:
    monkeypatch.setitem(provider.ADMIN_TIMEOUTS, "bootstrap_timeout_ms", 2_000)
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        bootstrap = f"127.0.0.1:{closed.getsockname()[1]}"
    with caplog.at_level(logging.ERROR), pytest.raises(KafkaTimeoutError):
        provider.ensure_topic(bootstrap, "blocks", 3, auth="plaintext")
    assert f"cannot reach the MSK cluster at {bootstrap} within 2 s" in caplog.text
    assert "security group" in caplog.text


def test_plaintext_is_only_for_the_local_broker() -> None:
    from blockhook.streaming.kafka_config import connection_options

    assert connection_options("127.0.0.1:9092", "plaintext") == {"bootstrap_servers": ["127.0.0.1:9092"]}
    with pytest.raises(ValueError, match="unknown Kafka auth"):
        connection_options(CLOUD_BOOTSTRAP, "sasl")

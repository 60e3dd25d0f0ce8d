"""infra/topic_provider/index.py, the custom resource that creates topic `blocks`, against a real
Kafka broker (Tansu on loopback, plaintext: the IAM path differs only in connection options)."""

from __future__ import annotations

import importlib.util
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

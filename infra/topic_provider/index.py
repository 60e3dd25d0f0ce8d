"""CloudFormation custom resource (provider framework `onEvent`): create a Kafka topic on MSK
Serverless, which has no topic resource of its own. Runs in the cluster's VPC and signs in with the
function's IAM role (SASL OAUTHBEARER with AWS's MSK IAM signer: blockhook/streaming/kafka_config.py),
from the shared and dependency layers.

Create and Update create the topic if it is missing and never change an existing one: adding
partitions would move chains (the message key) to other partitions and break their order. Delete
leaves the topic: it goes with the cluster, and a replaced resource must not drop live data.
"""

from __future__ import annotations

import logging
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaTimeoutError, TopicAlreadyExistsError

from blockhook.streaming.kafka_config import connection_options

logger = logging.getLogger()
logger.setLevel(logging.INFO)

# A network that cannot reach the brokers (subnets without a route, a security group closed to 9098)
# shows as connections that never complete: each wait is bounded, so the custom resource fails within
# a minute with a line saying why, not at the function's timeout or CloudFormation's hour.
ADMIN_TIMEOUTS = {"bootstrap_timeout_ms": 20_000, "request_timeout_ms": 20_000}


def on_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    props = event["ResourceProperties"]
    topic = props["Topic"]
    if event["RequestType"] in ("Create", "Update"):
        created = ensure_topic(props["BootstrapBrokers"], topic, int(props["Partitions"]))
        logger.info("topic %s %s", topic, "created" if created else "already exists")
    return {"PhysicalResourceId": f"{props['ClusterArn']}/{topic}", "Data": {"Topic": topic}}


def ensure_topic(bootstrap: str, topic: str, partitions: int, auth: str = "iam") -> bool:
    """Create `topic` unless it exists; True when this call created it."""
    try:
        admin = KafkaAdminClient(
            client_id="blockhook-topic-provider", **connection_options(bootstrap, auth), **ADMIN_TIMEOUTS
        )
    except KafkaTimeoutError:
        logger.error(
            "cannot reach the MSK cluster at %s within %d s: check that this function's subnets route to the "
            "cluster's and that its security group may reach the brokers on port 9098 (docs/deploy.md)",
            bootstrap, ADMIN_TIMEOUTS["bootstrap_timeout_ms"] // 1000,
        )  # fmt: skip
        raise
    try:
        if topic in admin.list_topics():
            return False
        # Replication factor -1: the cluster's default (MSK Serverless fixes it at 3).
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=-1)])
        return True
    except TopicAlreadyExistsError:
        return False
    finally:
        admin.close()

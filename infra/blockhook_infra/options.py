"""Deployment options from CDK context that are neither chains nor tenants: the prefix of a side-by-side
deployment (`prefix`), the cap on deliver's concurrency (`deliver_max_concurrency`) and the Kafka cluster
(`kafka` and, for a provisioned one, `kafka_broker_type`, `kafka_broker_storage_gb`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# The stack name of a deployment without a prefix; with one it is `<prefix>-BlockhookStack`.
BASE_STACK_NAME = "BlockhookStack"
# Lower case, so one prefix gives one set of names whatever the service's case rules; short, so the
# names built from it (`<prefix>-BlockhookStack-kafka`, CloudFormation's generated names) stay in limits.
_PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,19}$")

# SQS event source's maximum concurrency: AWS allows 2 to 1,000.
DEFAULT_DELIVER_MAX_CONCURRENCY = 20
MIN_MAX_CONCURRENCY, MAX_MAX_CONCURRENCY = 2, 1000


class OptionsContextError(ValueError):
    """A context option (`prefix`, `deliver_max_concurrency`, `kafka`...) is malformed."""


def prefix_from_context(raw: Any) -> str | None:
    """The `prefix` context (`-c prefix=staging`): None when unset or empty (today's names)."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not _PREFIX.match(raw) or raw.endswith("-") or "--" in raw:
        raise OptionsContextError(
            f"CDK context `prefix` {raw!r}: use 1-20 lower-case letters, digits and single hyphens, starting with a "
            "letter (e.g. staging)"
        )
    return raw


def stack_name(prefix: str | None) -> str:
    return prefixed(prefix, BASE_STACK_NAME)


def prefixed(prefix: str | None, name: str, separator: str = "-") -> str:
    """A fixed name of the stack, prefixed for a side-by-side deployment; unchanged without a prefix."""
    return f"{prefix}{separator}{name}" if prefix else name


def deliver_max_concurrency(raw: Any) -> int:
    """The `deliver_max_concurrency` context: an integer from 2 to 1,000, default 20."""
    if raw is None or raw == "":
        return DEFAULT_DELIVER_MAX_CONCURRENCY
    try:
        value = int(raw) if isinstance(raw, str) else raw
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_MAX_CONCURRENCY <= value <= MAX_MAX_CONCURRENCY:
        raise OptionsContextError(
            f"CDK context `deliver_max_concurrency` {raw!r}: an integer from {MIN_MAX_CONCURRENCY} to "
            f"{MAX_MAX_CONCURRENCY} (concurrent deliver invocations the deliveries queue may start)"
        )
    return value


# The Kafka cluster: MSK Serverless (the default), or a provisioned cluster of three brokers, one in each of
# three AZs, replication 3 and min.insync.replicas 2 (streaming.py). Three small brokers cost a fraction of
# a serverless cluster's hours (docs/costs.md); the broker type and disk size grow with the traffic.
KAFKA_MODES = ("serverless", "provisioned")
DEFAULT_KAFKA_BROKER_TYPE = "kafka.t3.small"
DEFAULT_KAFKA_BROKER_STORAGE_GB = 100
# MSK's bounds for a broker's EBS volume.
MIN_BROKER_STORAGE_GB, MAX_BROKER_STORAGE_GB = 1, 16384
_BROKER_TYPE = re.compile(r"^kafka\.[a-z0-9]+\.[a-z0-9]+$")


@dataclass(frozen=True)
class KafkaOptions:
    mode: str = "serverless"
    broker_type: str = DEFAULT_KAFKA_BROKER_TYPE
    broker_storage_gb: int = DEFAULT_KAFKA_BROKER_STORAGE_GB

    @property
    def provisioned(self) -> bool:
        return self.mode == "provisioned"


def kafka_options(mode: Any, broker_type: Any = None, broker_storage_gb: Any = None) -> KafkaOptions:
    """The `kafka` context (`serverless`, default, or `provisioned`), with `kafka_broker_type` and
    `kafka_broker_storage_gb`, which only a provisioned cluster takes."""
    mode = "serverless" if mode is None or mode == "" else mode
    if mode not in KAFKA_MODES:
        raise OptionsContextError(f"CDK context `kafka` {mode!r}: one of {', '.join(KAFKA_MODES)}")
    if mode == "serverless":
        given = [name for name, value in (("kafka_broker_type", broker_type),
                                          ("kafka_broker_storage_gb", broker_storage_gb)) if value not in (None, "")]
        if given:
            raise OptionsContextError(
                f"CDK context {', '.join(f'`{g}`' for g in given)}: only for `kafka` provisioned (MSK Serverless has "
                "no brokers to size)"
            )
        return KafkaOptions()
    if broker_type in (None, ""):
        broker_type = DEFAULT_KAFKA_BROKER_TYPE
    if not isinstance(broker_type, str) or not _BROKER_TYPE.match(broker_type):
        raise OptionsContextError(
            f"CDK context `kafka_broker_type` {broker_type!r}: an MSK broker type such as kafka.t3.small or "
            "kafka.m7g.large"
        )
    storage = DEFAULT_KAFKA_BROKER_STORAGE_GB if broker_storage_gb in (None, "") else broker_storage_gb
    try:
        storage = int(storage) if isinstance(storage, str) else storage
    except ValueError:
        storage = None
    if isinstance(storage, bool) or not isinstance(storage, int) or not (
        MIN_BROKER_STORAGE_GB <= storage <= MAX_BROKER_STORAGE_GB
    ):
        raise OptionsContextError(
            f"CDK context `kafka_broker_storage_gb` {broker_storage_gb!r}: an integer from {MIN_BROKER_STORAGE_GB} to "
            f"{MAX_BROKER_STORAGE_GB} (GB of disk per broker; each holds a copy of the retained week of blocks)"
        )
    return KafkaOptions("provisioned", broker_type, storage)

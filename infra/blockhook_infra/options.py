"""Deployment options from CDK context that are neither chains nor tenants: the prefix of a side-by-side
deployment (`prefix`) and the cap on deliver's concurrency (`deliver_max_concurrency`)."""

from __future__ import annotations

import re
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
    """A context option (`prefix`, `deliver_max_concurrency`) is malformed."""


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

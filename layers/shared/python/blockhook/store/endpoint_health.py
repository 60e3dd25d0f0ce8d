"""Endpoint health of a monitor: a run of failed attempts marks it degraded, one success heals it.

Kept on the monitor's item (consecutive_failures, failing_since, last_failure, probe_at) by
updates of those attributes alone: they never bump the monitor's `version`, so the matcher
does not reload for them, and they cannot undo a concurrent change of the monitor's settings.

While degraded, one attempt at a time may reach the endpoint, once `probe_at` has come; the
deliver function claims that probe with a conditional write, so concurrent functions do not
all try a dead endpoint at once. Each failed probe pushes `probe_at` further out.
"""

from __future__ import annotations

from collections.abc import Callable

from pynamodb.exceptions import UpdateError

from blockhook.store.models import MonitorModel

DEGRADED_AFTER_FAILURES = 5  # failed attempts in a row, over all the monitor's deliveries
_ERROR_LENGTH = 300


def is_degraded(monitor: MonitorModel) -> bool:
    return int(monitor.consecutive_failures or 0) >= DEGRADED_AFTER_FAILURES


def probe_due(monitor: MonitorModel, now: float) -> bool:
    return monitor.probe_at is None or now >= float(monitor.probe_at)


def record_failure(monitor: MonitorModel, error: str, now: float, probe_delay: Callable[[int], float]) -> None:
    """Count one more failed attempt; from DEGRADED_AFTER_FAILURES on, set when the next probe may go.

    `probe_delay(n)` is the wait after the n-th failure counted while degraded (n = 0, 1, ...)."""
    try:
        monitor.update(
            actions=[
                MonitorModel.consecutive_failures.add(1),
                MonitorModel.failing_since.set(MonitorModel.failing_since | int(now)),  # if not set yet
                MonitorModel.last_failure.set(error[:_ERROR_LENGTH]),
            ],
            condition=MonitorModel.monitor_id.exists(),
        )
        failures = int(monitor.consecutive_failures)
        if failures >= DEGRADED_AFTER_FAILURES:
            wait = probe_delay(failures - DEGRADED_AFTER_FAILURES)
            monitor.update(
                actions=[MonitorModel.probe_at.set(int(now + wait))], condition=MonitorModel.monitor_id.exists()
            )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        # The monitor was deleted meanwhile: no health to keep.


def claim_probe(monitor: MonitorModel, now: float, hold_seconds: float) -> bool:
    """Take the right to try a degraded endpoint now; False when another attempt has it.

    Moves `probe_at` to now + `hold_seconds` on condition that it is still what was read."""
    read = monitor.probe_at
    unchanged = MonitorModel.probe_at.does_not_exist() if read is None else MonitorModel.probe_at == read
    try:
        monitor.update(actions=[MonitorModel.probe_at.set(int(now + hold_seconds))], condition=unchanged)
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False
    return True


def record_success(monitor: MonitorModel) -> bool:
    """Forget the failures after an endpoint answered 2xx; True when the monitor was degraded.

    Free when there was no failure (the monitor as read says so): a healthy endpoint costs no write."""
    if not int(monitor.consecutive_failures or 0):
        return False
    was_degraded = is_degraded(monitor)
    try:
        monitor.update(
            actions=[
                MonitorModel.consecutive_failures.set(0),
                MonitorModel.failing_since.remove(),
                MonitorModel.last_failure.remove(),
                MonitorModel.probe_at.remove(),
            ],
            condition=MonitorModel.monitor_id.exists(),
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False
    return was_degraded

"""Fixtures of the integration tests (the servers themselves are in tests/conftest.py)."""

from __future__ import annotations

import secrets

import pytest


@pytest.fixture
def chain_id() -> int:
    # A chain no other test uses: watch-all monitors of other tests never see these blocks.
    return 1_000_000 + secrets.randbelow(10**9)


@pytest.fixture
def queue_url(delivery_queue_url) -> str:
    return delivery_queue_url

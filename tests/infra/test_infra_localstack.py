"""localstack/: the compose file and its README say the same, and the container exposes nothing beyond
loopback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

LOCALSTACK = Path(__file__).resolve().parents[2] / "localstack"


@pytest.fixture(scope="module")
def service() -> dict:
    compose = yaml.safe_load((LOCALSTACK / "docker-compose.yml").read_text())
    (only,) = compose["services"].values()
    return only


@pytest.fixture(scope="module")
def environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the "KEY=value" list form
        env = dict(item.split("=", 1) for item in env)
    return env


@pytest.fixture(scope="module")
def readme() -> str:
    return (LOCALSTACK / "README.md").read_text()


def test_every_port_is_bound_to_loopback(service: dict) -> None:
    ports = service["ports"]
    assert ports
    for port in ports:
        if isinstance(port, dict):  # long syntax
            assert port.get("host_ip") == "127.0.0.1", port
        else:
            assert re.fullmatch(r"127\.0\.0\.1:\d+(-\d+)?:\d+(-\d+)?(/(tcp|udp))?", str(port)), port
    assert "127.0.0.1:4566:4566" in ports


def test_docker_socket_is_mounted_for_lambda(service: dict) -> None:
    assert "/var/run/docker.sock:/var/run/docker.sock" in service["volumes"]


def test_auth_token_is_passed_through_and_never_written_down(environment: dict) -> None:
    assert environment["LOCALSTACK_AUTH_TOKEN"] in ("${LOCALSTACK_AUTH_TOKEN:-}", "${LOCALSTACK_AUTH_TOKEN}")


def test_services_are_left_to_localstack(environment: dict, readme: str) -> None:
    """The README says SERVICES is unset (path B needs many services): the file must agree."""
    assert "SERVICES" not in environment
    assert "`SERVICES` is not set" in readme


def test_readme_says_what_needs_a_paid_plan(readme: str) -> None:
    paid = readme[readme.index("| B. the CDK stack") :].split("\n", 1)[0]
    assert "paid" in paid
    assert "MSK" in paid and "Kafka event source mappings" in paid
    assert "LOCALSTACK_AUTH_TOKEN" in readme


def test_readme_installs_the_cdk_cli_beside_cdklocal(readme: str) -> None:
    assert re.search(r"npm install -g aws-cdk-local aws-cdk\b", readme)

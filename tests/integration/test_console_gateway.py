"""The local API Gateway stand-in routes /console to the console function and everything else to the
api function, as the cloud's gateway does: the page needs no key, the API still does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from blockhook.console_site import CONTENT_SECURITY_POLICY
from blockhook.local.api_gateway import ApiGatewayServer
from blockhook.local.lambdas import LocalFunction
from blockhook.local.servers import free_port
from tests.support.api import clear_api_caches, local_api

CHAINS = {"chains": [{"chain_id": 31337, "rpc_urls": ["http://127.0.0.1:9"]}]}


@pytest.fixture
def gateway(moto_endpoint, tmp_path: Path) -> Iterator[str]:
    (tmp_path / "index.html").write_text("<!doctype html><title>console</title>")
    (tmp_path / "app.js").write_text("document.title = 'blockhook';")
    with pytest.MonkeyPatch.context() as patch:
        api = local_api(patch, [f"console-{uuid.uuid4().hex[:12]}"], CHAINS)
        patch.setenv("BLOCKHOOK_CONSOLE_DIR", str(tmp_path))
        server = ApiGatewayServer(api.function, free_port(), console=LocalFunction("console", 3)).start()
        yield f"http://127.0.0.1:{server.port}"
        server.stop()
    clear_api_caches()


def test_the_console_is_served_without_a_key_and_the_api_still_needs_one(gateway: str) -> None:
    bare = requests.get(f"{gateway}/console", allow_redirects=False, timeout=10)
    assert (bare.status_code, bare.headers["Location"]) == (301, "console/")
    page = requests.get(f"{gateway}/console", timeout=10)  # the redirect followed
    assert page.url == f"{gateway}/console/" and page.status_code == 200
    assert page.text == "<!doctype html><title>console</title>"
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    script = requests.get(f"{gateway}/console/app.js", timeout=10)
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    refused = requests.get(f"{gateway}/v1/monitors", timeout=10)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"


def test_a_path_that_only_starts_like_the_console_goes_to_the_api(gateway: str) -> None:
    answer = requests.get(f"{gateway}/consoles", timeout=10)
    assert answer.status_code != 200 and "Content-Security-Policy" not in answer.headers

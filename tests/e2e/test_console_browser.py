"""The web console in a real headless Chromium (Debian's package, driven by playwright) against one local
stack as `make up` runs it: sign-in, monitors, deliveries, replays, the CSV import, backfill, charts and
chains, with every control found by its role and accessible name.

Every page also checks that the console's files carry the Content-Security-Policy and that the page asks
nothing of another origin. The tests save screenshots to build/screenshots/, or to the folder
BLOCKHOOK_SCREENSHOTS names (`make screenshots`: docs/images/, the README's pictures).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from blockhook.console_site import CONTENT_SECURITY_POLICY
from blockhook.local.servers import REPO_ROOT
from tests.support.contracts import ANVIL_ACCOUNTS, rpc, send_tx
from tests.support.local_stack import running_stack
from tests.support.receiver import WebhookReceiver, status

pytestmark = pytest.mark.e2e

SITE = REPO_ROOT / "build" / "console"
SHOTS = REPO_ROOT / os.environ.get("BLOCKHOOK_SCREENSHOTS", "build/screenshots")
HOSTILE = "<img src=x onerror=alert(1)><b>bold</b>"
ONE_ETHER = 10**18
SECRET = re.compile(r"^whsec_[A-Za-z0-9+/=]{32,}$")  # the whole secret, nothing cut


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not (SITE / "index.html").is_file():
        pytest.fail(f"{SITE / 'index.html'} is missing: run make console")
    # One retry, a second apart: a delivery to an endpoint answering 500 fails within seconds.
    with running_stack(tmp_path_factory.mktemp("console"), extra_env={"BLOCKHOOK_RETRY_SCHEDULE": "1"}) as local:
        yield local


@pytest.fixture(scope="module")
def chromium():
    executable = shutil.which("chromium") or os.environ["BLOCKHOOK_CHROMIUM"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, stack):
    """A fresh tab (its own session storage) on the console; afterwards: every file of the console came with
    the CSP, nothing was asked of another origin, no dialog opened, no script error."""
    origin = f"http://127.0.0.1:{stack.api_port}"
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    foreign, unprotected, dialogs, errors = [], [], [], []
    tab.on("request", lambda request: foreign.append(request.url) if not _same_origin(request.url, origin) else None)
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.on("pageerror", lambda error: errors.append(str(error)))

    def check(response):
        if urlsplit(response.url).path.startswith("/console") and response.headers.get("content-security-policy") != CONTENT_SECURITY_POLICY:
            unprotected.append(response.url)

    tab.on("response", check)
    tab.console_url = f"{origin}/console"
    tab.goto(tab.console_url)
    yield tab
    context.close()
    assert foreign == [], f"requests outside {origin}: {foreign}"
    assert unprotected == [], f"console files without the CSP: {unprotected}"
    assert dialogs == [], dialogs
    assert errors == [], errors


def _same_origin(url: str, origin: str) -> bool:
    return url.startswith(origin + "/") or url.startswith("data:")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def sign_in(page: Page, stack) -> None:
    page.get_by_label("API key").fill(stack.api_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Monitors")).to_be_visible()


def create_in_form(page: Page, name: str, webhook_url: str, addresses: str, kinds: list[str]) -> str:
    """Fill the create form and create; the secret the monitor page then shows."""
    page.get_by_role("button", name="New monitor").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Webhook URL").fill(webhook_url)
    page.get_by_label("Chains").select_option(["31337"])
    page.get_by_label("Addresses", exact=True).fill(addresses)
    for kind in kinds:
        page.get_by_label(kind, exact=True).check()
    page.get_by_label("Confirmations").fill("0")
    page.get_by_role("button", name="Create").click()
    secret = page.locator("code.secret-value")
    expect(secret).to_have_text(SECRET)
    expect(page.get_by_text("shown only now")).to_be_visible()
    return secret.inner_text()


def open_monitor(page: Page, monitor_id: str) -> None:
    page.goto(f"{page.console_url}/#/monitors/{monitor_id}")
    expect(page.get_by_role("heading", name="Deliveries", exact=True)).to_be_visible()


def monitor_id(page: Page) -> str:
    """The id of the monitor whose page is open."""
    return re.search(r"#/monitors/(mon_\w+)", page.url).group(1)


def new_address(seed: int) -> str:
    return "0x" + f"{seed:040x}"


def wait_status(stack, monitor_id: str, delivery_id: str, wanted: str, timeout: float = 60) -> dict:
    give_up = time.monotonic() + timeout
    while True:
        delivery = stack.call("GET", f"/monitors/{monitor_id}/deliveries/{delivery_id}").json()
        if delivery["status"] == wanted or time.monotonic() > give_up:
            assert delivery["status"] == wanted, delivery
            return delivery
        time.sleep(0.3)


def test_a_wrong_key_is_refused_with_the_apis_message_and_the_right_one_signs_in(page, stack):
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    shot(page, "console-sign-in")
    page.get_by_label("API key").fill("not-the-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown API key")
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0

    sign_in(page, stack)
    expect(page.get_by_role("link", name="Monitors")).to_be_visible()
    expect(page.get_by_role("link", name="Chains")).to_be_visible()
    # A key refused later (here: another one put in its place) signs out with the reason.
    page.evaluate("sessionStorage.setItem('blockhook.apiKey', 'revoked-key')")
    page.get_by_role("link", name="Chains").click()
    expect(page.get_by_role("alert")).to_contain_text("Signed out")
    expect(page.get_by_label("API key")).to_be_visible()


def test_create_shows_the_whole_secret_once_a_hostile_name_as_text_and_the_conditions_error(page, stack):
    sign_in(page, stack)
    page.get_by_role("button", name="New monitor").click()
    page.get_by_label("Name", exact=True).fill(HOSTILE)
    page.get_by_label("Webhook URL").fill("http://127.0.0.1:9/hooks")
    page.get_by_label("Chains").select_option(["31337"])
    page.get_by_label("Addresses", exact=True).fill(f"{new_address(1)},first\nnot-an-address")
    page.get_by_label("erc20_transfer", exact=True).check()
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#new-addresses-error")).to_contain_text("line 2")  # checked before anything is sent

    page.get_by_label("Addresses", exact=True).fill(f"{new_address(1)},first")
    page.get_by_label("Condition").fill("event.value >")
    page.get_by_role("button", name="Create").click()
    condition = page.get_by_label("Condition")
    expect(condition).to_have_attribute("aria-invalid", "true")
    described = condition.get_attribute("aria-describedby").split()
    error = page.locator(f"#{described[0]}")
    expect(error).to_contain_text("condition does not compile")
    assert [m["name"] for m in stack.call("GET", "/monitors?limit=100").json()["items"]].count(HOSTILE) == 0

    condition.fill("")
    page.get_by_label("native_transfer", exact=True).check()
    page.get_by_role("button", name="Create").click()
    expect(page.locator("code.secret-value")).to_have_text(SECRET)
    expect(page.get_by_role("heading", level=1)).to_have_text(HOSTILE)
    page.goto(f"{page.console_url}/#/monitors")
    expect(page.get_by_role("link", name=HOSTILE)).to_be_visible()
    assert page.locator("main img, main b").count() == 0
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=HOSTILE))
    expect(row).to_contain_text("native_transfer, erc20_transfer")

    page.get_by_role("link", name=HOSTILE).click()
    page.get_by_role("button", name="Delete monitor").click()
    page.get_by_role("button", name="Delete for good").click()
    expect(page.get_by_role("heading", name="Monitors", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=HOSTILE)).to_have_count(0)


def test_a_delivery_appears_opens_as_json_and_is_replayed_and_the_charts_show_it(page, stack):
    watched = new_address(0xD0D0)
    with WebhookReceiver() as receiver:
        sign_in(page, stack)
        secret = create_in_form(page, "deposits", receiver.url, f"{watched},customer-42",
                                ["native_transfer", "erc20_transfer"])  # fmt: skip
        receipt = send_tx(stack.rpc, ANVIL_ACCOUNTS[3], watched, value=ONE_ETHER)
        (first,) = receiver.wait_for(timeout=60)
        delivery_id = first.header("webhook-id")
        link = page.get_by_role("link", name=delivery_id)
        expect(link).to_be_visible(timeout=15_000)  # the table follows new deliveries
        page.get_by_role("button", name="I have stored it").click()
        expect(page.get_by_text("shown only now")).to_have_count(0)
        wait_status(stack, monitor_id(page), delivery_id, "delivered")
        page.reload()  # the charts as they stand once the delivery is in
        expect(page.get_by_role("link", name=delivery_id)).to_be_visible()
        charts = page.get_by_role("region", name="Last 24 hours").get_by_role("img")
        expect(charts).to_have_count(3)
        expect(charts.first).to_have_accessible_name(re.compile(r"Deliveries per hour: 1 delivered and 0 failed"))
        expect(charts.nth(1)).to_have_accessible_name(re.compile(r"Delivery latency \(ms\): over 1 deliveries: p50 [\d,]+ ms"))
        shot(page, "console-monitor")
        link.click()

        body = page.locator("pre code")
        expect(body).to_contain_text(receipt["transactionHash"])
        posted = json.loads(body.inner_text())
        assert posted["id"] == delivery_id
        assert [event["tx_hash"] for event in posted["events"]] == [receipt["transactionHash"]]
        assert posted == json.loads(first.body)
        expect(page.get_by_role("cell", name="webhook-signature")).to_be_visible()
        shot(page, "console-delivery")

        page.get_by_role("button", name="Replay").click()
        again = receiver.wait_for(lambda seen: len(seen) >= 2, timeout=30)
        assert again[1].header("webhook-id") == delivery_id
        receiver.verify_all(secret)  # the secret shown was the whole one
        # The receiver has it before the deliver function records the answer: delivered once recorded.
        wait_status(stack, monitor_id(page), delivery_id, "delivered")
    monitors = page.get_by_role("link", name="Monitors")
    monitors.click()
    expect(page.get_by_role("row").filter(has=page.get_by_role("link", name="deposits"))).to_contain_text("delivered")
    shot(page, "console-monitors")


def test_failed_deliveries_are_replayed_in_bulk(page, stack):
    watched = new_address(0xFA11)
    with WebhookReceiver(status(500), status(500)) as receiver:
        monitor = stack.create_monitor(
            {"name": "failing endpoint", "chain_ids": [31337], "webhook_url": receiver.url, "confirmations": 0,
             "filters": {"kinds": ["native_transfer"], "addresses": [watched]}}
        )  # fmt: skip
        send_tx(stack.rpc, ANVIL_ACCOUNTS[4], watched, value=ONE_ETHER)
        (first, _) = receiver.wait_for(lambda seen: len(seen) >= 2, timeout=60)
        wait_status(stack, monitor["id"], first.header("webhook-id"), "failed")

        sign_in(page, stack)
        open_monitor(page, monitor["id"])
        page.get_by_label("Status", exact=True).select_option("failed")
        expect(page.get_by_role("link", name=first.header("webhook-id"))).to_be_visible()
        page.get_by_role("button", name="Replay failed").click()
        expect(page.get_by_text("Replayed 1 failed delivery")).to_be_visible()
        third = receiver.wait_for(lambda seen: len(seen) >= 3, timeout=30)[2]
        assert third.header("webhook-id") == first.header("webhook-id")
        wait_status(stack, monitor["id"], first.header("webhook-id"), "delivered")


def test_a_csv_of_100000_rows_is_imported_with_its_progress_and_a_bad_one_sends_nothing(page, stack, tmp_path):
    monitor = stack.create_monitor(
        {"name": "import", "chain_ids": [31337], "webhook_url": "http://127.0.0.1:9/hooks",
         "filters": {"kinds": ["native_transfer"], "addresses": []}}
    )  # fmt: skip
    bad = tmp_path / "bad.csv"
    bad.write_text(f"address,label\n{new_address(5)},ok\n0x123,short\n{new_address(6)}\n")
    rows = tmp_path / "addresses.csv"
    rows.write_text("address,label\n" + "".join(f"{new_address(0xA000000 + i)},customer-{i}\n" for i in range(100_000)))

    sign_in(page, stack)
    open_monitor(page, monitor["id"])
    page.get_by_label("CSV file").set_input_files(str(bad))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("line 3: not an address")).to_be_visible()
    assert stack.call("GET", f"/monitors/{monitor['id']}").json()["address_count"] == 0

    page.get_by_label("CSV file").set_input_files(str(rows))
    started = time.monotonic()
    page.get_by_role("button", name="Import").click()
    progress = page.get_by_role("progressbar", name="Import progress")
    expect(progress).to_have_attribute("aria-valuenow", "100", timeout=600_000)
    print(f"imported 100,000 addresses through the console in {time.monotonic() - started:.1f} s")
    assert progress.get_attribute("aria-valuemin") == "0" and progress.get_attribute("aria-valuemax") == "100"
    expect(page.get_by_text("100,000 new addresses")).to_be_visible()
    assert stack.call("GET", f"/monitors/{monitor['id']}").json()["address_count"] == 100_000

    # The prefix search finds one of them with its label.
    target = new_address(0xA000000 + 4242)
    page.get_by_label("Address prefix").fill(target.upper().replace("0X", "0x"))
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("row").filter(has_text=target)).to_contain_text("customer-4242", timeout=60_000)


def test_a_backfill_shows_its_progress_to_100(page, stack):
    watched = new_address(0xBAC)
    with WebhookReceiver() as receiver:
        send_tx(stack.rpc, ANVIL_ACCOUNTS[5], watched, value=ONE_ETHER)  # before the monitor: only a backfill sends it
        rpc(stack.rpc, "anvil_mine", ["0x3"])
        head = int(rpc(stack.rpc, "eth_blockNumber", []), 16)
        stack.wait_processed(31337, head)
        monitor = stack.create_monitor(
            {"name": "backfilled", "chain_ids": [31337], "webhook_url": receiver.url, "confirmations": 0,
             "filters": {"kinds": ["native_transfer"], "addresses": [watched]}}
        )  # fmt: skip
        sign_in(page, stack)
        open_monitor(page, monitor["id"])
        page.get_by_label("From block", exact=True).fill("0")
        page.get_by_label("To block", exact=True).fill(str(head))
        page.get_by_role("button", name="Start backfill").click()
        progress = page.get_by_role("progressbar", name="Backfill progress")
        expect(progress).to_have_attribute("aria-valuenow", "100", timeout=60_000)
        (delivered,) = receiver.wait_for(timeout=30)
        assert json.loads(delivered.body)["events"][0]["to"] == watched


def test_the_chains_page_shows_each_chain_and_its_lag(page, stack):
    sign_in(page, stack)
    page.get_by_role("link", name="Chains").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="31337"))
    expect(row).to_contain_text("live")
    expect(page.get_by_role("img", name=re.compile(r"Lag of each chain in blocks: chain 31337 [\d,]+ blocks behind"))).to_be_visible()
    shot(page, "console-chains")

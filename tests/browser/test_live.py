"""Live pages in a real browser, in English and in Turkish: a delivery page shows a
redelivery's result, the delivery list a new delivery and a status change, the webhook page
and the dashboard their deliveries' results, all while the admin watches, without reloading
(a mark left on ``window`` is still there) and without a Content-Security-Policy violation or
any other error in the browser's console.

The worker embedded in the live server sends, hence ``embedded_engine`` (see conftest)."""

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from werkzeug import Response

from tests.browser.conftest import row
from tests.engine_helpers import Script, deliveries_of, wait_until

pytestmark = pytest.mark.embedded_engine

# Results arrive within a few polls (2 s each while deliveries are under way).
LIVE_MS = 12_000
MARK = "window.__notReloaded"

TEXTS = {
    "en": {
        "switch": None,
        "redeliver": "Redeliver",
        "pending": "Pending",
        "failing": "Failing",
        "succeeded": "Succeeded",
        "delivery_updated": "Delivery updated: Succeeded, 2 attempts.",
        "list_updated": "The deliveries shown were updated.",
        "webhook_updated": "This webhook and its recent deliveries were updated.",
        "dashboard_updated": "The dashboard was updated.",
        "recent": "Recent deliveries",
        "attempts": "Attempts",
        "attention": "Webhooks, failing first",
        "by_status": "Deliveries in the last 24 hours by status",
        "day_total": "Deliveries in 24 hours",
    },
    "tr": {
        "switch": "Türkçe",
        "redeliver": "Yeniden teslim et",
        "pending": "Bekliyor",
        "failing": "Yeniden deneniyor",
        "succeeded": "Başarılı",
        "delivery_updated": "Teslimat güncellendi: Başarılı, 2 deneme.",
        "list_updated": "Gösterilen teslimatlar güncellendi.",
        "webhook_updated": "Bu webhook ve son teslimatları güncellendi.",
        "dashboard_updated": "Kontrol paneli güncellendi.",
        "recent": None,  # read from the catalogue below
        "attempts": None,
        "attention": None,
        "by_status": None,
        "day_total": None,
    },
}


RETRY_EVERY_2_SECONDS = ",".join(["2"] * 30)


@pytest.fixture
def config(request, config):
    """Retries every 2 s (or a test's own ``retry_schedule``), and no circuit breaker, so that
    a failing receiver keeps its delivery "Failing" until the test lets it answer 200."""
    schedule = getattr(request.function, "retry_schedule", RETRY_EVERY_2_SECONDS)
    config.update(RETRY_SCHEDULE=schedule, BREAKER_AFTER=1000)
    return config


@pytest.fixture(params=["en", "tr"])
def texts(request, app) -> dict:
    language = request.param
    found = dict(TEXTS[language])
    if language == "tr":
        from babel.support import Translations

        catalogue = Translations.load(app.root_path + "/translations", ["tr"])
        for key, english in TEXTS["en"].items():
            if found[key] is None and english:
                found[key] = catalogue.gettext(english)
    found["language"] = language
    return found


@pytest.fixture
def live_page(admin_page, texts) -> Page:
    """The admin's page in the test's language, its console watched for errors."""
    page = admin_page
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    if texts["switch"]:
        page.goto("/")
        page.get_by_role("button", name=texts["switch"], exact=True).click()
        expect(page.locator("html")).to_have_attribute("lang", "tr")
    page.console_errors = errors
    yield page
    assert [error for error in errors if "Content Security Policy" in error] == []
    assert errors == []


class Flaky(Script):
    """A receiver that answers 500 until told to answer 200 (after ``delay`` seconds)."""

    def __init__(self) -> None:
        self.status = 500
        self.delay = 0.0
        super().__init__(self.answer)

    def answer(self, _request):
        status, delay = self.status, self.delay
        if delay:
            time.sleep(delay)
        return Response('{"received": true}', status=status, mimetype="application/json")

    def recover(self, delay: float = 0.0) -> None:
        self.delay, self.status = delay, 200


@pytest.fixture
def flaky(receiver) -> Flaky:
    script = Flaky()
    receiver.expect_request("/flaky", method="POST").respond_with_handler(script)
    script.url = receiver.url_for("/flaky")
    return script


def mark(page: Page) -> Callable[[], None]:
    """Leave a mark on the page's window; the check that follows asserts it is still there,
    so the page was not reloaded or left, and no navigation happened in between."""
    navigations: list[str] = []
    page.on(
        "framenavigated", lambda frame: frame == page.main_frame and navigations.append(frame.url)
    )
    page.evaluate(f"{MARK} = true")

    def check() -> None:
        assert page.evaluate(MARK) is True
        assert navigations == []

    return check


def live_status(page: Page):
    """The page's polite status message, where an update is announced."""
    return page.locator("p[data-live][role=status]")


def failing_delivery(app, make_webhook, flaky, report_event, name: str = "Billing") -> dict:
    hook_id = make_webhook(name=name, url=flaky.url, event="payment_received")
    report_event("payment_received", {"payment_id": 7})
    wait_until(
        lambda: [d for d in deliveries_of(app, hook_id) if d["status"] == "failing"], seconds=10
    )
    [delivery] = deliveries_of(app, hook_id)
    return {"webhook_id": hook_id, **delivery}


# ---------------------------------------------------------------- a delivery


def test_a_redelivery_result_appears_on_the_delivery_page_without_reloading(
    app, live_page, texts, make_webhook, flaky, report_event
):
    delivery = failing_delivery(app, make_webhook, flaky, report_event)
    page = live_page
    page.goto(f"/deliveries/{delivery['id']}")
    details = page.locator("[data-live-region=delivery]")
    expect(details).to_contain_text(texts["failing"])
    expect(page.get_by_role("article")).to_have_count(1)

    flaky.recover(delay=1.0)  # answers 200, slowly enough to be watched in flight
    page.get_by_role("button", name=texts["redeliver"]).click()
    expect(details).to_contain_text(texts["pending"])
    not_reloaded = mark(page)

    expect(details).to_contain_text(texts["succeeded"], timeout=LIVE_MS)
    expect(page.get_by_role("article")).to_have_count(2)
    expect(page.get_by_role("article").first).to_contain_text(texts["succeeded"])
    expect(page.get_by_role("article").first).to_contain_text("HTTP 200")
    expect(live_status(page)).to_have_text(texts["delivery_updated"])
    not_reloaded()
    [stored] = deliveries_of(app, delivery["webhook_id"])
    assert stored["status"] == "succeeded" and stored["attempt_count"] == 2
    assert flaky.ids() == [delivery["msg_id"]] * 2


# One failure, then the delivery waits an hour: only the redelivery sends it again.
test_a_redelivery_result_appears_on_the_delivery_page_without_reloading.retry_schedule = "3600"


def test_a_delivery_page_left_alone_shows_its_retries_as_they_happen(
    app, live_page, texts, make_webhook, flaky, report_event
):
    delivery = failing_delivery(app, make_webhook, flaky, report_event)
    page = live_page
    page.goto(f"/deliveries/{delivery['id']}")
    not_reloaded = mark(page)
    shown = page.get_by_role("article").count()

    # At least one more attempt shown (two retries may land between two of the page's looks).
    expect(page.get_by_role("article").nth(shown)).to_be_visible(timeout=LIVE_MS)
    flaky.recover()
    expect(page.locator("[data-live-region=delivery]")).to_contain_text(
        texts["succeeded"], timeout=LIVE_MS
    )
    not_reloaded()


# ---------------------------------------------------------------- the list


def test_the_delivery_list_shows_new_deliveries_and_status_changes_without_reloading(
    app, live_page, texts, make_webhook, flaky, make_receiver, report_event
):
    failing_delivery(app, make_webhook, flaky, report_event)
    mailing = make_receiver("/mailing")
    make_webhook(name="Mailing list", url=mailing.url, event="customer_created")
    page = live_page
    page.goto("/deliveries/")
    expect(row(page, "Billing", texts["failing"])).to_be_visible()
    expect(row(page, "Mailing list")).to_have_count(0)
    not_reloaded = mark(page)

    report_event("customer_created", {"customer_id": 1})
    expect(row(page, "Mailing list", texts["succeeded"])).to_be_visible(timeout=LIVE_MS)
    flaky.recover()
    expect(row(page, "Billing", texts["succeeded"])).to_be_visible(timeout=LIVE_MS)
    expect(live_status(page)).to_have_text(texts["list_updated"])
    not_reloaded()


def test_the_delivery_list_keeps_what_the_admin_is_typing(
    app, live_page, texts, make_webhook, flaky, report_event
):
    failing_delivery(app, make_webhook, flaky, report_event)
    page = live_page
    page.goto("/deliveries/")
    not_reloaded = mark(page)
    search = page.locator("input[data-webhook-options]")
    search.fill("Bill")

    flaky.recover()
    expect(row(page, "Billing", texts["succeeded"])).to_be_visible(timeout=LIVE_MS)
    expect(search).to_have_value("Bill")
    expect(search).to_be_focused()
    not_reloaded()


# ---------------------------------------------------------------- a webhook, the dashboard


def test_the_webhook_page_shows_its_deliveries_results_without_reloading(
    app, live_page, texts, make_webhook, flaky, report_event
):
    delivery = failing_delivery(app, make_webhook, flaky, report_event)
    page = live_page
    page.goto(f"/webhooks/{delivery['webhook_id']}/edit")
    recent = page.locator("section[data-live-region=recent-deliveries]")
    expect(recent.get_by_role("heading", name=texts["recent"])).to_be_visible()
    expect(recent.get_by_role("row").filter(has_text=delivery["msg_id"])).to_contain_text(
        texts["failing"]
    )
    name_field = page.locator("#name")
    name_field.fill("Billing (typing)")
    not_reloaded = mark(page)

    flaky.recover()
    report_event("payment_received", {"payment_id": 8})
    expect(recent.get_by_role("row").filter(has_text=delivery["msg_id"])).to_contain_text(
        texts["succeeded"], timeout=LIVE_MS
    )
    expect(recent.get_by_role("row")).to_have_count(3, timeout=LIVE_MS)  # header and two
    expect(page.locator("[data-live-region=webhook-details]")).to_contain_text("HTTP 200")
    expect(live_status(page)).to_have_text(texts["webhook_updated"])
    expect(name_field).to_have_value("Billing (typing)")  # the settings form is left alone
    not_reloaded()


def test_the_dashboard_shows_new_deliveries_and_results_without_reloading(
    app, live_page, texts, make_webhook, flaky, report_event
):
    hook_id = failing_delivery(app, make_webhook, flaky, report_event)["webhook_id"]
    page = live_page
    page.goto("/")
    attention = page.locator("section[data-live-region=attention]")
    expect(attention.get_by_role("heading", name=texts["attention"])).to_be_visible()
    billing = attention.get_by_role("row").filter(has_text="Billing")
    expect(billing).to_contain_text(texts["failing"])
    by_status = page.get_by_role("list", name=texts["by_status"])
    succeeded = by_status.get_by_role("listitem").filter(has_text=texts["succeeded"])
    expect(succeeded).to_contain_text(re.compile(r"\b0\b"))
    total = page.locator("li.stat").filter(has_text=texts["day_total"])
    expect(total.locator(".stat-value")).to_have_text("1")
    not_reloaded = mark(page)

    flaky.recover()
    report_event("payment_received", {"payment_id": 8})
    expect(total.locator(".stat-value")).to_have_text("2", timeout=LIVE_MS)
    # The engine's retry of the failing one comes when its schedule says (later on a loaded
    # machine); what is tested here is that the page then shows it without a reload.
    wait_until(
        lambda: [d["status"] for d in deliveries_of(app, hook_id)] == ["succeeded"] * 2,
        seconds=30,
    )
    expect(succeeded).to_contain_text(re.compile(r"\b2\b"), timeout=LIVE_MS)
    expect(billing).not_to_contain_text(texts["failing"])
    expect(live_status(page)).to_have_text(texts["dashboard_updated"])
    not_reloaded()


def test_a_part_holding_the_focus_waits_until_the_focus_leaves_it(
    app, live_page, texts, make_webhook, flaky, report_event
):
    delivery = failing_delivery(app, make_webhook, flaky, report_event)
    page = live_page
    page.goto(f"/deliveries/{delivery['id']}")
    attempts = page.get_by_role("article")
    shown = attempts.count()
    headers = page.locator("[data-live-region=attempts] summary").first
    headers.focus()
    not_reloaded = mark(page)

    # Retries go on; the details beside the attempts follow them, the attempts wait.
    wait_until(
        lambda: deliveries_of(app, delivery["webhook_id"])[0]["attempt_count"] >= shown + 2,
        seconds=10,
    )
    details = page.locator("[data-live-region=delivery]")
    count = details.locator("dt", has_text=texts["attempts"]).locator(
        "xpath=following-sibling::dd[1]"
    )
    expect(count).not_to_have_text(str(shown), timeout=LIVE_MS)
    expect(count).to_have_text(re.compile(r"^\s*\d+\s*$"))
    expect(attempts).to_have_count(shown)
    expect(headers).to_be_focused()

    page.get_by_role("heading", level=1).click()  # the focus leaves the attempts
    expect(attempts).not_to_have_count(shown, timeout=LIVE_MS)
    not_reloaded()

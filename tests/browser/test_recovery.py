"""Recovering from a receiver's outage in a real browser, in English and in Turkish: Retry now on
a delivery waiting for its next retry, and "Retry all failed since" sending both the deliveries
given up and those still waiting, once the receiver answers again.

The receiver fails first, then succeeds; retries wait an hour, so only the admin's action can
send them in time. The worker embedded in the live server sends, hence ``embedded_engine``.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import reload_until_visible, row
from tests.browser.test_language import choose_language
from tests.engine_helpers import Script, deliveries_of, wait_until

pytestmark = pytest.mark.embedded_engine

PAYMENT = {"payment_id": 7, "payment_total": "$29.00", "customer_name": "Ada Lovelace"}
# What the pages say, in each language (webhooks/translations/tr).
WORDING = {
    "English": {
        "retry_now": "Retry now",
        "failing": "Failing",
        "failed": "Failed",
        "succeeded": "Succeeded",
        "retry_all": "Retry all failed since this time",
        "retrying": "Retrying now: message {msg_id} is sent to",
        "requeued": "1 failed delivery of “Billing” since",
        "retried": "1 delivery of “Billing” that was waiting for its next retry is retried now.",
    },
    "Türkçe": {
        "retry_now": "Şimdi yeniden dene",
        "failing": "Yeniden deneniyor",
        "failed": "Başarısız",
        "succeeded": "Başarılı",
        "retry_all": "Bu zamandan beri başarısız olanların tümünü yeniden dene",
        "retrying": "Şimdi yeniden deneniyor: {msg_id} mesajı",
        "requeued": "başarısız olan 1 teslimatı yeniden teslim için kuyruğa alındı.",
        "retried": "“Billing” webhook'unun sonraki denemesini bekleyen 1 teslimatı şimdi "
        "yeniden deneniyor.",
    },
}


@pytest.fixture
def config(config):
    # A failed attempt is retried an hour later, once; the next failure gives up.
    config.update(RETRY_SCHEDULE="3600", RETRY_JITTER=0)
    return config


@pytest.fixture(params=list(WORDING))
def language(request, admin_page) -> str:
    """The admin's page in this language, chosen with the switch in the header."""
    if request.param != "English":
        admin_page.goto("/webhooks/")
        choose_language(admin_page, request.param)
        expect(admin_page.locator("html")).to_have_attribute("lang", "tr")
    return request.param


def flaky_receiver(receiver, *answers: int) -> Script:
    """The receiver at /flaky answering ``answers`` in turn (the last repeats)."""
    script = Script(*answers)
    receiver.expect_request("/flaky", method="POST").respond_with_handler(script)
    script.url = receiver.url_for("/flaky")
    return script


def statuses(app, webhook_id: int) -> list[str]:
    return [delivery["status"] for delivery in deliveries_of(app, webhook_id)]


def status_badge(page: Page, status: str):
    return page.locator(f".badge.status-{status}")


def test_retry_now_sends_a_failing_delivery_at_once_and_it_succeeds(
    app, admin_page, language, receiver, make_webhook, report_event
):
    words = WORDING[language]
    script = flaky_receiver(receiver, 500, 200)
    hook_id = make_webhook(name="Billing", url=script.url, event="payment_received")
    report_event("payment_received", PAYMENT)
    wait_until(lambda: statuses(app, hook_id) == ["failing"])
    [waiting] = deliveries_of(app, hook_id)

    page = admin_page
    page.goto(f"/deliveries/{waiting['id']}")
    expect(status_badge(page, "failing")).to_contain_text(words["failing"])
    page.get_by_role("button", name=words["retry_now"], exact=True).click()

    expect(page.get_by_text(words["retrying"].format(msg_id=waiting["msg_id"]))).to_be_visible()
    reload_until_visible(page, status_badge(page, "succeeded"))
    expect(status_badge(page, "succeeded")).to_contain_text(words["succeeded"])
    expect(page.get_by_role("article")).to_have_count(2)
    expect(page.get_by_role("button", name=words["retry_now"], exact=True)).to_have_count(0)
    [done] = deliveries_of(app, hook_id)
    assert done["status"] == "succeeded" and done["attempt_count"] == 2
    assert script.ids() == [waiting["msg_id"]] * 2  # the same webhook-id: receivers dedupe


def test_retry_all_failed_since_sends_the_failed_and_the_failing_delivery(
    app, admin_page, language, receiver, make_webhook, report_event
):
    words = WORDING[language]
    script = flaky_receiver(receiver, 500, 500, 500, 200)
    hook_id = make_webhook(name="Billing", url=script.url, event="payment_received")
    page = admin_page

    # The first delivery fails, and so does its retry, pressed in its row of the list: failed.
    report_event("payment_received", PAYMENT)
    wait_until(lambda: statuses(app, hook_id) == ["failing"])
    page.goto(f"/deliveries/?webhook={hook_id}")
    row(page, words["failing"]).get_by_role("button", name=words["retry_now"]).click()
    expect(page).to_have_url(re.compile(rf"/deliveries/\?webhook={hook_id}$"))
    wait_until(lambda: statuses(app, hook_id) == ["failed"])
    # The second fails once and waits an hour for its retry.
    report_event("payment_received", {**PAYMENT, "payment_id": 8})
    wait_until(lambda: statuses(app, hook_id) == ["failed", "failing"])

    page.reload()
    expect(status_badge(page, "failed")).to_contain_text(words["failed"])
    expect(status_badge(page, "failing")).to_contain_text(words["failing"])
    page.get_by_role("button", name=words["retry_all"]).click()

    expect(page.get_by_text(words["requeued"])).to_be_visible()
    expect(page.get_by_text(words["retried"])).to_be_visible()
    reload_until_visible(page, status_badge(page, "succeeded").nth(1))
    expect(status_badge(page, "succeeded")).to_have_count(2)
    expect(status_badge(page, "failing").or_(status_badge(page, "failed"))).to_have_count(0)
    after = deliveries_of(app, hook_id)
    assert [delivery["status"] for delivery in after] == ["succeeded", "succeeded"]
    assert sorted(script.ids()[-2:]) == sorted(delivery["msg_id"] for delivery in after)

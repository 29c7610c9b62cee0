"""Delivery results in the reader's language in a real browser: Send Test Event to a receiver
on 127.0.0.1 that answers 500, then read the result on the webhook list and the delivery page."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, row
from tests.browser.test_language import choose_language
from tests.engine_helpers import deliveries_of

WORDS = {
    "en": {
        "language": "English",
        "send": "Send Test Event",
        "failed": re.compile(r"Test event failed: HTTP 500 Internal Server Error in \d+ ms"),
        "result": re.compile(r"HTTP 500 Internal Server Error in \d+ ms"),
        "badge": re.compile(r"Test: HTTP 500 Internal Server Error in \d+ ms"),
    },
    "tr": {
        "language": "Türkçe",
        "send": "Test Olayı Gönder",
        "failed": re.compile(
            r"Test olayı başarısız oldu: HTTP 500 Internal Server Error, \d+ ms içinde"
        ),
        "result": re.compile(r"HTTP 500 Internal Server Error, \d+ ms içinde"),
        "badge": re.compile(r"Test: HTTP 500 Internal Server Error, \d+ ms içinde"),
    },
}


@pytest.mark.parametrize("language", ["en", "tr"])
def test_failed_test_event_reads_in_the_pages_language_on_the_list_and_delivery_page(
    app, open_page, make_webhook, make_receiver, language
):
    words = WORDS[language]
    receiver = make_receiver(status=500)
    hook_id = make_webhook(name="Billing", url=receiver.url, event="payment_received")
    page = open_page()
    log_in(page)
    if language != "en":
        choose_language(page, words["language"])
    page.goto("/webhooks/")

    row(page, "Billing").get_by_role("button", name=words["send"]).click()

    expect(page.get_by_text(words["failed"])).to_be_visible()
    page.goto("/webhooks/")
    expect(row(page, "Billing").locator(".badge.result")).to_have_text(words["badge"])

    [delivery] = deliveries_of(app, hook_id)
    page.goto(f"/deliveries/{delivery['id']}")
    expect(page.get_by_text(words["result"]).first).to_be_visible()
    if language == "tr":
        expect(page.get_by_text(re.compile(r"Internal Server Error in \d+ ms"))).to_have_count(0)

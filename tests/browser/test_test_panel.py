"""The test panel of a webhook's page in a real browser, in English and in Turkish: the data as
edited reaches the receiver, the page says "Sending…" and then the result without reloading,
bad JSON gets its message, and the catalogue's "Add a webhook for this event" starts the form
with that event."""

import json
import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in
from tests.browser.test_language import choose_language

WORDS = {
    "en": {
        "language": "English",
        "panel": "Test with your own data",
        "data": "Event data (JSON)",
        "send": "Send test",
        "sending": "Sending…",
        "delivered": "Test event delivered to",
        "failed": "Test event failed: HTTP 500",
        "invalid": "The event data is not valid JSON",
        "not_object": "The event data must be a JSON object",
        "event_name": "Site Published",
        "add_for": "Add a webhook for this event",
        "event": "Event",
    },
    "tr": {
        "language": "Türkçe",
        "panel": "Kendi verinizle test edin",
        "data": "Olay verisi (JSON)",
        "send": "Testi gönder",
        "sending": "Gönderiliyor…",
        "delivered": "adresine teslim edildi",
        "failed": "Test olayı başarısız oldu: HTTP 500",
        "invalid": "Olay verisi geçerli bir JSON değil",
        "not_object": "Olay verisi bir JSON nesnesi olmalı",
        "event_name": "Site Yayınlandı",
        "add_for": "Bu olay için webhook ekle",
        "event": "Olay",
    },
}


def open_in(open_page, language: str) -> tuple[Page, list[str]]:
    """A logged-in page in ``language``, with the browser's errors noted (a script the CSP
    refused, an exception in a script)."""
    page = open_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page)
    if language != "en":
        choose_language(page, WORDS[language]["language"])
        expect(page.locator("html")).to_have_attribute("lang", language)
    return page, errors


def panel(page: Page, words: dict):
    return page.get_by_role("region", name=words["panel"])


@pytest.mark.parametrize("language", ["en", "tr"])
def test_send_shows_sending_then_the_result_and_the_edited_data_reaches_the_receiver(
    open_page, make_webhook, make_receiver, language
):
    words = WORDS[language]
    receiver = make_receiver(delay=1.5)
    webhook_id = make_webhook(name="Billing", url=receiver.url, event="payment_received")
    page, errors = open_in(open_page, language)
    page.goto(f"/webhooks/{webhook_id}/edit")
    section = panel(page, words)
    data = section.get_by_label(words["data"], exact=True)
    expect(data).to_have_value(re.compile(r'"payment_id": 105'))

    edited = {"payment_id": 4242, "payment_total": "$42.00", "note": "düzenlendi"}
    data.fill(json.dumps(edited, indent=2))
    url_before = page.url
    section.get_by_role("button", name=words["send"]).click()

    result = section.get_by_role("status")
    expect(result).to_contain_text(words["sending"])
    expect(section.get_by_role("button", name=words["sending"])).to_be_disabled()
    expect(result).to_contain_text(words["delivered"], timeout=10_000)
    expect(result).to_contain_text("HTTP 200 OK")
    expect(result).to_contain_text('{"received": true}')
    expect(section.get_by_role("button", name=words["send"])).to_be_enabled()
    assert page.url == url_before  # the page did not reload

    [received] = receiver.seen
    assert json.loads(received["body"])["data"] == edited
    assert errors == []


@pytest.mark.parametrize("language", ["en", "tr"])
def test_a_receiver_error_is_shown_as_a_failure(open_page, make_webhook, make_receiver, language):
    words = WORDS[language]
    receiver = make_receiver(status=500)
    webhook_id = make_webhook(url=receiver.url)
    page, errors = open_in(open_page, language)
    page.goto(f"/webhooks/{webhook_id}/edit")
    section = panel(page, words)
    section.get_by_role("button", name=words["send"]).click()
    expect(section.get_by_role("status")).to_contain_text(words["failed"], timeout=10_000)
    assert receiver.count() == 1
    assert errors == []


@pytest.mark.parametrize("language", ["en", "tr"])
def test_invalid_json_gets_its_message_and_nothing_is_sent(
    open_page, make_webhook, hook_receiver, language
):
    words = WORDS[language]
    webhook_id = make_webhook(url=hook_receiver.url)
    page, errors = open_in(open_page, language)
    page.goto(f"/webhooks/{webhook_id}/edit")
    section = panel(page, words)
    data = section.get_by_label(words["data"], exact=True)

    data.fill('{"payment_id": 7,')
    section.get_by_role("button", name=words["send"]).click()
    expect(section.get_by_text(words["invalid"])).to_be_visible()
    expect(data).to_have_attribute("aria-invalid", "true")
    expect(data).to_be_focused()
    expect(data).to_have_accessible_description(re.compile(words["invalid"]))

    data.fill("[1, 2]")
    section.get_by_role("button", name=words["send"]).click()
    expect(section.get_by_text(words["not_object"])).to_be_visible()
    expect(section.get_by_text(words["invalid"])).to_have_count(0)
    assert hook_receiver.count() == 0
    # The refused sends' 422 answers are logged by the browser; nothing else may be.
    assert [error for error in errors if "422" not in error] == []


@pytest.mark.parametrize("language", ["en", "tr"])
def test_the_catalogue_link_starts_a_webhook_for_that_event(open_page, language):
    words = WORDS[language]
    page, errors = open_in(open_page, language)
    page.goto("/events/")
    event = page.locator("details#event-site_published")
    event.get_by_text(words["event_name"], exact=True).click()
    event.get_by_role("link", name=words["add_for"]).click()

    expect(page).to_have_url(re.compile(r"/webhooks/new\?event=site_published$"))
    expect(page.get_by_label(words["event"], exact=True)).to_have_value("site_published")
    expect(page.locator("#payload-preview")).to_contain_text('"type": "site_published"')
    assert errors == []


@pytest.mark.parametrize("language", ["en", "tr"])
def test_switching_the_event_loads_its_sample_and_sends_that_event(
    open_page, make_webhook, hook_receiver, monkeypatch, language
):
    """With a webhook that receives two events, the panel switches samples and sends the one
    chosen."""
    words = WORDS[language]
    webhook_id = make_webhook(url=hook_receiver.url, events=["payment_received", "site_published"])
    page, errors = open_in(open_page, language)
    page.goto(f"/webhooks/{webhook_id}/edit")
    section = panel(page, words)
    data = section.get_by_label(words["data"], exact=True)
    expect(data).to_have_value(re.compile(r'"payment_id"'))

    section.get_by_label(words["event"], exact=True).select_option("site_published")
    expect(data).to_have_value(re.compile(r'"site_id"'))
    expect(data).not_to_have_value(re.compile(r'"payment_id"'))
    section.get_by_role("button", name=words["send"]).click()
    expect(section.get_by_role("status")).to_contain_text(words["delivered"], timeout=10_000)

    [received] = hook_receiver.seen
    assert json.loads(received["body"])["type"] == "site_published"
    assert errors == []


@pytest.mark.parametrize("language", ["en", "tr"])
def test_without_javascript_the_form_posts_and_the_page_shows_the_result(
    open_page, make_webhook, make_receiver, language
):
    words = WORDS[language]
    receiver = make_receiver(delay=0.5)
    webhook_id = make_webhook(url=receiver.url)
    page = open_page(java_script_enabled=False)
    log_in(page)
    if language != "en":
        page.get_by_role("button", name=words["language"], exact=True).click()
        expect(page.locator("html")).to_have_attribute("lang", language)
    page.goto(f"/webhooks/{webhook_id}/edit")
    section = panel(page, words)
    section.get_by_label(words["data"], exact=True).fill('{"no_script": true}')
    section.get_by_role("button", name=words["send"]).click()

    expect(page).to_have_url(re.compile(rf"/webhooks/{webhook_id}/edit\?test_send=\d+#test-panel$"))
    # "Sending…" until the page looks again (every 2 s), then the result.
    expect(panel(page, words).get_by_role("status")).to_contain_text(
        words["delivered"], timeout=10_000
    )
    [received] = receiver.seen
    assert json.loads(received["body"])["data"] == {"no_script": True}

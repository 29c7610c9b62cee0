"""The payload check in a real browser, in English and in Turkish: set an event type to Reject
on the catalogue page (the API then refuses a payload that does not match), and find a warned
event's problems on its delivery's page and on its own."""

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import log_in, reload_until_visible
from tests.browser.test_language import choose_language
from tests.engine_helpers import api_token, bearer
from webhooks.catalogue import get_event
from webhooks.extensions import db
from webhooks.models import EventTypeSetting

SAMPLE = get_event("payment_received").sample_data()
BAD = {k: v for k, v in SAMPLE.items() if k != "customer_user_email"} | {"payment_total": 29}

WORDS = {
    "en": {
        "language": "English",
        "check": "Payload check",
        "reject": "Reject: refuse",
        "save": "Save",
        "set": "Payload check of “Payment Received” set to “Reject: refuse”.",
        "mismatch": "The payload does not match its schema",
        "see": "See the problems on the event's page",
    },
    "tr": {
        "language": "Türkçe",
        "check": "Yük denetimi",
        "reject": "Reddet: geri çevir",
        "save": "Kaydet",
        "set": "“Ödeme Alındı” olayının yük denetimi “Reddet: geri çevir” olarak ayarlandı.",
        "mismatch": "Yük, şemasına uymuyor",
        "see": "Sorunları olayın sayfasında görün",
    },
}


@pytest.mark.parametrize("language", ["en", "tr"])
def test_set_reject_on_the_catalogue_and_the_api_refuses_a_mismatch(app, site, open_page, language):
    words = WORDS[language]
    page = open_page()
    log_in(page)
    if language != "en":
        choose_language(page, words["language"])
    page.goto("/events/")
    event = page.locator("#event-payment_received")
    event.locator("summary").click()
    event.get_by_label(words["check"], exact=True).select_option(label=words["reject"])
    event.get_by_role("button", name=words["save"], exact=True).click()

    expect(page.get_by_text(words["set"])).to_be_visible()
    expect(page.locator("#event-payment_received .badge.schema-mode")).to_have_text(words["reject"])
    with app.app_context():
        assert db.session.get(EventTypeSetting, "payment_received").schema_mode == "reject"
    refused = requests.post(
        f"{site}/api/v1/events",
        json={"type": "payment_received", "data": BAD},
        headers=bearer(api_token(app)),
        timeout=10,
    )
    assert refused.status_code == 422
    assert "data.payment_total" in refused.json()["error"]["fields"]


@pytest.mark.embedded_engine
@pytest.mark.parametrize("language", ["en", "tr"])
def test_a_warned_event_is_flagged_on_its_delivery_and_its_own_page(
    app, open_page, make_webhook, hook_receiver, report_event, language
):
    words = WORDS[language]
    make_webhook(name="Billing", url=hook_receiver.url)
    uid = report_event("payment_received", BAD)["id"]
    page = open_page()
    log_in(page)
    if language != "en":
        choose_language(page, words["language"])

    page.goto(f"/events/{uid}")
    expect(page.get_by_role("heading", name=words["mismatch"])).to_be_visible()
    expect(page.get_by_role("cell", name="data.payment_total", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="data.customer_user_email", exact=True)).to_be_visible()
    delivery = page.locator("table.event-deliveries a").first
    reload_until_visible(page, delivery)
    delivery.click()

    warning = page.locator("section.schema-warning")
    expect(warning.get_by_role("heading", name=words["mismatch"])).to_be_visible()
    warning.get_by_role("link", name=words["see"]).click()
    expect(page).to_have_url(re.compile(f"/events/{uid}$"))
    expect(page.get_by_role("heading", name=words["mismatch"])).to_be_visible()

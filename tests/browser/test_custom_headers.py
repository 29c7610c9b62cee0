"""Custom headers in a real browser, in English and in Turkish: add one with "Add another
header", see its value masked once saved, and find it on the test event the receiver gets."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import log_in
from tests.browser.test_language import choose_language
from webhooks import custom_headers
from webhooks.extensions import db
from webhooks.models import Webhook

SECRET = "Bearer crm-token-4f9c2a"

WORDS = {
    "en": {
        "language": "English",
        "add": "Add New Webhook",
        "name": "Name",
        "event": "Event",
        "headers": "Custom headers",
        "another": "Add another header",
        "header_name": "Header name",
        "header_value": "Header value",
        "saved": "Saved (hidden); leave empty to keep",
        "added": "Webhook “CRM” added.",
        "send": "Send Test Event",
        "delivered": "Test event delivered to",
        "reserved": "The header “Host” is set by the service",
    },
    "tr": {
        "language": "Türkçe",
        "add": "Yeni Webhook Ekle",
        "name": "Ad",
        "event": "Olay",
        "headers": "Özel başlıklar",
        "another": "Başka bir başlık ekle",
        "header_name": "Başlık adı",
        "header_value": "Başlık değeri",
        "saved": "Kaydedildi (gizli); korumak için boş bırakın",
        "added": "“CRM” webhook'u eklendi.",
        "send": "Test Olayı Gönder",
        "delivered": "adresine teslim edildi",
        "reserved": "“Host” başlığını hizmet her istekte kendisi koyar",
    },
}


def stored(app) -> dict[str, str]:
    with app.app_context():
        webhook = db.session.scalars(select(Webhook)).one()
        return custom_headers.load(webhook.custom_headers)


@pytest.mark.parametrize("language", ["en", "tr"])
def test_add_headers_see_them_masked_and_sent_with_the_test_event(
    app, open_page, hook_receiver, language
):
    words = WORDS[language]
    page = open_page()
    log_in(page)
    if language != "en":
        choose_language(page, words["language"])
    page.goto("/webhooks/new")
    page.get_by_label(words["name"], exact=True).fill("CRM")
    page.get_by_label("URL", exact=True).fill(hook_receiver.url)
    page.get_by_text(words["headers"], exact=True).click()
    names = page.get_by_label(words["header_name"], exact=True)
    values = page.get_by_label(words["header_value"], exact=True)
    expect(names).to_have_count(2)

    names.nth(0).fill("Host")
    values.nth(0).fill("evil.example")
    page.get_by_role("button", name=words["add"]).click()
    expect(page.get_by_text(words["reserved"])).to_be_visible()

    names.nth(0).fill("Authorization")
    values.nth(0).fill(SECRET)
    names.nth(1).fill("X-Tenant")
    values.nth(1).fill("acme")
    page.get_by_role("button", name=words["another"]).click()
    expect(names).to_have_count(3)
    expect(names.nth(2)).to_be_focused()
    names.nth(2).fill("X-Region")
    values.nth(2).fill("eu")
    page.get_by_role("button", name=words["add"]).click()

    expect(page.get_by_text(words["added"])).to_be_visible()
    assert stored(app) == {"Authorization": SECRET, "X-Tenant": "acme", "X-Region": "eu"}
    expect(page.locator("code.custom-header").first).to_have_text("Authorization: ••••••••")
    assert SECRET not in page.content()
    expect(page.get_by_placeholder(words["saved"])).to_have_count(3)

    page.get_by_role("button", name=words["send"]).first.click()
    expect(page.locator(".flash-success")).to_contain_text(words["delivered"])
    received = hook_receiver.seen[-1]["headers"]
    assert received["Authorization"] == SECRET
    assert (received["X-Tenant"], received["X-Region"]) == ("acme", "eu")
    assert SECRET not in page.content()

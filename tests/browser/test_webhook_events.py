"""Several events per webhook, or all events, in a real browser, in English and in Turkish:
one event is still one pick of the Event select; more are ticked under "Receive more events";
"All events" is the select's last choice; the list shows them and filters by event."""

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser.conftest import log_in, row
from tests.browser.test_language import choose_language
from webhooks.extensions import db
from webhooks.models import Webhook

WORDS = {
    "en": {
        "language": "English",
        "add": "Add New Webhook",
        "name": "Name",
        "event": "Event",
        "more": "Receive more events",
        "all": "All events (including future ones)",
        "all_short": "All events",
        "payment": "Payment Received",
        "invoice": "Invoice Sent",
        "added": "added.",
        "filter": "Show webhooks that receive the event",
        "search": "Search",
    },
    "tr": {
        "language": "Türkçe",
        "add": "Yeni Webhook Ekle",
        "name": "Ad",
        "event": "Olay",
        "more": "Başka olaylar da al",
        "all": "Tüm olaylar (ileride eklenecekler dahil)",
        "all_short": "Tüm olaylar",
        "payment": "Ödeme Alındı",
        "invoice": "Fatura Gönderildi",
        "added": "eklendi.",
        "filter": "Şu olayı alan webhook'ları göster",
        "search": "Ara",
    },
}


def stored(app) -> dict[str, tuple[bool, list[str]]]:
    with app.app_context():
        return {
            hook.name: (hook.all_events, hook.events)
            for hook in db.session.scalars(select(Webhook).order_by(Webhook.id))
        }


def start_webhook(page: Page, words: dict, name: str) -> None:
    page.goto("/webhooks/new")
    page.get_by_label(words["name"], exact=True).fill(name)
    page.get_by_label("URL", exact=True).fill(f"https://{name.lower()}.example.com/hook")


def add(page: Page, words: dict) -> None:
    page.get_by_role("button", name=words["add"]).click()
    expect(page.locator(".flash-success")).to_contain_text(words["added"])


@pytest.mark.parametrize("language", ["en", "tr"])
def test_add_webhooks_of_one_several_and_all_events_and_find_them_in_the_list(
    app, open_page, language
):
    words = WORDS[language]
    page = open_page()
    log_in(page)
    if language != "en":
        choose_language(page, words["language"])

    # One event: the select, as ever; the ticks for more stay folded away.
    start_webhook(page, words, "Payments")
    more = page.get_by_text(words["more"], exact=True)
    expect(more).to_be_visible()
    expect(page.get_by_role("checkbox", name=words["invoice"])).to_be_hidden()
    page.get_by_label(words["event"], exact=True).select_option(label=words["payment"])
    add(page, words)

    # Two events: the select's, and one ticked.
    start_webhook(page, words, "CRM")
    page.get_by_label(words["event"], exact=True).select_option(label=words["payment"])
    more.click()
    page.get_by_role("checkbox", name=words["invoice"]).check()
    add(page, words)
    expect(page.get_by_role("checkbox", name=words["invoice"])).to_be_checked()

    # All events: the ticks are hidden, they would change nothing.
    start_webhook(page, words, "Everything")
    page.get_by_label(words["event"], exact=True).select_option(label=words["all"])
    expect(more).to_be_hidden()
    add(page, words)

    assert stored(app) == {
        "Payments": (False, ["payment_received"]),
        "CRM": (False, ["payment_received", "invoice_sent"]),
        "Everything": (True, []),
    }

    page.goto("/webhooks/")
    expect(row(page, "CRM", f"{words['payment']}, {words['invoice']}")).to_have_count(1)
    expect(row(page, "Everything", words["all_short"])).to_have_count(1)
    expect(row(page, "Payments", words["payment"])).to_have_count(1)

    page.get_by_label(words["filter"], exact=True).select_option(label=words["invoice"])
    page.get_by_role("button", name=words["search"], exact=True).click()
    expect(row(page, "CRM")).to_have_count(1)
    expect(row(page, "Everything")).to_have_count(1)
    expect(row(page, "Payments")).to_have_count(0)

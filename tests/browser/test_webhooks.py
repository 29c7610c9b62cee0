"""The webhook screens in a real browser: adding one (with a mistake first), the payload preview
and its copy button, deactivating and deleting, and the list on a phone."""

import json
import re

from playwright.sync_api import Locator, expect
from sqlalchemy import select

from tests.browser.conftest import PHONE, log_in, nav_link, row
from webhooks.extensions import db
from webhooks.models import Webhook

ZAPIER_URL = "https://hooks.zapier.com/hooks/catch/123456/abcdef/"


def webhooks_in(app) -> list[dict]:
    with app.app_context():
        return [
            {"name": hook.name, "url": hook.url, "event": hook.event, "active": hook.active}
            for hook in db.session.scalars(select(Webhook).order_by(Webhook.id))
        ]


def assert_next_to(message: Locator, field: Locator, gap: int = 100) -> None:
    """The message is shown just below or beside the field, where the eye looks for it."""
    shown, box = message.bounding_box(), field.bounding_box()
    assert shown and box, "the message or the field is not on screen"
    below = 0 <= shown["y"] - (box["y"] + box["height"]) <= gap
    beside = abs(shown["y"] - box["y"]) <= box["height"] and shown["x"] >= box["x"] + box["width"]
    overlaps = shown["x"] < box["x"] + box["width"] and box["x"] < shown["x"] + shown["width"]
    assert (below and overlaps) or beside, f"message at {shown}, field at {box}"


def test_add_webhook_shows_the_url_error_next_to_the_field_then_adds_it(
    app, admin_page, make_webhook, screenshot
):
    make_webhook(name="Billing", url="https://billing.example.com/hooks", event="payment_received")
    make_webhook(name="Mailing list", url="https://lists.example.com/in", event="customer_created")
    page = admin_page
    page.goto("/webhooks/")
    page.get_by_role("link", name="Add New Webhook").first.click()
    expect(page.get_by_role("heading", name="Add New Webhook")).to_be_visible()

    page.get_by_label("Name", exact=True).fill("Zapier Integration")
    page.get_by_label("URL", exact=True).fill("ftp://hooks.zapier.com/catch")
    page.get_by_label("Event", exact=True).select_option(label="Payment Received")
    page.get_by_role("button", name="Add New Webhook").click()

    url_field = page.get_by_label("URL", exact=True)
    message = page.get_by_text("The URL must start with http:// or https://.")
    expect(message).to_be_visible()
    expect(url_field).to_have_attribute("aria-invalid", "true")
    expect(url_field).to_have_accessible_description(re.compile(r"must start with http://"))
    assert_next_to(message, url_field)
    expect(page.get_by_label("Name", exact=True)).to_have_value("Zapier Integration")
    assert [hook["name"] for hook in webhooks_in(app)] == ["Billing", "Mailing list"]

    url_field.fill(ZAPIER_URL)
    page.get_by_role("button", name="Add New Webhook").click()
    expect(page.get_by_text("Webhook “Zapier Integration” added.")).to_be_visible()

    nav_link(page, "Webhooks").click()
    added = row(page, "Zapier Integration")
    expect(added).to_contain_text("Payment Received")
    expect(added).to_contain_text("hooks.zapier.com")
    expect(added).to_contain_text(re.compile(r"\bActive\b"))
    assert webhooks_in(app)[-1] == {
        "name": "Zapier Integration",
        "url": ZAPIER_URL,
        "event": "payment_received",
        "active": True,
    }
    screenshot(page, "webhook-list")


def test_payload_preview_follows_the_event_select_and_copies_to_the_clipboard(
    open_page, screenshot
):
    page = open_page(permissions=["clipboard-read", "clipboard-write"])
    log_in(page)
    page.goto("/webhooks/new")
    payment = page.get_by_text('"type": "payment_received"')
    published = page.get_by_text('"type": "site_published"')
    expect(payment).to_be_visible()

    page.get_by_label("Event", exact=True).select_option(label="Site Published")

    expect(published).to_be_visible()
    expect(payment).to_have_count(0)
    page.get_by_label("Name", exact=True).fill("Site directory")
    page.get_by_label("URL", exact=True).fill("https://directory.example.com/hooks/sites")
    screenshot(page, "webhook-form")

    shown = json.loads(page.get_by_text(re.compile(r'^\{\s*"type": "site_published"')).inner_text())
    page.get_by_role("button", name=re.compile(r"^Copy")).click()
    expect(page.get_by_role("button", name=re.compile(r"^Copied"))).to_be_visible()
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied == shown
    assert copied["type"] == "site_published"
    assert set(copied) == {"type", "timestamp", "data"}


def test_deactivate_a_webhook_then_delete_it_after_confirming(app, admin_page, make_webhook):
    make_webhook(name="Old CRM", url="https://crm.example.com/hooks")
    make_webhook(name="Billing", url="https://billing.example.com/hooks")
    page = admin_page
    page.goto("/webhooks/")
    expect(row(page, "Old CRM")).to_contain_text(re.compile(r"\bActive\b"))

    row(page, "Old CRM").get_by_role("link", name="Edit").click()
    page.get_by_label("Active", exact=True).uncheck()
    page.get_by_role("button", name="Save Changes").click()
    expect(page.get_by_text("Webhook “Old CRM” saved.")).to_be_visible()
    nav_link(page, "Webhooks").click()
    expect(row(page, "Old CRM")).to_contain_text(re.compile(r"\bInactive\b"))
    assert {hook["name"]: hook["active"] for hook in webhooks_in(app)} == {
        "Old CRM": False,
        "Billing": True,
    }

    row(page, "Old CRM").get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name=re.compile(r"Delete 1 webhook\?"))).to_be_visible()
    expect(page.get_by_text("This cannot be undone.", exact=False)).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    assert len(webhooks_in(app)) == 2

    page.get_by_role("link", name=re.compile("Delete")).click()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Webhook “Old CRM” deleted.")).to_be_visible()
    expect(row(page, "Old CRM")).to_have_count(0)
    expect(row(page, "Billing")).to_have_count(1)
    assert [hook["name"] for hook in webhooks_in(app)] == ["Billing"]


def test_webhook_list_fits_a_phone_screen(open_page, make_webhook, screenshot):
    make_webhook(name="Zapier Integration", url=ZAPIER_URL)
    make_webhook(name="Billing", url="https://billing.example.com/hooks", active=False)
    page = open_page(**PHONE, is_mobile=True, has_touch=True)
    log_in(page)
    page.goto("/webhooks/")

    expect(page.get_by_role("link", name="Add New Webhook").first).to_be_in_viewport()
    expect(page.get_by_role("link", name="Zapier Integration")).to_be_visible()
    expect(page.get_by_role("link", name="Billing")).to_be_visible()
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= PHONE["width"], f"the page scrolls sideways: {page_width} px wide"
    screenshot(page, "webhook-list-phone")

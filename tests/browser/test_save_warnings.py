"""The warning after saving a webhook that duplicates another, in a real browser: it is shown
as a warning, and its link opens the other webhook."""

import re

from playwright.sync_api import expect

HOOK = "http://127.0.0.1:8080/hook"


def test_a_duplicate_webhook_is_added_with_a_warning_that_links_to_the_other(
    admin_page, make_webhook
):
    billing = make_webhook(name="Billing", url=HOOK, event="payment_received")
    page = admin_page
    page.goto("/webhooks/new")
    page.get_by_label("Name", exact=True).fill("Billing copy")
    page.get_by_label("URL", exact=True).fill("HTTP://127.0.0.1:8080/hook")
    page.get_by_label("Event", exact=True).select_option(label="Payment Received")
    page.get_by_role("button", name="Add New Webhook").click()

    expect(page.get_by_text("Webhook “Billing copy” added.")).to_be_visible()
    warning = page.locator(".flash-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("Warning:")
    expect(warning).to_contain_text("1 other webhook already sends this event to the same URL")

    warning.get_by_role("link", name="“Billing”").click()
    expect(page).to_have_url(re.compile(rf"/webhooks/{billing}/edit$"))
    expect(page.get_by_label("Name", exact=True)).to_have_value("Billing")

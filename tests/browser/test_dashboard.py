"""The dashboard at / in a real browser: how many webhooks and deliveries, and the chart.

Events are reported through the API and sent by the worker embedded in the live server, hence
``embedded_engine`` (see conftest)."""

import re

import pytest
from playwright.sync_api import expect

from tests.engine_helpers import stored, wait_until

pytestmark = pytest.mark.embedded_engine


def shows_count(text: str, label: str, number: int) -> bool:
    """Whether ``number`` is shown as the count of ``label``: the number nearest to one of the
    label's occurrences, before or after it ("Succeeded 3", "3 succeeded", a card's lines)."""
    for match in re.finditer(rf"(?i)\b{label}\b", text):
        before = re.search(r"(\d[\d,]*)(\D*)$", text[: match.start()])
        after = re.match(r"(\D*?)(\d[\d,]*)", text[match.end() :])
        candidates = []
        if before:
            candidates.append((len(before.group(2)), before.group(1)))
        if after:
            candidates.append((len(after.group(1)), after.group(2)))
        if candidates and min(candidates)[1].replace(",", "") == str(number):
            return True
    return False


def test_dashboard_shows_the_counts_and_the_delivery_chart(
    app, site, admin_page, make_webhook, make_receiver, report_event, screenshot
):
    working, broken = make_receiver("/ok"), make_receiver("/down", status=500)
    make_webhook(name="Billing", url=working.url, event="payment_received")
    make_webhook(name="CRM", url=broken.url, event="customer_created")
    make_webhook(name="Old CRM", url=broken.url, event="payment_received", active=False)
    for number in range(3):
        report_event("payment_received", {"payment_id": number})
    for number in range(2):
        report_event("customer_created", {"customer_id": number})
    wait_until(lambda: working.count() == 3 and broken.count() >= 2, seconds=10)
    wait_until(lambda: stored(app)["attempts"] >= 5)

    page = admin_page
    page.goto("/")

    expect(page).to_have_url(f"{site}/")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    chart = page.get_by_role("img", name=re.compile(r"chart|deliveries", re.I))
    expect(chart.first).to_be_visible()
    text = page.get_by_role("main").inner_text()
    assert shows_count(text, "active", 2), text
    assert shows_count(text, "inactive", 1), text
    assert shows_count(text, "succeeded", 3), text
    assert shows_count(text, "fail(?:ed|ing)", 2), text
    screenshot(page, "dashboard")

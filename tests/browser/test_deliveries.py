"""The delivery log in a real browser: an event reported through the API reaches the receiver
while the admin watches, one delivery's request and response, and redelivering it.

The worker embedded in the live server sends, hence ``embedded_engine`` (see conftest)."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import reload_until_visible, row
from tests.engine_helpers import deliveries_of, wait_until
from webhooks.extensions import db
from webhooks.models import Event

pytestmark = pytest.mark.embedded_engine

PAYMENT = {"payment_id": 7, "payment_total": "$29.00", "customer_name": "Ada Lovelace"}
# How the issue describes a fresh delivery's time: relative, e.g. "just now" or "5 seconds ago".
JUST_NOW = re.compile(r"just now|\b\d+ seconds? ago|a few seconds ago|less than a minute ago")


@pytest.fixture
def delivered(app, make_webhook, hook_receiver, report_event) -> dict:
    """One payment_received event reported through the API and delivered to "Billing"."""
    hook_id = make_webhook(name="Billing", url=hook_receiver.url, event="payment_received")
    event = report_event("payment_received", PAYMENT)
    wait_until(lambda: [d for d in deliveries_of(app, hook_id) if d["status"] == "succeeded"])
    [delivery] = deliveries_of(app, hook_id)
    return {"webhook_id": hook_id, "event": event, **delivery}


def test_event_reported_through_the_api_shows_up_on_the_deliveries_page(
    app, admin_page, make_webhook, hook_receiver, report_event, read_event, screenshot
):
    hook_id = make_webhook(name="Billing", url=hook_receiver.url, event="payment_received")
    make_webhook(name="Mailing list", url=hook_receiver.url, event="customer_created")
    page = admin_page
    page.goto("/deliveries/")
    expect(page.get_by_role("heading", name="No deliveries yet")).to_be_visible()

    event = report_event("payment_received", PAYMENT, id="pay-7")
    # Stored; the worker writes its deliveries afterwards.
    assert event["idempotency_key"] == "pay-7"
    assert event["deliveries"] is None and event["expanded_at"] is None

    delivered = row(page, "Billing", "Succeeded")
    reload_until_visible(page, delivered)
    expect(delivered).to_contain_text("Payment Received")
    expect(delivered).to_contain_text(re.compile(r"HTTP 200 OK in \d+ ms"))
    expect(row(page, "Mailing list")).to_have_count(0)
    screenshot(page, "deliveries-list")

    [received] = hook_receiver.seen
    body = json.loads(received["body"])
    assert body["type"] == "payment_received" and body["data"] == PAYMENT
    [delivery] = deliveries_of(app, hook_id)
    assert delivery["event_type"] == "payment_received" and delivery["status"] == "succeeded"
    assert received["headers"]["Webhook-Id"] == delivery["msg_id"]
    with app.app_context():
        assert db.session.get(Event, delivery["event_id"]).uid == event["id"]
    expanded = read_event(event["id"])
    assert expanded["deliveries"] == 1  # Billing's; the Mailing list is not subscribed
    assert expanded["expanded_at"] is not None
    assert expanded["expanded_at"] >= expanded["created_at"]

    # Waiting for UI: relative times in the delivery log.
    expect(delivered).to_contain_text(JUST_NOW)


def test_a_delivery_shows_the_request_it_sent_and_the_response_it_got(
    admin_page, delivered, hook_receiver, screenshot
):
    page = admin_page
    page.goto("/deliveries/")
    row(page, "Billing").get_by_role("link").filter(has_not_text="Billing").first.click()

    expect(page.get_by_role("heading", name=re.compile(delivered["msg_id"]))).to_be_visible()
    body = page.get_by_text(re.compile(r'^\s*\{\s*"type":\s*"payment_received"'))
    expect(body).to_be_visible()
    assert json.loads(body.inner_text()) == json.loads(delivered["body"])
    [attempt] = page.get_by_role("article").all()
    expect(attempt).to_contain_text("Succeeded")
    expect(attempt).to_contain_text(re.compile(r"Response status\s*200"))
    expect(attempt.get_by_text('"received": true')).to_be_visible()
    headers = attempt.get_by_role("table", name="Request headers")
    signature = hook_receiver.seen[0]["headers"]["Webhook-Signature"]
    expect(headers).to_contain_text("webhook-signature")
    expect(headers).to_contain_text(signature)
    screenshot(page, "delivery-detail")


def test_redeliver_sends_the_message_again_and_shows_a_new_attempt(
    app, admin_page, delivered, hook_receiver
):
    page = admin_page
    page.goto(f"/deliveries/{delivered['id']}")
    attempts = page.get_by_role("article", name=re.compile("Succeeded"))
    expect(attempts).to_have_count(1)

    page.get_by_role("button", name="Redeliver").click()

    expect(page.get_by_text(f"Redelivery queued: message {delivered['msg_id']}")).to_be_visible()
    reload_until_visible(page, attempts.nth(1))
    expect(attempts).to_have_count(2)
    assert hook_receiver.ids() == [delivered["msg_id"]] * 2
    assert hook_receiver.seen[1]["body"] == delivered["body"]
    assert deliveries_of(app, delivered["webhook_id"])[0]["attempt_count"] == 2

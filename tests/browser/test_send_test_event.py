"""Send Test Event in a real browser, to a receiver on 127.0.0.1."""

import json
import re
import time

from playwright.sync_api import Locator, Page, expect
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.browser.conftest import row
from tests.engine_helpers import deliveries_of

BUTTON_STATE = "button state: "
DELIVERED = re.compile(r"Test event delivered to \S+: HTTP 200 OK in \d+ ms")


def test_send_test_event_confirms_status_and_time_and_the_receiver_verifies_it(
    app, admin_page, make_webhook, hook_receiver, screenshot
):
    hook_id = make_webhook(name="Billing", url=hook_receiver.url, event="payment_received")
    page = admin_page
    page.goto("/webhooks/")

    row(page, "Billing").get_by_role("button", name="Send Test Event").click()

    expect(page.get_by_text(DELIVERED)).to_be_visible()
    expect(row(page, "Billing")).to_contain_text("HTTP 200 OK")
    screenshot(page, "test-send-result")
    assert hook_receiver.count() == 1

    # The secret the webhook's page shows verifies what the receiver got.
    row(page, "Billing").get_by_role("link", name="Billing").click()
    page.get_by_text("Reveal secret").click()
    secret = page.get_by_text(re.compile(r"^whsec_[A-Za-z0-9+/=]{20,}$")).inner_text().strip()
    received = hook_receiver.seen[0]
    payload = StandardWebhook(secret).verify(received["body"], received["headers"])
    assert payload["type"] == "payment_received"
    [delivery] = deliveries_of(app, hook_id)
    assert delivery["status"] == "test"
    assert delivery["msg_id"] == received["headers"]["Webhook-Id"]
    assert [attempt["response_status"] for attempt in delivery["attempts"]] == [200]


def watch_button(page: Page, button: Locator) -> list[dict]:
    """Note every state the button shows (its label, whether it can be pressed) from now on.

    A form's POST keeps the old page on screen until the answer arrives, but Playwright waits
    for that navigation before it looks at the page again; so the page itself reports each
    change of the button (to the console) while the person waits."""
    states = []

    def note(message) -> None:
        if message.text.startswith(BUTTON_STATE):
            states.append(json.loads(message.text.removeprefix(BUTTON_STATE)))

    page.on("console", note)
    button.evaluate(
        """(button, prefix) => new MutationObserver(() => console.log(prefix + JSON.stringify({
            label: button.textContent.trim(), disabled: button.disabled
        }))).observe(button, {attributes: true, childList: true, characterData: true,
                              subtree: true})""",
        BUTTON_STATE,
    )
    return states


def double_click(page: Page, button: Locator) -> None:
    """Press the button twice, 50 ms apart, with the mouse. (Playwright's ``dblclick`` is no
    good here: Chromium submits the form once for it even on a page with no guard at all,
    whereas two such presses send two requests when nothing stops the second.)"""
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    page.wait_for_timeout(50)
    page.mouse.click(x, y)


def test_send_test_event_shows_it_is_working_and_sends_once_for_a_double_click(
    app, admin_page, make_webhook, make_receiver
):
    slow = make_receiver("/slow", delay=1.5)
    hook_id = make_webhook(name="Slow receiver", url=slow.url)
    page = admin_page
    page.goto(f"/webhooks/{hook_id}/edit")
    button = page.get_by_role("button", name="Send Test Event")
    states = watch_button(page, button)

    double_click(page, button)

    expect(page.get_by_text(DELIVERED)).to_be_visible(timeout=10_000)
    assert {"label": "Sending…", "disabled": True} in states, states
    time.sleep(0.5)  # a second request, if one went out, has reached the receiver by now
    assert slow.count() == 1
    assert len(deliveries_of(app, hook_id)) == 1
    expect(page.get_by_role("button", name="Send Test Event")).to_be_enabled()

"""A webhook's delivery limits and its receiver being down, in a real browser: the limits are
set under "Delivery limits" (a mistake shown beside its field first), and a receiver that
refuses every connection is shown as down, with its next probe, on the list, the webhook's
page and the dashboard."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import nav_link, reload_until_visible, row
from tests.conftest import unused_port
from webhooks.extensions import db
from webhooks.models import Webhook


@pytest.fixture
def config(config):
    config["BREAKER_AFTER"] = 2
    return config


def limits_of(app, webhook_id: int) -> tuple[int, int | None]:
    with app.app_context():
        hook = db.session.scalars(select(Webhook).where(Webhook.id == webhook_id)).one()
        return hook.max_in_flight, hook.rate_limit


def test_delivery_limits_are_set_on_the_webhook_page_after_a_mistake(
    app, admin_page, make_webhook, screenshot
):
    webhook_id = make_webhook(name="CRM", url="https://crm.example.com/hooks")
    page = admin_page
    page.goto(f"/webhooks/{webhook_id}/edit")

    page.get_by_text("Delivery limits").click()
    at_once = page.get_by_label("Requests at once")
    expect(at_once).to_have_value("10")
    at_once.fill("0")
    page.get_by_label("Rate limit (requests a second)").fill("5")
    page.get_by_role("button", name="Save Changes").click()

    expect(page.get_by_text("Enter a whole number from 1 to 1000.")).to_be_visible()
    expect(page.get_by_label("Requests at once")).to_have_attribute("aria-invalid", "true")
    assert limits_of(app, webhook_id) == (10, None)
    page.get_by_label("Requests at once").fill("3")
    page.get_by_role("button", name="Save Changes").click()

    expect(page.get_by_text("Webhook “CRM” saved.")).to_be_visible()
    expect(page.get_by_text("3 requests at once, at most 5 a second")).to_be_visible()
    assert limits_of(app, webhook_id) == (3, 5)
    screenshot(page, "webhook-limits")


@pytest.mark.embedded_engine  # the site's own worker sends, as `make run` has it
def test_a_receiver_that_refuses_every_connection_is_shown_as_down(
    app, admin_page, make_webhook, report_event
):
    make_webhook(name="Gone dark", url=f"http://127.0.0.1:{unused_port()}/hook")
    page = admin_page
    report_event("payment_received", {"payment_id": 1})
    report_event("payment_received", {"payment_id": 2})
    report_event("payment_received", {"payment_id": 3})

    page.goto("/webhooks/")
    down = re.compile(r"Receiver down since .+, next probe ")
    reload_until_visible(page, row(page, "Gone dark").get_by_text(down))
    expect(row(page, "Gone dark").locator(".badge.state-down")).to_have_text(
        re.compile("Receiver down$")
    )

    page.get_by_role("link", name="Gone dark").click()
    expect(page.get_by_role("heading", name=down)).to_be_visible()
    expect(page.get_by_text("its deliveries wait: they are not sent")).to_be_visible()

    nav_link(page, "Dashboard").click()
    expect(row(page, "Gone dark").get_by_text(down)).to_be_visible()

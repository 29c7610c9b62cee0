"""Logging in and out in a real browser."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.conftest import ADMIN_EMAIL

LOGIN_FAILED = "Wrong email or password."


def test_admin_logs_in_lands_on_the_page_they_asked_for_and_logs_out(open_page):
    page = open_page()
    page.goto("/webhooks/")
    expect(page).to_have_url(re.compile(r"/login\b"))
    expect(page.get_by_text("Please log in to open that page.")).to_be_visible()

    log_in(page)

    expect(page).to_have_url(re.compile(r"/webhooks/$"))
    expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
    expect(page.get_by_text(ADMIN_EMAIL)).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    page.goto("/webhooks/")
    expect(page).to_have_url(re.compile(r"/login\b"))


def test_wrong_password_or_unknown_email_shows_the_same_generic_error(open_page):
    page = open_page()
    page.goto("/login")

    log_in(page, password="not the password")
    expect(page.get_by_role("alert")).to_have_text(re.compile(re.escape(LOGIN_FAILED)))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    log_in(page, email="nobody@example.com", password="not the password")
    expect(page.get_by_role("alert")).to_have_text(re.compile(re.escape(LOGIN_FAILED)))
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)

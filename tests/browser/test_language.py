"""The admin site in Turkish: the language switch in the page header (kept in the session), and
the browser's own language when no choice was made."""

import re

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import log_in

# What the webhook list says in Turkish (webhooks/translations/tr).
ADD_NEW_WEBHOOK_TR = "Yeni Webhook Ekle"


def choose_language(page: Page, language: str) -> None:
    """Use the language switch in the page header as a person would: press the language's own
    button, or pick it in the "Language" (Dil) select and, unless picking it already sent the
    form, press the switch's button."""
    button = page.get_by_role("button", name=language, exact=True)
    select = page.get_by_role("combobox", name=re.compile(r"^(Language|Dil)\b"))
    expect(button.or_(select).first).to_be_visible()
    if button.count():
        button.click()
        return
    try:
        with page.expect_navigation(timeout=1_500):
            select.select_option(label=language)
    except PlaywrightTimeoutError:
        select.locator("xpath=ancestor::form").get_by_role("button").click()


def test_switch_to_turkish_and_back(admin_page, make_webhook, screenshot):
    make_webhook(name="Zapier Integration", url="https://hooks.zapier.com/hooks/catch/1/a/")
    make_webhook(name="Billing", url="https://billing.example.com/hooks", active=False)
    page = admin_page
    page.goto("/webhooks/")

    choose_language(page, "Türkçe")

    expect(page).to_have_url(re.compile(r"/webhooks/$"))
    expect(page.locator("html")).to_have_attribute("lang", "tr")
    expect(page.get_by_role("link", name=ADD_NEW_WEBHOOK_TR).first).to_be_visible()
    expect(page.get_by_role("link", name="Add New Webhook")).to_have_count(0)
    expect(page.get_by_role("link", name="Zapier Integration")).to_be_visible()
    screenshot(page, "webhook-list-tr")
    page.goto("/deliveries/")
    expect(page.locator("html")).to_have_attribute("lang", "tr")

    page.goto("/webhooks/")
    choose_language(page, "English")

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("link", name="Add New Webhook").first).to_be_visible()
    expect(page.get_by_role("link", name=ADD_NEW_WEBHOOK_TR)).to_have_count(0)


def test_a_turkish_browser_gets_turkish_pages_until_the_user_chooses(open_page):
    page = open_page(locale="tr-TR")
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "tr")
    log_in_button = page.get_by_role("button", name="Log in", exact=True)
    expect(log_in_button).to_have_count(0)

    choose_language(page, "English")

    expect(page.locator("html")).to_have_attribute("lang", "en")
    log_in(page)
    expect(page.get_by_role("link", name="Add New Webhook").first).to_be_visible()

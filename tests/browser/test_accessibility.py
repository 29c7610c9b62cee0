"""Every page of the site, in English and Turkish, at desktop and phone width: axe-core (the
npm package in tests/browser/axe, loaded from its local file) finds no serious or critical
violation, and at phone width no page scrolls sideways."""

import json
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, log_in
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.engine_helpers import api_token, bearer, wait_until

# The pages show deliveries the embedded engine sends (no Celery worker runs beside the site).
pytestmark = pytest.mark.embedded_engine

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


def axe_violations(page: Page) -> list[dict]:
    """The serious and critical violations axe-core finds on the page as it is shown."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=AXE)
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        {
            "rule": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "where": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in found
        if violation["impact"] in SERIOUS
    ]


def sideways_scroll(page: Page) -> dict | None:
    """None when the page fits the window's width; else how many pixels it is wider, and the
    innermost elements that reach past the window's right edge."""
    return page.evaluate(
        """() => {
        const over = document.documentElement.scrollWidth - window.innerWidth;
        if (over <= 0) { return null; }
        const past_edge = (node) => node.getBoundingClientRect().right > window.innerWidth + 1;
        const past = [...document.querySelectorAll("body *")].filter((node) =>
          past_edge(node) && ![...node.children].some(past_edge));
        return {pixels: over, elements: past.slice(0, 5).map((node) =>
          node.tagName.toLowerCase() + (node.id ? "#" + node.id : "") +
          (node.className ? "." + String(node.className).split(" ").join(".") : ""))};
      }"""
    )


@pytest.fixture
def site_with_data(app, site, make_receiver):
    """A webhook with a delivered and a failed delivery, so every page shows its tables."""
    if not AXE.exists():
        pytest.fail(
            f"axe-core is missing at {AXE}: `make install-test` installs it with npm",
            pytrace=False,
        )
    good = make_receiver("/good")
    bad = make_receiver("/bad", status=500)
    token = api_token(app, "a11y")
    ids = {}
    for name, script in (("CRM", good), ("Billing", bad)):
        answer = requests.post(
            f"{site}/api/v1/webhooks",
            json={"name": name, "url": script.url, "event": "payment_received"},
            headers=bearer(token),
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        ids[name] = answer.json()["id"]
    event = requests.post(
        f"{site}/api/v1/events",
        json={"type": "payment_received", "data": {"payment_id": 1}},
        headers=bearer(token),
        timeout=10,
    ).json()
    wait_until(lambda: good.count() >= 1 and bad.count() >= 1, 20, 0.1)
    deliveries = requests.get(
        f"{site}/api/v1/deliveries", headers=bearer(token), timeout=10
    ).json()["data"]
    return {"webhook": ids["CRM"], "delivery": deliveries[0]["id"], "event": event["id"]}


def pages_of(data: dict) -> list[str]:
    return [
        "/",
        "/webhooks/",
        "/webhooks/new",
        f"/webhooks/{data['webhook']}/edit",
        f"/webhooks/{data['webhook']}/rotate",
        f"/webhooks/{data['webhook']}/delete",
        "/deliveries/",
        f"/deliveries/{data['delivery']}",
        "/events/",
        "/tokens/",
        "/api-docs/",
        "/no-such-page",
    ]


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("locale", ["en-US", "tr-TR"])
def test_every_page_has_no_serious_accessibility_violation(open_page, site_with_data, locale, size):
    page = open_page(locale=locale, **({} if size == "desktop" else PHONE), bypass_csp=True)
    page.goto("/login")
    problems = {"/login": axe_violations(page)}
    log_in(page) if locale == "en-US" else _log_in_turkish(page)
    overflow = {}
    for path in pages_of(site_with_data):
        page.goto(path)
        problems[path] = axe_violations(page)
        if size == "phone":
            overflow[path] = sideways_scroll(page)

    found = {path: found for path, found in problems.items() if found}
    assert not found, json.dumps(found, indent=1)
    wide = {path: found for path, found in overflow.items() if found}
    assert not wide, f"pages wider than a {PHONE['width']} px phone: {wide}"


def _log_in_turkish(page: Page) -> None:
    if "/login" not in page.url:
        page.goto("/login")
    page.get_by_label("E-posta").fill(ADMIN_EMAIL)
    page.get_by_label("Parola").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Giriş yap").click()


@pytest.mark.parametrize("locale", ["en-US", "tr-TR"])
def test_a_phone_shows_each_row_as_labelled_lines(open_page, site_with_data, locale):
    page = open_page(locale=locale, **PHONE)
    log_in(page) if locale == "en-US" else _log_in_turkish(page)

    for path in ("/webhooks/", "/deliveries/", "/tokens/"):
        page.goto(path)
        table = page.locator("table.list").first
        assert "stacked" in (table.get_attribute("class") or ""), path
        cell = table.locator("tbody tr").first.locator("td[data-label]").nth(1)
        label = cell.get_attribute("data-label")
        shown = cell.evaluate("(node) => getComputedStyle(node, '::before').content")
        assert label and shown == f'"{label}"', (path, label, shown)
        assert cell.evaluate("(node) => getComputedStyle(node).display") == "block"
        assert sideways_scroll(page) is None, path


@pytest.mark.parametrize(
    ("locale", "labels"),
    [
        ("en-US", {"name": "Name", "url": "URL", "save": "Save Changes"}),
        ("tr-TR", {"name": "Ad", "url": "URL", "save": "Değişiklikleri Kaydet"}),
    ],
)
def test_after_a_failed_submit_the_first_error_has_the_focus(
    open_page, site_with_data, locale, labels
):
    page = open_page(locale=locale)
    log_in(page) if locale == "en-US" else _log_in_turkish(page)
    page.goto(f"/webhooks/{site_with_data['webhook']}/edit")
    page.get_by_label(labels["name"], exact=True).fill("")
    page.get_by_label(labels["url"], exact=True).fill("not a url")

    page.get_by_role("button", name=labels["save"]).first.click()

    first_error = page.locator("main [aria-invalid=true]").first
    expect(first_error).to_have_id("name")
    expect(first_error).to_be_focused()


@pytest.mark.parametrize(("locale", "copy"), [("en-US", "Copy"), ("tr-TR", "Kopyala")])
def test_each_copy_button_is_named_by_what_it_copies(open_page, site_with_data, locale, copy):
    page = open_page(locale=locale)
    log_in(page) if locale == "en-US" else _log_in_turkish(page)

    for path in ("/events/", f"/webhooks/{site_with_data['webhook']}/edit", "/api-docs/"):
        page.goto(path)
        names = page.locator("button.copy").evaluate_all(
            "(buttons) => buttons.map((button) => button.getAttribute('aria-label'))"
        )
        assert len(names) >= 2, path
        assert len(set(names)) == len(names), (path, names)
        assert all(copy.lower() in name.lower() and name != copy for name in names), names

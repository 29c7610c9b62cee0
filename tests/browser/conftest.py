"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, the app on a live
server with its delivery worker running inside it (as `make run` serves it), a logged-in page,
and a receiver on 127.0.0.1 that notes every request it gets.

Every test in this folder is marked ``browser``. When one fails, a screenshot of each of its
pages is saved in its tmp_path and the paths are printed with the failure. With
WEBHOOKS_SCREENSHOTS set to a folder, the flows also save screenshots of the main screens there
(this is how docs/screenshots/ is made):

    make install && WEBHOOKS_SCREENSHOTS=docs/screenshots .venv/bin/pytest tests/browser

The worker embedded in the live server sends the deliveries, so the tests that need a delivery
sent by the engine are marked ``embedded_engine``: in the CI run with WEBHOOKS_TEST_QUEUE=celery
they keep the PostgreSQL database but queue on the embedded engine (no Celery worker runs beside
the live server; the Celery engine has its own process tests).
"""

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from werkzeug import Response

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.engine_helpers import Script, api_token, bearer
from webhooks.worker.engine import start_embedded, stop_embedded

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("WEBHOOKS_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = os.environ.get("WEBHOOKS_SCREENSHOTS")
VIEWPORT = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# How long an action or an expectation waits for the page; a missing control fails in seconds.
TIMEOUT_MS = 5_000
PAGES = pytest.StashKey[list]()
FAILURE_FOLDER = pytest.StashKey[Path]()

expect.set_options(timeout=TIMEOUT_MS)


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, a screenshot of each page the test opened, named in the report."""
    report = yield
    pages = item.stash.get(PAGES, [])
    if report.failed and report.when in ("setup", "call") and pages:
        folder = item.stash[FAILURE_FOLDER]
        lines = []
        for number, page in enumerate(pages, 1):
            if page.is_closed():
                continue
            path = folder / f"failure-{report.when}-{number}.png"
            try:
                page.screenshot(path=path, full_page=True)
            except PlaywrightError as error:
                lines.append(f"page {number} ({page.url}): no screenshot, {error.message}")
            else:
                lines.append(f"page {number} ({page.url}): {path}")
        report.sections.append(("failure screenshots", "\n".join(lines)))
    return report


# ---------------------------------------------------------------- the browser and the site


@pytest.fixture(scope="package")
def chromium() -> Browser:
    """One headless Chromium for the browser tests: Debian's, never a Playwright download.
    It closes when they are done, so Playwright's event loop is gone before the other tests."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM}: install Debian's package "
            "(apt-get install chromium; .ci/run does) or point WEBHOOKS_TEST_CHROMIUM at one.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def config(config):
    # The live server runs its delivery worker in its own process, a small site's layout.
    config.update(WORKER_CONCURRENCY=4, EMBEDDED_WORKER=True)
    return config


@pytest.fixture
def site(app, live_server) -> str:
    """The live server's base URL, with the delivery worker embedded in its process as
    `make run` has it (with the Celery engine there is none: Celery workers would send)."""
    start_embedded(app)
    yield live_server
    stop_embedded(app)


@pytest.fixture
def open_page(request, chromium, site, tmp_path) -> Callable[..., Page]:
    """Open a page in a new browser context (its own cookies): US English at 1280×800 unless
    told otherwise, e.g. ``open_page(locale="tr-TR")`` or ``open_page(**PHONE)``. A failure
    leaves its screenshots in ``tmp_path``."""
    contexts = []
    pages = request.node.stash.setdefault(PAGES, [])
    request.node.stash[FAILURE_FOLDER] = tmp_path

    def open_page(
        *,
        locale: str = "en-US",
        width: int = VIEWPORT["width"],
        height: int = VIEWPORT["height"],
        **options,
    ):
        context = chromium.new_context(
            base_url=site, locale=locale, viewport={"width": width, "height": height}, **options
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(2 * TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        pages.append(page)
        return page

    yield open_page
    for context in contexts:
        context.close()


def log_in(page: Page, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    """Fill the login form as a person would and press Log in."""
    if "/login" not in page.url:
        page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.fixture
def admin_page(open_page) -> Page:
    """A page logged in as the admin."""
    page = open_page()
    log_in(page)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    return page


# ---------------------------------------------------------------- the receiver


@pytest.fixture
def make_receiver(receiver) -> Callable[..., Script]:
    """A receiver path on 127.0.0.1 that answers with ``status`` and a small JSON body, after
    ``delay`` seconds, and notes each request (``.seen``, ``.count()``); its URL is ``.url``."""

    def make(path: str = "/hook", status: int = 200, delay: float = 0.0) -> Script:
        def answer(_request):
            if delay:
                time.sleep(delay)
            return Response('{"received": true}', status=status, mimetype="application/json")

        script = Script(answer)
        receiver.expect_request(path, method="POST").respond_with_handler(script)
        script.url = receiver.url_for(path)
        return script

    return make


@pytest.fixture
def hook_receiver(make_receiver) -> Script:
    """The receiver at /hook, answering 200 at once."""
    return make_receiver()


# ---------------------------------------------------------------- helpers of the flows


@pytest.fixture
def screenshot() -> Callable[[Page, str], None]:
    """Save a screenshot of the page as WEBHOOKS_SCREENSHOTS/<name>.png, when that is set."""

    def save(page: Page, name: str) -> None:
        if not SCREENSHOTS:
            return
        folder = Path(SCREENSHOTS)
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=folder / f"{name}.png", animations="disabled", caret="hide")

    return save


@pytest.fixture
def report_event(app, site) -> Callable[..., dict]:
    """Report an event through the REST API, as the platform would; the API's answer."""
    token = api_token(app, "browser-tests")

    def report(event_type: str, data: dict, **fields) -> dict:
        response = requests.post(
            f"{site}/api/v1/events",
            json={"type": event_type, "data": data, **fields},
            headers=bearer(token),
            timeout=10,
        )
        assert response.status_code == 202, response.text
        return response.json()

    return report


@pytest.fixture
def read_event(app, site) -> Callable[[str], dict]:
    """Read an event back through the REST API (GET /api/v1/events/<id>) with a read-only
    token, as the platform would; the API's answer."""
    token = api_token(app, "browser-tests-read", scope="read")

    def read(event_id: str) -> dict:
        response = requests.get(
            f"{site}/api/v1/events/{event_id}", headers=bearer(token), timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()

    return read


def reload_until_visible(page: Page, locator: Locator, seconds: float = 10.0) -> None:
    """Reload the page until ``locator`` shows, as a person waiting for a result would."""
    deadline = time.monotonic() + seconds
    while not locator.is_visible():
        if time.monotonic() > deadline:
            expect(locator).to_be_visible(timeout=1)
        page.wait_for_timeout(200)
        page.reload()


def nav_link(page: Page, name: str) -> Locator:
    """A link of the site's navigation (not the product name beside it, also "Webhooks")."""
    return page.get_by_role("navigation").get_by_role("link", name=name, exact=True).first


def row(page: Page, *texts: str | re.Pattern) -> Locator:
    """The table row that shows every one of ``texts``."""
    locator = page.get_by_role("row")
    for text in texts:
        locator = locator.filter(has_text=text)
    return locator

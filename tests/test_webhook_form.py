"""The Add New Webhook and edit screens: fields, validation, saving."""

import html
import json
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from tests.conftest import csrf_token, post_form
from webhooks.extensions import db
from webhooks.models import Webhook, as_utc

VALID = {
    "name": "Zapier Integration",
    "url": "https://hooks.example.com/receiver",
    "event": "payment_received",
    "active": "y",
}
LONG_URL_PREFIX = "https://example.com/"


def url_of_length(length: int) -> str:
    return LONG_URL_PREFIX + "a" * (length - len(LONG_URL_PREFIX))


def field_block(page: str, field_id: str) -> str:
    """The ``<div class="field">`` that holds the input with ``field_id``: label, input, errors."""
    for block in re.findall(r'<div class="field[^"]*">.*?</div>', page, re.S):
        if f'id="{field_id}"' in block:
            return block
    raise AssertionError(f"no field {field_id!r} on the page")


def shown_text(fragment: str) -> str:
    """The text of highlighted markup, as the browser shows it and Copy copies it."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def input_value(page: str, field_id: str) -> str | None:
    tag = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', page)
    assert tag, f"no input {field_id!r}"
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return html.unescape(value.group(1)) if value else None


def selected_event(page: str) -> str | None:
    select_tag = re.search(r'<select[^>]*id="event".*?</select>', page, re.S)
    assert select_tag
    option = re.search(r'<option selected value="([^"]*)"', select_tag.group(0))
    return option.group(1) if option else None


def is_checked(page: str, field_id: str) -> bool:
    tag = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', page)
    assert tag
    return re.search(r"\bchecked\b", tag.group(0)) is not None


def webhook_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Webhook))


def get_webhook(app, webhook_id: int) -> Webhook:
    with app.app_context():
        # With its events: read after the session is gone.
        webhook = db.session.get(Webhook, webhook_id, options=[selectinload(Webhook.event_rows)])
        db.session.expunge(webhook)
        return webhook


def submit_new(client, **changes):
    data = {**VALID, **changes}
    data = {key: value for key, value in data.items() if value is not None}
    return post_form(client, "/webhooks/new", data, "/webhooks/new")


# --- Add New Webhook page -------------------------------------------------------------------


def test_empty_number_inputs_as_a_browser_posts_them_are_the_defaults(app, admin):
    response = submit_new(admin, max_in_flight="", rate_limit="")
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        webhook = db.session.scalars(select(Webhook)).one()
        assert (webhook.max_in_flight, webhook.rate_limit) == (10, None)


def test_add_page_shows_name_url_event_and_active_checked(admin):
    response = admin.get("/webhooks/new")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Add New Webhook</h1>" in page
    assert '<label for="name">Name</label>' in page
    assert re.search(r'<input[^>]*id="name"[^>]*type="text"', page)
    assert '<label for="url">URL</label>' in page
    assert re.search(r'<input[^>]*id="url"[^>]*type="url"', page)
    assert '<label for="event">Event</label>' in page
    assert re.search(
        r'<option (selected )?value="payment_received">Payment Received</option>', page
    )
    assert '<option value="site_published">Site Published</option>' in page
    assert is_checked(page, "active")
    assert '<button type="submit" class="primary">Add New Webhook</button>' in page


def test_add_page_shows_payload_preview_with_copy_button(admin):
    page = admin.get("/webhooks/new").get_data(as_text=True)
    preview = re.search(r'<pre id="payload-preview"[^>]*>(.*?)</pre>', page, re.S)
    assert preview
    payload = json.loads(shown_text(preview.group(1)))
    assert payload["type"] == "payment_received"
    assert (
        'data-copy-target="payload-preview" aria-label="Copy the payload preview">Copy</button>'
    ) in page


def test_creating_a_webhook_stores_it_and_opens_its_edit_page(app, admin):
    response = submit_new(admin)
    assert response.status_code == 302
    match = re.fullmatch(r"/webhooks/(\d+)/edit", response.headers["Location"])
    assert match
    webhook = get_webhook(app, int(match.group(1)))
    assert webhook.name == VALID["name"]
    assert webhook.url == VALID["url"]
    assert webhook.event == "payment_received"
    assert webhook.active is True
    assert webhook.secret.startswith("whsec_")
    assert len(webhook.secret) > len("whsec_") + 40
    assert webhook.integration == "manual"
    assert webhook.sent_count == 0
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Webhook “Zapier Integration” added." in page
    assert 'class="flash flash-success"' in page


def test_each_new_webhook_gets_its_own_secret(app, admin):
    submit_new(admin)
    submit_new(admin, name="Second")
    with app.app_context():
        secrets = db.session.scalars(select(Webhook.secret)).all()
    assert len(set(secrets)) == 2


def test_name_and_url_are_saved_without_surrounding_spaces(app, admin):
    submit_new(admin, name="  Spaced  ", url="  https://example.com/hook  ")
    with app.app_context():
        webhook = db.session.scalars(select(Webhook)).one()
        assert (webhook.name, webhook.url) == ("Spaced", "https://example.com/hook")


NAME_REQUIRED = "Give the webhook a name."
NAME_LENGTH = "The name must be 2 to 191 characters long."
URL_REQUIRED = "Enter the URL that should receive the events."
URL_SCHEME = "The URL must start with http:// or https://."
URL_CREDENTIALS = "Remove the user name and password from the URL"
URL_SPACES = "The URL must not contain spaces or control characters."
URL_LENGTH = "The URL can be at most 2048 characters long."
EVENT_CHOICE = "Choose one of the events in the list."

INVALID_CASES = [
    pytest.param("name", {"name": None}, NAME_REQUIRED, id="name-missing"),
    pytest.param("name", {"name": ""}, NAME_REQUIRED, id="name-empty"),
    pytest.param("name", {"name": "   "}, NAME_LENGTH, id="name-only-spaces"),
    pytest.param("name", {"name": "A"}, NAME_LENGTH, id="name-1-char"),
    pytest.param("name", {"name": "N" * 192}, NAME_LENGTH, id="name-192-chars"),
    pytest.param(
        "name",
        {"name": "Shop\x00hook"},
        "Remove the control characters (such as tabs or line breaks).",
        id="name-with-nul",
    ),
    pytest.param("url", {"url": None}, URL_REQUIRED, id="url-missing"),
    pytest.param("url", {"url": ""}, URL_REQUIRED, id="url-empty"),
    pytest.param("url", {"url": "example.com/hook"}, URL_SCHEME, id="url-not-absolute"),
    pytest.param("url", {"url": "ftp://example.com"}, URL_SCHEME, id="url-ftp"),
    pytest.param("url", {"url": "javascript:alert(1)"}, URL_SCHEME, id="url-javascript"),
    pytest.param(
        "url", {"url": "https://user:pass@example.com/"}, URL_CREDENTIALS, id="url-credentials"
    ),
    pytest.param("url", {"url": "https://exa mple.com"}, URL_SPACES, id="url-space"),
    pytest.param("url", {"url": "https:///hook"}, "must include a host name", id="url-no-host"),
    pytest.param("url", {"url": url_of_length(2049)}, URL_LENGTH, id="url-2049-chars"),
    pytest.param("event", {"event": "not_an_event"}, EVENT_CHOICE, id="event-unknown"),
    pytest.param("event", {"event": None}, EVENT_CHOICE, id="event-missing"),
]


@pytest.mark.parametrize(("field", "changes", "message"), INVALID_CASES)
def test_invalid_new_webhook_shows_error_beside_field_and_saves_nothing(
    app, admin, field, changes, message
):
    response = submit_new(admin, **changes)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    block = field_block(page, field)
    assert 'class="field has-error"' in block
    assert message in html.unescape(block)
    # Only the field in question is marked wrong.
    for other in {"name", "url", "event"} - {field}:
        assert "has-error" not in field_block(page, other)
    # What the user typed into the other fields is still there.
    if field != "name":
        assert input_value(page, "name") == VALID["name"]
    if field != "url":
        assert input_value(page, "url") == VALID["url"]
    if field != "event":
        assert selected_event(page) == VALID["event"]
    assert is_checked(page, "active")
    assert webhook_count(app) == 0


def test_rejected_url_is_shown_back_escaped_for_correction(admin):
    page = submit_new(admin, url='https://exa mple.com/"><script>').get_data(as_text=True)
    assert "<script>" not in field_block(page, "url")
    assert input_value(page, "url") == 'https://exa mple.com/"><script>'


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"name": "AB"}, id="name-2-chars"),
        pytest.param({"name": "N" * 191}, id="name-191-chars"),
        pytest.param({"url": url_of_length(2048)}, id="url-2048-chars"),
        pytest.param({"url": "http://127.0.0.1:8080/hook?x=1"}, id="url-http-with-port"),
        pytest.param({"event": "site_published"}, id="other-event"),
    ],
)
def test_boundary_values_are_accepted(app, admin, changes):
    response = submit_new(admin, **changes)
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        webhook = db.session.scalars(select(Webhook)).one()
        expected = {**VALID, **changes}
        assert webhook.name == expected["name"]
        assert webhook.url == expected["url"]
        assert webhook.event == expected["event"]


def test_unchecking_active_saves_an_inactive_webhook(app, admin):
    response = submit_new(admin, active=None)
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalars(select(Webhook)).one().active is False


def test_add_without_csrf_token_is_refused_and_saves_nothing(app, admin):
    response = admin.post("/webhooks/new", data=VALID)
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)
    assert webhook_count(app) == 0


def test_add_with_wrong_csrf_token_is_refused_and_saves_nothing(app, admin):
    response = admin.post("/webhooks/new", data={**VALID, "csrf_token": "forged"})
    assert response.status_code == 400
    assert webhook_count(app) == 0


# --- Edit page ------------------------------------------------------------------------------


def test_edit_page_shows_fields_filled_in(admin, make_webhook):
    webhook_id = make_webhook(name="Accounting", url="https://books.example.com/in", active=False)
    response = admin.get(f"/webhooks/{webhook_id}/edit")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert input_value(page, "name") == "Accounting"
    assert input_value(page, "url") == "https://books.example.com/in"
    assert selected_event(page) == "payment_received"
    assert not is_checked(page, "active")
    assert '<button type="submit" class="primary">Save Changes</button>' in page


def test_edit_page_shows_test_button_preview_secret_times_and_deliveries(app, admin, make_webhook):
    webhook_id = make_webhook(event="payment_received")
    webhook = get_webhook(app, webhook_id)
    page = admin.get(f"/webhooks/{webhook_id}/edit").get_data(as_text=True)

    assert re.search(
        rf'<form method="post" action="/webhooks/{webhook_id}/test".*?Send Test Event</button>',
        page,
        re.S,
    )
    preview = re.search(r'<pre id="payload-preview"[^>]*>(.*?)</pre>', page, re.S)
    assert preview
    preview_text = shown_text(preview.group(1))
    assert '"type": "payment_received"' in preview_text
    assert '"payment_total"' in preview_text
    assert json.loads(preview_text)["data"]["payment_total"] == "$29.00"
    assert (
        'data-copy-target="payload-preview" aria-label="Copy the payload preview">Copy</button>'
    ) in page

    # Times: how long ago, in a <time> with the moment, whose title and text give it exactly.
    for label, moment in (("Created", webhook.created_at), ("Updated", webhook.updated_at)):
        shown = re.search(
            rf'<dt>{label}</dt><dd><time datetime="([^"]+)" title="([^"]+ UTC)">([^<]+ ago)</time>'
            r' <span class="time-exact">\(([^<]+)\)</span></dd>',
            page,
        )
        assert shown, label
        assert shown.group(1) == as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert shown.group(2) == shown.group(4)

    details = re.search(r'<details class="secret"[^>]*>(.*?)</details>', page, re.S)
    assert details and webhook.secret in details.group(1)
    assert page.count(webhook.secret) == 1

    assert "<h2>Recent deliveries</h2>" in page
    assert "Nothing sent yet." in page


def test_edit_page_preview_follows_the_webhook_event(admin, make_webhook):
    webhook_id = make_webhook(event="domain_created")
    page = admin.get(f"/webhooks/{webhook_id}/edit").get_data(as_text=True)
    preview = re.search(r'<pre id="payload-preview"[^>]*>(.*?)</pre>', page, re.S)
    payload = json.loads(shown_text(preview.group(1)))
    assert payload["type"] == "domain_created"
    assert "domain_domain" in payload["data"]


def test_editing_saves_changes_and_flashes(app, admin, make_webhook):
    webhook_id = make_webhook()
    before = get_webhook(app, webhook_id)
    path = f"/webhooks/{webhook_id}/edit"
    response = post_form(
        admin,
        path,
        {"name": "Renamed", "url": "https://new.example.com/x", "event": "invoice_sent"},
        path,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == path
    after = get_webhook(app, webhook_id)
    assert (after.name, after.url, after.event, after.active) == (
        "Renamed",
        "https://new.example.com/x",
        "invoice_sent",
        False,
    )
    assert after.secret == before.secret
    assert after.integration == before.integration
    page = admin.get(path).get_data(as_text=True)
    assert "Webhook “Renamed” saved." in page
    assert input_value(page, "name") == "Renamed"


EDIT_INVALID_CASES = [
    pytest.param("name", {"name": "A"}, NAME_LENGTH, id="name-1-char"),
    pytest.param("name", {"name": ""}, NAME_REQUIRED, id="name-empty"),
    pytest.param("url", {"url": "ftp://example.com"}, URL_SCHEME, id="url-ftp"),
    pytest.param("url", {"url": url_of_length(2049)}, URL_LENGTH, id="url-2049-chars"),
    pytest.param("event", {"event": "not_an_event"}, EVENT_CHOICE, id="event-unknown"),
]


@pytest.mark.parametrize(("field", "changes", "message"), EDIT_INVALID_CASES)
def test_invalid_edit_shows_error_and_keeps_old_row(
    app, admin, make_webhook, field, changes, message
):
    webhook_id = make_webhook(name="Original", url="https://old.example.com/hook")
    path = f"/webhooks/{webhook_id}/edit"
    data = {"name": "Changed", "url": "https://changed.example.com/", "event": "invoice_sent"}
    data.update(changes)
    data["active"] = "y"
    response = post_form(admin, path, data, path)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    block = field_block(page, field)
    assert "has-error" in block
    assert message in html.unescape(block)
    if field != "name":
        assert input_value(page, "name") == "Changed"
    if field != "url":
        assert input_value(page, "url") == "https://changed.example.com/"
    webhook = get_webhook(app, webhook_id)
    assert (webhook.name, webhook.url, webhook.event) == (
        "Original",
        "https://old.example.com/hook",
        "payment_received",
    )


def test_edit_without_csrf_token_is_refused_and_keeps_row(app, admin, make_webhook):
    webhook_id = make_webhook(name="Original")
    response = admin.post(f"/webhooks/{webhook_id}/edit", data={**VALID, "name": "Changed"})
    assert response.status_code == 400
    assert get_webhook(app, webhook_id).name == "Original"


@pytest.mark.parametrize(
    "path", ["/webhooks/999/edit", "/webhooks/999/delete", "/webhooks/nope/edit"]
)
def test_missing_webhook_shows_not_found_page(admin, path):
    response = admin.get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Not Found" in page
    assert "Traceback" not in page
    assert "Back to the webhooks" in page


def test_webhook_id_too_large_for_the_database_is_not_found(admin):
    response = admin.get("/webhooks/99999999999999999999/edit")
    assert response.status_code == 404


def test_posting_to_missing_webhook_is_not_found(admin):
    token = csrf_token(admin, "/webhooks/new")
    response = admin.post("/webhooks/999/edit", data={**VALID, "csrf_token": token})
    assert response.status_code == 404

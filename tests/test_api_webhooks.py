"""The webhooks resource of the API (/api/v1/webhooks): what a script or an integration sees,
and what is stored. Its rules are the admin form's; Send Test Event goes to a real receiver.
"""

import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import post_form, unused_port
from tests.engine_helpers import (
    api_token,
    assert_api_error,
    bearer,
    deliveries_of,
    update_webhook,
    verify,
)
from webhooks.extensions import db
from webhooks.models import SECRET_OVERLAP, Attempt, Delivery, Webhook, as_utc

ISO_UTC_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
VALID = {
    "name": "Zapier Integration",
    "url": "https://hooks.example.com/in",
    "event": "invoice_sent",
}
WEBHOOK_KEYS = {
    "id",
    "name",
    "url",
    "event",
    "events",
    "payload_format",
    "active",
    "status",
    "integration",
    "disabled_at",
    "disabled_reason",
    "failing_since",
    "max_in_flight",
    "headers",
    "rate_limit",
    "receiver_down_since",
    "next_probe_at",
    "sent_count",
    "last_delivery_at",
    "last_delivery_ok",
    "last_delivery_summary",
    "created_at",
    "updated_at",
}
SECRET_KEYS = {"secret", "previous_secret_expires_at"}
TEST_RESULT_KEYS = {"ok", "summary", "status_code", "duration_ms", "response_body", "error"}


@pytest.fixture
def config(config):
    # An unexpected exception must come back as the 500 a client would see, not be raised.
    config["PROPAGATE_EXCEPTIONS"] = False
    return config


@pytest.fixture
def token(app):
    return api_token(app)


@pytest.fixture
def read_token(app):
    return api_token(app, "reader", scope="read")


def call(client, method: str, path: str, token: str, body=None, **kwargs):
    """An API request; ``body`` is sent as JSON."""
    if body is not None:
        kwargs["json"] = body
    return client.open(f"/api/v1{path}", method=method, headers=bearer(token), **kwargs)


def assert_invalid(response) -> dict[str, list[str]]:
    """A 422 validation_failed; returns its fields."""
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error) == {"code", "message", "fields"}
    assert error["fields"], error
    for name, messages in error["fields"].items():
        assert name in error["message"]
        assert messages and all(isinstance(message, str) for message in messages)
    return error["fields"]


def rows(app) -> list[dict]:
    """Every stored webhook, as plain values, by id."""
    with app.app_context():
        return [
            {
                "id": hook.id,
                "name": hook.name,
                "url": hook.url,
                "event": hook.event,
                "payload_format": hook.payload_format,
                "active": hook.active,
                "integration": hook.integration,
                "secret": hook.secret,
                "previous_secret": hook.previous_secret,
                "previous_secret_expires_at": hook.previous_secret_expires_at
                and as_utc(hook.previous_secret_expires_at),
                "disabled_at": hook.disabled_at,
                "disabled_reason": hook.disabled_reason,
                "failing_since": hook.failing_since,
                "max_in_flight": hook.max_in_flight,
                "rate_limit": hook.rate_limit,
                "updated_at": as_utc(hook.updated_at),
            }
            for hook in db.session.scalars(select(Webhook).order_by(Webhook.id))
        ]


def row(app, webhook_id: int) -> dict | None:
    return next((hook for hook in rows(app) if hook["id"] == webhook_id), None)


def parse_time(text: str) -> datetime:
    assert ISO_UTC_RE.match(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------- create and read


def test_created_webhook_is_answered_with_its_secret_and_stored(app, client, token):
    response = call(client, "POST", "/webhooks", token, {**VALID, "name": "  Zapier Integration "})

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == WEBHOOK_KEYS | SECRET_KEYS
    assert response.headers["Location"] == f"/api/v1/webhooks/{body['id']}"
    assert body["name"] == "Zapier Integration"  # stripped, as the form does
    assert (body["url"], body["event"]) == (VALID["url"], VALID["event"])
    assert (body["payload_format"], body["active"], body["status"]) == ("standard", True, "active")
    assert body["integration"] == "manual"
    assert body["sent_count"] == 0
    assert body["secret"].startswith("whsec_")
    assert body["previous_secret_expires_at"] is None
    assert abs(parse_time(body["created_at"]) - datetime.now(UTC)) < timedelta(minutes=1)
    [stored] = rows(app)
    assert stored["id"] == body["id"]
    assert (stored["name"], stored["url"], stored["event"]) == (
        "Zapier Integration",
        VALID["url"],
        VALID["event"],
    )
    assert stored["secret"] == body["secret"]
    assert stored["integration"] == "manual"
    assert stored["active"] is True


def test_created_webhook_takes_payload_format_and_active(app, client, token):
    response = call(
        client, "POST", "/webhooks", token, {**VALID, "payload_format": "flat", "active": False}
    )

    assert response.status_code == 201
    body = response.get_json()
    assert (body["payload_format"], body["active"], body["status"]) == ("flat", False, "inactive")
    assert (row(app, body["id"])["payload_format"], row(app, body["id"])["active"]) == (
        "flat",
        False,
    )


def test_integration_cannot_be_set_by_the_client(app, client, token):
    response = call(client, "POST", "/webhooks", token, {**VALID, "integration": "zapier"})

    assert assert_invalid(response).keys() == {"integration"}
    assert rows(app) == []


def test_webhook_is_read_back_as_created_without_its_secret(app, client, token):
    created = call(client, "POST", "/webhooks", token, VALID).get_json()

    response = call(client, "GET", f"/webhooks/{created['id']}", token)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == WEBHOOK_KEYS
    assert body == {key: value for key, value in created.items() if key not in SECRET_KEYS}
    assert created["secret"] not in response.get_data(as_text=True)


def test_unicode_name_round_trips(app, client, token):
    name = "Zoë’s 🚀 приёмник"
    created = call(client, "POST", "/webhooks", token, {**VALID, "name": name}).get_json()

    assert call(client, "GET", f"/webhooks/{created['id']}", token).get_json()["name"] == name
    assert row(app, created["id"])["name"] == name


@pytest.mark.parametrize(
    "path", ["/webhooks/999", "/webhooks/99999999999999999999", "/webhooks/abc", "/webhooks/0"]
)
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"], ids=["get", "patch", "delete"])
def test_missing_webhook_is_not_found(client, token, make_webhook, method, path):
    make_webhook()
    body = {"name": "Renamed"} if method == "PATCH" else None

    response = call(client, method, path, token, body)

    assert_api_error(response, 404, "not_found")


@pytest.mark.parametrize("action", ["GET secret", "POST rotate-secret", "POST test"])
@pytest.mark.parametrize("webhook_id", ["999", "99999999999999999999"])
def test_actions_on_a_missing_webhook_are_not_found(client, token, receiver, action, webhook_id):
    method, name = action.split()

    response = call(client, method, f"/webhooks/{webhook_id}/{name}", token)

    assert_api_error(response, 404, "not_found")
    assert receiver.log == []


# ---------------------------------------------------------------- list


def test_list_is_newest_first_with_total_and_no_next_page(client, token, make_webhook):
    ids = [make_webhook(name=f"Hook {n}") for n in range(3)]

    response = call(client, "GET", "/webhooks", token)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"data", "page", "per_page", "total", "next"}
    assert [hook["id"] for hook in body["data"]] == ids[::-1]
    assert all(set(hook) == WEBHOOK_KEYS for hook in body["data"])
    assert (body["page"], body["per_page"], body["total"], body["next"]) == (1, 20, 3, None)


def test_list_orders_by_creation_time_before_id(app, client, token, make_webhook):
    older, newer = make_webhook(name="older"), make_webhook(name="newer")
    update_webhook(app, older, created_at=datetime.now(UTC) + timedelta(hours=1))

    body = call(client, "GET", "/webhooks", token).get_json()

    assert [hook["id"] for hook in body["data"]] == [older, newer]


def test_list_pages_follow_next_until_every_webhook_is_seen(client, token, make_webhook):
    ids = [make_webhook(name=f"Hook {n}") for n in range(5)]
    seen, pages, path = [], [], "/api/v1/webhooks?per_page=2"

    while path is not None:
        response = client.get(path, headers=bearer(token))
        assert response.status_code == 200
        body = response.get_json()
        pages.append((body["page"], len(body["data"]), body["total"]))
        seen += [hook["id"] for hook in body["data"]]
        path = body["next"]
        assert len(pages) < 10

    assert seen == ids[::-1]
    assert pages == [(1, 2, 5), (2, 2, 5), (3, 1, 5)]


def test_page_past_the_end_is_empty(client, token, make_webhook):
    make_webhook()

    body = call(client, "GET", "/webhooks?page=7", token).get_json()

    assert (body["data"], body["total"], body["next"], body["page"]) == ([], 1, None, 7)


def test_list_filters_by_event_and_active_and_next_keeps_the_filters(client, token, make_webhook):
    wanted = [make_webhook(event="invoice_sent", name=f"Wanted {n}") for n in range(3)]
    make_webhook(event="invoice_sent", active=False)
    make_webhook(event="payment_received")

    first = call(client, "GET", "/webhooks?event=invoice_sent&active=true&per_page=2", token)
    body = first.get_json()
    assert [hook["id"] for hook in body["data"]] == wanted[:0:-1]
    assert body["total"] == 3
    assert "event=invoice_sent" in body["next"] and "active=true" in body["next"]
    second = client.get(body["next"], headers=bearer(token)).get_json()

    assert [hook["id"] for hook in second["data"]] == [wanted[0]]
    assert second["next"] is None


def test_list_filters_inactive_webhooks(client, token, make_webhook):
    make_webhook()
    off = make_webhook(active=False)

    body = call(client, "GET", "/webhooks?active=false", token).get_json()

    assert [hook["id"] for hook in body["data"]] == [off]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page=-1", "page"),
        ("page=1.5", "page"),
        ("page=99999999999999999999999", "page"),
        ("page=%D9%A3", "page"),  # an Arabic-Indic digit three
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("active=maybe", "active"),
        ("event=not_an_event", "event"),
        ("event=%F0%9F%9A%80", "event"),
        ("colour=red", "colour"),
    ],
)
def test_unusable_query_parameter_is_refused_with_its_name(client, token, query, field):
    response = call(client, "GET", f"/webhooks?{query}", token)

    assert list(assert_invalid(response)) == [field]


def test_every_unusable_query_parameter_is_named_at_once(client, token):
    response = call(client, "GET", "/webhooks?page=x&per_page=500&active=2&sort=name", token)

    assert set(assert_invalid(response)) == {"page", "per_page", "active", "sort"}


# ---------------------------------------------------------------- the form's rules


NAME_REQUIRED = "Give the webhook a name."
NAME_LENGTH = "The name must be 2 to 191 characters long."
URL_REQUIRED = "Enter the URL that should receive the events."
URL_SCHEME = "The URL must start with http:// or https://."
URL_CREDENTIALS = (
    "Remove the user name and password from the URL; credentials in URLs leak into logs."
)
URL_SPACES = "The URL must not contain spaces or control characters."
URL_NO_HOST = "The URL must include a host name, e.g. https://example.com/hook."
EVENT_CHOICE = "Choose one of the events in the list."
FORMAT_CHOICE = "Choose a payload format: Standard or Flat."

FORM_CASES = [
    pytest.param("name", "", NAME_REQUIRED, id="name-empty"),
    pytest.param("name", "   ", NAME_LENGTH, id="name-only-spaces"),
    pytest.param("name", "A", NAME_LENGTH, id="name-1-char"),
    pytest.param("name", "N" * 192, NAME_LENGTH, id="name-192-chars"),
    pytest.param("url", "", URL_REQUIRED, id="url-empty"),
    pytest.param("url", "example.com/hook", URL_SCHEME, id="url-not-absolute"),
    pytest.param("url", "javascript:alert(1)", URL_SCHEME, id="url-javascript"),
    pytest.param("url", "https://user:pass@example.com/", URL_CREDENTIALS, id="url-credentials"),
    pytest.param("url", "https://exa mple.com", URL_SPACES, id="url-space"),
    pytest.param("url", "https://example.com/\x00", URL_SPACES, id="url-nul"),
    pytest.param("url", "https:///hook", URL_NO_HOST, id="url-no-host"),
    pytest.param("event", "not_an_event", EVENT_CHOICE, id="event-unknown"),
    pytest.param("event", "", EVENT_CHOICE, id="event-empty"),
    pytest.param("payload_format", "xml", FORMAT_CHOICE, id="format-unknown"),
]


@pytest.mark.parametrize(("field", "value", "message"), FORM_CASES)
def test_create_refuses_what_the_form_refuses_with_its_message(
    app, client, token, field, value, message
):
    response = call(client, "POST", "/webhooks", token, {**VALID, field: value})

    assert assert_invalid(response) == {field: [message]}
    assert rows(app) == []


@pytest.mark.parametrize(("field", "value", "message"), FORM_CASES)
def test_admin_form_gives_the_same_message(admin, field, value, message):
    """The messages above are the admin form's own, shown beside the field."""
    data = {**VALID, "payload_format": "standard", "active": "y", field: value}
    assert message not in html.unescape(admin.get("/webhooks/new").get_data(as_text=True))

    page = post_form(admin, "/webhooks/new", data, "/webhooks/new").get_data(as_text=True)

    assert message in html.unescape(page)


@pytest.mark.parametrize(("field", "value", "message"), FORM_CASES)
def test_update_refuses_what_the_form_refuses_and_keeps_the_row(
    app, client, token, make_webhook, field, value, message
):
    webhook_id = make_webhook(name="Original")
    before = row(app, webhook_id)

    response = call(client, "PATCH", f"/webhooks/{webhook_id}", token, {field: value})

    assert assert_invalid(response) == {field: [message]}
    assert row(app, webhook_id) == before


@pytest.mark.parametrize("missing", ["name", "url", "event"])
def test_create_requires_name_url_and_event(app, client, token, missing):
    payload = {key: value for key, value in VALID.items() if key != missing}

    response = call(client, "POST", "/webhooks", token, payload)

    assert missing in assert_invalid(response)
    assert rows(app) == []


def test_empty_object_names_every_required_field(app, client, token):
    fields = assert_invalid(call(client, "POST", "/webhooks", token, {}))

    assert fields == {"name": [NAME_REQUIRED], "url": [URL_REQUIRED], "event": [EVENT_CHOICE]}
    assert rows(app) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": 5}, "name"),
        ({"name": None}, "name"),
        ({"name": ["Zapier"]}, "name"),
        ({"url": {"href": "https://example.com"}}, "url"),
        ({"event": None}, "event"),
        ({"payload_format": None}, "payload_format"),
        ({"active": "true"}, "active"),
        ({"active": 1}, "active"),
        ({"active": None}, "active"),
        ({"secret": "whsec_mine"}, "secret"),
        ({"id": 7}, "id"),
        ({"": 1}, ""),
    ],
)
def test_wrong_type_or_unknown_field_is_refused_and_stores_nothing(
    app, client, token, changes, field
):
    response = call(client, "POST", "/webhooks", token, {**VALID, **changes})

    assert list(assert_invalid(response)) == [field]
    assert rows(app) == []


def test_every_problem_is_named_at_once(app, client, token):
    payload = {"name": "A", "url": 7, "event": "nope", "active": "yes", "extra": True}

    fields = assert_invalid(call(client, "POST", "/webhooks", token, payload))

    assert set(fields) == {"name", "url", "event", "active", "extra"}
    assert fields["url"] == ["Must be a string."]
    assert fields["active"] == ["Must be true or false."]
    assert fields["extra"][0].startswith("Unknown field")


@pytest.mark.parametrize("field", ["name", "url"])
def test_text_with_a_lone_surrogate_is_refused_not_a_server_error(app, client, token, field):
    raw = json.dumps({**VALID, field: VALID[field] + "\ud800"})

    response = client.post(
        "/api/v1/webhooks", data=raw, content_type="application/json", headers=bearer(token)
    )

    assert list(assert_invalid(response)) == [field]
    assert rows(app) == []


# ---------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/webhooks"), ("PATCH", "/webhooks/{id}")],
    ids=["create", "update"],
)
@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (json.dumps(VALID), None, 415, "unsupported_media_type"),
        (json.dumps(VALID), "text/plain", 415, "unsupported_media_type"),
        ("name=Zapier", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ('{"name": "Zapier",', "application/json", 400, "invalid_json"),
        ("", "application/json", 400, "invalid_json"),
        (b"\xff\xfe", "application/json", 400, "invalid_json"),
        ("[" * 100_000, "application/json", 400, "invalid_json"),
        ("[]", "application/json", 422, "validation_failed"),
        ('"Zapier"', "application/json", 422, "validation_failed"),
        ("null", "application/json", 422, "validation_failed"),
        ("42", "application/json", 422, "validation_failed"),
    ],
    ids=[
        "no-content-type",
        "text-plain",
        "form-encoded",
        "cut-short",
        "empty",
        "not-utf8",
        "deeply-nested",
        "array",
        "string",
        "null",
        "number",
    ],
)
def test_body_that_is_not_a_json_object_is_refused_and_changes_nothing(
    app, client, token, make_webhook, method, path, data, content_type, status, code
):
    webhook_id = make_webhook()
    before = rows(app)

    response = client.open(
        "/api/v1" + path.format(id=webhook_id),
        method=method,
        data=data,
        content_type=content_type,
        headers=bearer(token),
    )

    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == code
    assert rows(app) == before


def test_body_over_the_size_limit_is_refused(app, client, token):
    payload = json.dumps({**VALID, "name": "N" * (2 * 1024 * 1024)})

    response = client.post(
        "/api/v1/webhooks", data=payload, content_type="application/json", headers=bearer(token)
    )

    assert_api_error(response, 413)
    assert rows(app) == []


# ---------------------------------------------------------------- update and delete


def test_update_changes_only_the_fields_sent(app, client, token, make_webhook):
    webhook_id = make_webhook(name="Original", payload_format="flat")
    before = row(app, webhook_id)

    response = call(client, "PATCH", f"/webhooks/{webhook_id}", token, {"name": " Renamed "})

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == WEBHOOK_KEYS
    assert (body["name"], body["url"], body["payload_format"]) == (
        "Renamed",
        before["url"],
        "flat",
    )
    after = row(app, webhook_id)
    assert after["name"] == "Renamed"
    assert after["updated_at"] > before["updated_at"]
    unchanged = {"name", "updated_at"}
    assert {k: v for k, v in after.items() if k not in unchanged} == {
        k: v for k, v in before.items() if k not in unchanged
    }
    assert parse_time(body["updated_at"]) == after["updated_at"].replace(
        microsecond=after["updated_at"].microsecond // 1000 * 1000
    )


def test_update_can_change_every_field(app, client, token, make_webhook):
    webhook_id = make_webhook()
    changes = {
        "name": "Everything",
        "url": "http://10.0.0.5:8080/in?x=1",
        "event": "site_published",
        "payload_format": "flat",
        "active": False,
    }

    body = call(client, "PATCH", f"/webhooks/{webhook_id}", token, changes).get_json()

    assert {key: body[key] for key in changes} == changes
    assert {key: row(app, webhook_id)[key] for key in changes} == changes
    assert body["status"] == "inactive"


def test_empty_update_changes_nothing(app, client, token, make_webhook):
    webhook_id = make_webhook()
    before = row(app, webhook_id)

    response = call(client, "PATCH", f"/webhooks/{webhook_id}", token, {})

    assert response.status_code == 200
    assert response.get_json()["name"] == before["name"]
    assert row(app, webhook_id) == before


def test_active_true_re_enables_a_disabled_webhook(app, client, token, make_webhook):
    webhook_id = make_webhook(
        active=False,
        disabled_at=datetime.now(UTC),
        disabled_reason="Every attempt failed for 5 days.",
        failing_since=datetime.now(UTC) - timedelta(days=5),
    )
    shown = call(client, "GET", f"/webhooks/{webhook_id}", token).get_json()
    assert (shown["status"], shown["disabled_reason"]) == (
        "disabled",
        "Every attempt failed for 5 days.",
    )

    response = call(client, "PATCH", f"/webhooks/{webhook_id}", token, {"active": True})

    body = response.get_json()
    assert response.status_code == 200
    assert (body["status"], body["active"]) == ("active", True)
    assert body["disabled_at"] is None and body["disabled_reason"] is None
    assert body["failing_since"] is None
    after = row(app, webhook_id)
    assert (after["active"], after["disabled_at"], after["disabled_reason"]) == (True, None, None)
    assert after["failing_since"] is None


def test_other_changes_leave_a_disabled_webhook_disabled(app, client, token, make_webhook):
    webhook_id = make_webhook(active=False, disabled_at=datetime.now(UTC), disabled_reason="x")

    body = call(client, "PATCH", f"/webhooks/{webhook_id}", token, {"name": "Renamed"}).get_json()

    assert (body["name"], body["status"]) == ("Renamed", "disabled")
    assert row(app, webhook_id)["disabled_at"] is not None


def test_active_false_switches_a_webhook_off(app, client, token, make_webhook):
    webhook_id = make_webhook()

    body = call(client, "PATCH", f"/webhooks/{webhook_id}", token, {"active": False}).get_json()

    assert (body["active"], body["status"]) == (False, "inactive")
    assert row(app, webhook_id)["active"] is False


def test_delete_removes_the_webhook_and_its_delivery_log(app, client, token, make_webhook):
    webhook_id, other = make_webhook(), make_webhook(name="Other")
    with app.app_context():
        for hook in (webhook_id, other):
            delivery = Delivery(
                webhook_id=hook, event_type="invoice_sent", body="{}", status="test"
            )
            delivery.attempts.append(
                Attempt(
                    url="https://example.com", request_headers="{}", succeeded=True, summary="ok"
                )
            )
            db.session.add(delivery)
        db.session.commit()

    response = call(client, "DELETE", f"/webhooks/{webhook_id}", token)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert [hook["id"] for hook in rows(app)] == [other]
    assert deliveries_of(app, webhook_id) == []
    assert len(deliveries_of(app, other)) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attempt)) == 1
    assert_api_error(call(client, "GET", f"/webhooks/{webhook_id}", token), 404, "not_found")
    assert_api_error(call(client, "DELETE", f"/webhooks/{webhook_id}", token), 404, "not_found")


# ---------------------------------------------------------------- tokens


READ_ONLY_REFUSED = [
    ("POST", "/webhooks", VALID),
    ("PATCH", "/webhooks/{id}", {"name": "Renamed"}),
    ("DELETE", "/webhooks/{id}", None),
    ("GET", "/webhooks/{id}/secret", None),
    ("POST", "/webhooks/{id}/rotate-secret", None),
    ("POST", "/webhooks/{id}/test", None),
]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    READ_ONLY_REFUSED,
    ids=["create", "update", "delete", "secret", "rotate", "test"],
)
def test_read_only_token_cannot_write_or_see_the_secret(
    app, client, read_token, receiver, make_webhook, method, path, body
):
    receiver.expect_request("/hook").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))
    before = rows(app)

    response = call(client, method, path.format(id=webhook_id), read_token, body)

    message = assert_api_error(response, 403, "read_only_token")
    assert "whsec_" not in response.get_data(as_text=True)
    assert "read-only" in message
    assert rows(app) == before
    assert receiver.log == []
    assert deliveries_of(app, webhook_id) == []


def test_read_only_token_cannot_learn_which_secrets_exist(client, read_token):
    response = call(client, "GET", "/webhooks/999/secret", read_token)

    assert_api_error(response, 403, "read_only_token")


def test_read_only_token_can_list_and_read(client, read_token, make_webhook):
    webhook_id = make_webhook()

    listed = call(client, "GET", "/webhooks", read_token)
    one = call(client, "GET", f"/webhooks/{webhook_id}", read_token)

    assert listed.status_code == 200
    assert [hook["id"] for hook in listed.get_json()["data"]] == [webhook_id]
    assert one.status_code == 200
    assert one.get_json()["id"] == webhook_id


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/webhooks"),
        ("POST", "/webhooks"),
        ("GET", "/webhooks/{id}"),
        ("PATCH", "/webhooks/{id}"),
        ("DELETE", "/webhooks/{id}"),
        ("GET", "/webhooks/{id}/secret"),
        ("POST", "/webhooks/{id}/rotate-secret"),
        ("POST", "/webhooks/{id}/test"),
    ],
)
def test_every_webhook_endpoint_needs_a_token(app, client, receiver, make_webhook, method, path):
    webhook_id = make_webhook(url=receiver.url_for("/hook"))
    before = rows(app)

    response = client.open(f"/api/v1{path.format(id=webhook_id)}", method=method, json={})

    assert_api_error(response, 401, "unauthorized")
    assert rows(app) == before
    assert receiver.log == []


# ---------------------------------------------------------------- the signing secret


def test_secret_is_the_stored_one(app, client, token, make_webhook):
    webhook_id = make_webhook()

    response = call(client, "GET", f"/webhooks/{webhook_id}/secret", token)

    assert response.status_code == 200
    assert response.get_json() == {
        "secret": row(app, webhook_id)["secret"],
        "previous_secret_expires_at": None,
    }


def test_rotated_secret_is_new_and_the_old_one_signs_too_for_the_overlap(
    app, client, token, receiver, make_webhook
):
    receiver.expect_request("/hook").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))
    old = row(app, webhook_id)["secret"]

    response = call(client, "POST", f"/webhooks/{webhook_id}/rotate-secret", token)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == SECRET_KEYS
    assert body["secret"].startswith("whsec_") and body["secret"] != old
    expires = parse_time(body["previous_secret_expires_at"])
    assert abs(expires - (datetime.now(UTC) + SECRET_OVERLAP)) < timedelta(minutes=1)
    stored = row(app, webhook_id)
    assert (stored["secret"], stored["previous_secret"]) == (body["secret"], old)
    assert abs(stored["previous_secret_expires_at"] - expires) < timedelta(milliseconds=1)
    assert call(client, "GET", f"/webhooks/{webhook_id}/secret", token).get_json() == body

    sent = call(client, "POST", f"/webhooks/{webhook_id}/test", token)

    assert sent.get_json()["ok"] is True
    request, _ = receiver.log[0]
    assert len(request.headers["webhook-signature"].split()) == 2
    assert verify(old, request)["type"] == "payment_received"
    assert verify(body["secret"], request)["type"] == "payment_received"


def test_previous_secret_is_not_shown_once_the_overlap_is_over(app, client, token, make_webhook):
    webhook_id = make_webhook()
    call(client, "POST", f"/webhooks/{webhook_id}/rotate-secret", token)
    update_webhook(
        app, webhook_id, previous_secret_expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )

    body = call(client, "GET", f"/webhooks/{webhook_id}/secret", token).get_json()

    assert body == {"secret": row(app, webhook_id)["secret"], "previous_secret_expires_at": None}


def test_rotate_secret_refuses_a_body_it_does_not_use(app, client, token, make_webhook):
    webhook_id = make_webhook()
    before = row(app, webhook_id)

    response = call(client, "POST", f"/webhooks/{webhook_id}/rotate-secret", token, {"x": 1})

    assert list(assert_invalid(response)) == ["x"]
    assert row(app, webhook_id) == before


# ---------------------------------------------------------------- Send Test Event


def test_test_event_to_a_working_receiver_is_ok(app, client, token, receiver, make_webhook):
    receiver.expect_request("/hook", method="POST").respond_with_data("thanks")
    webhook_id = make_webhook(url=receiver.url_for("/hook"), event="customer_created")

    response = call(client, "POST", f"/webhooks/{webhook_id}/test", token)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == TEST_RESULT_KEYS
    assert (body["ok"], body["status_code"], body["error"]) == (True, 200, None)
    assert body["response_body"] == "thanks"
    assert body["summary"].startswith("HTTP 200 OK")
    assert isinstance(body["duration_ms"], int)
    assert len(receiver.log) == 1
    payload = verify(row(app, webhook_id)["secret"], receiver.log[0][0])
    assert payload["type"] == "customer_created"
    [delivery] = deliveries_of(app, webhook_id)
    assert (delivery["status"], delivery["event_id"]) == ("test", None)
    assert delivery["attempts"][0]["succeeded"] is True


def test_test_event_to_a_failing_receiver_is_not_ok(app, client, token, receiver, make_webhook):
    receiver.expect_request("/hook").respond_with_data("broken", status=500)
    webhook_id = make_webhook(url=receiver.url_for("/hook"))

    response = call(client, "POST", f"/webhooks/{webhook_id}/test", token)

    assert response.status_code == 200
    body = response.get_json()
    assert (body["ok"], body["status_code"], body["response_body"]) == (False, 500, "broken")
    assert "HTTP 500" in body["error"]
    assert len(receiver.log) == 1
    [delivery] = deliveries_of(app, webhook_id)
    assert delivery["attempts"][0]["response_status"] == 500


def test_test_event_to_nothing_listening_is_not_ok(app, client, token, make_webhook):
    webhook_id = make_webhook(url=f"http://127.0.0.1:{unused_port()}/hook")

    body = call(client, "POST", f"/webhooks/{webhook_id}/test", token).get_json()

    assert body["ok"] is False
    assert body["status_code"] is None
    assert "connection refused" in body["error"]


@pytest.fixture
def no_allow_list(config):
    config["ALLOWED_NETWORKS"] = ""
    return config


def test_test_event_to_an_address_the_guard_refuses_is_not_ok(
    no_allow_list, app, client, token, receiver, make_webhook
):
    receiver.expect_request("/hook").respond_with_data("should never be reached")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))

    response = call(client, "POST", f"/webhooks/{webhook_id}/test", token)

    assert response.status_code == 200
    body = response.get_json()
    assert (body["ok"], body["status_code"]) == (False, None)
    assert "blocked address" in body["error"]
    assert "loopback" in body["error"]
    assert receiver.log == []
    [delivery] = deliveries_of(app, webhook_id)
    assert delivery["attempts"][0]["succeeded"] is False


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(None, None), ("", "application/json"), ("{}", "application/json")],
    ids=["no-body", "empty-json-body", "empty-object"],
)
def test_test_event_needs_no_body(client, token, receiver, make_webhook, data, content_type):
    receiver.expect_request("/hook").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))

    response = client.post(
        f"/api/v1/webhooks/{webhook_id}/test",
        data=data,
        content_type=content_type,
        headers=bearer(token),
    )

    assert response.status_code == 200
    assert response.get_json()["ok"] is True
    assert len(receiver.log) == 1


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ('{"event": "x"}', "application/json", 422),
        ("{", "application/json", 400),
        ("[]", "application/json", 422),
        ("hello", "text/plain", 415),
    ],
)
def test_test_event_refuses_a_body_it_cannot_use_and_sends_nothing(
    app, client, token, receiver, make_webhook, data, content_type, status
):
    webhook_id = make_webhook(url=receiver.url_for("/hook"))

    response = client.post(
        f"/api/v1/webhooks/{webhook_id}/test",
        data=data,
        content_type=content_type,
        headers=bearer(token),
    )

    assert response.status_code == status
    assert "error" in response.get_json()
    assert receiver.log == []
    assert deliveries_of(app, webhook_id) == []


@pytest.mark.parametrize("raw_id", ["１", "١", "1٠"])
def test_an_id_in_other_scripts_digits_is_not_found(app, client, make_webhook, raw_id):
    make_webhook(name="One")  # id 1, which "１" would mean if non-ASCII digits were read

    response = client.get(f"/api/v1/webhooks/{raw_id}", headers=bearer(api_token(app)))

    assert_api_error(response, 404, "not_found")


# ---------------------------------------------------------------- isolation limits


def test_limits_default_to_ten_at_once_and_no_rate_limit(app, client, token):
    response = call(client, "POST", "/webhooks", token, VALID)

    body = response.get_json()
    assert (body["max_in_flight"], body["rate_limit"]) == (10, None)
    assert (body["receiver_down_since"], body["next_probe_at"]) == (None, None)


def test_limits_are_set_on_create_and_changed_and_cleared_by_patch(app, client, token):
    body = call(
        client, "POST", "/webhooks", token, {**VALID, "max_in_flight": 3, "rate_limit": 20}
    ).get_json()
    assert (body["max_in_flight"], body["rate_limit"]) == (3, 20)

    changed = call(client, "PATCH", f"/webhooks/{body['id']}", token, {"max_in_flight": 50})
    assert (changed.get_json()["max_in_flight"], changed.get_json()["rate_limit"]) == (50, 20)
    cleared = call(client, "PATCH", f"/webhooks/{body['id']}", token, {"rate_limit": None})
    assert cleared.get_json()["rate_limit"] is None
    assert (row(app, body["id"])["max_in_flight"], row(app, body["id"])["rate_limit"]) == (50, None)


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"max_in_flight": 0}, "max_in_flight", "from 1 to 1000"),
        ({"max_in_flight": 1001}, "max_in_flight", "from 1 to 1000"),
        ({"max_in_flight": None}, "max_in_flight", "Must be an integer."),
        ({"max_in_flight": "5"}, "max_in_flight", "Must be an integer."),
        ({"max_in_flight": 2.5}, "max_in_flight", "Must be an integer."),
        ({"max_in_flight": True}, "max_in_flight", "Must be an integer."),
        ({"rate_limit": 0}, "rate_limit", "from 1 to 10000, or leave it empty"),
        ({"rate_limit": 10**12}, "rate_limit", "from 1 to 10000, or leave it empty"),
        ({"rate_limit": "fast"}, "rate_limit", "Must be an integer or null."),
    ],
)
def test_a_limit_out_of_range_is_a_422_naming_it_and_nothing_is_saved(
    app, client, token, fields, field, words
):
    created = call(client, "POST", "/webhooks", token, {**VALID, **fields})
    assert_api_error(created, 422, "validation_failed")
    assert words in " ".join(created.get_json()["error"]["fields"][field])
    assert rows(app) == []

    webhook_id = call(client, "POST", "/webhooks", token, VALID).get_json()["id"]
    before = row(app, webhook_id)
    changed = call(client, "PATCH", f"/webhooks/{webhook_id}", token, fields)
    assert_api_error(changed, 422, "validation_failed")
    assert set(changed.get_json()["error"]["fields"]) == {field}
    assert row(app, webhook_id) == before

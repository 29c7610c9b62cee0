"""POST /api/v1/events and GET /api/v1/events/{id}: what a platform reporting events over
HTTP sees.

Accepted events are answered 202 with their id; a repeated idempotency key 200 with the first
event. The request stores the event alone: the engine expands it into its deliveries afterwards,
and GET /api/v1/events/{id} shows when, and into how many. Every bad request gets a 4xx in the
API's one error shape and writes nothing.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.engine_helpers import (
    FakeClock,
    api_token,
    assert_api_error,
    bearer,
    expand,
    post_event,
    stored,
    token_row,
    verify,
    webhook_values,
    work,
)
from webhooks.extensions import db
from webhooks.models import ApiToken, Event, as_utc
from webhooks.tokens import revoke

NOTHING = {"events": 0, "deliveries": 0, "attempts": 0}
PAYMENT = {"payment_id": 7, "payment_total": "$9.00"}


@pytest.fixture
def config(config):
    # An unexpected exception must come back as the 500 a client would see, not be raised.
    config["PROPAGATE_EXCEPTIONS"] = False
    return config


@pytest.fixture
def token(app):
    return api_token(app)


@pytest.fixture
def subscribers(make_webhook):
    """Two webhooks on payment_received (Standard and Flat) and one on another event."""
    return [
        make_webhook(name="standard"),
        make_webhook(name="flat", payload_format="flat"),
        make_webhook(name="other", event="customer_created"),
    ]


def get_event(client, token: str | None, event_id: str):
    headers = bearer(token) if token else {}
    return client.get(f"/api/v1/events/{event_id}", headers=headers)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def to_ms(value: datetime) -> datetime:
    """A stored time as the API shows it: to the millisecond."""
    value = as_utc(value)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def stored_event(app, uid: str) -> dict:
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.uid == uid))
        return {
            "created_at": as_utc(event.created_at),
            "expanded_at": as_utc(event.expanded_at) if event.expanded_at else None,
            "delivery_count": event.delivery_count,
        }


def event_rows(app) -> list[dict]:
    with app.app_context():
        return [
            {"uid": e.uid, "type": e.type, "data": json.loads(e.data), "source": e.source}
            for e in db.session.query(Event).order_by(Event.id)
        ]


# ---------------------------------------------------------------- accepted


def test_reported_event_is_accepted_with_its_id_and_type_and_stored_alone(
    app, client, token, subscribers
):
    response = post_event(client, token, {"type": "payment_received", "data": PAYMENT})

    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert set(body) == {
        "id",
        "type",
        "idempotency_key",
        "created_at",
        "expanded_at",
        "deliveries",
        "schema_problems",
    }
    assert body["id"].startswith("evt_")
    assert body["type"] == "payment_received"
    assert body["idempotency_key"] is None
    assert body["created_at"].endswith("Z")
    assert moment(body["created_at"]) == to_ms(stored_event(app, body["id"])["created_at"])
    # Not expanded yet: the engine writes the deliveries after the request.
    assert body["expanded_at"] is None
    assert body["deliveries"] is None
    assert event_rows(app) == [
        {"uid": body["id"], "type": "payment_received", "data": PAYMENT, "source": "api"}
    ]
    assert stored(app) == {"events": 1, "deliveries": 0, "attempts": 0}

    # Expanded, it has one delivery per subscribed webhook, written once.
    assert expand(app) == 2
    assert expand(app) == 0
    assert stored(app) == {"events": 1, "deliveries": 2, "attempts": 0}
    assert stored_event(app, body["id"])["delivery_count"] == 2


def test_event_nobody_subscribed_to_is_accepted_and_expanded_into_no_deliveries(app, client, token):
    response = post_event(client, token, {"type": "invoice_sent", "data": {}})

    assert response.status_code == 202
    assert response.get_json()["deliveries"] is None
    assert expand(app) == 0
    assert stored(app) == {"events": 1, "deliveries": 0, "attempts": 0}
    shown = get_event(client, token, response.get_json()["id"]).get_json()
    assert shown["deliveries"] == 0
    assert shown["expanded_at"] is not None


def test_reported_event_reaches_the_receiver_signed(app, client, token, receiver, make_webhook):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))

    response = post_event(client, token, {"type": "payment_received", "data": PAYMENT})
    assert response.status_code == 202
    work(app, FakeClock())

    assert len(receiver.log) == 1
    request, _ = receiver.log[0]
    payload = verify(webhook_values(app, webhook_id)["secret"], request)
    assert payload["type"] == "payment_received"
    assert payload["data"] == PAYMENT


def test_same_id_twice_returns_the_first_event_and_stores_nothing_new(
    app, client, token, subscribers
):
    payload = {"type": "payment_received", "data": PAYMENT, "id": "order-7-paid"}

    first = post_event(client, token, payload)
    second = post_event(client, token, payload)

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.get_json() == first.get_json()
    assert second.get_json()["idempotency_key"] == "order-7-paid"
    assert stored(app) == {"events": 1, "deliveries": 0, "attempts": 0}

    # Once expanded, the same id answers the first event with its deliveries.
    assert expand(app) == 2
    third = post_event(client, token, payload)
    assert third.status_code == 200
    assert third.get_json()["id"] == first.get_json()["id"]
    assert third.get_json()["deliveries"] == 2
    assert third.get_json()["expanded_at"] is not None
    assert stored(app) == {"events": 1, "deliveries": 2, "attempts": 0}


def test_different_ids_store_different_events(app, client, token, subscribers):
    first = post_event(client, token, {"type": "payment_received", "data": {}, "id": "a"})
    second = post_event(client, token, {"type": "payment_received", "data": {}, "id": "b"})

    assert (first.status_code, second.status_code) == (202, 202)
    assert first.get_json()["id"] != second.get_json()["id"]
    assert stored(app)["events"] == 2


def test_id_of_255_characters_is_accepted(app, client, token):
    response = post_event(client, token, {"type": "payment_received", "data": {}, "id": "k" * 255})

    assert response.status_code == 202
    assert response.get_json()["idempotency_key"] == "k" * 255


def test_charset_in_content_type_is_accepted(app, client, token):
    response = post_event(
        client,
        token,
        {"type": "payment_received", "data": {"name": "Zoë"}},
        content_type="application/json; charset=utf-8",
    )

    assert response.status_code == 202
    assert event_rows(app)[0]["data"] == {"name": "Zoë"}


# ---------------------------------------------------------------- tokens


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic YWRtaW46cGFzc3dvcmQ=",
        "Token whk_abc",
    ],
    ids=["none", "empty", "bearer-alone", "bearer-blank", "basic", "other-scheme"],
)
def test_request_without_a_bearer_token_is_unauthorized(app, client, subscribers, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.post(
        "/api/v1/events", json={"type": "payment_received", "data": {}}, headers=headers
    )

    message = assert_api_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "tokens create" in message
    assert stored(app) == NOTHING


@pytest.mark.parametrize(
    "value",
    ["whk_not-a-real-token", "not-even-the-prefix", "whk_" + "x" * 300],
    ids=["unknown", "no-prefix", "too-long"],
)
def test_unknown_token_is_unauthorized(app, client, token, subscribers, value):
    response = post_event(client, value, {"type": "payment_received", "data": {}})

    assert_api_error(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert stored(app) == NOTHING


def test_token_with_one_character_changed_is_unauthorized(app, client, token, subscribers):
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")

    assert_api_error(post_event(client, forged, {"type": "payment_received", "data": {}}), 401)
    assert stored(app) == NOTHING


def test_revoked_token_is_unauthorized(app, client, token, subscribers):
    assert post_event(client, token, {"type": "payment_received", "data": {}}).status_code == 202
    with app.app_context():
        revoke(db.session.get(ApiToken, token_row(app, token).id))
        db.session.commit()

    response = post_event(client, token, {"type": "payment_received", "data": {}})

    assert_api_error(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert stored(app)["events"] == 1


def test_using_a_token_notes_when_it_was_last_used(app, client, token):
    assert token_row(app, token).last_used_at is None

    post_event(client, token, {"type": "payment_received", "data": {}})

    assert token_row(app, token).last_used_at is not None


def test_read_only_token_cannot_report_events(app, client, subscribers):
    read_only = api_token(app, "dashboard", scope="read")

    response = post_event(client, read_only, {"type": "payment_received", "data": {}})

    message = assert_api_error(response, 403, "read_only_token")
    assert "read-only" in message
    assert stored(app) == NOTHING


# ---------------------------------------------------------------- malformed requests


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", ""],
)
def test_body_that_is_not_sent_as_json_is_unsupported(
    app, client, token, subscribers, content_type
):
    response = client.post(
        "/api/v1/events",
        data=json.dumps({"type": "payment_received", "data": {}}),
        headers={**bearer(token), "Content-Type": content_type},
    )

    message = assert_api_error(response, 415, "unsupported_media_type")
    assert "application/json" in message
    assert stored(app) == NOTHING


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "{",
        "{'type': 'payment_received'}",
        '{"type": "payment_received", "data": {}',
        '{"type": "payment_received", "data": {}} trailing',
        b'{"type": "payment_received", "data": {"x": "\xff\xfe"}}',
    ],
    ids=["empty", "open-brace", "single-quotes", "truncated", "trailing", "not-utf8"],
)
def test_body_that_is_not_valid_json_is_a_bad_request(app, client, token, subscribers, raw):
    response = post_event(client, token, raw=raw)

    message = assert_api_error(response, 400, "invalid_json")
    assert "not valid JSON" in message
    assert stored(app) == NOTHING


@pytest.mark.parametrize(
    "payload",
    [[], [{"type": "payment_received", "data": {}}], "payment_received", 42, None, True],
    ids=["empty-list", "list", "string", "number", "null", "true"],
)
def test_body_that_is_not_an_object_is_rejected(app, client, token, subscribers, payload):
    response = post_event(client, token, payload)

    message = assert_api_error(response, 422, "invalid_body")
    assert "`type`" in message and "`data`" in message
    assert stored(app) == NOTHING


def test_event_without_type_is_rejected(app, client, token, subscribers):
    response = post_event(client, token, {"data": PAYMENT})

    assert "`type` is required" in assert_api_error(response, 422, "missing_type")
    assert stored(app) == NOTHING


@pytest.mark.parametrize(
    "event_type",
    ["payment_recieved", "PAYMENT_RECEIVED", "", None, 5, ["payment_received"], {"a": 1}],
    ids=["typo", "upper", "empty", "null", "number", "list", "object"],
)
def test_event_of_unknown_type_is_rejected(app, client, token, subscribers, event_type):
    response = post_event(client, token, {"type": event_type, "data": PAYMENT})

    message = assert_api_error(response, 422, "unknown_event_type")
    assert "catalogue" in message
    assert stored(app) == NOTHING


def test_event_without_data_is_rejected(app, client, token, subscribers):
    response = post_event(client, token, {"type": "payment_received"})

    assert "`data` is required" in assert_api_error(response, 422, "missing_data")
    assert stored(app) == NOTHING


@pytest.mark.parametrize(
    "data",
    [[], [1, 2], "payment", "", None, 7, 1.5, True],
    ids=["empty-list", "list", "string", "empty-string", "null", "int", "float", "bool"],
)
def test_data_that_is_not_an_object_is_rejected(app, client, token, subscribers, data):
    response = post_event(client, token, {"type": "payment_received", "data": data})

    message = assert_api_error(response, 422, "invalid_data")
    assert "JSON object" in message
    assert stored(app) == NOTHING


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_data_with_a_number_json_cannot_carry_is_rejected(
    app, client, token, subscribers, constant
):
    raw = '{"type": "payment_received", "data": {"total": ' + constant + "}}"

    assert_api_error(post_event(client, token, raw=raw), 422, "invalid_data")
    assert stored(app) == NOTHING


@pytest.mark.parametrize(
    "key",
    [
        5,
        1.5,
        True,
        "",
        "k" * 256,
        "k" * 10_000,
        [],
        ["a"],
        {"k": "v"},
    ],
    ids=["int", "float", "bool", "empty", "256", "10000", "empty-list", "list", "object"],
)
def test_id_that_is_not_a_short_string_is_rejected(app, client, token, subscribers, key):
    response = post_event(client, token, {"type": "payment_received", "data": {}, "id": key})

    message = assert_api_error(response, 422, "invalid_id")
    assert "255" in message
    assert stored(app) == NOTHING


def test_null_id_is_the_same_as_no_id(app, client, token):
    first = post_event(client, token, {"type": "payment_received", "data": {}, "id": None})
    second = post_event(client, token, {"type": "payment_received", "data": {}, "id": None})

    assert (first.status_code, second.status_code) == (202, 202)
    assert stored(app)["events"] == 2


def test_reused_id_with_bad_data_is_still_rejected(app, client, token, subscribers):
    first = post_event(client, token, {"type": "payment_received", "data": {}, "id": "k"})
    assert first.status_code == 202

    response = post_event(client, token, {"type": "payment_received", "data": [], "id": "k"})

    assert_api_error(response, 422, "invalid_data")
    assert stored(app) == {"events": 1, "deliveries": 0, "attempts": 0}
    assert expand(app) == 2
    assert stored(app) == {"events": 1, "deliveries": 2, "attempts": 0}


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "payment_received", "data": {"name": "\\ud800"}}',
        '{"type": "payment_received", "data": {"\\udfff": 1}}',
        '{"type": "payment_received", "data": {}, "id": "\\ud83d"}',
    ],
    ids=["in-a-value", "in-a-key", "in-the-id"],
)
def test_text_that_is_not_unicode_is_refused_not_a_crash(app, client, token, subscribers, raw):
    response = post_event(client, token, raw=raw)

    assert response.status_code in (400, 422), response.get_json()
    assert_api_error(response, response.status_code)
    assert stored(app) == NOTHING


def test_escaped_unicode_that_is_valid_is_kept(app, client, token, subscribers):
    raw = '{"type": "payment_received", "data": {"name": "Zo\\u00eb \\ud83d\\ude00"}}'

    assert post_event(client, token, raw=raw).status_code == 202
    assert event_rows(app)[0]["data"] == {"name": "Zoë \U0001f600"}


# ---------------------------------------------------------------- size and depth limits


def test_body_over_256_kb_is_too_large(app, client, token, subscribers):
    payload = {"type": "payment_received", "data": {"blob": "x" * (256 * 1024)}}

    response = post_event(client, token, payload)

    assert_api_error(response, 413)
    assert stored(app) == NOTHING


def test_body_just_under_256_kb_is_accepted(app, client, token):
    envelope = len(json.dumps({"type": "payment_received", "data": {"blob": ""}}))
    payload = {"type": "payment_received", "data": {"blob": "x" * (256 * 1024 - envelope)}}
    assert len(json.dumps(payload)) == 256 * 1024

    assert post_event(client, token, payload).status_code == 202


def test_data_over_the_limit_once_written_out_is_too_large(app, client, token, subscribers):
    # 1e15 is 4 bytes in the request but "1000000000000000.0" once stored: the body fits the
    # limit, the data does not.
    numbers = ",".join(["1e15"] * 20_000)
    raw = '{"type": "payment_received", "data": {"x": [' + numbers + "]}}"
    assert len(raw) < 256 * 1024

    response = post_event(client, token, raw=raw)

    message = assert_api_error(response, 413, "payload_too_large")
    assert "262144 bytes" in message
    assert stored(app) == NOTHING


def test_smaller_configured_limit_is_enforced(app, client, token, subscribers):
    app.config["MAX_EVENT_BYTES"] = 100

    response = post_event(client, token, {"type": "payment_received", "data": {"x": "y" * 200}})

    assert_api_error(response, 413)
    assert stored(app) == NOTHING


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000,
        '{"type": "payment_received", "data": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}",
    ],
    ids=["open-lists", "closed-lists", "open-objects", "inside-data"],
)
def test_deeply_nested_json_is_a_bad_request_not_a_crash(app, client, token, subscribers, raw):
    response = post_event(client, token, raw=raw)

    assert_api_error(response, 400, "invalid_json")
    assert stored(app) == NOTHING


def test_data_nested_close_to_the_parser_limit_is_never_a_server_error(
    app, client, token, subscribers
):
    # From too deep to parse down to accepted, every depth gets a clear answer.
    answers = {}
    for depth in range(1000, 0, -1):
        raw = '{"type":"payment_received","data":{"a":' + "[" * depth + "]" * depth + "}}"
        response = post_event(client, token, raw=raw)
        answers[depth] = response.status_code
        if response.status_code == 202:
            break
    assert 202 in answers.values(), answers
    assert all(status < 500 for status in answers.values()), answers


def nested(levels: int) -> dict:
    data: dict = {}
    for _ in range(levels - 1):
        data = {"a": data}
    return data


def test_data_nested_64_levels_is_accepted_and_65_refused(app, client, token, subscribers):
    accepted = post_event(client, token, {"type": "payment_received", "data": nested(64)})
    refused = post_event(client, token, {"type": "payment_received", "data": nested(65)})

    assert accepted.status_code == 202
    message = assert_api_error(refused, 422, "invalid_data")
    assert "64 levels" in message
    assert stored(app)["events"] == 1


# ---------------------------------------------------------------- reading an event back


def test_an_event_reads_back_unexpanded_then_with_its_deliveries(
    app, client, token, subscribers, make_webhook
):
    posted = post_event(client, token, {"type": "payment_received", "data": PAYMENT, "id": "p-7"})
    assert posted.status_code == 202
    event_id = posted.get_json()["id"]

    before = get_event(client, token, event_id)

    assert before.status_code == 200
    assert before.mimetype == "application/json"
    assert before.get_json() == posted.get_json()
    assert before.get_json()["expanded_at"] is None
    assert before.get_json()["deliveries"] is None

    # Made after the event was stored: it never receives it, and is not counted.
    make_webhook(name="too late")
    started = datetime.now(UTC)
    assert expand(app) == 2
    after = get_event(client, token, event_id)

    assert after.status_code == 200
    shown = after.get_json()
    assert shown["deliveries"] == 2
    assert shown["expanded_at"].endswith("Z")
    expanded_at = stored_event(app, event_id)["expanded_at"]
    assert to_ms(started) <= moment(shown["expanded_at"]) == to_ms(expanded_at)
    assert moment(shown["expanded_at"]) >= moment(shown["created_at"])
    assert {name: shown[name] for name in ("id", "type", "idempotency_key", "created_at")} == {
        "id": event_id,
        "type": "payment_received",
        "idempotency_key": "p-7",
        "created_at": posted.get_json()["created_at"],
    }
    assert stored(app) == {"events": 1, "deliveries": 2, "attempts": 0}


def test_an_event_nobody_receives_reads_back_with_zero_deliveries_once_expanded(app, client, token):
    event_id = post_event(client, token, {"type": "invoice_sent", "data": {}}).get_json()["id"]
    assert get_event(client, token, event_id).get_json()["deliveries"] is None

    assert expand(app) == 0

    shown = get_event(client, token, event_id).get_json()
    assert shown["deliveries"] == 0
    assert shown["expanded_at"] is not None


def test_reading_an_event_writes_nothing(app, client, token, subscribers):
    event_id = post_event(client, token, {"type": "payment_received", "data": {}}).get_json()["id"]

    for _ in range(3):
        assert get_event(client, token, event_id).status_code == 200

    assert stored(app) == {"events": 1, "deliveries": 0, "attempts": 0}
    assert stored_event(app, event_id)["expanded_at"] is None


@pytest.mark.parametrize(
    "event_id",
    ["evt_" + "A" * 24, "evt_", "nope", "1", "order-7-paid", "evt_" + "x" * 400],
    ids=["unknown", "bare-prefix", "word", "row-id", "idempotency-key", "too-long"],
)
def test_an_unknown_event_is_404_not_found(app, client, token, event_id):
    # An event stored with an idempotency key is found by its own id only.
    post_event(client, token, {"type": "payment_received", "data": {}, "id": "order-7-paid"})

    response = get_event(client, token, event_id)

    message = assert_api_error(response, 404, "not_found")
    assert "no event" in message


def test_a_read_only_token_can_read_an_event(app, client, token):
    event_id = post_event(client, token, {"type": "invoice_sent", "data": {}}).get_json()["id"]
    reader = api_token(app, "dashboard", scope="read")

    response = get_event(client, reader, event_id)

    assert response.status_code == 200
    assert response.get_json()["id"] == event_id


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "unauthorized"),
        ("Bearer", "unauthorized"),
        ("Basic YWRtaW46cGFzc3dvcmQ=", "unauthorized"),
        ("Bearer whk_not-a-real-token", "invalid_token"),
    ],
    ids=["none", "bearer-alone", "basic", "unknown"],
)
def test_reading_an_event_needs_a_valid_token(app, client, token, authorization, code):
    event_id = post_event(client, token, {"type": "invoice_sent", "data": {}}).get_json()["id"]
    headers = {} if authorization is None else {"Authorization": authorization}

    for path in (f"/api/v1/events/{event_id}", "/api/v1/events/evt_unknown"):
        response = client.get(path, headers=headers)
        message = assert_api_error(response, 401, code)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "invoice_sent" not in message and event_id not in message


def test_a_revoked_token_cannot_read_an_event(app, client, token):
    event_id = post_event(client, token, {"type": "invoice_sent", "data": {}}).get_json()["id"]
    with app.app_context():
        revoke(db.session.get(ApiToken, token_row(app, token).id))
        db.session.commit()

    assert_api_error(get_event(client, token, event_id), 401, "invalid_token")


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_an_event_can_only_be_read(app, client, token, method):
    event_id = post_event(client, token, {"type": "invoice_sent", "data": {}}).get_json()["id"]

    response = getattr(client, method)(f"/api/v1/events/{event_id}", headers=bearer(token))

    assert_api_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers.get("Allow", "")
    assert stored(app)["events"] == 1


# ---------------------------------------------------------------- other routes


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_other_methods_on_events_are_not_allowed(app, client, token, method):
    response = getattr(client, method)("/api/v1/events", headers=bearer(token))

    assert_api_error(response, 405, "method_not_allowed")
    assert stored(app) == NOTHING


def test_method_not_allowed_says_which_method_is(app, client, token):
    response = client.get("/api/v1/events", headers=bearer(token))

    assert response.status_code == 405
    assert "POST" in response.headers.get("Allow", "")


@pytest.mark.parametrize("with_token", [True, False])
def test_unknown_api_path_is_json_not_found(app, client, token, with_token):
    headers = bearer(token) if with_token else {}

    response = client.post("/api/v1/nope", json={}, headers=headers)

    assert_api_error(response, 404, "not_found")
    assert "<html" not in response.get_data(as_text=True).lower()


def test_api_needs_no_login_session_or_csrf_token(app, client, token):
    # A bearer token is all a platform has: no cookie, no CSRF token.
    response = post_event(client, token, {"type": "payment_received", "data": {}})

    assert response.status_code == 202
    assert "Set-Cookie" not in response.headers


def test_token_last_use_is_noted_at_most_once_a_minute(app, client, token):
    post_event(client, token, {"type": "payment_received", "data": {}})
    first = token_row(app, token).last_used_at

    post_event(client, token, {"type": "payment_received", "data": {}})
    assert token_row(app, token).last_used_at == first

    with app.app_context():
        row = db.session.get(ApiToken, token_row(app, token).id)
        row.last_used_at = datetime.now(UTC) - timedelta(minutes=5)
        db.session.commit()
    post_event(client, token, {"type": "payment_received", "data": {}})
    noted = as_utc(token_row(app, token).last_used_at)
    assert datetime.now(UTC) - noted < timedelta(seconds=30)

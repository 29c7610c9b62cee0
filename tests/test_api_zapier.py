"""Zapier REST hooks under /api/v1/zapier: what Zapier sees when it subscribes a zap,
unsubscribes it and asks for sample data, and what the webhook then receives — down to a 410
Gone from the zap, which removes a webhook Zapier made but only disables one a person made."""

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.engine_helpers import (
    FakeClock,
    Script,
    api_token,
    assert_api_error,
    bearer,
    expand,
    post_event,
    stored,
    verify,
    webhook_values,
    work,
)
from webhooks.catalogue import all_events, get_event
from webhooks.extensions import db
from webhooks.models import Delivery, Event, Webhook

TARGET = "https://hooks.zapier.com/hooks/standard/123/abc/"
SUBSCRIBE = "/api/v1/zapier/subscribe"
PERFORM_LIST = "/api/v1/zapier/perform-list"


@pytest.fixture
def config(config):
    # An unexpected exception must come back as the 500 a client would see, not be raised.
    config["PROPAGATE_EXCEPTIONS"] = False
    return config


@pytest.fixture
def token(app):
    return api_token(app)


def subscribe(client, token, payload, *, raw=None, content_type="application/json"):
    body = raw if raw is not None else json.dumps(payload)
    return client.post(SUBSCRIBE, data=body, headers=bearer(token), content_type=content_type)


def unsubscribe(client, token, webhook_id):
    return client.delete(f"{SUBSCRIBE}/{webhook_id}", headers=bearer(token))


def perform_list(client, token, **params):
    return client.get(PERFORM_LIST, query_string=params, headers=bearer(token))


def webhook_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Webhook))


def webhook_row(app, webhook_id: int) -> dict | None:
    with app.app_context():
        hook = db.session.get(Webhook, webhook_id)
        if hook is None:
            return None
        return {
            "name": hook.name,
            "url": hook.url,
            "event": hook.event,
            "integration": hook.integration,
            "payload_format": hook.payload_format,
            "active": hook.active,
            "disabled_at": hook.disabled_at,
            "disabled_reason": hook.disabled_reason,
        }


def validation_fields(response) -> dict[str, list[str]]:
    """The 422's `fields`, after checking it is the API's one error shape."""
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error) == {"code", "message", "fields"}
    for messages in error["fields"].values():
        assert messages and all(isinstance(m, str) and len(m) > 5 for m in messages)
    return error["fields"]


# ---------------------------------------------------------------- subscribe


def test_subscribe_creates_a_flat_zapier_webhook_for_the_target_url(app, client, token):
    response = subscribe(client, token, {"target_url": TARGET, "event": "payment_received"})

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert isinstance(body["id"], int)
    assert body["name"] == "Zapier: Payment Received"
    assert body["url"] == TARGET
    assert body["event"] == "payment_received"
    assert body["integration"] == "zapier"
    assert body["payload_format"] == "flat"
    assert body["active"] is True
    assert body["status"] == "active"
    assert body["created_at"].endswith("Z")
    assert "secret" not in body
    assert webhook_row(app, body["id"]) == {
        "name": "Zapier: Payment Received",
        "url": TARGET,
        "event": "payment_received",
        "integration": "zapier",
        "payload_format": "flat",
        "active": True,
        "disabled_at": None,
        "disabled_reason": None,
    }


def test_subscribe_ignores_zapiers_legacy_subscription_url(app, client, token):
    response = subscribe(
        client,
        token,
        {"target_url": TARGET, "event": "customer_created", "subscription_url": TARGET},
    )

    assert response.status_code == 201, response.get_json()
    assert webhook_row(app, response.get_json()["id"])["url"] == TARGET


def test_subscribe_name_is_cut_to_the_longest_name_the_form_takes(app, client, token, monkeypatch):
    monkeypatch.setattr("webhooks.api.zapier.event_name", lambda slug: "Very long " * 40)

    response = subscribe(client, token, {"target_url": TARGET, "event": "payment_received"})

    assert response.status_code == 201, response.get_json()
    name = webhook_row(app, response.get_json()["id"])["name"]
    assert len(name) == 191
    assert name.startswith("Zapier: Very long Very long")


def test_every_zap_gets_its_own_webhook(app, client, token):
    first = subscribe(client, token, {"target_url": TARGET, "event": "payment_received"})
    second = subscribe(client, token, {"target_url": TARGET + "2", "event": "payment_received"})

    assert first.get_json()["id"] != second.get_json()["id"]
    assert webhook_count(app) == 2


def test_a_repeated_subscribe_answers_the_same_webhook_instead_of_a_second(app, client, token):
    # Zapier retries a subscribe whose answer was lost; the zap must not get every event twice.
    payload = {"target_url": TARGET, "event": "payment_received"}
    first = subscribe(client, token, payload)

    again = subscribe(client, token, payload)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert webhook_count(app) == 1
    other_event = subscribe(client, token, {"target_url": TARGET, "event": "site_published"})
    assert other_event.status_code == 201
    assert webhook_count(app) == 2


@pytest.mark.parametrize(
    ("payload", "at_fault"),
    [
        ({}, {"target_url", "event"}),
        ({"event": "payment_received"}, {"target_url"}),
        ({"target_url": TARGET}, {"event"}),
        ({"target_url": "", "event": "payment_received"}, {"target_url"}),
        ({"target_url": "ftp://files.example.com/x", "event": "payment_received"}, {"target_url"}),
        ({"target_url": "https://u:p@example.com/", "event": "payment_received"}, {"target_url"}),
        ({"target_url": TARGET + "a" * 2100, "event": "payment_received"}, {"target_url"}),
        ({"target_url": 42, "event": "payment_received"}, {"target_url"}),
        ({"target_url": None, "event": "payment_received"}, {"target_url"}),
        ({"target_url": TARGET, "event": "no_such_event"}, {"event"}),
        ({"target_url": TARGET, "event": "x" * 5000}, {"event"}),
        ({"target_url": TARGET, "event": ["payment_received"]}, {"event"}),
        ({"target_url": TARGET, "event": {"slug": "payment_received"}}, {"event"}),
        ({"target_url": TARGET, "event": True}, {"event"}),
        ({"target_url": TARGET, "event": "payment_received", "hookUrl": TARGET}, {"hookUrl"}),
        ({"target_url": TARGET, "event": "payment_received", "url": TARGET}, {"url"}),
        ({"target_url": TARGET, "event": "payment_received", "name": "Mine"}, {"name"}),
        ({"target_url": "x", "event": "x", "active": False}, {"target_url", "event", "active"}),
    ],
)  # fmt: skip
def test_subscribe_reports_each_problem_under_the_callers_field_names(
    app, client, token, payload, at_fault
):
    response = subscribe(client, token, payload)

    assert set(validation_fields(response)) == at_fault
    assert webhook_count(app) == 0


def test_subscribe_error_for_a_bad_url_is_the_admin_forms_message(client, token):
    response = subscribe(
        client, token, {"target_url": "ftp://x.example", "event": "payment_received"}
    )

    assert validation_fields(response) == {
        "target_url": ["The URL must start with http:// or https://."]
    }


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "invalid_json"),
        ('{"target_url": "x"}', "text/plain", 415, "unsupported_media_type"),
        ("[]", "application/json", 422, "validation_failed"),
        ('"payment_received"', "application/json", 422, "validation_failed"),
        ("[" * 100000 + "]" * 100000, "application/json", 400, "invalid_json"),
    ],
)
def test_subscribe_with_a_body_that_is_not_a_json_object_is_refused(
    app, client, token, raw, content_type, status, code
):
    response = subscribe(client, token, None, raw=raw, content_type=content_type)

    assert_api_error(response, status, code)
    assert webhook_count(app) == 0


# ---------------------------------------------------------------- unsubscribe


def test_unsubscribe_deletes_the_zapier_webhook_and_its_delivery_log(app, client, token):
    webhook_id = subscribe(
        client, token, {"target_url": TARGET, "event": "payment_received"}
    ).get_json()["id"]
    post_event(client, token, {"type": "payment_received", "data": {"payment_id": 1}})
    assert expand(app) == 1
    assert stored(app)["deliveries"] == 1

    response = unsubscribe(client, token, webhook_id)

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"id": webhook_id, "deleted": True}
    assert webhook_row(app, webhook_id) is None
    assert stored(app)["deliveries"] == 0
    # Unsubscribing again finds nothing.
    assert_api_error(unsubscribe(client, token, webhook_id), 404, "not_found")


def test_unsubscribe_never_deletes_a_webhook_a_person_made(app, client, token, make_webhook):
    manual_id = make_webhook(name="Made by hand")

    response = unsubscribe(client, token, manual_id)

    message = assert_api_error(response, 409, "conflict")
    assert "Zapier" in message
    assert webhook_row(app, manual_id)["name"] == "Made by hand"


@pytest.mark.parametrize("webhook_id", ["999", str(2**63 - 1), str(2**64), "0", "abc"])
def test_unsubscribe_of_a_missing_webhook_is_not_found(app, client, token, webhook_id):
    response = client.delete(f"{SUBSCRIBE}/{webhook_id}", headers=bearer(token))

    assert_api_error(response, 404, "not_found")


def test_unsubscribe_leaves_other_zapier_webhooks(app, client, token):
    ids = [
        subscribe(
            client, token, {"target_url": TARGET + str(n), "event": "payment_received"}
        ).get_json()["id"]
        for n in range(2)
    ]

    unsubscribe(client, token, ids[0])

    assert webhook_row(app, ids[0]) is None
    assert webhook_row(app, ids[1]) is not None


# ---------------------------------------------------------------- tokens


def test_read_only_token_can_neither_subscribe_nor_unsubscribe(app, client, token):
    read_only = api_token(app, "dashboard", scope="read")
    webhook_id = subscribe(
        client, token, {"target_url": TARGET, "event": "payment_received"}
    ).get_json()["id"]

    refused = subscribe(client, read_only, {"target_url": TARGET, "event": "payment_received"})
    assert_api_error(refused, 403, "read_only_token")
    assert webhook_count(app) == 1

    refused = unsubscribe(client, read_only, webhook_id)
    assert_api_error(refused, 403, "read_only_token")
    assert webhook_row(app, webhook_id) is not None

    # Reading the sample data is allowed.
    assert perform_list(client, read_only, event="payment_received").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", SUBSCRIBE), ("delete", f"{SUBSCRIBE}/1"), ("get", PERFORM_LIST)],
)
def test_every_zapier_endpoint_needs_a_token(client, method, path):
    response = getattr(client, method)(path, json={"target_url": TARGET, "event": "x"})

    assert_api_error(response, 401, "unauthorized")


# ---------------------------------------------------------------- perform list


@pytest.mark.parametrize("slug", [event.slug for event in all_events()])
def test_perform_list_is_one_item_the_events_sample_data_at_the_top_level(client, token, slug):
    response = perform_list(client, token, event=slug)

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == [get_event(slug).sample_data()]


@pytest.mark.parametrize(
    "params",
    [{}, {"event": ""}, {"event": "no_such_event"}, {"event": "payment_received", "page": "2"}],
)
def test_perform_list_without_a_known_event_names_the_parameter(client, token, params):
    response = perform_list(client, token, **params)

    fields = validation_fields(response)
    assert set(fields) <= {"event", "page"} and fields


@pytest.mark.embedded_engine
def test_perform_list_has_the_shape_the_receiver_really_gets(app, client, token, receiver):
    script = Script(200)
    receiver.expect_request("/zap", method="POST").respond_with_handler(script)
    subscribe(client, token, {"target_url": receiver.url_for("/zap"), "event": "site_published"})
    sample = perform_list(client, token, event="site_published").get_json()[0]

    post_event(client, token, {"type": "site_published", "data": sample})
    work(app, FakeClock())

    assert script.count() == 1
    assert json.loads(script.seen[0]["body"]) == sample


# ---------------------------------------------------------------- the whole round trip


@pytest.mark.embedded_engine
def test_zapier_round_trip_delivers_signed_events_until_the_zap_answers_410(
    app, client, token, receiver, make_webhook, caplog
):
    zap = Script(200, 410)
    receiver.expect_request("/zap", method="POST").respond_with_handler(zap)
    person = Script(410)
    receiver.expect_request("/by-hand", method="POST").respond_with_handler(person)
    manual_id = make_webhook(name="By hand", url=receiver.url_for("/by-hand"))
    caplog.set_level(logging.INFO, logger="webhooks.lifecycle")

    # Zapier subscribes the zap.
    created = subscribe(
        client, token, {"target_url": receiver.url_for("/zap"), "event": "payment_received"}
    )
    assert created.status_code == 201, created.get_json()
    zap_id = created.get_json()["id"]
    secret = webhook_values(app, zap_id)["secret"]

    # A real event reaches the zap, signed, with the data at the top level.
    data = {"payment_id": 7, "payment_total": "$9.00", "customer_name": "Ada"}
    assert post_event(client, token, {"type": "payment_received", "data": data}).status_code == 202
    work(app, FakeClock())
    assert zap.count() == 1
    assert verify(secret, zap.seen[0]["request"]) == data
    assert webhook_values(app, zap_id)["sent_count"] == 1
    # The person's webhook answered 410 and is disabled, with its reason.
    manual = webhook_row(app, manual_id)
    assert manual["active"] is False
    assert manual["disabled_at"] is not None
    assert "410" in manual["disabled_reason"]

    # The zap is turned off: its URL answers 410 Gone to the next event.
    caplog.clear()
    post_event(client, token, {"type": "payment_received", "data": data})
    work(app, FakeClock())

    assert zap.count() == 2
    assert webhook_row(app, zap_id) is None
    with app.app_context():
        assert db.session.scalars(select(Delivery).where(Delivery.webhook_id == zap_id)).all() == []
        disabled_events = db.session.scalars(
            select(Event).where(Event.type == "webhook_disabled")
        ).all()
    assert [json.loads(e.data)["webhook_id"] for e in disabled_events] == [manual_id]
    removed = [r for r in caplog.records if "removed" in r.getMessage()]
    assert len(removed) == 1
    assert removed[0].levelno == logging.INFO
    assert f"Zapier webhook {zap_id}" in removed[0].getMessage()
    assert "/zap" not in removed[0].getMessage()  # the zap's URL is its secret
    assert secret not in removed[0].getMessage()
    # The person's webhook is still there, disabled, and was not sent the second event.
    assert webhook_row(app, manual_id)["active"] is False
    assert person.count() == 1

    # Nothing more is sent to the zap; Zapier's late unsubscribe finds nothing.
    post_event(client, token, {"type": "payment_received", "data": data})
    work(app, FakeClock(datetime.now(UTC) + timedelta(hours=1)))
    assert zap.count() == 2
    assert_api_error(unsubscribe(client, token, zap_id), 404, "not_found")

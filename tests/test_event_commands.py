"""The command line of the delivery engine: `flask events`, `flask tokens`,
`flask deliveries purge`, as an operator types them."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.engine_helpers import (
    api_token,
    assert_api_error,
    expand,
    post_event,
    stored,
    update_webhook,
)
from webhooks.catalogue import all_events
from webhooks.extensions import db
from webhooks.models import ApiToken, Delivery, Event
from webhooks.outbox import enqueue

NOTHING = {"events": 0, "deliveries": 0, "attempts": 0}
TOKEN_RE = re.compile(r"^whk_[A-Za-z0-9_-]{40,}$", re.M)


@pytest.fixture
def flask(app):
    """Run ``flask ARGS`` against the app under test; returns click's result."""
    runner = app.test_cli_runner()

    def invoke(*args: str, **kwargs):
        return runner.invoke(args=list(args), **kwargs)

    return invoke


@pytest.fixture
def subscribers(make_webhook):
    return [make_webhook(name="one"), make_webhook(name="two", payload_format="flat")]


def made_days_ago(app, webhook_ids: list[int], days: float) -> None:
    """Date the webhooks back, so events reported with an earlier ``now`` reach them (a webhook
    never receives an event stored before it was made)."""
    for webhook_id in webhook_ids:
        update_webhook(app, webhook_id, created_at=datetime.now(UTC) - timedelta(days=days))


def events_stored(app) -> list[dict]:
    with app.app_context():
        return [
            {"uid": e.uid, "type": e.type, "data": json.loads(e.data), "source": e.source}
            for e in db.session.scalars(select(Event).order_by(Event.id))
        ]


def fails_cleanly(result, *words: str, exit_code: int | None = None) -> str:
    """The command failed with a message, not a traceback; returns its output."""
    assert result.exit_code != 0, result.output
    if exit_code is not None:
        assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, result.output
    return result.output


# ---------------------------------------------------------------- events send


def test_send_inline_json_stores_the_event_for_the_worker_to_deliver(app, flask, subscribers):
    result = flask("events", "send", "payment_received", '{"payment_id": 7, "total": "$9"}')

    assert result.exit_code == 0, result.output
    [event] = events_stored(app)
    assert result.stdout.strip() == (
        f"Stored: event {event['uid']}; the worker delivers it to every subscribed webhook."
    )
    assert event["data"] == {"payment_id": 7, "total": "$9"}
    assert event["source"] == "cli"
    assert stored(app) == {"events": 1, "deliveries": 0, "attempts": 0}
    # The worker expands it into a delivery per subscribed webhook.
    assert expand(app) == 2
    assert stored(app) == {"events": 1, "deliveries": 2, "attempts": 0}


def test_send_reads_the_payload_from_a_file(app, flask, subscribers, tmp_path):
    payload = tmp_path / "payment.json"
    payload.write_text(json.dumps({"customer_name": "Zoë"}), encoding="utf-8")

    result = flask("events", "send", "payment_received", "--file", str(payload))

    assert result.exit_code == 0, result.output
    [event] = events_stored(app)
    assert result.output.startswith(f"Stored: event {event['uid']};")
    assert event["data"] == {"customer_name": "Zoë"}


def test_send_reads_the_payload_from_standard_input(app, flask, subscribers):
    result = flask("events", "send", "payment_received", "--file", "-", input='{"from": "stdin"}')

    assert result.exit_code == 0, result.output
    assert events_stored(app)[0]["data"] == {"from": "stdin"}


def test_send_with_the_same_id_twice_stores_once(app, flask, subscribers):
    first = flask("events", "send", "payment_received", "{}", "--id", "order-7")
    second = flask("events", "send", "payment_received", "{}", "--id", "order-7")

    assert first.exit_code == 0 and second.exit_code == 0
    [event] = events_stored(app)
    assert first.output.startswith(f"Stored: event {event['uid']};")
    assert second.output.strip() == (
        f"Already stored (same --id): event {event['uid']}; "
        "the worker delivers it to every subscribed webhook."
    )
    assert stored(app) == {"events": 1, "deliveries": 0, "attempts": 0}
    assert expand(app) == 2
    third = flask("events", "send", "payment_received", "{}", "--id", "order-7")
    assert third.output.startswith(f"Already stored (same --id): event {event['uid']};")
    assert expand(app) == 0
    assert stored(app) == {"events": 1, "deliveries": 2, "attempts": 0}


def test_event_sent_from_the_cli_and_the_api_with_one_id_is_stored_once(
    app, client, flask, subscribers
):
    flask("events", "send", "payment_received", "{}", "--id", "shared")
    response = post_event(
        client, api_token(app), {"type": "payment_received", "data": {}, "id": "shared"}
    )

    assert response.status_code == 200
    assert stored(app)["events"] == 1


@pytest.mark.parametrize(
    "text",
    ["{", "not json", "{'a': 1}", "", "[" * 100_000],
    ids=["open-brace", "words", "single-quotes", "empty", "deep"],
)
def test_send_with_bad_json_fails_clearly_and_stores_nothing(app, flask, subscribers, text):
    result = flask("events", "send", "payment_received", text)

    fails_cleanly(result, "not valid JSON", exit_code=2)
    assert stored(app) == NOTHING


@pytest.mark.parametrize("event_type", ["payment_recieved", "PAYMENT_RECEIVED", ""])
def test_send_of_unknown_type_fails_clearly_and_stores_nothing(app, flask, subscribers, event_type):
    result = flask("events", "send", event_type, "{}")

    fails_cleanly(result, "Unknown event type", "catalogue", exit_code=1)
    assert stored(app) == NOTHING


@pytest.mark.parametrize("text", ["[]", "[1, 2]", '"text"', "null", "42", "true"])
def test_send_of_data_that_is_not_an_object_fails_clearly(app, flask, subscribers, text):
    result = flask("events", "send", "payment_received", text)

    fails_cleanly(result, "must be a JSON object", exit_code=1)
    assert stored(app) == NOTHING


def test_send_of_data_over_the_limit_fails_clearly(app, flask, subscribers, tmp_path):
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"blob": "x" * (300 * 1024)}))

    result = flask("events", "send", "payment_received", "--file", str(big))

    fails_cleanly(result, "larger than the limit", exit_code=1)
    assert stored(app) == NOTHING


def test_send_with_a_too_long_id_fails_clearly(app, flask, subscribers):
    result = flask("events", "send", "payment_received", "{}", "--id", "k" * 256)

    fails_cleanly(result, "`id` must be a string of 1 to 255 characters", exit_code=2)
    assert stored(app) == NOTHING


def test_send_of_text_that_is_not_unicode_fails_clearly(app, flask, subscribers):
    result = flask("events", "send", "payment_received", '{"name": "\\ud800"}')

    fails_cleanly(result, exit_code=1)
    assert stored(app) == NOTHING


@pytest.mark.parametrize(
    "args",
    [["payment_received"], ["payment_received", "{}", "--file", "-"]],
    ids=["no-payload", "two-payloads"],
)
def test_send_needs_exactly_one_payload(app, flask, subscribers, args):
    result = flask("events", "send", *args, input="{}")

    fails_cleanly(result, "either as the DATA argument or with --file", exit_code=2)
    assert stored(app) == NOTHING


def test_send_from_a_missing_file_fails_clearly(app, flask, tmp_path):
    result = flask("events", "send", "payment_received", "--file", str(tmp_path / "nope.json"))

    fails_cleanly(result, "nope.json", exit_code=2)
    assert stored(app) == NOTHING


# ---------------------------------------------------------------- events types


def test_types_lists_every_event_slug_with_its_name(flask):
    result = flask("events", "types")

    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert len(lines) == len(all_events())
    for line, event in zip(lines, all_events(), strict=True):
        assert line.split()[0] == event.slug
        assert line.endswith(event.name)
    assert any(line.startswith("webhook_disabled ") for line in lines)


# ---------------------------------------------------------------- tokens


def created_token(result) -> str:
    assert result.exit_code == 0, result.output
    found = TOKEN_RE.findall(result.output)
    assert len(found) == 1, result.output
    return found[0]


def test_created_token_is_printed_once_and_works_on_the_api(app, client, flask):
    result = flask("tokens", "create", "Billing platform")

    token = created_token(result)
    assert "Billing platform" in result.output
    assert "not shown again" in result.output
    response = post_event(client, token, {"type": "payment_received", "data": {}})
    assert response.status_code == 202
    with app.app_context():
        row = db.session.scalar(select(ApiToken))
        assert row.name == "Billing platform"
        assert token not in (row.token_hash, row.prefix)
        assert row.scope == "full"


def test_each_created_token_is_different(flask):
    first = created_token(flask("tokens", "create", "a"))
    second = created_token(flask("tokens", "create", "a"))

    assert first != second


@pytest.mark.parametrize("name", ["", "   ", "n" * 101])
def test_token_name_must_be_1_to_100_characters(app, flask, name):
    result = flask("tokens", "create", name)

    fails_cleanly(result, "1 to 100 characters", exit_code=2)
    with app.app_context():
        assert db.session.scalar(select(ApiToken)) is None


def test_read_only_token_says_so_when_created(flask):
    result = flask("tokens", "create", "dashboard", "--scope", "read")

    created_token(result)
    assert "read only" in result.output


def test_token_list_shows_tokens_but_never_their_secret(app, client, flask):
    token = created_token(flask("tokens", "create", "Billing platform"))
    other = created_token(flask("tokens", "create", "CRM"))
    post_event(client, token, {"type": "payment_received", "data": {}})

    result = flask("tokens", "list")

    assert result.exit_code == 0
    assert "Billing platform" in result.output and "CRM" in result.output
    assert result.output.count("active") == 2
    for plain in (token, other):
        assert plain not in result.output
        assert plain[10:] not in result.output
        assert plain[:10] + "…" in result.output  # the prefix, to tell tokens apart
    assert not TOKEN_RE.search(result.output)


def test_token_list_without_tokens_says_how_to_create_one(flask):
    result = flask("tokens", "list")

    assert result.exit_code == 0
    assert "No API tokens yet" in result.output
    assert "tokens create" in result.output


def test_revoked_token_is_refused_by_the_api(app, client, flask):
    token = created_token(flask("tokens", "create", "Billing platform"))
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id))

    result = flask("tokens", "revoke", str(token_id))

    assert result.exit_code == 0, result.output
    assert f"Token {token_id} (Billing platform) is revoked." in result.output
    response = post_event(client, token, {"type": "payment_received", "data": {}})
    assert_api_error(response, 401, "invalid_token")
    listing = flask("tokens", "list").output
    assert "revoked" in listing and "active" not in listing
    assert stored(app) == NOTHING


def test_revoking_twice_is_harmless(app, flask):
    created_token(flask("tokens", "create", "x"))

    assert flask("tokens", "revoke", "1").exit_code == 0
    assert flask("tokens", "revoke", "1").exit_code == 0


def test_revoking_one_token_leaves_the_others_working(app, client, flask):
    keep = created_token(flask("tokens", "create", "keep"))
    created_token(flask("tokens", "create", "drop"))

    flask("tokens", "revoke", "2")

    assert post_event(client, keep, {"type": "payment_received", "data": {}}).status_code == 202


@pytest.mark.parametrize(("token_id", "code"), [("99", 1), ("0", 2), ("abc", 2)])
def test_revoking_a_token_that_does_not_exist_fails_clearly(flask, token_id, code):
    result = flask("tokens", "revoke", token_id)

    fails_cleanly(result, exit_code=code)


# ---------------------------------------------------------------- deliveries purge


def test_purge_older_than_0_days_deletes_every_delivery_and_event(app, flask, subscribers):
    flask("events", "send", "payment_received", "{}")
    flask("events", "send", "invoice_sent", "{}")
    assert expand(app) == 2
    assert stored(app) == {"events": 2, "deliveries": 2, "attempts": 0}

    result = flask("deliveries", "purge", "--older-than-days", "0")

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Purged 2 deliveries and 2 events older than 0 days."
    assert stored(app) == NOTHING


def test_purge_by_default_keeps_deliveries_younger_than_the_retention(app, flask, subscribers):
    made_days_ago(app, subscribers, 40)
    now = datetime.now(UTC)
    with app.app_context():
        enqueue("payment_received", {"age": 31}, source="python", now=now - timedelta(days=31))
        enqueue("payment_received", {"age": 29}, source="python", now=now - timedelta(days=29))
        db.session.commit()
    # Expanded today, each delivery is still dated by its event.
    assert expand(app) == 4

    result = flask("deliveries", "purge")

    assert result.exit_code == 0, result.output
    assert "Purged 2 deliveries and 1 events older than 30 days." in result.output
    assert [e["data"] for e in events_stored(app)] == [{"age": 29}]
    with app.app_context():
        assert db.session.scalar(select(Delivery.status).limit(1)) == "pending"


def test_purge_follows_the_configured_retention(config, app, flask, subscribers):
    app.config["RETENTION_DAYS"] = 7
    made_days_ago(app, subscribers, 10)
    with app.app_context():
        enqueue("payment_received", {}, source="python", now=datetime.now(UTC) - timedelta(8))
        db.session.commit()
    assert expand(app) == 2

    result = flask("deliveries", "purge")

    assert "Purged 2 deliveries and 1 events older than 7 days." in result.output


def test_purge_refuses_a_negative_age(app, flask, subscribers):
    flask("events", "send", "payment_received", "{}")
    assert expand(app) == 2

    result = flask("deliveries", "purge", "--older-than-days", "-1")

    fails_cleanly(result, exit_code=2)
    assert stored(app) == {"events": 1, "deliveries": 2, "attempts": 0}

"""``webhooks.dispatch``: the one path behind the API, the CLI and Python callers.

An event is stored alone, in one transaction, whatever the number of subscribers; the engine
then writes its deliveries (``tests/test_fanout.py``). Bad input raises ``EventError`` before
anything is written.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

import webhooks.outbox
from tests.conftest import sqlite_only
from tests.engine_helpers import expand, stored, wake_flag
from webhooks import EventError, dispatch
from webhooks.catalogue import get_event
from webhooks.extensions import db
from webhooks.models import Delivery, Event, as_utc
from webhooks.outbox import enqueue

PAYMENT = {"payment_id": 7, "payment_total": "$9.00", "customer_name": "Zoë"}
NOTHING = {"events": 0, "deliveries": 0, "attempts": 0}


@pytest.fixture
def fan_out(make_webhook):
    """3 active webhooks on payment_received, 1 inactive, 1 on another event."""
    return {
        "active": [
            make_webhook(name="one"),
            make_webhook(name="two", payload_format="flat"),
            make_webhook(name="three"),
        ],
        "inactive": make_webhook(name="off", active=False),
        "other": make_webhook(name="other", event="customer_created"),
    }


def all_deliveries(app) -> list[Delivery]:
    with app.app_context():
        rows = db.session.scalars(select(Delivery).order_by(Delivery.id)).all()
        db.session.expunge_all()
        return rows


# ---------------------------------------------------------------- storing


def test_event_is_stored_alone_and_expanded_by_the_engine(app, fan_out):
    with app.app_context():
        result = dispatch("payment_received", PAYMENT)
        event_id, uid = result.event.id, result.event.uid

    assert result.created is True
    assert uid.startswith("evt_")
    assert stored(app) == {"events": 1, "deliveries": 0, "attempts": 0}
    with app.app_context():
        event = db.session.get(Event, event_id)
        assert event.expanded_at is None
        assert event.source == "python"
        assert json.loads(event.data) == PAYMENT

    assert expand(app) == 3
    rows = all_deliveries(app)
    assert sorted(row.webhook_id for row in rows) == sorted(fan_out["active"])
    assert {row.event_id for row in rows} == {event_id}
    assert {row.event_type for row in rows} == {"payment_received"}
    assert {row.status for row in rows} == {"pending"}
    assert len({row.msg_id for row in rows}) == 3
    with app.app_context():
        event = db.session.get(Event, event_id)
        assert event.delivery_count == 3
        assert event.expanded_at is not None
        # Due at once: the worker sends them as soon as they are written.
        for row in rows:
            assert as_utc(row.next_attempt_at) == as_utc(event.expanded_at)


@sqlite_only
def test_an_event_that_cannot_be_written_leaves_nothing(app, fan_out):
    with app.app_context():
        db.session.execute(
            text(
                "CREATE TRIGGER no_events BEFORE INSERT ON events "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        )
        db.session.commit()
        with pytest.raises(IntegrityError, match="disk full"):
            dispatch("payment_received", PAYMENT)
        db.session.rollback()

    assert stored(app) == NOTHING


@pytest.mark.parametrize("subscribers", [0, 3, 200])
def test_storing_costs_one_insert_and_one_commit_whatever_the_subscribers(
    app, make_webhook, subscribers
):
    for number in range(subscribers):
        make_webhook(name=f"hook {number}")
    log = []
    with app.app_context():
        engine = db.engine

        def statement(_conn, _cursor, sql, *_args):
            log.append(sql.lstrip().split()[0].upper())

        def commit(_conn):
            log.append("COMMIT")

        sqlalchemy_event.listen(engine, "before_cursor_execute", statement)
        sqlalchemy_event.listen(engine, "commit", commit)
        try:
            # Data that matches its schema: no schema mode is read.
            dispatch("payment_received", get_event("payment_received").sample_data())
        finally:
            sqlalchemy_event.remove(engine, "before_cursor_execute", statement)
            sqlalchemy_event.remove(engine, "commit", commit)

    assert log == ["INSERT", "COMMIT"]
    assert expand(app) == subscribers


def test_event_nobody_subscribed_to_is_expanded_into_no_deliveries(app, fan_out):
    with app.app_context():
        event_id = dispatch("invoice_sent", {"invoice": 1}).event.id

    assert expand(app) == 0
    assert stored(app) == {"events": 1, "deliveries": 0, "attempts": 0}
    with app.app_context():
        event = db.session.get(Event, event_id)
        assert (event.delivery_count, event.expanded_at is not None) == (0, True)


# ---------------------------------------------------------------- payload formats


def test_flat_webhook_gets_the_data_alone_and_standard_the_envelope(app, make_webhook):
    standard = make_webhook(name="standard")
    flat = make_webhook(name="flat", payload_format="flat")

    with app.app_context():
        result = dispatch("payment_received", PAYMENT)
        created_at = as_utc(result.event.created_at)
    expand(app)

    bodies = {row.webhook_id: row.body for row in all_deliveries(app)}
    assert json.loads(bodies[flat]) == PAYMENT
    envelope = json.loads(bodies[standard])
    assert set(envelope) == {"type", "timestamp", "data"}
    assert envelope["type"] == "payment_received"
    assert envelope["data"] == PAYMENT
    stamp = datetime.fromisoformat(envelope["timestamp"].replace("Z", "+00:00"))
    assert abs(stamp - created_at) < timedelta(milliseconds=1)
    assert envelope["timestamp"].endswith("Z")


def test_body_keeps_non_ascii_text_as_written(app, make_webhook):
    make_webhook(payload_format="flat")

    with app.app_context():
        dispatch("payment_received", {"customer_name": "Zoë ☃"})
    expand(app)

    body = all_deliveries(app)[0].body
    assert "Zoë ☃" in body
    assert json.loads(body) == {"customer_name": "Zoë ☃"}


def test_webhooks_of_the_same_format_get_identical_bodies(app, fan_out):
    with app.app_context():
        dispatch("payment_received", PAYMENT)
    expand(app)

    by_webhook = {row.webhook_id: row.body for row in all_deliveries(app)}
    one, two, three = fan_out["active"]
    assert by_webhook[one] == by_webhook[three]
    assert by_webhook[one] != by_webhook[two]


def test_body_is_fixed_when_the_event_is_reported(app, make_webhook):
    data = {"payment_id": 1}
    make_webhook(payload_format="flat")

    with app.app_context():
        dispatch("payment_received", data)
    data["payment_id"] = 2  # the caller reuses its dict
    expand(app)

    assert json.loads(all_deliveries(app)[0].body) == {"payment_id": 1}


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("event_type", "data", "key", "code"),
    [
        ("payment_recieved", {}, None, "unknown_event_type"),
        (None, {}, None, "unknown_event_type"),
        ("payment_received", [], None, "invalid_data"),
        ("payment_received", "text", None, "invalid_data"),
        ("payment_received", None, None, "invalid_data"),
        ("payment_received", {"when": datetime.now(UTC)}, None, "invalid_data"),
        ("payment_received", {"total": float("nan")}, None, "invalid_data"),
        ("payment_received", {"blob": "x" * (256 * 1024)}, None, "payload_too_large"),
        ("payment_received", {}, "", "invalid_id"),
        ("payment_received", {}, "k" * 256, "invalid_id"),
        ("payment_received", {}, 42, "invalid_id"),
        ("payment_received", {"name": "\ud800"}, None, "invalid_data"),
        ("payment_received", {}, "\ud800", "invalid_id"),
        ("payment_received", {}, "order\x00paid", "invalid_id"),
    ],
    ids=[
        "unknown-type",
        "no-type",
        "data-list",
        "data-string",
        "data-none",
        "data-not-json",
        "data-nan",
        "data-too-large",
        "empty-key",
        "long-key",
        "int-key",
        "data-lone-surrogate",
        "key-lone-surrogate",
        "key-with-nul",
    ],
)
def test_bad_event_is_refused_before_anything_is_written(app, fan_out, event_type, data, key, code):
    with app.app_context():
        with pytest.raises(EventError) as raised:
            dispatch(event_type, data, idempotency_key=key)
        assert not db.session.new
        db.session.commit()  # nothing was left in the session to be written later

    assert raised.value.code == code
    assert str(raised.value) == raised.value.message
    assert stored(app) == NOTHING


def test_data_at_exactly_the_limit_is_accepted(app, fan_out):
    overhead = len(json.dumps({"blob": ""}, separators=(",", ":")))
    with app.app_context():
        result = dispatch("payment_received", {"blob": "x" * (256 * 1024 - overhead)})

    assert result.created


def test_enqueue_refuses_bad_data_without_touching_the_session(app, fan_out):
    with app.app_context():
        with pytest.raises(EventError):
            enqueue("payment_received", ["not", "an", "object"], source="python")
        assert not db.session.new


# ---------------------------------------------------------------- idempotency


def test_same_idempotency_key_twice_stores_one_event(app, fan_out):
    with app.app_context():
        first = dispatch("payment_received", PAYMENT, idempotency_key="order-7")
        first_uid = first.event.uid
        second = dispatch("payment_received", PAYMENT, idempotency_key="order-7")

        assert (first.created, second.created) == (True, False)
        assert second.event.uid == first_uid
    expand(app)
    assert stored(app) == {"events": 1, "deliveries": 3, "attempts": 0}


def test_same_key_with_other_data_still_returns_the_first_event(app, fan_out):
    with app.app_context():
        first = dispatch("payment_received", {"v": 1}, idempotency_key="k").event.uid
        again = dispatch("payment_received", {"v": 2}, idempotency_key="k")

        assert again.created is False
        assert again.event.uid == first
        assert json.loads(again.event.data) == {"v": 1}


def test_two_reporters_racing_with_one_key_store_one_event(app, fan_out, monkeypatch):
    # The other reporter commits between our look-up and our commit.
    with app.app_context():
        theirs = dispatch("payment_received", PAYMENT, idempotency_key="race").event.uid
    real_existing = webhooks.outbox._existing
    lookups = []

    def not_yet_committed(key):
        lookups.append(key)
        return None if len(lookups) == 1 else real_existing(key)

    monkeypatch.setattr(webhooks.outbox, "_existing", not_yet_committed)

    with app.app_context():
        ours = dispatch("payment_received", PAYMENT, idempotency_key="race")

        assert ours.created is False
        assert ours.event.uid == theirs
    expand(app)
    assert stored(app) == {"events": 1, "deliveries": 3, "attempts": 0}


def test_events_without_a_key_are_each_stored(app, fan_out):
    with app.app_context():
        dispatch("payment_received", PAYMENT)
        dispatch("payment_received", PAYMENT)
    expand(app)

    assert stored(app) == {"events": 2, "deliveries": 6, "attempts": 0}


# ---------------------------------------------------------------- waking the worker


@pytest.mark.embedded_engine
def test_a_stored_event_wakes_the_worker_at_once(app, fan_out):
    flag = wake_flag(app)

    with app.app_context():
        dispatch("invoice_sent", {})

    assert flag.is_set()


def test_a_repeated_event_does_not_wake_the_worker(app, fan_out):
    with app.app_context():
        dispatch("payment_received", PAYMENT, idempotency_key="k")
        flag = wake_flag(app)
        dispatch("payment_received", PAYMENT, idempotency_key="k")

    assert not flag.is_set()

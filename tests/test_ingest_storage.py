"""How a reported event is stored: a handful of Core statements instead of ORM objects.

Every column of the event and its deliveries is written as before, all of it in one
transaction (a failure half-way through the deliveries leaves nothing), the subscribers are
read afresh for every event, and the number of statements does not grow with the subscribers.
"""

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

import webhooks.outbox
from tests.engine_helpers import api_token, assert_api_error, post_event, stored
from webhooks import dispatch
from webhooks.delivery.message import iso_utc
from webhooks.extensions import db
from webhooks.models import Delivery, Event, Webhook, as_utc

PAYMENT = {"payment_id": 7, "payment_total": "$9.00", "customer_name": "Zoë"}
NOTHING = {"events": 0, "deliveries": 0, "attempts": 0}


@pytest.fixture
def config(config):
    # An unexpected exception must come back as the 500 a client would see, not be raised.
    config["PROPAGATE_EXCEPTIONS"] = False
    return config


class Statements:
    """The SQL statements the app's engine runs while counting (an executemany counts once)."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __call__(self, _conn, _cursor, statement, _params, _context, _executemany) -> None:
        self.sql.append(" ".join(statement.split()))

    def inserts_into(self, table: str) -> int:
        return sum(1 for sql in self.sql if sql.upper().startswith(f"INSERT INTO {table.upper()}"))


@pytest.fixture
def statements(app):
    with app.app_context():
        engine = db.engine
    log = Statements()
    sqlalchemy_event.listen(engine, "before_cursor_execute", log)
    yield log
    sqlalchemy_event.remove(engine, "before_cursor_execute", log)


def delivery_rows(app) -> list[Delivery]:
    with app.app_context():
        rows = db.session.scalars(select(Delivery).order_by(Delivery.id)).all()
        db.session.expunge_all()
        return rows


# ---------------------------------------------------------------- every column


def test_every_column_of_the_event_and_its_deliveries_is_written(app, make_webhook):
    standard = make_webhook(name="standard")
    flat = make_webhook(name="flat", payload_format="flat")
    before = datetime.now(UTC)

    with app.app_context():
        result = dispatch("payment_received", PAYMENT, idempotency_key="pay-7", source="cli")
        event_id = result.event.id

    with app.app_context():
        event = db.session.get(Event, event_id)
        assert event.uid == result.event.uid and event.uid.startswith("evt_")
        assert len(event.uid) == len("evt_") + 24
        assert (event.type, event.source, event.idempotency_key) == (
            "payment_received",
            "cli",
            "pay-7",
        )
        assert json.loads(event.data) == PAYMENT
        assert event.delivery_count == 2
        created_at = as_utc(event.created_at)
        assert before - timedelta(seconds=1) <= created_at <= datetime.now(UTC)
    rows = delivery_rows(app)
    assert sorted(row.webhook_id for row in rows) == sorted([standard, flat])
    for row in rows:
        assert row.msg_id.startswith("msg_") and len(row.msg_id) == len("msg_") + 24
        assert row.event_id == event_id
        assert row.event_type == "payment_received"
        assert row.is_test is False
        assert row.status == "pending"
        assert row.attempt_count == 0
        assert row.round_failures == 0
        assert as_utc(row.next_attempt_at) == created_at  # due at once
        assert as_utc(row.created_at) == created_at
        assert row.lease_token is None
        assert row.last_summary is None
    bodies = {row.webhook_id: json.loads(row.body) for row in rows}
    assert bodies[flat] == PAYMENT
    assert bodies[standard] == {
        "type": "payment_received",
        "timestamp": iso_utc(created_at),
        "data": PAYMENT,
    }
    assert len({row.msg_id for row in rows}) == 2


def test_returned_event_is_readable_without_the_database(app, make_webhook):
    make_webhook()
    with app.app_context():
        result = dispatch("payment_received", PAYMENT)

    # The app context (and its session) is gone: nothing may need loading any more.
    event = result.event
    assert event.uid.startswith("evt_")
    assert event.type == "payment_received"
    assert event.source == "python"
    assert event.delivery_count == result.deliveries == 1
    assert json.loads(event.data) == PAYMENT
    assert event.created_at.tzinfo is not None


def test_api_answer_matches_the_stored_event(app, client, make_webhook):
    make_webhook()
    response = post_event(client, api_token(app), {"type": "payment_received", "data": PAYMENT})

    assert response.status_code == 202
    with app.app_context():
        event = db.session.scalar(select(Event))
        assert response.get_json() == {
            "id": event.uid,
            "type": "payment_received",
            "idempotency_key": None,
            "created_at": iso_utc(event.created_at),
            "deliveries": 1,
        }


# ---------------------------------------------------------------- atomicity


@pytest.fixture
def repeated_message_id(monkeypatch):
    """The third delivery of every event gets the first one's msg_id: the unique index makes
    the deliveries' INSERT fail half-way, after two rows went in (and again on a retry)."""
    ids = itertools.cycle(["msg_repeated", "msg_other", "msg_repeated"])
    monkeypatch.setattr(webhooks.outbox, "new_message_id", lambda: str(next(ids)))


@pytest.fixture
def three_subscribers(make_webhook):
    return [make_webhook(name=name) for name in ("one", "two", "three")]


def test_failure_half_way_through_the_deliveries_stores_nothing(
    app, three_subscribers, repeated_message_id
):
    with app.app_context():
        with pytest.raises(IntegrityError):
            dispatch("payment_received", PAYMENT)

    assert stored(app) == NOTHING


def test_failure_half_way_with_an_idempotency_key_stores_nothing_and_frees_the_key(
    app, three_subscribers, repeated_message_id, monkeypatch
):
    with app.app_context():
        with pytest.raises(IntegrityError):
            dispatch("payment_received", PAYMENT, idempotency_key="pay-7")
    assert stored(app) == NOTHING

    monkeypatch.undo()
    with app.app_context():
        again = dispatch("payment_received", PAYMENT, idempotency_key="pay-7")
    assert again.created is True
    assert stored(app) == {"events": 1, "deliveries": 3, "attempts": 0}


def test_api_failure_half_way_answers_500_and_stores_nothing(
    app, client, three_subscribers, repeated_message_id
):
    token = api_token(app)

    response = post_event(client, token, {"type": "payment_received", "data": PAYMENT})

    assert_api_error(response, 500, "internal_error")
    assert stored(app) == NOTHING


# ---------------------------------------------------------------- statements


def test_deliveries_take_one_statement_however_many_subscribers(app, make_webhook, statements):
    make_webhook(name="only")
    statements.sql.clear()
    with app.app_context():
        dispatch("payment_received", PAYMENT)
    one_subscriber = list(statements.sql)
    for number in range(9):
        make_webhook(name=f"more {number}")
    statements.sql.clear()

    with app.app_context():
        result = dispatch("payment_received", PAYMENT)

    assert result.deliveries == 10
    assert len(statements.sql) == len(one_subscriber)
    assert statements.inserts_into("deliveries") == 1
    assert statements.inserts_into("events") == 1


def test_an_api_event_costs_four_statements(app, client, make_webhook, statements):
    for name in ("one", "two", "three"):
        make_webhook(name=name)
    token = api_token(app)
    post_event(client, token, {"type": "payment_received", "data": PAYMENT})  # notes the use
    statements.sql.clear()

    response = post_event(client, token, {"type": "payment_received", "data": PAYMENT})

    assert response.status_code == 202
    # The token, the subscribers, the event, its deliveries: nothing is read back.
    assert len(statements.sql) == 4, statements.sql
    assert statements.sql[0].upper().startswith("SELECT")
    assert "API_TOKENS" in statements.sql[0].upper()


# ---------------------------------------------------------------- nothing cached


def test_a_webhook_change_applies_to_the_very_next_event(app, client, make_webhook):
    keep = make_webhook(name="keep")
    pause = make_webhook(name="pause")
    token = api_token(app)
    payload = {"type": "payment_received", "data": PAYMENT}
    assert post_event(client, token, payload).get_json()["deliveries"] == 2

    with app.app_context():
        db.session.get(Webhook, pause).active = False
        db.session.get(Webhook, keep).payload_format = "flat"
        db.session.commit()
    added = make_webhook(name="added")
    response = post_event(client, token, payload)

    assert response.get_json()["deliveries"] == 2
    with app.app_context():
        latest = db.session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))
        rows = db.session.execute(
            select(Delivery.webhook_id, Delivery.body).where(Delivery.event_id == latest)
        ).all()
    bodies = {webhook_id: json.loads(body) for webhook_id, body in rows}
    assert set(bodies) == {keep, added}
    assert bodies[keep] == PAYMENT  # flat now
    assert bodies[added]["data"] == PAYMENT


# ---------------------------------------------------------------- telling the engine


def test_the_engine_is_told_once_when_the_deliveries_are_committed(app, three_subscribers):
    """Told before the commit, a worker in another process would look and find nothing."""
    seen: list[int] = []

    class Worker:
        def wake(self) -> None:  # counts what another process's connection sees at that moment
            with db.engine.connect() as other:
                seen.append(other.scalar(select(func.count()).select_from(Delivery)))

    worker = Worker()
    app.extensions["webhooks.engine"].attach(worker)

    with app.app_context():
        dispatch("payment_received", PAYMENT)
        dispatch("invoice_sent", {})  # no subscriber: nothing to tell

    assert seen == [3]

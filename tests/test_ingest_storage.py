"""How a reported event is stored: a handful of Core statements instead of ORM objects.

Every column of the event is written, the event alone: the engine writes its deliveries
afterwards, reading the subscribers afresh for every expansion. A batch of events is stored in
one transaction (a failure half-way through the batch leaves none of it), and neither storing an
event nor writing its deliveries takes more statements when there are more subscribers.
"""

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

import webhooks.outbox
from tests.engine_helpers import api_token, assert_api_error, expand, post_event, stored
from webhooks import dispatch, lifecycle
from webhooks.catalogue import get_event
from webhooks.delivery.message import iso_utc
from webhooks.extensions import db
from webhooks.models import Delivery, Event, Webhook, as_utc
from webhooks.outbox import Report, store, validate

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

    def touching(self, table: str) -> list[str]:
        return [sql for sql in self.sql if f" {table.upper()}" in sql.upper()]


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


def reports(count: int, key_prefix: str | None = None) -> list[Report]:
    """``count`` checked reports of payment_received, as the event writer batches them."""
    batch = []
    for number in range(count):
        key = None if key_prefix is None else f"{key_prefix}-{number}"
        data = {**PAYMENT, "payment_id": number}
        batch.append(
            Report("payment_received", data, validate("payment_received", data, key), "api", key)
        )
    return batch


# ---------------------------------------------------------------- every column


def test_every_column_of_the_event_and_then_of_its_deliveries_is_written(app, make_webhook):
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
        # Stored alone: the engine has not expanded it yet.
        assert event.delivery_count == 0
        assert event.expanded_at is None
        created_at = as_utc(event.created_at)
        assert before - timedelta(seconds=1) <= created_at <= datetime.now(UTC)
    assert delivery_rows(app) == []

    expanded_at = datetime.now(UTC) + timedelta(seconds=3)  # the engine's clock, later
    with app.app_context():
        assert lifecycle.expand_all(expanded_at) == 2

    with app.app_context():
        event = db.session.get(Event, event_id)
        assert event.delivery_count == 2
        assert as_utc(event.expanded_at) == expanded_at
        assert as_utc(event.created_at) == created_at
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
        assert as_utc(row.next_attempt_at) == expanded_at  # due as soon as it is written
        assert as_utc(row.created_at) == created_at  # the log dates it by its event
        assert row.lease_token is None
        assert row.last_summary is None
    bodies = {row.webhook_id: json.loads(row.body) for row in rows}
    assert bodies[flat] == PAYMENT
    assert bodies[standard] == {
        "type": "payment_received",
        "timestamp": iso_utc(created_at),  # when it was reported, not when it was expanded
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
    assert event.delivery_count == 0
    assert event.expanded_at is None
    assert json.loads(event.data) == PAYMENT
    assert event.created_at.tzinfo is not None


def test_api_answer_matches_the_stored_event(app, client, make_webhook):
    make_webhook()
    token = api_token(app)
    response = post_event(client, token, {"type": "payment_received", "data": PAYMENT})

    assert response.status_code == 202
    with app.app_context():
        event = db.session.scalar(select(Event))
        assert response.get_json() == {
            "id": event.uid,
            "type": "payment_received",
            "idempotency_key": None,
            "created_at": iso_utc(event.created_at),
            "expanded_at": None,
            "deliveries": None,
            # PAYMENT leaves out most of the schema's fields: kept as problems ("warn").
            "schema_problems": json.loads(event.schema_problems),
        }

    assert expand(app) == 1
    shown = client.get(f"/api/v1/events/{event.uid}", headers={"Authorization": f"Bearer {token}"})
    assert shown.status_code == 200
    with app.app_context():
        event = db.session.scalar(select(Event))
        assert shown.get_json() == {
            "id": event.uid,
            "type": "payment_received",
            "idempotency_key": None,
            "created_at": iso_utc(event.created_at),
            "expanded_at": iso_utc(event.expanded_at),
            "deliveries": 1,
            "schema_problems": json.loads(event.schema_problems),
        }


# ---------------------------------------------------------------- atomicity


@pytest.fixture
def repeated_event_id(monkeypatch):
    """The third event of a batch gets the first one's id: the unique index makes storing the
    batch fail half-way, after two events went in. Later ids are all new."""
    ids = itertools.chain(
        ["evt_repeated", "evt_other", "evt_repeated"], (f"evt_{n:024d}" for n in itertools.count())
    )
    monkeypatch.setattr(webhooks.outbox, "new_event_id", lambda: next(ids))


def test_failure_half_way_through_a_batch_of_events_stores_none(
    app, make_webhook, repeated_event_id, statements
):
    make_webhook()
    with app.app_context():
        batch = reports(3)
        statements.sql.clear()
        with pytest.raises(IntegrityError), db.engine.begin() as connection:
            store(connection, batch)
    assert statements.inserts_into("events") >= 1  # the INSERT did run, and failed

    assert stored(app) == NOTHING
    assert expand(app) == 0


def test_failure_half_way_with_idempotency_keys_stores_none_and_frees_the_keys(
    app, make_webhook, repeated_event_id
):
    make_webhook()
    with app.app_context():
        batch = reports(3, key_prefix="pay")
        with pytest.raises(IntegrityError), db.engine.begin() as connection:
            store(connection, batch)
    assert stored(app) == NOTHING

    with app.app_context():
        with db.engine.begin() as connection:
            again = store(connection, reports(3, key_prefix="pay"))
    assert [event.idempotency_key for event in again] == ["pay-0", "pay-1", "pay-2"]
    assert stored(app) == {"events": 3, "deliveries": 0, "attempts": 0}
    assert expand(app) == 3


def test_api_event_that_cannot_be_stored_answers_500_and_stores_nothing(
    app, client, make_webhook, monkeypatch
):
    make_webhook()
    with app.app_context():
        taken = dispatch("invoice_sent", {}).event.uid
    # Every id the writer draws is already taken: the INSERT fails, in the batch and alone.
    monkeypatch.setattr(webhooks.outbox, "new_event_id", lambda: taken)
    token = api_token(app)

    response = post_event(client, token, {"type": "payment_received", "data": PAYMENT})

    assert_api_error(response, 500, "internal_error")
    assert stored(app) == {"events": 1, "deliveries": 0, "attempts": 0}
    assert expand(app) == 0


# ---------------------------------------------------------------- statements


def test_storing_an_event_takes_the_same_statements_however_many_subscribers(
    app, make_webhook, statements
):
    make_webhook(name="only")
    statements.sql.clear()
    with app.app_context():
        dispatch("payment_received", PAYMENT)
    one_subscriber = list(statements.sql)
    for number in range(9):
        make_webhook(name=f"more {number}")
    statements.sql.clear()

    with app.app_context():
        dispatch("payment_received", PAYMENT)

    assert statements.sql == one_subscriber
    assert statements.inserts_into("events") == 1
    assert statements.touching("deliveries") == []
    assert statements.touching("webhooks") == []


def test_expanding_writes_the_deliveries_in_one_statement_however_many_subscribers(
    app, make_webhook, statements
):
    make_webhook(name="only")
    with app.app_context():
        dispatch("payment_received", PAYMENT)
    statements.sql.clear()
    assert expand(app) == 1
    one_subscriber = list(statements.sql)
    for number in range(9):
        make_webhook(name=f"more {number}")
    with app.app_context():
        dispatch("payment_received", PAYMENT)
    statements.sql.clear()

    assert expand(app) == 10

    assert len(statements.sql) == len(one_subscriber)
    assert statements.inserts_into("deliveries") == 1
    assert stored(app)["deliveries"] == 11


@pytest.mark.parametrize("subscribers", [0, 3, 50])
def test_an_api_event_costs_two_statements_whatever_the_subscribers(
    app, client, make_webhook, statements, subscribers
):
    for number in range(subscribers):
        make_webhook(name=f"hook {number}")
    token = api_token(app)
    # Data that matches its schema: no schema mode is read (tests/test_schema_enforcement.py).
    sample = get_event("payment_received").sample_data()
    post_event(client, token, {"type": "payment_received", "data": sample})  # notes the use
    statements.sql.clear()

    response = post_event(client, token, {"type": "payment_received", "data": sample})

    assert response.status_code == 202
    # The token and the event: no subscriber is read, nothing is read back.
    assert len(statements.sql) == 2, statements.sql
    assert statements.sql[0].upper().startswith("SELECT")
    assert "API_TOKENS" in statements.sql[0].upper()
    assert statements.inserts_into("events") == 1
    assert expand(app) == 2 * subscribers  # both events are expanded, after the request


# ---------------------------------------------------------------- nothing cached


def test_a_webhook_change_applies_to_the_very_next_event(app, client, make_webhook):
    keep = make_webhook(name="keep")
    pause = make_webhook(name="pause")
    token = api_token(app)
    payload = {"type": "payment_received", "data": PAYMENT}
    assert post_event(client, token, payload).status_code == 202
    assert expand(app) == 2

    with app.app_context():
        db.session.get(Webhook, pause).active = False
        db.session.get(Webhook, keep).payload_format = "flat"
        db.session.commit()
    added = make_webhook(name="added")
    response = post_event(client, token, payload)

    assert response.status_code == 202
    assert expand(app) == 2
    with app.app_context():
        latest = db.session.scalar(select(Event).where(Event.uid == response.get_json()["id"]))
        assert latest.delivery_count == 2
        rows = db.session.execute(
            select(Delivery.webhook_id, Delivery.body).where(Delivery.event_id == latest.id)
        ).all()
    bodies = {webhook_id: json.loads(body) for webhook_id, body in rows}
    assert set(bodies) == {keep, added}
    assert bodies[keep] == PAYMENT  # flat now
    assert bodies[added]["data"] == PAYMENT


# ---------------------------------------------------------------- telling the engine


def test_the_engine_is_told_once_each_event_and_then_its_deliveries_are_committed(
    app, make_webhook
):
    """Told before the commit, a worker in another process would look and find nothing."""
    for name in ("one", "two", "three"):
        make_webhook(name=name)
    seen: list[tuple[int, int]] = []

    class Worker:
        def wake(self) -> None:  # counts what another process's connection sees at that moment
            with db.engine.connect() as other:
                seen.append(
                    (
                        other.scalar(select(func.count()).select_from(Event)),
                        other.scalar(select(func.count()).select_from(Delivery)),
                    )
                )

    worker = Worker()  # the engine holds its listeners weakly
    app.extensions["webhooks.engine"].attach(worker)

    with app.app_context():
        dispatch("payment_received", PAYMENT)
        dispatch("invoice_sent", {})  # no subscriber, but the engine still has to expand it
    assert seen == [(1, 0), (2, 0)]

    assert expand(app) == 3
    assert seen == [(1, 0), (2, 0), (2, 3)]

    assert expand(app) == 0  # nothing new: nothing to tell
    assert seen == [(1, 0), (2, 0), (2, 3)]

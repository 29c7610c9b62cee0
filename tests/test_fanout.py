"""The engine expands stored events into deliveries: one per webhook subscribed to the event's
type, active when the event is expanded and created no later than the event was stored;
exactly once, with several expanders at a time or a worker killed in the middle."""

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select

from tests.engine_helpers import expand, run_worker, stored, update_webhook, wait_until
from tests.worker_processes import PROJECT, deployment
from webhooks import dispatch, lifecycle
from webhooks.extensions import db
from webhooks.models import Delivery, Event, Webhook
from webhooks.worker import fanout
from webhooks.worker.dispatcher import Dispatcher

PAYMENT = {"payment_id": 7}


def pairs(app) -> Counter:
    """How many deliveries each (event, webhook) has."""
    with app.app_context():
        rows = db.session.execute(select(Delivery.event_id, Delivery.webhook_id)).all()
        return Counter(tuple(row) for row in rows)


def report(app, count: int = 1, event_type: str = "payment_received") -> list[int]:
    with app.app_context():
        return [dispatch(event_type, {"n": n}).event.id for n in range(count)]


# ---------------------------------------------------------------- who receives it


def test_a_webhook_created_after_the_event_never_receives_it(app, make_webhook):
    before = make_webhook(name="before")
    [older] = report(app)
    after = make_webhook(name="after")
    [newer] = report(app)

    expand(app)

    assert pairs(app) == Counter({(older, before): 1, (newer, before): 1, (newer, after): 1})


def test_subscribers_are_those_active_when_the_event_is_expanded(app, make_webhook):
    stays = make_webhook(name="stays")
    switched_off = make_webhook(name="switched off")
    switched_on = make_webhook(name="switched on", active=False)
    deleted = make_webhook(name="deleted")
    make_webhook(name="other event", event="customer_created")
    [event] = report(app)

    update_webhook(app, switched_off, active=False)
    update_webhook(app, switched_on, active=True)
    with app.app_context():
        db.session.delete(db.session.get(Webhook, deleted))
        db.session.commit()
    expand(app)

    assert pairs(app) == Counter({(event, stays): 1, (event, switched_on): 1})


def test_the_body_is_dated_when_the_event_was_stored(app, make_webhook):
    make_webhook()
    with app.app_context():
        event = dispatch("payment_received", PAYMENT).event
        stored_at = event.created_at

    expand(app)

    with app.app_context():
        body = json.loads(db.session.scalar(select(Delivery.body)))
    assert body["data"] == PAYMENT
    stamp = datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    assert abs(stamp - stored_at) < timedelta(milliseconds=1)


def test_a_stored_event_reaches_its_receiver_through_the_worker(app, make_webhook, receiver):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    make_webhook(url=receiver.url_for("/hook"))
    report(app)

    assert run_worker(app) == 1

    [(request, _response)] = receiver.log
    assert json.loads(request.get_data())["data"] == {"n": 0}


# ---------------------------------------------------------------- batches


def test_a_burst_is_expanded_in_batches_each_event_whole(app, make_webhook, monkeypatch):
    monkeypatch.setattr(fanout, "ROWS_PER_EXPANSION", 10)
    monkeypatch.setattr(fanout, "EVENTS_PER_EXPANSION", 4)
    hooks = [make_webhook(name=f"hook {n}") for n in range(3)]
    events = report(app, 9)

    rounds = []
    with app.app_context():
        while True:
            expansion = lifecycle.expand(datetime.now(UTC))
            rounds.append((expansion.events, expansion.deliveries))
            if not expansion.more:
                break

    # 4 events are read at a time; an expansion stops once it has 10 rows or more.
    assert rounds == [(4, 12), (4, 12), (1, 3)]
    assert pairs(app) == Counter({(e, h): 1 for e in events for h in hooks})


def test_a_backlog_of_events_leaves_the_worker_time_to_send(app, make_webhook, monkeypatch):
    # Each batch of one event takes 60 ms here: the next waits as long, so claiming, sending
    # and recording keep at least half of the worker's time during a burst.
    monkeypatch.setattr(fanout, "EVENTS_PER_EXPANSION", 1)
    slow = 0.06
    batches: list[tuple[float, float]] = []
    expand_events = lifecycle.expand_events

    def slow_expansion(session, now):
        started = time.monotonic()
        time.sleep(slow)
        expansion = expand_events(session, now)
        batches.append((started, time.monotonic()))
        return expansion

    monkeypatch.setattr(lifecycle, "expand_events", slow_expansion)
    make_webhook(url="http://127.0.0.1:9/hook", active=False)  # no one to send to
    report(app, 5)
    worker = Dispatcher(app, concurrency=1)
    worker.start()
    try:
        wait_until(lambda: len(batches) >= 5, seconds=10)
    finally:
        assert worker.stop(timeout=5)

    for (_, ended), (next_started, _) in zip(batches, batches[1:4], strict=False):
        assert next_started - ended >= 0.9 * slow


def test_an_expansion_with_nothing_to_expand_takes_no_lock(app, make_webhook):
    statements = []
    with app.app_context():

        def seen(_conn, _cursor, sql, *_args):
            statements.append(sql.split()[0].upper())

        sqlalchemy_event.listen(db.engine, "before_cursor_execute", seen)
        try:
            expansion = lifecycle.expand(datetime.now(UTC))
        finally:
            sqlalchemy_event.remove(db.engine, "before_cursor_execute", seen)

    assert expansion == fanout.Expansion(0, 0, False)
    assert statements == ["SELECT"]


# ---------------------------------------------------------------- exactly once


def test_expanding_again_writes_nothing(app, make_webhook):
    make_webhook()
    report(app, 3)

    assert expand(app) == 3
    assert expand(app) == 0
    assert stored(app)["deliveries"] == 3


def test_concurrent_expanders_expand_each_event_once(app, make_webhook, monkeypatch):
    monkeypatch.setattr(fanout, "EVENTS_PER_EXPANSION", 7)
    hooks = [make_webhook(name=f"hook {n}") for n in range(5)]
    events = report(app, 120)
    start = threading.Barrier(4)
    errors = []

    def expander():
        try:
            with app.app_context():
                start.wait()
                lifecycle.expand_all(datetime.now(UTC))
                db.session.remove()
        except Exception as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    threads = [threading.Thread(target=expander) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert pairs(app) == Counter({(e, h): 1 for e in events for h in hooks})
    with app.app_context():
        counts = db.session.scalars(select(Event.delivery_count)).all()
        unexpanded = db.session.scalar(
            select(func.count()).select_from(Event).where(Event.expanded_at.is_(None))
        )
    assert set(counts) == {5}
    assert unexpanded == 0


def test_an_expansion_that_fails_leaves_its_events_for_the_next(app, make_webhook, monkeypatch):
    hooks = [make_webhook(name=f"hook {n}") for n in range(3)]
    events = report(app, 2)
    real = fanout._delivery_rows
    calls = []

    def fails_on_the_second_event(event, webhooks, now):
        calls.append(event.id)
        if len(calls) == 2:
            raise RuntimeError("the worker died here")
        return real(event, webhooks, now)

    monkeypatch.setattr(fanout, "_delivery_rows", fails_on_the_second_event)
    with app.app_context(), pytest.raises(RuntimeError):
        lifecycle.expand(datetime.now(UTC))
    assert stored(app)["deliveries"] == 0

    monkeypatch.setattr(fanout, "_delivery_rows", real)
    assert expand(app) == 6
    assert pairs(app) == Counter({(e, h): 1 for e in events for h in hooks})


def test_a_worker_killed_mid_expansion_loses_and_repeats_nothing(tmp_path, monkeypatch, receiver):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    with deployment(tmp_path, monkeypatch) as instance:
        hooks = [instance.webhook(receiver.url_for("/hook"), name=f"hook {n}") for n in range(4)]
        for number in range(3):
            instance.report({"payment_id": number})

        log = tmp_path / "dying.log"
        with log.open("w") as out:
            victim = subprocess.Popen(
                [sys.executable, str(PROJECT / "tests" / "dying_expander.py")],
                cwd=PROJECT,
                env=instance.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        assert victim.wait(30) == -9, log.read_text()
        assert "dying mid-expansion" in log.read_text()
        with instance.app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0
            db.session.remove()

        instance.start_worker()
        wait_until(
            lambda: [row["status"] for row in instance.deliveries()] == ["succeeded"] * 12, 30
        )

        with instance.app.app_context():
            rows = db.session.execute(select(Delivery.event_id, Delivery.webhook_id)).all()
            counted = Counter(tuple(row) for row in rows)
            events = db.session.scalars(select(Event.id)).all()
            db.session.remove()
        assert counted == Counter({(e, h): 1 for e in events for h in hooks})
        msg_ids = [request.headers["webhook-id"] for request, _response in receiver.log]
        assert len(msg_ids) == 12 == len(set(msg_ids))

"""The Celery engine's sweep against a real Redis broker, with no worker taking messages: it
queues the due deliveries whose messages were lost, and leaves alone those whose messages still
wait in the queue, so a backlog is not queued again every beat.

Needs a Redis database it may empty: WEBHOOKS_TEST_CELERY_BROKER_URL, e.g.
``redis://127.0.0.1:6379/15``; runs on SQLite or on the WEBHOOKS_TEST_DATABASE_URL server.
"""

import json
import os
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from webhooks import dispatch
from webhooks.extensions import db
from webhooks.models import Delivery
from webhooks.worker import celery_engine

BROKER_URL = os.environ.get("WEBHOOKS_TEST_CELERY_BROKER_URL")
pytestmark = pytest.mark.skipif(
    not BROKER_URL,
    reason="needs a Redis database it may empty: set WEBHOOKS_TEST_CELERY_BROKER_URL, "
    "e.g. redis://127.0.0.1:6379/15",
)
GRACE = 5.0


@pytest.fixture
def broker():
    import redis

    client = redis.Redis.from_url(BROKER_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def celery_app(config, broker):
    """The app under test on the Celery engine, with the real broker and no worker."""
    config.update(QUEUE="celery", CELERY_BROKER_URL=BROKER_URL)
    return config


def queued_ids(broker) -> list[int]:
    """Delivery ids of the attempt messages waiting in the broker, oldest first."""
    messages = [json.loads(raw) for raw in reversed(broker.lrange("celery", 0, -1))]
    assert {message["headers"]["task"] for message in messages} <= {"webhooks.attempt"}
    return [int(message["headers"]["argsrepr"].strip("(,)")) for message in messages]


def report(app, count: int) -> list[int]:
    """Report ``count`` events (one delivery each, messages sent) and make their deliveries
    due for longer than the sweep's grace; returns their ids."""
    with app.app_context():
        for number in range(count):
            dispatch("payment_received", {"payment_id": number})
        ids = db.session.scalars(select(Delivery.id).order_by(Delivery.id)).all()
        db.session.execute(
            update(Delivery).values(next_attempt_at=Delivery.next_attempt_at - timedelta(minutes=1))
        )
        db.session.commit()
        return list(ids)


def sweep(app) -> int:
    with app.app_context():
        return celery_engine.sweep_due(app, GRACE)


def test_a_sweep_during_a_backlog_queues_no_message_again(celery_app, app, make_webhook, broker):
    make_webhook(url="http://127.0.0.1:9/hook")
    ids = report(app, 5)
    assert queued_ids(broker) == ids  # dispatch sent one message each; no worker took them

    assert sweep(app) == 0
    assert sweep(app) == 0  # beat after beat
    assert queued_ids(broker) == ids


def test_a_sweep_queues_every_delivery_whose_message_was_lost(
    celery_app, app, make_webhook, broker
):
    make_webhook(url="http://127.0.0.1:9/hook")
    ids = report(app, 5)
    broker.flushdb()  # the broker restarted without its messages

    assert sweep(app) == 5
    assert queued_ids(broker) == ids
    assert sweep(app) == 0  # the next beat finds them queued
    assert queued_ids(broker) == ids


def test_a_sweep_queues_the_lost_ones_beside_a_backlog(celery_app, app, make_webhook, broker):
    make_webhook(url="http://127.0.0.1:9/hook")
    lost = report(app, 3)
    broker.flushdb()
    waiting = report(app, 4)[3:]  # reported after the restart: their messages wait
    assert queued_ids(broker) == waiting

    assert sweep(app) == 3
    assert queued_ids(broker) == waiting + lost  # the oldest due first: the lost ones
    assert sweep(app) == 0


def test_a_sweep_queues_at_most_one_batch_oldest_first(
    celery_app, app, make_webhook, broker, monkeypatch
):
    monkeypatch.setattr(celery_engine, "SWEEP_BATCH", 2)
    make_webhook(url="http://127.0.0.1:9/hook")
    ids = report(app, 5)
    broker.flushdb()

    assert sweep(app) == 2
    assert queued_ids(broker) == ids[:2]

"""The Celery engine (QUEUE = "celery"): each delivery attempt is a Celery task that carries only
the delivery id; the database stays the source of truth.

- ``webhooks.attempt(id)`` claims exactly that delivery if it is due (the same conditional UPDATE
  and lease as the embedded worker's claim), sends it and records the result. A duplicate or
  stale message finds nothing to claim and ends. A retry due within ETA_HORIZON is queued with
  that ETA; a later one is left to the sweep, so no message waits for hours in a worker (Redis
  would hand an unacknowledged message to another worker after its visibility timeout).
- ``webhooks.sweep()`` queues an attempt for due deliveries whose message seems lost (oldest
  first, SWEEP_BATCH at a time): Celery beat runs it every SWEEP_INTERVAL, so a message lost with
  a broker or a killed worker costs a delay, never a delivery. It queues only as many as there
  are due deliveries beyond the messages still waiting in the broker: during a backlog the due
  deliveries are those whose messages wait in the queue, and queueing them again would only add
  work that finds nothing to do.
- ``webhooks.purge()`` deletes old deliveries daily, as the embedded worker does.
"""

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from celery import Celery, Task
from flask import Flask, current_app
from sqlalchemy import func, select

from webhooks.delivery.pipeline import EXTENSION_KEY as DELIVERER_KEY
from webhooks.delivery.sender import SendResult
from webhooks.extensions import db
from webhooks.models import Delivery, as_utc
from webhooks.worker.policy import Policy
from webhooks.worker.process import finish, load_jobs
from webhooks.worker.queue import DUE_STATES, claim_one, due_ids
from webhooks.worker.retention import purge

log = logging.getLogger("webhooks.celery")

EXTENSION_KEY = "celery"
SWEEP_BATCH = 1000
ETA_HORIZON = timedelta(minutes=10)
PURGE_EVERY = 24 * 3600.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def celery_init_app(app: Flask) -> Celery:
    """A Celery app whose tasks run inside ``app``'s context (Flask's Celery pattern)."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        # A message is acknowledged once its attempt is recorded, and a worker takes one
        # message per process or thread at a time.
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        timezone="UTC",
        beat_schedule={
            "webhooks-sweep": {
                "task": "webhooks.sweep",
                "schedule": float(app.config["SWEEP_INTERVAL"]),
                # Skip deliveries that fell due just now: their messages are on their way.
                "kwargs": {"grace": float(app.config["SWEEP_INTERVAL"])},
            },
            "webhooks-purge": {"task": "webhooks.purge", "schedule": PURGE_EVERY},
        },
    )

    @celery_app.task(name="webhooks.attempt", shared=False)
    def attempt(delivery_id: int) -> str:
        return attempt_delivery(delivery_id)

    @celery_app.task(name="webhooks.sweep", shared=False)
    def sweep(grace: float = 0.0) -> int:
        return sweep_due(current_app, grace)

    @celery_app.task(name="webhooks.purge", shared=False)
    def purge_old() -> tuple[int, int]:
        policy = Policy.from_config(current_app.config)
        return purge(utcnow() - policy.retention)

    app.extensions[EXTENSION_KEY] = celery_app
    return celery_app


def _task(app: Flask, name: str) -> Task:
    return app.extensions[EXTENSION_KEY].tasks[name]


def send_attempts(app: Flask, delivery_ids: Iterable[int]) -> int:
    """Queue one attempt per delivery; returns how many were queued. A broker that cannot be
    reached is logged, not raised: the deliveries are committed, and the sweep queues them."""
    task, sent = _task(app, "webhooks.attempt"), 0
    try:
        for delivery_id in delivery_ids:
            task.apply_async((delivery_id,))
            sent += 1
    except Exception:
        log.exception("could not queue deliveries on the broker; the sweep will queue them")
    return sent


def send_sweep(app: Flask) -> None:
    """Ask a Celery worker to sweep now, for new work whose deliveries are not known here."""
    try:
        _task(app, "webhooks.sweep").apply_async()
    except Exception:
        log.exception("could not queue a sweep on the broker; Celery beat will run one")


def sweep_due(app: Flask, grace: float = 0.0) -> int:
    """Queue an attempt for due deliveries (due for at least ``grace`` seconds) that seem to
    have no message, oldest first, at most SWEEP_BATCH; returns how many were queued.

    The messages waiting in the broker are counted as the due deliveries' own (they are, but
    for the few dispatched within ``grace``), so only the due deliveries beyond them are
    queued: a sweep during a backlog queues nothing, and after a broker lost its messages it
    queues every due delivery. Counting the due deliveries before the messages errs towards a
    few repeated messages, which find nothing to claim, rather than towards a delay."""
    cutoff = utcnow() - timedelta(seconds=grace)
    due = db.session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.status.in_(DUE_STATES), Delivery.next_attempt_at <= cutoff)
    )
    db.session.commit()
    missing = min(due - waiting_messages(app), SWEEP_BATCH) if due else 0
    if missing <= 0:
        return 0
    return send_attempts(app, due_ids(cutoff, missing))


def waiting_messages(app: Flask) -> int:
    """Messages in the broker's queue that no worker has taken yet; 0 when the broker cannot
    tell (the sweep then queues every due delivery, as if all messages were lost)."""
    celery_app = app.extensions[EXTENSION_KEY]
    try:
        queue = celery_app.amqp.queues[celery_app.conf.task_default_queue]
        with celery_app.connection_for_read() as connection:
            return queue(connection.default_channel).queue_declare().message_count
    except Exception:
        log.exception("could not count the messages waiting on the broker")
        return 0


def attempt_delivery(delivery_id: int) -> str:
    """One attempt of one delivery, if it is due; returns what became of it."""
    app = current_app._get_current_object()
    policy = Policy.from_config(app.config)
    deliverer = app.extensions[DELIVERER_KEY]
    claimed = claim_one(delivery_id, utcnow(), policy.lease)
    if not claimed:
        return "not due"
    jobs = load_jobs(claimed, deliverer, utcnow())
    if not jobs:
        return "not sent"
    job = jobs[0]
    try:
        result = deliverer.check_and_send(job.prepared)
    except Exception as error:  # a bug must not lose the delivery: record it as a failure
        log.exception("sending delivery %s failed unexpectedly", delivery_id)
        result = SendResult(ok=False, summary=f"internal error: {error}", error=str(error))
    finish([(job, result)], policy, utcnow())
    if result.ok:  # nothing to schedule: spare the busiest path a read and a commit
        return "succeeded"
    row = db.session.execute(
        select(Delivery.status, Delivery.next_attempt_at, Delivery.lease_token).where(
            Delivery.id == delivery_id
        )
    ).first()
    db.session.commit()
    if row is None:
        return "deleted"
    if row.status == "failing" and row.next_attempt_at and row.lease_token is None:
        due = as_utc(row.next_attempt_at)
        if due - utcnow() <= ETA_HORIZON:
            try:
                _task(app, "webhooks.attempt").apply_async((delivery_id,), eta=due)
            except Exception:
                log.exception("could not queue the retry of %s; the sweep will", delivery_id)
    return row.status

"""The Celery engine (QUEUE = "celery"): the delivery worker — the same dispatcher `flask worker`
runs — lives in each Celery worker process, and Celery carries the news of work between
processes and hosts. The database stays the source of truth.

- Committed work is announced with a ``webhooks.wake`` message; the worker process that takes
  it claims at once (within each webhook's limits), sends on its event loop and returns at once,
  so no Celery thread ever waits on a receiver. Every dispatcher also polls the database each
  WORKER_POLL_INTERVAL, so a message lost with the broker costs a delay, never a delivery.
- Each dispatcher also purges old deliveries daily, as in the embedded engine, so Celery beat
  has nothing to do.

``host_dispatchers`` starts and stops the dispatcher with the worker processes, for
`celery -A webhooks.celery_worker worker` and for `flask worker`, which runs a Celery worker.
"""

import logging
import os

from celery import Celery, Task
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.signals import (
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from flask import Flask, current_app

from webhooks.extensions import db
from webhooks.worker.dispatcher import Dispatcher
from webhooks.worker.engine import Engine, engine_of

log = logging.getLogger("webhooks.celery")

EXTENSION_KEY = "celery"
BROKER_TIMEOUT = 2.0  # seconds a health check may wait for the broker


class CeleryEngine(Engine):
    name = "celery"

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self.celery = celery_init_app(app)

    def notify(self) -> None:
        """Wake this process's dispatcher, if it has one, and a worker process through the
        broker. A broker that cannot be reached is logged, not raised: the work is committed,
        and the workers find it when they next poll."""
        self.wake_here()
        try:
            self.celery.tasks["webhooks.wake"].apply_async()
        except Exception:
            log.exception("could not announce new work on the broker; the workers will find it")

    def runs_embedded_worker(self) -> bool:
        return False

    def listen(self, wake):
        """The broker carries the news of work (the ``webhooks.wake`` task), not a doorbell."""
        return None

    def run_worker(self, concurrency: int | None = None) -> bool:
        """A Celery worker in this process (two threads take the news of work; the
        dispatcher sends), until SIGTERM or SIGINT."""
        if concurrency:
            self.app.config["WORKER_CONCURRENCY"] = concurrency
        host_dispatchers(self.app)
        self.celery.worker_main(
            [
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
        )
        return True

    def queue_health(self) -> str | None:
        """Whether a new connection to the broker opens now (Redis or RabbitMQ alike)."""
        try:
            with self.celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT)
        except Exception:  # kombu raises its own and the transport's errors
            return "unreachable"
        return "ok"


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
        # Every key of the broker starts with REDIS_KEY_PREFIX (kombu's Redis transport).
        broker_transport_options={"global_keyprefix": app.config["REDIS_KEY_PREFIX"]},
        task_ignore_result=True,
        timezone="UTC",
    )

    @celery_app.task(name="webhooks.wake", shared=False)
    def wake() -> None:
        engine_of(current_app).wake_here()

    app.extensions[EXTENSION_KEY] = celery_app
    return celery_app


def host_dispatchers(flask_app: Flask) -> None:
    """Run a dispatcher in each process of a Celery worker that runs tasks: the worker itself
    with the threads or solo pool, each child with prefork (which gets database connections of
    its own, never its parent's). Each stops with its process, letting its requests in flight
    finish for up to twice the delivery timeout."""
    running: dict[int, Dispatcher] = {}  # by process id

    def start() -> None:
        if os.getpid() not in running:
            dispatcher = Dispatcher(flask_app)
            dispatcher.start()
            running[os.getpid()] = dispatcher

    def in_a_pool_process(**_kwargs: object) -> None:
        with flask_app.app_context():
            db.engine.dispose(close=False)
        start()

    def in_the_worker(sender, **_kwargs: object) -> None:
        if not isinstance(sender.pool, PreforkPool):
            start()

    def stopping(**_kwargs: object) -> None:
        dispatcher = running.pop(os.getpid(), None)
        if dispatcher is not None:
            dispatcher.stop(timeout=2 * float(flask_app.config["DELIVERY_TIMEOUT"]))

    worker_process_init.connect(in_a_pool_process, weak=False)
    worker_ready.connect(in_the_worker, weak=False)
    worker_process_shutdown.connect(stopping, weak=False)
    worker_shutdown.connect(stopping, weak=False)

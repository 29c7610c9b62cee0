"""The Celery engine (QUEUE = "celery"): the delivery worker — the same dispatcher `flask worker`
runs — lives in each Celery worker process, and Celery carries the news of work between
processes and hosts. The database stays the source of truth.

- Committed work is announced with a ``webhooks.wake`` message; the worker process that takes
  it claims at once (within each webhook's limits), sends on its event loop and returns at once,
  so no Celery thread ever waits on a receiver. Every dispatcher also polls the database each
  WORKER_POLL_INTERVAL, so a message lost with the broker costs a delay, never a delivery.
- Each dispatcher also purges old deliveries daily, as in the embedded engine, so Celery beat
  has nothing to do.

``webhooks/celery_worker.py`` starts and stops the dispatcher with the worker processes.
"""

import logging

from celery import Celery, Task
from flask import Flask, current_app

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
        super().notify()
        try:
            self.celery.tasks["webhooks.wake"].apply_async()
        except Exception:
            log.exception("could not announce new work on the broker; the workers will find it")

    def runs_embedded_worker(self) -> bool:
        return False

    def health(self) -> tuple[str | None, str, bool]:
        """Whether a new connection to the broker opens now (Redis or RabbitMQ alike)."""
        try:
            with self.celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT)
        except Exception:  # kombu raises its own and the transport's errors
            return "unreachable", "celery", False
        return "ok", "celery", True


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
        timezone="UTC",
    )

    @celery_app.task(name="webhooks.wake", shared=False)
    def wake() -> None:
        engine_of(current_app).wake_here()

    app.extensions[EXTENSION_KEY] = celery_app
    return celery_app

"""The Celery entry point for the Celery engine (WEBHOOKS_QUEUE=celery):

celery -A webhooks.celery_worker worker --pool threads --concurrency 2

Each process that runs tasks (the worker itself with the threads or solo pool, each child with
prefork) runs a delivery dispatcher, started and stopped here with the process.
"""

import os

from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.signals import (
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from webhooks import create_app
from webhooks.extensions import db
from webhooks.worker.dispatcher import Dispatcher

flask_app = create_app()  # not named `app`: `celery -A` would take it for the Celery app
if "celery" not in flask_app.extensions:
    raise RuntimeError(
        "The delivery engine is not Celery: set WEBHOOKS_QUEUE=celery (and "
        "WEBHOOKS_CELERY_BROKER_URL) for the web server, the Celery workers and beat alike."
    )
celery = flask_app.extensions["celery"]

_dispatcher: tuple[int, Dispatcher] | None = None  # (process id, its dispatcher)


def _start_dispatcher() -> None:
    global _dispatcher
    if _dispatcher is not None and _dispatcher[0] == os.getpid():
        return
    dispatcher = Dispatcher(flask_app)
    dispatcher.start()
    _dispatcher = (os.getpid(), dispatcher)


def _stop_dispatcher() -> None:
    global _dispatcher
    if _dispatcher is not None and _dispatcher[0] == os.getpid():
        _dispatcher[1].stop(timeout=2 * float(flask_app.config["DELIVERY_TIMEOUT"]))
        _dispatcher = None


@worker_process_init.connect
def _in_a_pool_process(**_kwargs: object) -> None:
    """A prefork child (or the solo pool's one process): database connections of its own,
    never the parent's, and a dispatcher."""
    with flask_app.app_context():
        db.engine.dispose(close=False)
    _start_dispatcher()


@worker_ready.connect
def _in_the_worker(sender, **_kwargs: object) -> None:
    """With the threads pool, tasks run in the worker process itself: so does the dispatcher."""
    if not isinstance(sender.pool, PreforkPool):
        _start_dispatcher()


@worker_process_shutdown.connect
@worker_shutdown.connect
def _stopping(**_kwargs: object) -> None:
    _stop_dispatcher()

"""Telling the delivery engine the moment new work is committed: waking idle worker threads of
this process (embedded engine), or sending a Celery message per new delivery (Celery engine)."""

import threading
import weakref
from collections.abc import Iterable

from flask import current_app

EXTENSION_KEY = "webhooks.wakeups"


def init_app(app) -> None:
    app.extensions[EXTENSION_KEY] = weakref.WeakSet()


def register(app) -> threading.Event:
    """A wake-up flag for one worker thread."""
    flag = threading.Event()
    app.extensions[EXTENSION_KEY].add(flag)
    return flag


def wake_workers(app=None) -> None:
    for flag in list((app or current_app).extensions[EXTENSION_KEY]):
        flag.set()


def uses_celery(app=None) -> bool:
    return (app or current_app).config["QUEUE"] == "celery"


def notify_new_work(delivery_ids: Iterable[int] | None = None, app=None) -> None:
    """Call after committing due deliveries. ``delivery_ids`` names them when known; without
    it the Celery engine runs a sweep, which finds every due delivery."""
    app = app or current_app._get_current_object()
    if not uses_celery(app):
        wake_workers(app)
        return
    from webhooks.worker.celery_engine import send_attempts, send_sweep

    if delivery_ids is None:
        send_sweep(app)
    else:
        send_attempts(app, delivery_ids)

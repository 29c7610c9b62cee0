"""Waking idle worker threads of this process the moment new work is committed."""

import threading
import weakref

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

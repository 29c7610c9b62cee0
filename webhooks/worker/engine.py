"""The delivery engine, chosen once at start-up by QUEUE: where new work is announced, which
process sends, and how /healthz sees it.

Both engines run the same dispatcher (``dispatcher.py``) and the same lifecycle; they differ
only in where the dispatcher runs and how it hears of new work:

- ``embedded``: in `flask worker` processes (`make run` starts one beside the web server), or in
  the web server process itself (EMBEDDED_WORKER); committed work rings the doorbells of the
  workers of this machine (``doorbell.py``), and workers elsewhere find it by polling the
  database every WORKER_POLL_INTERVAL.
- ``celery``: in Celery worker processes (``celery_engine.py``); new work is also announced
  to them with a message through the broker.

Code that makes work due never asks which engine runs: it commits, and ``notify`` is called
for it (``wakeup.py``).
"""

import weakref
from collections.abc import Callable
from typing import Protocol

from flask import Flask

from webhooks.worker.dispatcher import Dispatcher, run_until_signalled
from webhooks.worker.doorbell import Doorbell
from webhooks.worker.wakeup import ENGINE_KEY

EMBEDDED_WORKER_KEY = "webhooks.worker"


class Listener(Protocol):
    def wake(self) -> None: ...


class Engine:
    name = "embedded"

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._listeners: weakref.WeakSet[Listener] = weakref.WeakSet()
        self.doorbell = Doorbell(app.instance_path)

    def attach(self, listener: Listener) -> None:
        """Wake ``listener`` (a dispatcher of this process) whenever work is announced."""
        self._listeners.add(listener)

    def notify(self) -> None:
        """New due work is committed: wake the dispatchers that will send it, in this process
        and in the other processes of this machine."""
        self.wake_here()
        self.doorbell.ring()

    def listen(self, wake: Callable[[], None]) -> Callable[[], None] | None:
        """Call ``wake`` when another process announces work; returns what stops listening."""
        return self.doorbell.listen(wake)

    def wake_here(self) -> None:
        """Wake the dispatchers of this process."""
        for listener in list(self._listeners):
            listener.wake()

    def run_worker(self, concurrency: int | None = None) -> bool:
        """The delivery worker in the foreground (`flask worker`) until SIGTERM or SIGINT; True
        when it stopped with nothing left in flight."""
        return run_until_signalled(self.app, concurrency)

    def runs_embedded_worker(self) -> bool:
        """Whether the web server process sends (`make run`), rather than other processes."""
        return bool(self.app.config["EMBEDDED_WORKER"])

    def queue_health(self) -> str | None:
        """What /healthz says of the queue: None when the database is the queue, else "ok" or
        "unreachable"."""
        return None


def init_app(app: Flask) -> None:
    if app.config["QUEUE"] == "celery":
        from webhooks.worker.celery_engine import CeleryEngine  # imports Celery only if used

        app.extensions[ENGINE_KEY] = CeleryEngine(app)
    else:
        app.extensions[ENGINE_KEY] = Engine(app)


def engine_of(app: Flask) -> Engine:
    return app.extensions[ENGINE_KEY]


def start_embedded(app: Flask) -> Dispatcher | None:
    """Start the dispatcher inside this (web server) process, unless the engine sends from
    other processes; returns it, or None."""
    if not engine_of(app).runs_embedded_worker():
        return None
    if EMBEDDED_WORKER_KEY not in app.extensions:
        dispatcher = Dispatcher(app)
        dispatcher.start()
        app.extensions[EMBEDDED_WORKER_KEY] = dispatcher
    return app.extensions[EMBEDDED_WORKER_KEY]


def stop_embedded(app: Flask) -> None:
    dispatcher = app.extensions.pop(EMBEDDED_WORKER_KEY, None)
    if dispatcher is not None:
        dispatcher.stop()

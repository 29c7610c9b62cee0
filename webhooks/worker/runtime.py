"""Worker threads: claim due deliveries, process them, then sleep until the next one is due or
new work wakes them. The same pool runs embedded in the web server or on its own."""

import logging
import signal
import threading
import time
from datetime import UTC, datetime

from flask import Flask

from webhooks.delivery.pipeline import EXTENSION_KEY as DELIVERER_KEY
from webhooks.extensions import db
from webhooks.worker.policy import Policy
from webhooks.worker.process import process
from webhooks.worker.queue import claim_due, seconds_until_due
from webhooks.worker.retention import purge
from webhooks.worker.wakeup import register

log = logging.getLogger("webhooks.worker")

EXTENSION_KEY = "webhooks.worker"
PURGE_EVERY = 24 * 3600.0
ERROR_PAUSE = 1.0


class WorkerPool:
    def __init__(self, app: Flask, threads: int | None = None) -> None:
        self.app = app
        self.size = threads or int(app.config["WORKER_THREADS"])
        self.poll_interval = float(app.config["WORKER_POLL_INTERVAL"])
        self.policy = Policy.from_config(app.config)
        self.deliverer = app.extensions[DELIVERER_KEY]
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._flags: list[threading.Event] = []
        self._purge_lock = threading.Lock()
        self._next_purge = 0.0

    def start(self) -> None:
        for number in range(self.size):
            flag = register(self.app)
            thread = threading.Thread(
                target=self._run, args=(flag,), name=f"webhooks-worker-{number}", daemon=True
            )
            self._flags.append(flag)
            self._threads.append(thread)
            thread.start()
        log.info("delivery worker started with %d threads", self.size)

    def stop(self, timeout: float | None = None) -> bool:
        """Let in-flight attempts finish, then end the threads; False if some did not end."""
        self._stopping.set()
        for flag in self._flags:
            flag.set()
        deadline = time.monotonic() + (timeout if timeout is not None else 2 * 60)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stopped = not any(thread.is_alive() for thread in self._threads)
        log.info("delivery worker %s", "stopped" if stopped else "did not stop in time")
        return stopped

    def run_once(self, limit: int = 1) -> int:
        """Claim and process up to ``limit`` due deliveries; returns how many were claimed."""
        claimed = claim_due(datetime.now(UTC), limit, self.policy.lease)
        for delivery_id, token in claimed:
            process(delivery_id, token, self.deliverer, self.policy)
        return len(claimed)

    def _maybe_purge(self) -> None:
        if time.monotonic() < self._next_purge or not self._purge_lock.acquire(blocking=False):
            return
        try:
            self._next_purge = time.monotonic() + PURGE_EVERY
            deliveries, events = purge(datetime.now(UTC) - self.policy.retention)
            if deliveries or events:
                log.info("purged %d old deliveries and %d events", deliveries, events)
        finally:
            self._purge_lock.release()

    def _run(self, flag: threading.Event) -> None:
        with self.app.app_context():
            while not self._stopping.is_set():
                flag.clear()
                try:
                    self._maybe_purge()
                    if self.run_once():
                        continue
                    due_in = seconds_until_due(datetime.now(UTC))
                    wait = self.poll_interval if due_in is None else min(due_in, self.poll_interval)
                except Exception:
                    log.exception("delivery worker error; trying again in %.0f s", ERROR_PAUSE)
                    db.session.rollback()
                    wait = ERROR_PAUSE
                flag.wait(wait)


def start_embedded(app: Flask) -> WorkerPool | None:
    """Start the worker inside this (web server) process, unless EMBEDDED_WORKER is off."""
    if not app.config["EMBEDDED_WORKER"] or EXTENSION_KEY in app.extensions:
        return app.extensions.get(EXTENSION_KEY)
    pool = WorkerPool(app)
    pool.start()
    app.extensions[EXTENSION_KEY] = pool
    return pool


def stop_embedded(app: Flask) -> None:
    pool = app.extensions.pop(EXTENSION_KEY, None)
    if pool is not None:
        pool.stop()


def run_until_signalled(app: Flask, threads: int | None = None) -> bool:
    """Run a worker pool in the foreground until SIGTERM or SIGINT, then stop it cleanly."""
    pool = WorkerPool(app, threads)
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("received %s, finishing in-flight deliveries", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        pool.start()
        while not stop.wait(3600):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return pool.stop()

"""The worker pool: one thread claims due deliveries, a pool of threads sends them, one thread
records the results in batches. It sleeps until the next delivery is due or new work wakes it.
The same pool runs embedded in the web server or on its own (`flask worker`)."""

import logging
import queue
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime

from flask import Flask

from webhooks.delivery.pipeline import EXTENSION_KEY as DELIVERER_KEY
from webhooks.delivery.sender import SendResult
from webhooks.extensions import db
from webhooks.worker.policy import Policy
from webhooks.worker.process import Job, finish, load_jobs
from webhooks.worker.queue import claim_due, seconds_until_due
from webhooks.worker.retention import purge
from webhooks.worker.wakeup import register

log = logging.getLogger("webhooks.worker")

EXTENSION_KEY = "webhooks.worker"
PURGE_EVERY = 24 * 3600.0
ERROR_PAUSE = 1.0
RECORD_BATCH = 200
CLAIM_BATCH = 100


def utcnow() -> datetime:
    return datetime.now(UTC)


class WorkerPool:
    def __init__(self, app: Flask, threads: int | None = None) -> None:
        self.app = app
        self.size = threads or int(app.config["WORKER_THREADS"])
        self.poll_interval = float(app.config["WORKER_POLL_INTERVAL"])
        self.policy = Policy.from_config(app.config)
        self.deliverer = app.extensions[DELIVERER_KEY]
        self._stopping = threading.Event()
        self._wake = register(app)
        self._results: queue.Queue[tuple[Job, SendResult] | None] = queue.Queue()
        self._in_flight = 0
        self._pending: set[Future] = set()
        self._lock = threading.RLock()  # a done callback may run inside _submit
        self._senders: ThreadPoolExecutor | None = None
        self._threads: list[threading.Thread] = []
        self._next_purge = 0.0

    # -- one synchronous round, for tests and tools ------------------------------------------
    def run_once(self, limit: int = 1) -> int:
        """Claim, send and record up to ``limit`` due deliveries in this thread."""
        claimed = claim_due(utcnow(), limit, self.policy.lease)
        jobs = load_jobs(claimed, self.deliverer, utcnow())
        results = [(job, self.deliverer.check_and_send(job.prepared)) for job in jobs]
        if results:
            finish(results, self.policy, utcnow())
        return len(claimed)

    # -- threads -------------------------------------------------------------------------------
    def start(self) -> None:
        self._senders = ThreadPoolExecutor(self.size, thread_name_prefix="webhooks-sender")
        for name, target in (("claimer", self._claim_loop), ("recorder", self._record_loop)):
            thread = threading.Thread(target=target, name=f"webhooks-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()
        log.info("delivery worker started with %d sending threads", self.size)

    def stop(self, timeout: float | None = None) -> bool:
        """Claim nothing more, let in-flight attempts finish and be recorded, then end."""
        deadline = time.monotonic() + (timeout if timeout is not None else 120)
        self._stopping.set()
        self._wake.set()
        claimer, recorder = self._threads
        claimer.join(max(0.0, deadline - time.monotonic()))
        if self._senders is not None:
            with self._lock:
                pending = set(self._pending)
            wait(pending, timeout=max(0.0, deadline - time.monotonic()))
            self._senders.shutdown(wait=False, cancel_futures=False)
        self._results.put(None)
        recorder.join(max(0.0, deadline - time.monotonic()))
        stopped = not any(thread.is_alive() for thread in self._threads)
        log.info("delivery worker %s", "stopped" if stopped else "did not stop in time")
        return stopped

    def _free_slots(self) -> int:
        """Deliveries to claim now: enough to keep every sending thread busy while the next
        claim is made, never more than one batch."""
        with self._lock:
            return min(CLAIM_BATCH, 2 * self.size - self._in_flight)

    def _claim_loop(self) -> None:
        with self.app.app_context():
            while not self._stopping.is_set():
                self._wake.clear()
                wait = self.poll_interval
                try:
                    self._maybe_purge()
                    free = self._free_slots()
                    if free > 0:
                        claimed = claim_due(utcnow(), free, self.policy.lease)
                        if claimed:
                            self._submit(load_jobs(claimed, self.deliverer, utcnow()))
                            continue
                        due_in = seconds_until_due(utcnow())
                        if due_in is not None:
                            wait = min(due_in, wait)
                except Exception:
                    log.exception("delivery worker error; trying again in %.0f s", ERROR_PAUSE)
                    db.session.rollback()
                    wait = ERROR_PAUSE
                self._wake.wait(wait)

    def _submit(self, jobs: list[Job]) -> None:
        with self._lock:
            self._in_flight += len(jobs)
            for job in jobs:
                future = self._senders.submit(self._send, job)
                self._pending.add(future)
                future.add_done_callback(self._forget)

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    def _send(self, job: Job) -> None:
        try:
            result = self.deliverer.check_and_send(job.prepared)
        except Exception as error:  # a bug must not lose the delivery: record it as a failure
            log.exception("sending delivery %s failed unexpectedly", job.delivery_id)
            result = SendResult(ok=False, summary=f"internal error: {error}", error=str(error))
        self._results.put((job, result))
        with self._lock:
            self._in_flight -= 1
        self._wake.set()

    def _record_loop(self) -> None:
        with self.app.app_context():
            done = False
            while not done:
                item = self._results.get()
                batch = []
                while item is not None:
                    batch.append(item)
                    if len(batch) >= RECORD_BATCH:
                        break
                    try:
                        item = self._results.get_nowait()
                    except queue.Empty:
                        break
                done = item is None
                if batch:
                    self._record(batch)

    def _record(self, batch: list[tuple[Job, SendResult]]) -> None:
        while True:
            try:
                finish(batch, self.policy, utcnow())
                self._wake.set()  # retries were scheduled: the claimer sleeps until the first
                return
            except Exception:
                # The database is away; the attempts happened, so keep them and try again.
                # (If this process dies first, the leases run out and they are sent again.)
                log.exception("recording %d attempts failed; trying again", len(batch))
                db.session.rollback()
                time.sleep(ERROR_PAUSE)

    def _maybe_purge(self) -> None:
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + PURGE_EVERY
        deliveries, events = purge(utcnow() - self.policy.retention)
        if deliveries or events:
            log.info("purged %d old deliveries and %d events", deliveries, events)


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

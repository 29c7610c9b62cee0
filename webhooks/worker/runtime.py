"""The worker pool: a coordinator thread claims due deliveries and records results in batches,
a pool of threads sends. It sleeps until the next delivery is due or new work wakes it. The same
pool runs embedded in the web server or on its own (`flask worker`)."""

import logging
import queue
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

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
MAX_ERROR_PAUSE = 5.0
RECORD_BATCH = 200
RECORD_DELAY = 0.05
CLAIM_BATCH = 100


def utcnow() -> datetime:
    return datetime.now(UTC)


def database_unavailable(error: BaseException) -> bool:
    """The database cannot be reached, dropped the connection, or stayed locked past the
    wait: an outage to wait out, not a bug."""
    return isinstance(error, OperationalError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


def _reason(error: DBAPIError) -> str:
    """The driver's error in one line, without the statement (its parameters hold signatures)."""
    cause = error.orig if error.orig is not None else error
    lines = str(cause).strip().splitlines() or [""]
    return f"{type(cause).__name__}: {lines[0]}"


class WorkerPool:
    """A coordinator thread does all the database work — recording results, claiming due
    deliveries, signing them — so the process never waits on its own database locks; a pool
    of threads does the sending."""

    def __init__(self, app: Flask, threads: int | None = None) -> None:
        self.app = app
        self.size = threads or int(app.config["WORKER_THREADS"])
        self.poll_interval = float(app.config["WORKER_POLL_INTERVAL"])
        self.policy = Policy.from_config(app.config)
        self.deliverer = app.extensions[DELIVERER_KEY]
        self._stopping = threading.Event()
        self._stop_by = 0.0
        self._wake = register(app)
        self._results: queue.SimpleQueue[tuple[Job, SendResult]] = queue.SimpleQueue()
        self._unrecorded: list[tuple[Job, SendResult]] = []
        self._oldest = 0.0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._senders: ThreadPoolExecutor | None = None
        self._coordinator: threading.Thread | None = None
        self._next_purge = 0.0
        self._claimed: list[tuple[int, str]] = []
        self._outage_since: float | None = None
        self._error_pause = ERROR_PAUSE

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
        self._coordinator = threading.Thread(
            target=self._run, name="webhooks-coordinator", daemon=True
        )
        self._coordinator.start()
        log.info("delivery worker started with %d sending threads", self.size)

    def stop(self, timeout: float | None = None) -> bool:
        """Claim nothing more; let in-flight attempts finish and be recorded, for at most
        ``timeout`` seconds; True when everything was recorded in time."""
        self._stop_by = time.monotonic() + (timeout if timeout is not None else 120)
        self._stopping.set()
        self._wake.set()
        self._coordinator.join(max(0.0, self._stop_by - time.monotonic()) + 1)
        self._senders.shutdown(wait=False, cancel_futures=True)
        stopped = not self._coordinator.is_alive() and not self._held()
        log.info("delivery worker %s", "stopped" if stopped else "did not stop in time")
        return stopped

    def is_alive(self) -> bool:
        return self._coordinator is not None and self._coordinator.is_alive()

    def _held(self) -> int:
        with self._lock:
            return self._in_flight + len(self._unrecorded) + self._results.qsize()

    def _to_claim(self) -> int:
        """How many deliveries to claim now. Up to two per sending thread are held, so the
        threads stay busy while the next claim is made; when busy, the coordinator waits
        until half of that is free, so each claim takes a batch rather than one at a time."""
        with self._lock:
            held = self._in_flight
        free = 2 * self.size - held
        if held and free < self.size:
            return 0
        return min(CLAIM_BATCH, free)

    def _run(self) -> None:
        with self.app.app_context():
            while True:
                self._wake.clear()
                wait = self.poll_interval
                try:
                    record_in = self._record(time.monotonic())
                    if record_in is not None:
                        wait = record_in
                    if self._stopping.is_set():
                        if not self._held() or time.monotonic() >= self._stop_by:
                            return
                        wait = min(wait, 0.1)
                    else:
                        self._maybe_purge()
                        wanted = self._to_claim()
                        if wanted:
                            # A claim whose loading failed is loaded once the database is
                            # back, rather than left to wait for its lease to end.
                            if not self._claimed:
                                self._claimed = claim_due(utcnow(), wanted, self.policy.lease)
                                self._database_reachable()
                            if self._claimed:
                                jobs = load_jobs(self._claimed, self.deliverer, utcnow())
                                self._claimed = []
                                self._database_reachable()
                                self._submit(jobs)
                                continue
                            due_in = seconds_until_due(utcnow())
                            if due_in is not None:
                                wait = min(due_in, wait)
                except Exception as error:
                    wait = self._after_error(error)
                self._wake.wait(wait)

    def _after_error(self, error: Exception) -> float:
        """Roll back and return how long to pause. While the database is away, results stay
        queued (their attempts happened) and are written once it is back; should this process
        die first, the leases run out and the deliveries are sent again. An outage is logged
        once when it starts and once when it ends, and its pauses grow to MAX_ERROR_PAUSE;
        any other error is a bug, logged with its traceback."""
        try:
            db.session.rollback()
        except SQLAlchemyError:  # the connection is gone; a new session starts afresh
            db.session.remove()
        if not database_unavailable(error):
            # A claim that cannot be loaded for another reason is not retried at once: it
            # would block every other claim. Its lease runs out instead.
            self._claimed = []
            log.exception("delivery worker error; trying again in %.0f s", ERROR_PAUSE)
            return ERROR_PAUSE
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            self._error_pause = ERROR_PAUSE
            log.warning(
                "database unavailable (%s); waiting for it, retrying in %.0f s and then at "
                "most every %.0f s",
                _reason(error),
                ERROR_PAUSE,
                MAX_ERROR_PAUSE,
            )
        else:
            self._error_pause = min(2 * self._error_pause, MAX_ERROR_PAUSE)
        return self._error_pause

    def _database_reachable(self) -> None:
        if self._outage_since is not None:
            log.info(
                "database reachable again after %.0f s; resuming",
                time.monotonic() - self._outage_since,
            )
            self._outage_since = None

    def _record(self, now: float) -> float | None:
        """Write the results that have arrived, in batches. While attempts are still in
        flight, a few results wait up to RECORD_DELAY for more, since each write costs about
        the same for one result as for a hundred; returns how long until they must be
        written, or None when nothing is waiting."""
        while True:
            while len(self._unrecorded) < RECORD_BATCH and not self._results.empty():
                if not self._unrecorded:
                    self._oldest = now
                self._unrecorded.append(self._results.get_nowait())
            if not self._unrecorded:
                return None
            due_in = self._oldest + RECORD_DELAY - now
            if len(self._unrecorded) < RECORD_BATCH and due_in > 0 and self._in_flight:
                return due_in
            finish(self._unrecorded, self.policy, utcnow())
            self._unrecorded = []
            self._database_reachable()

    def _submit(self, jobs: list[Job]) -> None:
        with self._lock:
            self._in_flight += len(jobs)
        for job in jobs:
            self._senders.submit(self._send, job)

    def _send(self, job: Job) -> None:
        try:
            result = self.deliverer.check_and_send(job.prepared)
        except Exception as error:  # a bug must not lose the delivery: record it as a failure
            log.exception("sending delivery %s failed unexpectedly", job.delivery_id)
            result = SendResult(ok=False, summary=f"internal error: {error}", error=str(error))
        with self._lock:
            self._results.put((job, result))
            self._in_flight -= 1
            in_flight = self._in_flight
        # Wake the coordinator only when it has something to do: room for a batch of new
        # claims, or nothing left in flight (it then records at once instead of lingering).
        if in_flight in (self.size, 0):
            self._wake.set()

    def _maybe_purge(self) -> None:
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + PURGE_EVERY
        deliveries, events = purge(utcnow() - self.policy.retention)
        if deliveries or events:
            log.info("purged %d old deliveries and %d events", deliveries, events)


def start_embedded(app: Flask) -> WorkerPool | None:
    """Start the worker inside this (web server) process, unless EMBEDDED_WORKER is off or
    Celery is the engine (QUEUE = "celery")."""
    if (
        not app.config["EMBEDDED_WORKER"]
        or app.config["QUEUE"] == "celery"
        or EXTENSION_KEY in app.extensions
    ):
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

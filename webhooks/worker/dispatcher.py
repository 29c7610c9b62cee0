"""The delivery worker of one process: a coordinator thread does all the database work —
expanding new events into deliveries, claiming due deliveries within each webhook's limits,
signing them, recording results in batches — and the process's sender loop makes the
requests, up to WORKER_CONCURRENCY at once, each a task waiting on its receiver. A receiver
that hangs holds only its own webhook's few requests, never a thread.

The same dispatcher runs embedded in the web server, on its own (`flask worker`), or inside a
Celery worker process.
"""

import asyncio
import logging
import queue
import resource
import signal
import threading
import time
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from webhooks import lifecycle
from webhooks.delivery.loop import SenderLoop
from webhooks.delivery.pipeline import EXTENSION_KEY as DELIVERER_KEY
from webhooks.delivery.result import SendResult
from webhooks.extensions import db
from webhooks.lifecycle import Job
from webhooks.worker import heartbeat
from webhooks.worker.claims import seconds_until_next_due
from webhooks.worker.policy import Policy
from webhooks.worker.retention import purge
from webhooks.worker.wakeup import ENGINE_KEY

log = logging.getLogger("webhooks.worker")

PURGE_EVERY = 24 * 3600.0
ERROR_PAUSE = 1.0
MAX_ERROR_PAUSE = 5.0
RECORD_BATCH = 200
RECORD_DELAY = 0.02
# Open files a process needs beside one connection per request in flight.
SPARE_FILES = 256
# Claims take at most this many at once, and, while requests are in flight, wait until this
# many (or a quarter of the concurrency, if less) are free.
CLAIM_BATCH = 500
CLAIM_STEP = 100


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


class Dispatcher:
    """The delivery worker of one process (see the module's docstring)."""

    def __init__(self, app: Flask, concurrency: int | None = None) -> None:
        self.app = app
        self.room = concurrency or int(app.config["WORKER_CONCURRENCY"])
        self.step = max(1, min(CLAIM_STEP, self.room // 4))
        self.poll_interval = float(app.config["WORKER_POLL_INTERVAL"])
        self.policy = Policy.from_config(app.config)
        self.deliverer = app.extensions[DELIVERER_KEY]
        self._stopping = threading.Event()
        self._stop_by = 0.0
        self._wake = threading.Event()
        self._results: queue.SimpleQueue[tuple[Job, SendResult]] = queue.SimpleQueue()
        self._unrecorded: list[tuple[Job, SendResult]] = []
        self._oldest = 0.0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._loop: SenderLoop | None = None
        self._tasks: set[asyncio.Task] = set()  # the loop's tasks, kept from the collector
        self._coordinator: threading.Thread | None = None
        self._next_purge = 0.0
        self._worker_id: int | None = None  # its row in ``workers``, once checked in
        self._stop_listening = None
        self._next_beat = 0.0
        # Something may be claimable that the last claim did not find. After a claim that found
        # less than it had room for, what is left due is held back by webhooks' limits: the
        # next claim waits for news that may free some — new work, results recorded, a retry
        # or a probe falling due, the poll — rather than read the same rows again at once.
        self._news = True
        # Events may be stored that no worker has expanded yet. While a backlog of them is
        # expanded, the next batch waits as long as the last one took (``_expand_after``), so
        # claiming and recording keep at least half the coordinator's time: a burst of events
        # does not hold back the sending of the deliveries already written.
        self._events = True
        self._expand_after = 0.0
        self._outage_since: float | None = None
        self._error_pause = ERROR_PAUSE
        app.extensions[ENGINE_KEY].attach(self)

    def wake(self) -> None:
        """New work may be due: expand and claim now, rather than at the next poll."""
        self._events = True
        self._news = True
        self._wake.set()

    # -- one synchronous round, for tests and tools ------------------------------------------
    def run_once(self, limit: int = 1) -> int:
        """Expand the events stored so far, then claim, send and record up to ``limit`` due
        deliveries, waiting for them here."""
        lifecycle.expand_all(utcnow())
        claimed, jobs = lifecycle.claim_jobs(utcnow(), limit, self.policy, self.deliverer)
        if jobs:
            results = SenderLoop.of_this_process().run(self._attempt_all(jobs))
            lifecycle.record(results, self.policy, utcnow())
        return claimed

    async def _attempt_all(self, jobs: list[Job]) -> list[tuple[Job, SendResult]]:
        results = await asyncio.gather(*(self._attempt(job) for job in jobs))
        return list(zip(jobs, results, strict=True))

    async def _attempt(self, job: Job) -> SendResult:
        """The job's attempt, once its rate limit lets it go."""
        wait = (job.send_at - utcnow()).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)
        return await self.deliverer.attempt(job.prepared)

    # -- threads -------------------------------------------------------------------------------
    def start(self) -> None:
        self._open_enough_files()
        self._stop_listening = self.app.extensions[ENGINE_KEY].listen(self.wake)
        self._loop = SenderLoop.of_this_process()
        self._coordinator = threading.Thread(
            target=self._run, name="webhooks-coordinator", daemon=True
        )
        self._coordinator.start()
        log.info("delivery worker started: up to %d requests in flight", self.room)

    def _open_enough_files(self) -> None:
        """Each request in flight holds a connection: raise this process's open-files limit
        (often 1,024 by default) as far as the system lets it, up to what the room needs, and
        keep fewer requests in flight if it cannot."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = self.room + SPARE_FILES
        if soft >= wanted:
            return
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        if raised < wanted:
            self.room = max(1, raised - SPARE_FILES)
            self.step = max(1, min(CLAIM_STEP, self.room // 4))
            log.warning(
                "this process may open only %d files: it keeps at most %d requests in flight, "
                "not WEBHOOKS_WORKER_CONCURRENCY; raise its limit (ulimit -n, or LimitNOFILE= "
                "in a systemd unit)",
                raised,
                self.room,
            )

    def stop(self, timeout: float | None = None) -> bool:
        """Claim nothing more; let in-flight attempts finish and be recorded, for at most
        ``timeout`` seconds; True when everything was recorded in time. Attempts still in
        flight then are dropped: their leases run out and they are sent again."""
        self._stop_by = time.monotonic() + (timeout if timeout is not None else 120)
        if self._stop_listening is not None:
            self._stop_listening()
        self._stopping.set()
        self._wake.set()
        self._coordinator.join(max(0.0, self._stop_by - time.monotonic()) + 1)
        stopped = not self._coordinator.is_alive() and not self._held()
        if self._tasks:
            self._loop.call(self._cancel_all)
        log.info("delivery worker %s", "stopped" if stopped else "did not stop in time")
        return stopped

    def is_alive(self) -> bool:
        return self._coordinator is not None and self._coordinator.is_alive()

    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def _held(self) -> int:
        with self._lock:
            return self._in_flight + len(self._unrecorded) + self._results.qsize()

    def _room(self) -> int:
        """How many deliveries there is room to claim: as many as are free, in batches of at
        least ``step`` while requests are in flight."""
        with self._lock:
            held = self._in_flight
        free = self.room - held
        if free <= 0 or (held and free < self.step):
            return 0
        return min(CLAIM_BATCH, free)

    def _run(self) -> None:
        with self.app.app_context():
            try:
                self._coordinate()
            finally:
                self._check_out()

    def _coordinate(self) -> None:
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
                    wait = min(wait, self._check_in())
                    self._maybe_purge()
                    written = self._expand()
                    claimed, room = self._claim_and_submit()
                    if written and (not room or claimed == room):
                        # This worker could not take every new delivery: tell the others.
                        self.app.extensions[ENGINE_KEY].notify()
                    expand_in = self._expand_after - time.monotonic()
                    if claimed or (self._events and expand_in <= 0):
                        continue
                    if self._events:
                        wait = min(wait, expand_in)
                    # While requests are in flight their results bring the next look soon
                    # enough (or the poll does); idle, sleep until the next retry is due.
                    if not self.in_flight():
                        due_in = seconds_until_next_due(db.session, utcnow())
                        if due_in is not None:
                            wait = min(due_in, wait)
            except Exception as error:
                wait = self._after_error(error)
            if not self._wake.wait(wait):
                # A retry, a probe or a lease fell due, or it is time to poll (which also finds
                # any event whose doorbell was missed).
                self._news = self._events = True

    def _check_in(self) -> float:
        """Keep this worker's row in ``workers`` fresh; seconds until it is due again."""
        now = time.monotonic()
        if now >= self._next_beat:
            engine = self.app.extensions[ENGINE_KEY].name
            if self._worker_id is None:
                self._worker_id = heartbeat.check_in(db.session, engine, utcnow())
            else:
                heartbeat.still_here(db.session, self._worker_id, utcnow())
            self._next_beat = now + heartbeat.EVERY.total_seconds()
        return self._next_beat - now

    def _check_out(self) -> None:
        if self._worker_id is None:
            return
        try:
            heartbeat.check_out(db.session, self._worker_id)
        except SQLAlchemyError:  # the database is away: the row ages out instead
            db.session.rollback()

    def _expand(self) -> int:
        """Expand the events stored since the last look (``_events`` stays set if some are
        left for the next); how many deliveries were written. This worker claims them next,
        so the engine is not told of them here."""
        started = time.monotonic()
        if not self._events or started < self._expand_after:
            return 0
        self._events = False
        try:
            expansion = lifecycle.expand(utcnow(), announce=False)
        except Exception:
            self._events = True  # nothing was expanded: look again once the database is back
            raise
        self._database_reachable()
        if expansion.deliveries:
            self._news = True
        self._expand_after = 0.0
        if expansion.more:
            self._events = True
            finished = time.monotonic()
            self._expand_after = finished + (finished - started)
        return expansion.deliveries

    def _claim_and_submit(self) -> tuple[int, int]:
        """Claim what there is room for and hand it to the sender loop; how many were claimed
        and how many there was room for."""
        wanted = self._room()
        if not wanted or not self._news:
            return 0, wanted
        # News from now on (another thread may bring some during the claim) is news to the
        # next claim; a claim that filled its room may have left more behind.
        self._news = False
        try:
            claimed, jobs = lifecycle.claim_jobs(utcnow(), wanted, self.policy, self.deliverer)
        except Exception:
            self._news = True  # nothing was claimed: look again once the database is back
            raise
        self._database_reachable()
        if claimed == wanted:
            self._news = True
        self._submit(jobs)
        return claimed, wanted

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
            if len(self._unrecorded) < RECORD_BATCH and due_in > 0 and self.in_flight():
                return due_in
            lifecycle.record(self._unrecorded, self.policy, utcnow())
            self._unrecorded = []
            # What was recorded frees its webhooks' slots: their next deliveries may go.
            self._news = True
            self._database_reachable()

    # -- the sender loop's side ------------------------------------------------------------
    def _submit(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        with self._lock:
            self._in_flight += len(jobs)
        self._loop.call(self._launch, jobs)

    def _launch(self, jobs: list[Job]) -> None:
        for job in jobs:
            task = asyncio.ensure_future(self._send(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, job: Job) -> None:
        result = await self._attempt(job)
        with self._lock:
            first = self._results.empty()
            self._results.put((job, result))
            self._in_flight -= 1
            in_flight = self._in_flight
        # Wake the coordinator only when it has something to do: a first result to record,
        # room for a batch of new claims, or nothing left in flight.
        if in_flight in (self.room - self.step, 0):
            self.wake()
        elif first:
            self._wake.set()

    def _cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _maybe_purge(self) -> None:
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + PURGE_EVERY
        deliveries, events = purge(utcnow() - self.policy.retention)
        if deliveries or events:
            log.info("purged %d old deliveries and %d events", deliveries, events)


def run_until_signalled(app: Flask, concurrency: int | None = None) -> bool:
    """Run a dispatcher in the foreground until SIGTERM or SIGINT, then stop it cleanly."""
    dispatcher = Dispatcher(app, concurrency)
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("received %s, finishing in-flight deliveries", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        dispatcher.start()
        while not stop.wait(3600):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return dispatcher.stop()

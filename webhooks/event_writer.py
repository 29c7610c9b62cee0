"""Group commit for events reported through the API.

Each request thread checks its event, hands it to this process's writer thread and waits. The
writer takes every event waiting at that moment (up to ``MAX_BATCH``) and, in one transaction,
checks their tokens, skips idempotency keys already stored, applies each event type's schema
mode (refusing those that do not match in "reject" mode), stores the events, and commits;
then it tells the delivery engine, which expands them into deliveries, and answers each
request. Under load
one transaction serves many requests, so the database round trips and commits per event fall
with the load; an idle writer answers a lone request after one transaction, without waiting.

The guarantees are the single-event ones: a request is answered only after its event is
committed, the token is checked in the same transaction (a token revoked a
moment ago is refused), and a batch that fails is retried one event at a time, so one bad
event fails alone.
"""

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from flask import Flask, current_app
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from webhooks.extensions import db
from webhooks.models import ApiToken
from webhooks.outbox import Dispatched, Report, SchemaRejected, admit, store, stored_events
from webhooks.redaction import error_kind
from webhooks.telemetry import record as telemetry
from webhooks.tokens import live_tokens
from webhooks.worker.wakeup import note_new_work

EXTENSION_KEY = "webhooks.event_writer"
MAX_BATCH = 64
IDLE_SECONDS = 5.0  # a writer with nothing to do this long ends; the next event starts another
ANSWER_TIMEOUT = 120.0

log = logging.getLogger(__name__)


class TokenRefused(Exception):
    """The request's token is unknown or revoked (``read_only`` False), or read-only."""

    def __init__(self, read_only: bool) -> None:
        super().__init__("read-only token" if read_only else "unknown or revoked token")
        self.read_only = read_only


@dataclass
class _Job:
    report: Report
    token_hash: str
    answer: Future = field(default_factory=Future)


class EventWriter:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._connection: Connection | None = None  # the writer thread's own

    def report(self, report: Report, token_hash: str) -> Dispatched:
        """Store ``report`` for a request whose token has this hash; waits for the commit.

        Raises ``TokenRefused``, or whatever storing the event raised."""
        job = _Job(report, token_hash)
        with self._lock:
            self._jobs.put(job)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="webhooks-event-writer", daemon=True
                )
                self._thread.start()
        return job.answer.result(timeout=ANSWER_TIMEOUT)

    def _run(self) -> None:
        with self.app.app_context():
            try:
                self._serve()
            finally:
                self._disconnect()

    def _serve(self) -> None:
        while True:
            try:
                first = self._jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:  # no job can be put between this check and the exit
                    if self._jobs.empty():
                        self._thread = None
                        return
                continue
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch: list[_Job]) -> None:
        try:
            outcomes = self._store(batch)
        except Exception as error:  # noqa: BLE001
            # Another process stored one of these idempotency keys first (found by the next
            # try), the connection broke, or one event cannot be stored: each again on its
            # own, so only the one concerned fails, and its request is answered with the error.
            log.info("Storing %d reported events at once failed: %s", len(batch), error_kind(error))
            self._disconnect()
            outcomes = [self._store_alone(job) for job in batch]
        for job, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                job.answer.set_exception(outcome)
            else:
                job.answer.set_result(outcome)

    def _store_alone(self, job: _Job) -> Dispatched | BaseException:
        try:
            (outcome,) = self._store([job])
        except Exception as error:  # noqa: BLE001
            self._disconnect()
            return error
        return outcome

    def _store(self, batch: list[_Job]) -> list[Dispatched | BaseException]:
        # The writer keeps its connection between transactions: no pool check-out and no
        # liveness ping per batch. A connection that failed is dropped and a new one taken.
        if self._connection is None:
            self._connection = db.engine.connect()
        # A session on the writer's connection, for its commit hook: the engine is told of
        # the new events once they are committed.
        with Session(bind=self._connection) as session, session.begin():
            outcomes, stored = _store_batch(
                session.connection(),
                [job.report for job in batch],
                [job.token_hash for job in batch],
            )
            if stored:
                note_new_work(session)
                telemetry.events_stored(session, "api", stored)
        repeated = sum(isinstance(o, Dispatched) and not o.created for o in outcomes)
        telemetry.events_duplicate("api", repeated)
        return outcomes

    def _disconnect(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                connection.close()
            except Exception as error:  # noqa: BLE001  (a broken connection is dropped anyway)
                log.info("Closing the event writer's connection failed: %s", error_kind(error))


def _store_batch(
    connection: Connection, reports: list[Report], token_hashes: list[str]
) -> tuple[list[Dispatched | BaseException], int]:
    """In the connection's transaction: check the tokens, skip the keys already stored, apply
    each event type's schema mode, store the new events. One outcome per report, in order, and
    how many events are new."""
    outcomes: list[Dispatched | BaseException | None] = [None] * len(reports)
    tokens = live_tokens(connection, token_hashes)
    new: dict[str, int] = {}  # idempotency key -> index of the report storing it
    repeats: list[tuple[int, int]] = []  # (index, index of the first with its key)
    found = stored_events(connection, {r.idempotency_key for r in reports} - {None})
    refusals = [_refusal(tokens.get(token_hash)) for token_hash in token_hashes]
    candidates = [
        index
        for index, report in enumerate(reports)
        if refusals[index] is None and report.idempotency_key not in found
    ]
    verdicts = dict(
        zip(candidates, admit(connection, [reports[i] for i in candidates]), strict=True)
    )
    to_store = []
    for index, report in enumerate(reports):
        key = report.idempotency_key
        if refusals[index] is not None:
            outcomes[index] = refusals[index]
        elif key in found:
            outcomes[index] = Dispatched(found[key], False)
        elif key is not None and key in new:
            repeats.append((index, new[key]))
        elif isinstance(verdicts[index], SchemaRejected):
            outcomes[index] = verdicts[index]  # its key stays free for a later report
        else:
            if key is not None:
                new[key] = index
            to_store.append(index)
    stored = store(connection, [verdicts[i] for i in to_store])
    for index, event in zip(to_store, stored, strict=True):
        outcomes[index] = Dispatched(event, True)
    for index, first in repeats:  # the same key as an event stored earlier in this batch
        outcomes[index] = Dispatched(outcomes[first].event, False)
    return outcomes, len(stored)


def _refusal(token: ApiToken | None) -> TokenRefused | None:
    if token is None:
        return TokenRefused(read_only=False)
    if token.scope == "read":
        return TokenRefused(read_only=True)
    return None


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = EventWriter(app)


def report_event(report: Report, token_hash: str) -> Dispatched:
    """Store an event reported through the API, grouped with those of concurrent requests."""
    return current_app.extensions[EXTENSION_KEY].report(report, token_hash)

"""Reporting events: the one path behind the API, the CLI and ``webhooks.dispatch``.

An event is stored once, durably, in one transaction; once ``dispatch`` returns, nothing is
lost even if the process dies. The engine then expands it into a delivery per subscribed
webhook (``webhooks.worker.fanout``), so storing costs the same however many webhooks are
subscribed.

Its ``data`` is checked against its event type's JSON Schema when it is read (``checked``), and
``admit`` applies the event type's mode where it is stored (``webhooks.schema_checks``): the
problems found are kept with the event ("warn"), dropped ("off"), or refuse it ("reject").
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from webhooks import schema_checks
from webhooks.catalogue import get_event
from webhooks.extensions import db
from webhooks.models import Event, new_event_id
from webhooks.schema_checks import Problem
from webhooks.telemetry import record as telemetry
from webhooks.worker.wakeup import note_new_work

MAX_KEY_LENGTH = 255
MAX_DEPTH = 64
# Events the service reports itself (``webhook_disabled``): never refused, whatever the mode.
SYSTEM = "system"


class EventError(ValueError):
    """An event that cannot be accepted; ``code`` names the problem for API clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SchemaRejected(EventError):
    """An event whose ``data`` does not match its event type's schema, in "reject" mode."""

    def __init__(self, event_type: str, problems: tuple[Problem, ...]) -> None:
        listing = "; ".join(f"{problem.path}: {problem.message}" for problem in problems)
        super().__init__(
            "schema_mismatch",
            f"`data` does not match the JSON Schema of {event_type}, so the event was not "
            f"stored: {listing}",
        )
        self.problems = problems

    @property
    def fields(self) -> dict[str, list[str]]:
        """Each JSON path at fault and what is wrong there."""
        fields: dict[str, list[str]] = {}
        for problem in self.problems:
            fields.setdefault(problem.path, []).append(problem.message)
        return fields


@dataclass(frozen=True)
class Dispatched:
    event: Event
    created: bool


def _depth(data: Any) -> int:
    """How deeply ``data`` nests, found without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return deepest


def _serialise(data: Any, max_bytes: int) -> str:
    if not isinstance(data, dict):
        raise EventError("invalid_data", "`data` must be a JSON object.")
    if _depth(data) > MAX_DEPTH:
        raise EventError("invalid_data", f"`data` nests deeper than {MAX_DEPTH} levels.")
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        size = len(text.encode())
    except (TypeError, ValueError, RecursionError) as error:  # UnicodeEncodeError is a ValueError
        raise EventError("invalid_data", f"`data` cannot be sent as JSON: {error}") from error
    if size > max_bytes:
        raise EventError(
            "payload_too_large", f"`data` is larger than the limit of {max_bytes} bytes."
        )
    return text


def _valid_key(key: Any) -> bool:
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH:
        return False
    try:
        key.encode()
    except UnicodeEncodeError:  # a lone surrogate cannot be stored
        return False
    return True


def validate(event_type: Any, data: Any, idempotency_key: Any = None) -> str:
    """Check an event before anything is written; returns ``data`` as JSON text."""
    if not isinstance(event_type, str) or get_event(event_type) is None:
        raise EventError(
            "unknown_event_type",
            f"Unknown event type {event_type!r}; see the event catalogue for the valid types.",
        )
    if idempotency_key is not None and not _valid_key(idempotency_key):
        raise EventError(
            "invalid_id", f"`id` must be a string of 1 to {MAX_KEY_LENGTH} characters."
        )
    if idempotency_key is not None and "\x00" in idempotency_key:
        # PostgreSQL cannot store a NUL in a text column: the INSERT would fail.
        raise EventError(
            "invalid_id", "`id` must not contain NUL characters; the database cannot store them."
        )
    return check_data(data)


def check_data(data: Any) -> str:
    """Check an event's ``data`` as every door does (an object, not too deep, within
    MAX_EVENT_BYTES); returns it as JSON text, or raises ``EventError``."""
    return _serialise(data, current_app.config["MAX_EVENT_BYTES"])


def checked(event_type: Any, data: Any, idempotency_key: Any = None, *, source: str) -> "Report":
    """An event ready to be stored, with where its data does not match its schema; raises
    ``EventError`` for one that cannot be accepted at all."""
    data_text = validate(event_type, data, idempotency_key)
    problems = schema_checks.find_problems(event_type, data)
    return Report(event_type, data, data_text, source, idempotency_key, problems)


def admit(connection: Connection, reports: Sequence["Report"]) -> list["Report | SchemaRejected"]:
    """Each report as its event type's mode wants it stored, or the refusal of one that does
    not match its schema in "reject" mode. The modes are read in the connection's transaction,
    and only when a report has problems."""
    if not any(report.problems for report in reports):
        return list(reports)
    modes = schema_checks.modes(connection, {report.event_type for report in reports})
    verdicts: list[Report | SchemaRejected] = []
    for report in reports:
        mode = modes[report.event_type]
        if not report.problems or mode == schema_checks.WARN:
            verdicts.append(report)
        elif mode == schema_checks.REJECT and report.source != SYSTEM:
            verdicts.append(SchemaRejected(report.event_type, report.problems))
        elif mode == schema_checks.REJECT:
            verdicts.append(report)  # the service's own event: kept, with its problems
        else:
            verdicts.append(replace(report, problems=()))
    return verdicts


def enqueue(
    event_type: str,
    data: dict[str, Any],
    *,
    source: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Event:
    """Store the event in the session's transaction; the caller commits (and the engine is
    told then, and expands it). Raises ``SchemaRejected`` (nothing written) as ``dispatch``
    does, except for the service's own events."""
    report = checked(event_type, data, idempotency_key, source=source)
    (verdict,) = admit(db.session.connection(), [report])
    if isinstance(verdict, SchemaRejected):
        raise verdict
    (event,) = store(db.session.connection(), [verdict], now=now)
    note_new_work(db.session)
    telemetry.events_stored(db.session, source)
    return event


@dataclass(frozen=True)
class Report:
    """An event checked by ``validate`` and ready to be stored; ``data_text`` is its JSON, and
    ``problems`` where its data does not match its schema (kept with it when stored)."""

    event_type: str
    data: dict[str, Any]
    data_text: str
    source: str
    idempotency_key: str | None = None
    problems: tuple[Problem, ...] = ()


# Reporting an event is the hot path: these statements are built once (SQLAlchemy then reuses
# their compiled form) and run on a connection, without ORM objects, whose unit of work costs
# more than the SQL itself.
_EVENTS = Event.__table__
_INSERT_EVENTS = insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True)
_EVENTS_BY_KEY = select(_EVENTS).where(_EVENTS.c.idempotency_key.in_(bindparam("keys")))


def store(
    connection: Connection, reports: Sequence[Report], *, now: datetime | None = None
) -> list[Event]:
    """Store events in the connection's transaction, so they commit or roll back together
    with whatever else the caller wrote: one INSERT on PostgreSQL, one statement per event
    (prepared once) on SQLite, whose driver cannot return ids from a multi-row INSERT. Their
    deliveries are the engine's to write."""
    if not reports:
        return []
    now = now or datetime.now(UTC)
    values = [
        {
            "uid": new_event_id(),
            "type": report.event_type,
            "data": report.data_text,
            "idempotency_key": report.idempotency_key,
            "source": report.source,
            "delivery_count": 0,
            "created_at": now,
            "expanded_at": None,
            "schema_problems": _problems_text(report.problems),
            "schema_problem_count": len(report.problems) or None,
        }
        for report in reports
    ]
    for event_id, event_values in zip(
        connection.scalars(_INSERT_EVENTS, values), values, strict=True
    ):
        event_values["id"] = event_id
    return [_detached(event_values) for event_values in values]


def _problems_text(problems: tuple[Problem, ...]) -> str | None:
    if not problems:
        return None
    return json.dumps([problem.as_json() for problem in problems], ensure_ascii=False)


def stored_problems(event: Event) -> list[dict[str, str]]:
    """The schema problems kept with an event: a list of {"path", "message"}, maybe empty."""
    if not event.schema_problems:
        return []
    try:
        problems = json.loads(event.schema_problems)
    except (ValueError, RecursionError):
        return []
    return problems if isinstance(problems, list) else []


def _detached(values: dict[str, Any]) -> Event:
    """An Event built from its column values, as if loaded: reading it needs no query."""
    event = Event(**values)
    make_transient_to_detached(event)
    return event


def stored_events(connection: Connection, keys: Iterable[str]) -> dict[str, Event]:
    """The events already stored under these idempotency keys, by key."""
    keys = list(keys)
    if not keys:
        return {}
    rows = connection.execute(_EVENTS_BY_KEY, {"keys": keys}).all()
    return {row.idempotency_key: _detached(row._asdict()) for row in rows}


def _existing(idempotency_key: str) -> Event | None:
    return stored_events(db.session.connection(), [idempotency_key]).get(idempotency_key)


def dispatch(
    event_type: str,
    data: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    source: str = "python",
) -> Dispatched:
    """Report an event: every webhook subscribed to ``event_type`` and active when the engine
    expands it (within milliseconds) receives ``data``.

    Run inside an application context. The same ``idempotency_key`` twice stores one event;
    the second call returns the first with ``created=False``. Raises ``EventError`` for an
    unknown type or unusable data, and its ``SchemaRejected`` for data that does not match the
    event type's schema in "reject" mode, before anything is written.
    """
    try:
        report = checked(event_type, data, idempotency_key, source=source)
    except EventError:
        telemetry.event_rejected(source)
        raise
    if idempotency_key is not None:
        if (found := _existing(idempotency_key)) is not None:
            telemetry.events_duplicate(source)
            return Dispatched(found, False)
    try:
        (verdict,) = admit(db.session.connection(), [report])
        if isinstance(verdict, SchemaRejected):
            db.session.rollback()
            telemetry.event_rejected(source)
            raise verdict
        (event,) = store(db.session.connection(), [verdict])
        note_new_work(db.session)
        telemetry.events_stored(db.session, source)
        db.session.commit()
    except IntegrityError:
        # Another reporter stored the same key first (seen at the INSERT or at the commit).
        db.session.rollback()
        if idempotency_key is None:
            raise
        found = _existing(idempotency_key)
        if found is None:
            raise
        telemetry.events_duplicate(source)
        return Dispatched(found, False)
    return Dispatched(event, True)

"""Reporting events: the one path behind the API, the CLI and ``webhooks.dispatch``.

An event is stored once, and one delivery per subscribed active webhook is written in the same
transaction (an outbox): once ``dispatch`` returns, nothing is lost even if the process dies.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from webhooks.catalogue import get_event
from webhooks.delivery.message import render_body
from webhooks.extensions import db
from webhooks.models import Delivery, DeliveryStatus, Event, Webhook, new_event_id, new_message_id
from webhooks.worker.wakeup import note_new_work

MAX_KEY_LENGTH = 255
MAX_DEPTH = 64


class EventError(ValueError):
    """An event that cannot be accepted; ``code`` names the problem for API clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Dispatched:
    event: Event
    created: bool
    deliveries: int


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
    return _serialise(data, current_app.config["MAX_EVENT_BYTES"])


def enqueue(
    event_type: str,
    data: dict[str, Any],
    *,
    source: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> tuple[Event, int]:
    """Write the event and its deliveries in the session's transaction; the caller commits (and
    the engine is told then, if there are deliveries)."""
    report = Report(
        event_type, data, validate(event_type, data, idempotency_key), source, idempotency_key
    )
    db.session.flush()  # the caller's pending changes (a webhook just disabled) are seen
    (stored,) = store(db.session.connection(), [report], now=now)
    if stored.deliveries:
        note_new_work(db.session)
    return stored.event, stored.deliveries


@dataclass(frozen=True)
class Report:
    """An event checked by ``validate`` and ready to be stored; ``data_text`` is its JSON."""

    event_type: str
    data: dict[str, Any]
    data_text: str
    source: str
    idempotency_key: str | None = None


# Reporting an event is the hot path: these statements are built once (SQLAlchemy then reuses
# their compiled form) and run on a connection, without ORM objects, whose unit of work costs
# more than the SQL itself.
_EVENTS = Event.__table__
_DELIVERIES = Delivery.__table__
_WEBHOOKS = Webhook.__table__
_SUBSCRIBERS = select(_WEBHOOKS.c.id, _WEBHOOKS.c.payload_format).where(
    _WEBHOOKS.c.event == bindparam("event_type"), _WEBHOOKS.c.active.is_(True)
)
_INSERT_EVENTS = insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True)
_INSERT_DELIVERIES = insert(_DELIVERIES)
_EVENTS_BY_KEY = select(_EVENTS).where(_EVENTS.c.idempotency_key.in_(bindparam("keys")))


@dataclass(frozen=True)
class Stored:
    event: Event
    deliveries: int


def store(
    connection: Connection, reports: Sequence[Report], *, now: datetime | None = None
) -> list[Stored]:
    """Store events and their deliveries with a few statements however many events and
    subscribers there are: the subscribers of each event type, one INSERT of all the events,
    one INSERT of all their deliveries. They run in the connection's transaction, so they commit
    or roll back together with whatever else the caller wrote. The rows are built before the
    first INSERT, which keeps SQLite's write lock held for as short a time as possible."""
    if not reports:
        return []
    now = now or datetime.now(UTC)
    subscribers = {
        event_type: connection.execute(_SUBSCRIBERS, {"event_type": event_type}).all()
        for event_type in {report.event_type for report in reports}
    }
    rows = [
        _delivery_rows(subscribers[report.event_type], report.event_type, report.data, now)
        for report in reports
    ]
    values = [
        {
            "uid": new_event_id(),
            "type": report.event_type,
            "data": report.data_text,
            "idempotency_key": report.idempotency_key,
            "source": report.source,
            "delivery_count": len(deliveries),
            "created_at": now,
        }
        for report, deliveries in zip(reports, rows, strict=True)
    ]
    event_ids = list(connection.scalars(_INSERT_EVENTS, values))
    every_row = []
    for event_id, event_values, deliveries in zip(event_ids, values, rows, strict=True):
        event_values["id"] = event_id
        for row in deliveries:
            row["event_id"] = event_id
        every_row.extend(deliveries)
    if every_row:
        connection.execute(_INSERT_DELIVERIES, every_row)
    return [
        Stored(_detached(event_values), len(deliveries))
        for event_values, deliveries in zip(values, rows, strict=True)
    ]


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


def _delivery_rows(
    webhooks: Sequence[tuple[int, str]], event_type: str, data: dict[str, Any], now: datetime
) -> list[dict[str, Any]]:
    """Every column of each new delivery but ``event_id``; one body per payload format."""
    bodies: dict[str, str] = {}
    rows = []
    for webhook_id, payload_format in webhooks:
        if payload_format not in bodies:
            bodies[payload_format] = render_body(payload_format, event_type, data, now)
        rows.append(
            {
                "msg_id": new_message_id(),
                "webhook_id": webhook_id,
                "event_id": None,
                "event_type": event_type,
                "body": bodies[payload_format],
                "is_test": False,
                "status": DeliveryStatus.PENDING,
                "attempt_count": 0,
                "round_failures": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    return rows


def _existing(idempotency_key: str) -> Event | None:
    return stored_events(db.session.connection(), [idempotency_key]).get(idempotency_key)


def dispatch(
    event_type: str,
    data: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    source: str = "python",
) -> Dispatched:
    """Report an event: every active webhook subscribed to ``event_type`` receives ``data``.

    Run inside an application context. The same ``idempotency_key`` twice stores one event;
    the second call returns the first with ``created=False``. Raises ``EventError`` for an
    unknown type or unusable data, before anything is written.
    """
    report = Report(
        event_type, data, validate(event_type, data, idempotency_key), source, idempotency_key
    )
    if idempotency_key is not None:
        if (found := _existing(idempotency_key)) is not None:
            return Dispatched(found, False, found.delivery_count)
    try:
        db.session.flush()
        (stored,) = store(db.session.connection(), [report])
        if stored.deliveries:
            note_new_work(db.session)
        db.session.commit()
    except IntegrityError:
        # Another reporter stored the same key first (seen at the INSERT or at the commit).
        db.session.rollback()
        if idempotency_key is None:
            raise
        found = _existing(idempotency_key)
        if found is None:
            raise
        return Dispatched(found, False, found.delivery_count)
    return Dispatched(stored.event, True, stored.deliveries)

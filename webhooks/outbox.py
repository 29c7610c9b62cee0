"""Reporting events: the one path behind the API, the CLI and ``webhooks.dispatch``.

An event is stored once, and one delivery per subscribed active webhook is written in the same
transaction (an outbox): once ``dispatch`` returns, nothing is lost even if the process dies.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from webhooks.catalogue import get_event
from webhooks.delivery.message import render_body
from webhooks.extensions import db
from webhooks.models import Delivery, Event, Webhook, new_event_id, new_message_id
from webhooks.worker.wakeup import notify_new_work, uses_celery

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
    return _serialise(data, current_app.config["MAX_EVENT_BYTES"])


def enqueue(
    event_type: str,
    data: dict[str, Any],
    *,
    source: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> tuple[Event, int]:
    """Write the event and its deliveries in the session's transaction; the caller commits and
    notifies the engine (``notify_new_work``)."""
    data_text = validate(event_type, data, idempotency_key)
    stored = _store(event_type, data, data_text, source, idempotency_key, now)
    return stored.event, len(stored.delivery_ids)


# Reporting an event is the hot path: these statements are built once (SQLAlchemy then reuses
# their compiled form) and run on the session's connection, without ORM objects, whose unit of
# work costs more than the SQL itself.
_EVENTS = Event.__table__
_DELIVERIES = Delivery.__table__
_WEBHOOKS = Webhook.__table__
_SUBSCRIBERS = select(_WEBHOOKS.c.id, _WEBHOOKS.c.payload_format).where(
    _WEBHOOKS.c.event == bindparam("event_type"), _WEBHOOKS.c.active.is_(True)
)
_INSERT_EVENT = insert(_EVENTS)
_INSERT_DELIVERIES = insert(_DELIVERIES)
_INSERT_DELIVERIES_RETURNING_IDS = insert(_DELIVERIES).returning(
    _DELIVERIES.c.id, sort_by_parameter_order=True
)


@dataclass(frozen=True)
class _Stored:
    event: Event
    delivery_ids: list[int | None]  # the ids when asked for, else one None per delivery


def _store(
    event_type: str,
    data: dict[str, Any],
    data_text: str,
    source: str,
    idempotency_key: str | None,
    now: datetime | None,
    *,
    want_ids: bool = False,
) -> _Stored:
    """Three statements however many subscribers there are: read the subscribers, insert the
    event, insert all its deliveries in one executemany. They run in the session's transaction,
    so they commit or roll back together with whatever else the caller wrote; the session is
    flushed first, so the caller's pending changes (a webhook just disabled) are seen. The rows
    are built before the first INSERT, which keeps SQLite's write lock held for as short a
    time as possible."""
    now = now or datetime.now(UTC)
    db.session.flush()
    connection = db.session.connection()
    webhooks = connection.execute(_SUBSCRIBERS, {"event_type": event_type}).all()
    rows = _delivery_rows(webhooks, event_type, data, now)
    values = {
        "uid": new_event_id(),
        "type": event_type,
        "data": data_text,
        "idempotency_key": idempotency_key,
        "source": source,
        "delivery_count": len(rows),
        "created_at": now,
    }
    values["id"] = connection.execute(_INSERT_EVENT, values).inserted_primary_key[0]
    for row in rows:
        row["event_id"] = values["id"]
    delivery_ids: list[int | None] = [None] * len(rows)
    if rows and want_ids:
        delivery_ids = list(connection.scalars(_INSERT_DELIVERIES_RETURNING_IDS, rows))
    elif rows:
        connection.execute(_INSERT_DELIVERIES, rows)
    event = Event(**values)
    make_transient_to_detached(event)  # as if loaded: reading it needs no query
    return _Stored(event, delivery_ids)


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
                "status": "pending",
                "attempt_count": 0,
                "round_failures": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    return rows


def _existing(idempotency_key: str) -> Event | None:
    return db.session.scalar(select(Event).where(Event.idempotency_key == idempotency_key))


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
    data_text = validate(event_type, data, idempotency_key)
    if idempotency_key is not None and (found := _existing(idempotency_key)) is not None:
        return Dispatched(found, False, found.delivery_count)
    celery = uses_celery()  # each new delivery gets its own message, so its id is needed
    try:
        stored = _store(event_type, data, data_text, source, idempotency_key, None, want_ids=celery)
        db.session.commit()
    except IntegrityError:
        # Another reporter stored the same key first (seen at the INSERT or at the commit).
        db.session.rollback()
        found = _existing(idempotency_key) if idempotency_key else None
        if found is None:
            raise
        return Dispatched(found, False, found.delivery_count)
    count = len(stored.delivery_ids)
    if count:
        notify_new_work(stored.delivery_ids if celery else None)
    return Dispatched(stored.event, True, count)

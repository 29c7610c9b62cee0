"""Reporting events: the one path behind the API, the CLI and ``webhooks.dispatch``.

An event is stored once, and one delivery per subscribed active webhook is written in the same
transaction (an outbox): once ``dispatch`` returns, nothing is lost even if the process dies.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webhooks.catalogue import get_event
from webhooks.delivery.message import render_body
from webhooks.extensions import db
from webhooks.models import Delivery, Event, Webhook
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
    """Add the event and its deliveries to the session; the caller commits and notifies the
    engine (``notify_new_work``)."""
    data_text = validate(event_type, data, idempotency_key)
    now = now or datetime.now(UTC)
    event = Event(
        type=event_type,
        data=data_text,
        idempotency_key=idempotency_key,
        source=source,
        created_at=now,
    )
    db.session.add(event)
    webhooks = db.session.execute(
        select(Webhook.id, Webhook.payload_format).where(
            Webhook.event == event_type, Webhook.active.is_(True)
        )
    ).all()
    bodies: dict[str, str] = {}
    for webhook_id, payload_format in webhooks:
        if payload_format not in bodies:
            bodies[payload_format] = render_body(payload_format, event_type, data, now)
        db.session.add(
            Delivery(
                event=event,
                webhook_id=webhook_id,
                event_type=event_type,
                body=bodies[payload_format],
                status="pending",
                next_attempt_at=now,
                created_at=now,
            )
        )
    event.delivery_count = len(webhooks)
    return event, len(webhooks)


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
    validate(event_type, data, idempotency_key)
    if idempotency_key is not None and (found := _existing(idempotency_key)) is not None:
        return Dispatched(found, False, found.delivery_count)
    try:
        event, count = enqueue(event_type, data, source=source, idempotency_key=idempotency_key)
        delivery_ids = None
        if count and uses_celery():  # each new delivery gets its own message
            db.session.flush()
            delivery_ids = db.session.scalars(
                select(Delivery.id).where(Delivery.event_id == event.id).order_by(Delivery.id)
            ).all()
        db.session.commit()
    except IntegrityError:
        # Another reporter stored the same key first (seen at a flush or at the commit).
        db.session.rollback()
        found = _existing(idempotency_key) if idempotency_key else None
        if found is None:
            raise
        return Dispatched(found, False, found.delivery_count)
    if count:
        notify_new_work(delivery_ids)
    return Dispatched(event, True, count)

"""Expanding stored events into deliveries: the engine's side of reporting an event.

A request stores the event only (``webhooks.outbox``); a worker then writes one delivery for
each webhook that receives the event's type (``webhooks.subscriptions``: it lists the type, or
receives every event), active when the event is expanded, and
was created no later than the event was stored — a webhook added afterwards never receives
older events. Expansion follows storing within milliseconds: the commit rings the workers'
doorbells, and every worker also looks at each poll, which finds whatever a doorbell missed.

Exactly once: the transaction that writes an event's deliveries also sets its
``expanded_at``. Concurrent expanders pass over the events another one holds (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL; SQLite's write lock lets one at a time), and a worker that dies
mid-way leaves its transaction rolled back and its events unexpanded, for the next look.

Its statements are Core statements on the session's connection, built once, as the claim's.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from webhooks.delivery.message import render_body
from webhooks.models import (
    Delivery,
    DeliveryStatus,
    Event,
    Webhook,
    as_utc,
    new_message_id,
)
from webhooks.subscriptions import receiving
from webhooks.worker.claims import write_lock

# One expansion reads at most this many events, and writes their deliveries until it has
# written this many rows (an event's deliveries are always written together).
EVENTS_PER_EXPANSION = 500
ROWS_PER_EXPANSION = 5000

_E = Event.__table__
_D = Delivery.__table__
_W = Webhook.__table__
_UNEXPANDED = (
    select(_E.c.id, _E.c.type, _E.c.data, _E.c.created_at)
    .where(_E.c.expanded_at.is_(None))
    .order_by(_E.c.id)
    .limit(bindparam("limit"))
)
_ANY_UNEXPANDED = select(_E.c.id).where(_E.c.expanded_at.is_(None)).limit(1)
_UNEXPANDED_UNLOCKED = _UNEXPANDED.with_for_update(skip_locked=True)
_SUBSCRIBERS = select(_W.c.id, _W.c.payload_format, _W.c.created_at).where(
    receiving(bindparam("event_type")), _W.c.active.is_(True)
)
_EXPANDED = (
    update(_E)
    .where(_E.c.id == bindparam("e_id"))
    .values(expanded_at=bindparam("at"), delivery_count=bindparam("count"))
)
_INSERT_DELIVERIES = insert(_D)


@dataclass(frozen=True)
class Expansion:
    events: int  # events expanded
    deliveries: int  # deliveries written
    more: bool  # events were left for the next expansion


def expand(session: Session, now: datetime) -> Expansion:
    """Expand the oldest unexpanded events, in the session's transaction (the caller
    commits)."""
    connection = session.connection()
    # Most looks find nothing: say so without taking a lock.
    if connection.execute(_ANY_UNEXPANDED).first() is None:
        return Expansion(0, 0, False)
    postgresql = session.get_bind().dialect.name == "postgresql"
    if not postgresql:
        write_lock(session)
    events = connection.execute(
        _UNEXPANDED_UNLOCKED if postgresql else _UNEXPANDED, {"limit": EVENTS_PER_EXPANSION}
    ).all()
    subscribers: dict[str, Sequence[Any]] = {}
    rows: list[dict[str, Any]] = []
    expanded = []
    for event in events:
        if len(rows) >= ROWS_PER_EXPANSION:
            break
        if event.type not in subscribers:
            subscribers[event.type] = connection.execute(
                _SUBSCRIBERS, {"event_type": event.type}
            ).all()
        written = _delivery_rows(event, subscribers[event.type], now)
        rows.extend(written)
        expanded.append({"e_id": event.id, "at": now, "count": len(written)})
    if rows:
        connection.execute(_INSERT_DELIVERIES, rows)
    if expanded:
        connection.execute(_EXPANDED, expanded)
    more = len(expanded) < len(events) or len(events) == EVENTS_PER_EXPANSION
    return Expansion(len(expanded), len(rows), more)


def _delivery_rows(event, webhooks: Sequence[Any], now: datetime) -> list[dict[str, Any]]:
    """A delivery of ``event`` for each of ``webhooks`` that existed when it was stored, due
    now; one body per payload format. Both are dated when the event was stored."""
    stored_at = as_utc(event.created_at)
    data = None
    bodies: dict[str, str] = {}
    rows = []
    for webhook in webhooks:
        if as_utc(webhook.created_at) > stored_at:
            continue
        if webhook.payload_format not in bodies:
            data = json.loads(event.data) if data is None else data
            bodies[webhook.payload_format] = render_body(
                webhook.payload_format, event.type, data, stored_at
            )
        rows.append(
            {
                "msg_id": new_message_id(),
                "webhook_id": webhook.id,
                "event_id": event.id,
                "event_type": event.type,
                "body": bodies[webhook.payload_format],
                "is_test": False,
                "status": DeliveryStatus.PENDING,
                "attempt_count": 0,
                "round_failures": 0,
                "next_attempt_at": now,
                "created_at": stored_at,  # the log dates a delivery by its event
            }
        )
    return rows

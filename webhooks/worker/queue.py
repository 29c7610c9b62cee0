"""Claiming due deliveries so that each attempt is made by exactly one worker.

A claim is one conditional UPDATE … RETURNING that moves ``next_attempt_at`` to the end of a
lease and sets a lease token; only the worker whose UPDATE changed a row goes on to send it.
A worker that dies leaves the row to fall due again when its lease ends.
"""

import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from webhooks.extensions import db
from webhooks.models import Delivery, as_utc

DUE_STATES = ("pending", "failing")


def _due(now: datetime):
    return Delivery.status.in_(DUE_STATES), Delivery.next_attempt_at <= now


def claim_due(now: datetime, limit: int, lease: timedelta) -> list[tuple[int, str]]:
    """Claim up to ``limit`` due deliveries; returns (delivery id, lease token) pairs."""
    token = secrets.token_hex(16)
    # A materialized CTE, so PostgreSQL picks the rows once; a plain IN (subquery) may be
    # run again during the UPDATE and, with SKIP LOCKED, pick others and exceed the limit.
    candidates = (
        select(Delivery.id)
        .where(*_due(now))
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL: workers skip rows others are claiming
        .cte("due")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    claimed = db.session.scalars(
        update(Delivery)
        .where(Delivery.id.in_(select(candidates.c.id)), *_due(now))
        .values(next_attempt_at=now + lease, lease_token=token)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return [(delivery_id, token) for delivery_id in claimed]


def claim_one(delivery_id: int, now: datetime, lease: timedelta) -> list[tuple[int, str]]:
    """Claim one delivery if it is due, as ``claim_due`` would; [] when it is not (already
    claimed, sent, or not due yet). Used by the Celery engine, whose messages name the delivery."""
    token = secrets.token_hex(16)
    claimed = db.session.scalars(
        update(Delivery)
        .where(Delivery.id == delivery_id, *_due(now))
        .values(next_attempt_at=now + lease, lease_token=token)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return [(claimed_id, token) for claimed_id in claimed]


def due_ids(now: datetime, limit: int) -> list[int]:
    """Ids of up to ``limit`` due deliveries, the longest due first; claims nothing."""
    ids = db.session.scalars(
        select(Delivery.id).where(*_due(now)).order_by(Delivery.next_attempt_at).limit(limit)
    ).all()
    db.session.commit()
    return list(ids)


def seconds_until_due(now: datetime) -> float | None:
    """How long until the earliest scheduled delivery is due; None when nothing is scheduled."""
    earliest = db.session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(Delivery.status.in_(DUE_STATES))
    )
    db.session.commit()
    if earliest is None:
        return None
    return max(0.0, (as_utc(earliest) - now).total_seconds())

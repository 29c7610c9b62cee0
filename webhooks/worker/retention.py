"""Purging old deliveries (with their attempts) and the events left without any."""

from datetime import datetime

from sqlalchemy import delete, exists, select

from webhooks.extensions import db
from webhooks.models import Delivery, Event

BATCH = 5000


def purge(older_than: datetime) -> tuple[int, int]:
    """Delete deliveries created before ``older_than`` in small batches, so no lock is held
    for long, then the expanded events left without any (an event not yet expanded is kept
    for the engine, however old); returns (deliveries, events) deleted."""
    deliveries = 0
    while True:
        ids = db.session.scalars(
            select(Delivery.id).where(Delivery.created_at < older_than).limit(BATCH)
        ).all()
        if not ids:
            break
        deliveries += db.session.execute(delete(Delivery).where(Delivery.id.in_(ids))).rowcount
        db.session.commit()
    events = 0
    while True:
        ids = db.session.scalars(
            select(Event.id)
            .where(Event.created_at < older_than)
            .where(Event.expanded_at.is_not(None))  # not yet expanded: its deliveries are due
            .where(~exists().where(Delivery.event_id == Event.id))
            .limit(BATCH)
        ).all()
        if not ids:
            break
        events += db.session.execute(delete(Event).where(Event.id.in_(ids))).rowcount
        db.session.commit()
    return deliveries, events

"""Which events a webhook receives, and which webhooks receive an event: the one place that
knows a webhook receives either the events listed for it or every event (those added to the
catalogue later included). Fan-out, the lists and their filters, save warnings, Zapier and the
test send all ask here."""

from typing import Any

from sqlalchemy import ColumnElement, func, literal, or_, select, union_all

from webhooks.catalogue import all_events
from webhooks.extensions import db
from webhooks.models import ALL_EVENTS, Webhook, WebhookEvent

_W = Webhook.__table__
_WE = WebhookEvent.__table__
# The webhooks listing each event, and under ``*`` those that receive every event.
_COUNTS = union_all(
    select(_WE.c.event, func.count()).group_by(_WE.c.event),
    select(literal(ALL_EVENTS), func.count()).select_from(_W).where(_W.c.all_events.is_(True)),
)


def receivable_events(webhook: Webhook) -> list[str]:
    """The slugs of the events the webhook receives now: the catalogue's, in its order, for
    a webhook that receives every event; else those listed for it."""
    if webhook.all_events:
        return [event.slug for event in all_events()]
    return webhook.events


def receives(webhook: Webhook, event_type: str) -> bool:
    """Whether the webhook receives events of ``event_type`` (active or not)."""
    return webhook.all_events or event_type in webhook.events


def receiving(event_type: Any) -> ColumnElement[bool]:
    """SQL: the webhook (a row of ``webhooks``) receives ``event_type`` — a slug or a bound
    parameter. Those listing it are found by the ``webhook_events`` event index."""
    listing = select(_WE.c.webhook_id).where(_WE.c.event == event_type)
    return or_(_W.c.all_events.is_(True), _W.c.id.in_(listing))


def same_events(webhook: Webhook, other: Webhook) -> bool:
    """Whether the two webhooks receive the same events: both every event, or the same
    listed ones in any order."""
    if webhook.all_events or other.all_events:
        return webhook.all_events == other.all_events
    return set(webhook.events) == set(other.events)


def webhook_counts() -> dict[str, int]:
    """How many webhooks receive each event of the catalogue, those that receive every event
    included (as the list filtered by the event counts them), in one statement served by the
    two fan-out indexes."""
    counted = dict(db.session.execute(_COUNTS).all())
    every = counted.pop(ALL_EVENTS, 0)
    return {event.slug: counted.get(event.slug, 0) + every for event in all_events()}

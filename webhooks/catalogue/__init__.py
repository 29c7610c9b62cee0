"""The event catalogue: every event a webhook can subscribe to, with its sample payload.

Views, forms and the delivery pipeline read events only through this module, so adding an
event means adding one entry to ``events.py`` and nothing else.
"""

import json
from datetime import UTC, datetime

from flask_babel import gettext, lazy_gettext

from webhooks.catalogue.events import EVENTS, EventType
from webhooks.delivery.message import envelope

_BY_SLUG: dict[str, EventType] = {event.slug: event for event in EVENTS}


def all_events() -> tuple[EventType, ...]:
    """Every event, in the order the catalogue page shows them."""
    return EVENTS


def get_event(slug: str) -> EventType | None:
    return _BY_SLUG.get(slug)


def event_name(slug: str) -> str:
    """The human name of an event in the page's language (English in the API), or the slug
    itself for one no longer in the catalogue."""
    event = _BY_SLUG.get(slug)
    return gettext(event.name) if event else slug


def event_choices() -> list[tuple[str, str]]:
    """(slug, human name) pairs for a select field; each name is translated when shown."""
    return [(event.slug, lazy_gettext(event.name)) for event in EVENTS]


def sample_envelopes() -> dict[str, str]:
    """Each event's payload exactly as a test event sends it, pretty-printed, by slug."""
    now = datetime.now(UTC)
    return {
        event.slug: json.dumps(json.loads(envelope(event.slug, event.sample_data(), now)), indent=2)
        for event in EVENTS
    }


__all__ = [
    "EventType",
    "all_events",
    "event_choices",
    "event_name",
    "get_event",
    "sample_envelopes",
]

"""A webhook's events over the API: ``events``, a list of slugs or ``["*"]`` for every event
(those added to the catalogue later included), and, for clients that know one event per
webhook, ``event``: one slug, or ``*``. Both are read into the admin form's two fields (the
Event select and the ticked more events), so the form's rules apply to them; what only a list
can get wrong (empty, repeated, ``*`` among others) is checked here first."""

from typing import Any

from webhooks.api.inputs import invalid
from webhooks.catalogue import get_event
from webhooks.models import ALL_EVENTS, Webhook

MEMBERS = ("event", "events")


def events_json(webhook: Webhook) -> list[str]:
    """What ``events`` answers: the slugs listed, or ``["*"]`` for every event."""
    return [ALL_EVENTS] if webhook.all_events else webhook.events


def event_list(value: Any) -> list[str]:
    """``events`` as sent: a non-empty list of distinct slugs of the catalogue, or ``["*"]``.
    Raises ValueError with the message for the client."""
    if not isinstance(value, list) or not all(isinstance(slug, str) for slug in value):
        raise ValueError('Must be a list of event slugs, or ["*"] for all events.')
    if not value:
        raise ValueError('Give at least one event slug, or ["*"] for all events.')
    if ALL_EVENTS in value and len(value) > 1:
        raise ValueError('"*" (all events) comes alone: it includes every other event.')
    unknown = [slug for slug in value if slug != ALL_EVENTS and get_event(slug) is None]
    if unknown:
        shown = ", ".join(unknown[:5])
        raise ValueError(f"Not in the catalogue: {shown} (see GET /event-types).")
    repeated = sorted({slug for slug in value if value.count(slug) > 1})
    if repeated:
        raise ValueError(f"Listed more than once: {', '.join(repeated[:5])}.")
    return value


def current_values(webhook: Webhook) -> dict[str, Any]:
    """The form's values for the events the webhook receives now."""
    return form_values(events_json(webhook))


def form_values(events: list[str]) -> dict[str, Any]:
    return {"event": events[0] if events else "", "more_events": events[1:]}


def read(payload: dict[str, Any]) -> dict[str, Any] | None:
    """Take ``event`` and ``events`` out of ``payload``: the form's values for them, or None
    when neither was sent. Sending both is refused unless they agree (``event`` is what the
    webhook would answer for those ``events``: the first, or ``*``)."""
    if not any(name in payload for name in MEMBERS):
        return None
    sent = {name: payload.pop(name) for name in MEMBERS if name in payload}
    problems: dict[str, list[str]] = {}
    events = sent.get("events")
    if "events" in sent:
        try:
            events = event_list(events)
        except ValueError as error:
            problems["events"] = [str(error)]
    if "event" in sent and not isinstance(sent["event"], str):
        problems["event"] = ["Must be a string."]
    if problems:
        raise invalid(problems)
    if "events" not in sent:
        return form_values([sent["event"]])
    if "event" in sent and sent["event"] != events[0]:
        raise invalid(
            {
                "event": [
                    "Disagrees with `events`. Send one of the two, or `event` as the first of "
                    '`events` (`*` with ["*"]).'
                ]
            }
        )
    return form_values(events)

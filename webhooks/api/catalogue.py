"""The event catalogue: GET /api/v1/event-types and /api/v1/event-types/{slug}."""

from webhooks.api.blueprint import bp
from webhooks.api.inputs import ApiInputError
from webhooks.api.shapes import EventType, EventTypeList, body
from webhooks.catalogue import all_events, get_event


@bp.get("/event-types")
def list_event_types():
    """Every event a webhook can subscribe to, in the catalogue's order (never paged)."""
    return body(EventTypeList(data=[EventType.of(event) for event in all_events()]))


@bp.get("/event-types/<slug>")
def get_event_type(slug: str):
    event = get_event(slug)
    if event is None:
        raise ApiInputError(
            404,
            "not_found",
            "There is no event type with that slug; GET /api/v1/event-types lists them all.",
        )
    return body(EventType.of(event))

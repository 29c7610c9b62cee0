"""The event catalogue: GET /api/v1/event-types and /api/v1/event-types/{slug}."""

from webhooks.api.blueprint import bp
from webhooks.api.inputs import ApiInputError
from webhooks.api.serializers import event_type_json
from webhooks.catalogue import all_events, get_event
from webhooks.catalogue.schema import data_schema


@bp.get("/event-types")
def list_event_types():
    """Every event a webhook can subscribe to, in the catalogue's order (never paged)."""
    return {"data": [event_type_json(event, data_schema(event)) for event in all_events()]}


@bp.get("/event-types/<slug>")
def get_event_type(slug: str):
    event = get_event(slug)
    if event is None:
        raise ApiInputError(
            404,
            "not_found",
            "There is no event type with that slug; GET /api/v1/event-types lists them all.",
        )
    return event_type_json(event, data_schema(event))

"""The event catalogue: GET /api/v1/event-types and /api/v1/event-types/{slug}, and each event
type's payload check: PATCH /api/v1/event-types/{slug} with ``schema_mode``."""

from webhooks.api.blueprint import bp
from webhooks.api.inputs import ApiInputError, checked, json_object
from webhooks.api.shapes import EventType, EventTypeChanges, EventTypeList, body
from webhooks.catalogue import all_events, get_event
from webhooks.catalogue.events import EventType as CatalogueEvent
from webhooks.extensions import db
from webhooks.schema_checks import schema_mode, schema_modes, set_schema_mode


@bp.get("/event-types")
def list_event_types():
    """Every event a webhook can subscribe to, in the catalogue's order (never paged)."""
    modes = schema_modes()
    return body(
        EventTypeList(data=[EventType.of(event, modes[event.slug]) for event in all_events()])
    )


def _event_type(slug: str) -> CatalogueEvent:
    event = get_event(slug)
    if event is None:
        raise ApiInputError(
            404,
            "not_found",
            "There is no event type with that slug; GET /api/v1/event-types lists them all.",
        )
    return event


@bp.get("/event-types/<slug>")
def get_event_type(slug: str):
    return body(EventType.of(_event_type(slug), schema_mode(slug)))


@bp.patch("/event-types/<slug>")
def change_event_type(slug: str):
    """Set the event type's payload check; members left out keep their values."""
    event = _event_type(slug)
    changes = checked(EventTypeChanges, json_object())
    if "schema_mode" in changes.model_fields_set:
        set_schema_mode(slug, changes.schema_mode)
        db.session.commit()
    return body(EventType.of(event, schema_mode(slug)))

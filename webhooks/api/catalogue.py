"""The event catalogue: GET /api/v1/event-types and /api/v1/event-types/{slug}, and each event
type's payload check: PATCH /api/v1/event-types/{slug} with ``schema_mode``."""

from webhooks.api.blueprint import bp
from webhooks.api.inputs import ApiInputError, invalid, json_object
from webhooks.api.serializers import event_type_json
from webhooks.catalogue import EventType, all_events, get_event
from webhooks.catalogue.schema import data_schema
from webhooks.extensions import db
from webhooks.schema_checks import MODES, schema_mode, schema_modes, set_schema_mode

CHANGES = ("schema_mode",)


@bp.get("/event-types")
def list_event_types():
    """Every event a webhook can subscribe to, in the catalogue's order (never paged)."""
    modes = schema_modes()
    return {
        "data": [
            event_type_json(event, data_schema(event), modes[event.slug]) for event in all_events()
        ]
    }


def _event_type(slug: str) -> EventType:
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
    event = _event_type(slug)
    return event_type_json(event, data_schema(event), schema_mode(slug))


@bp.patch("/event-types/<slug>")
def change_event_type(slug: str):
    """Set the event type's payload check; members left out keep their values."""
    event = _event_type(slug)
    payload = json_object()
    problems = {
        name: ["Unknown field; this endpoint takes `schema_mode`."]
        for name in payload
        if name not in CHANGES
    }
    if "schema_mode" in payload and payload["schema_mode"] not in MODES:
        problems["schema_mode"] = ["Must be one of " + ", ".join(f"`{m}`" for m in MODES) + "."]
    if problems:
        raise invalid(problems)
    if "schema_mode" in payload:
        set_schema_mode(slug, payload["schema_mode"])
        db.session.commit()
    return event_type_json(event, data_schema(event), schema_mode(slug))

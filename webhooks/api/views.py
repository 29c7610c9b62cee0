"""The HTTP API, under /api/v1, authenticated with bearer tokens."""

import json

from flask import Blueprint, current_app, request

from webhooks.api.errors import api_error
from webhooks.delivery.message import iso_utc
from webhooks.outbox import EventError, dispatch

bp = Blueprint("api", __name__)


def event_json(event, deliveries: int) -> dict:
    return {
        "id": event.uid,
        "type": event.type,
        "idempotency_key": event.idempotency_key,
        "created_at": iso_utc(event.created_at),
        "deliveries": deliveries,
    }


@bp.post("/events")
def create_event():
    """Report an event: ``{"type": slug, "data": {...}, "id": optional idempotency key}``."""
    request.max_content_length = current_app.config["MAX_EVENT_BYTES"]
    if not request.is_json:
        return api_error(
            415,
            "unsupported_media_type",
            "Send the event as JSON with Content-Type: application/json.",
        )
    try:
        payload = json.loads(request.get_data())
    except (ValueError, RecursionError) as error:
        return api_error(400, "invalid_json", f"The body is not valid JSON: {error}")
    if not isinstance(payload, dict):
        return api_error(
            422, "invalid_body", "The body must be a JSON object with `type` and `data`."
        )
    if "type" not in payload:
        return api_error(422, "missing_type", "`type` is required: the slug of the event.")
    if "data" not in payload:
        return api_error(422, "missing_data", "`data` is required: a JSON object.")
    try:
        result = dispatch(
            payload["type"], payload["data"], idempotency_key=payload.get("id"), source="api"
        )
    except EventError as error:
        status = 413 if error.code == "payload_too_large" else 422
        return api_error(status, error.code, error.message)
    return event_json(result.event, result.deliveries), 202 if result.created else 200

"""Reporting events (POST /api/v1/events) and reading one back."""

import json

from flask import current_app, g, request
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from webhooks.api.blueprint import bp
from webhooks.api.errors import api_error
from webhooks.api.inputs import ApiInputError
from webhooks.api.shapes import Event as EventShape
from webhooks.api.shapes import body
from webhooks.auth import access
from webhooks.event_writer import TokenRefused, report_event
from webhooks.extensions import db
from webhooks.models import Event
from webhooks.outbox import EventError, Report, validate


@bp.get("/events/<event_id>")
def get_event(event_id: str):
    """One event: whether the engine has expanded it yet, and into how many deliveries."""
    event = db.session.scalar(select(Event).where(Event.uid == event_id))
    if event is None:
        return api_error(
            404,
            "not_found",
            "There is no event with that id; it may have been purged after the retention period.",
        )
    return body(EventShape.of(event))


@bp.post("/events")
def create_event():
    """Report an event: ``{"type": slug, "data": {...}, "id": optional idempotency key}``.

    The token is checked by the event writer, in the transaction that stores the event."""
    request.max_content_length = current_app.config["MAX_EVENT_BYTES"]
    try:
        report = _read_report()
    except ApiInputError as malformed:
        return access.refusal_before_reading() or malformed.response
    try:
        result = report_event(report, g.api_token_hash)
    except TokenRefused as refused:
        return access.read_only_token() if refused.read_only else access.invalid_token()
    return body(EventShape.of(result.event)), 202 if result.created else 200


def _read_report() -> Report:
    if not request.is_json:
        raise ApiInputError(
            415,
            "unsupported_media_type",
            "Send the event as JSON with Content-Type: application/json.",
        )
    limit = current_app.config["MAX_EVENT_BYTES"]
    try:
        payload = json.loads(request.get_data())
    except RequestEntityTooLarge as error:
        raise ApiInputError(
            413, "payload_too_large", f"The body is larger than the limit of {limit} bytes."
        ) from error
    except (ValueError, RecursionError) as error:
        raise ApiInputError(400, "invalid_json", f"The body is not valid JSON: {error}") from error
    if not isinstance(payload, dict):
        raise ApiInputError(
            422, "invalid_body", "The body must be a JSON object with `type` and `data`."
        )
    if "type" not in payload:
        raise ApiInputError(422, "missing_type", "`type` is required: the slug of the event.")
    if "data" not in payload:
        raise ApiInputError(422, "missing_data", "`data` is required: a JSON object.")
    event_type, data, key = payload["type"], payload["data"], payload.get("id")
    try:
        data_text = validate(event_type, data, key)
    except EventError as error:
        status = 413 if error.code == "payload_too_large" else 422
        raise ApiInputError(status, error.code, error.message) from error
    return Report(event_type, data, data_text, "api", key)

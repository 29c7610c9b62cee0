"""How the API shows each object: plain JSON values, times in UTC with a ``Z``."""

import json
from datetime import datetime
from typing import Any

from webhooks import custom_headers
from webhooks.api.event_members import events_json
from webhooks.catalogue.events import EventType
from webhooks.delivery.message import iso_utc
from webhooks.delivery.result import SendResult
from webhooks.models import Attempt, Delivery, Webhook


def _time(moment: datetime | None) -> str | None:
    return iso_utc(moment) if moment is not None else None


def _json_object(text: str | None) -> dict[str, Any] | None:
    """Stored headers (a JSON object), or None when they are missing or not that."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def webhook_status(webhook: Webhook) -> str:
    if webhook.disabled_at is not None:
        return "disabled"
    return "active" if webhook.active else "inactive"


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    """A webhook; its signing secret is never part of it (see ``secret_json``)."""
    return {
        "id": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "event": webhook.event,
        "events": events_json(webhook),
        "payload_format": webhook.payload_format,
        "active": webhook.active,
        "status": webhook_status(webhook),
        "integration": webhook.integration,
        "disabled_at": _time(webhook.disabled_at),
        "disabled_reason": webhook.disabled_reason,
        "failing_since": _time(webhook.failing_since),
        "max_in_flight": webhook.max_in_flight,
        "rate_limit": webhook.rate_limit,
        # Names only: values are secrets, never answered.
        "headers": dict.fromkeys(custom_headers.load(webhook.custom_headers)),
        "receiver_down_since": _time(webhook.down_since),
        "next_probe_at": _time(webhook.next_probe_at),
        "sent_count": webhook.sent_count,
        "last_delivery_at": _time(webhook.last_delivery_at),
        "last_delivery_ok": webhook.last_delivery_ok,
        "last_delivery_summary": webhook.last_delivery_summary,
        "created_at": _time(webhook.created_at),
        "updated_at": _time(webhook.updated_at),
    }


def secret_json(webhook: Webhook, now: datetime) -> dict[str, Any]:
    """The signing secret, and until when the previous one still signs (null if it does not)."""
    still_signing = len(webhook.signing_secrets(now)) > 1
    return {
        "secret": webhook.secret,
        "previous_secret_expires_at": (
            _time(webhook.previous_secret_expires_at) if still_signing else None
        ),
    }


def test_result_json(result: SendResult) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "summary": result.summary,
        "status_code": result.status_code,
        "duration_ms": result.duration_ms,
        "response_body": result.response_body,
        "error": result.error,
    }


def event_type_json(event: EventType, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "slug": event.slug,
        "name": event.name,
        "description": event.description,
        "sample": event.sample_data(),
        "schema": schema,
    }


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "created_at": _time(attempt.created_at),
        "url": attempt.url,
        "succeeded": attempt.succeeded,
        "status_code": attempt.response_status,
        "duration_ms": attempt.duration_ms,
        "summary": attempt.summary,
        "error": attempt.error,
        "request_headers": _json_object(attempt.request_headers),
        "response_headers": _json_object(attempt.response_headers),
        "response_body": attempt.response_body,
    }


def delivery_json(delivery: Delivery, attempts: list[Attempt] | None = None) -> dict[str, Any]:
    """A delivery; with ``attempts`` (newest first) when read on its own."""
    shown = {
        "id": delivery.id,
        "msg_id": delivery.msg_id,
        "webhook_id": delivery.webhook_id,
        "event_id": delivery.event.uid if delivery.event_id is not None else None,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "is_test": delivery.is_test,
        "attempt_count": delivery.attempt_count,
        "next_attempt_at": _time(delivery.next_attempt_at),
        "last_summary": delivery.last_summary,
        "created_at": _time(delivery.created_at),
        "body": delivery.body,
    }
    if attempts is not None:
        shown["attempts"] = [attempt_json(attempt) for attempt in attempts]
    return shown

"""Step 1: the message — the exact bytes a receiver gets, fixed once per delivery."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Message:
    id: str
    body: bytes


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``; a naive time is taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(event_type: str, data: dict[str, Any], occurred_at: datetime) -> str:
    """The Standard Webhooks payload: ``{"type", "timestamp", "data"}``."""
    return json.dumps(
        {"type": event_type, "timestamp": iso_utc(occurred_at), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def render_body(
    payload_format: str, event_type: str, data: dict[str, Any], occurred_at: datetime
) -> str:
    """The body for a webhook's format: the Standard envelope, or the data alone ("flat"),
    as the original product sent it."""
    if payload_format == "flat":
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return envelope(event_type, data, occurred_at)

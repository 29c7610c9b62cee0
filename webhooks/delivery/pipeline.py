"""The pipeline that every delivery walks, test or real: sign → check → send → record.

A ``Deliverer`` holds what the steps need (guard, HTTP sessions, limits) and is built once per
application from its configuration; ``current_deliverer()`` returns the running app's one.
"""

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from flask import Flask, current_app
from sqlalchemy import insert, update

from webhooks.catalogue import get_event
from webhooks.delivery.guard import RecipientError, RecipientGuard, parse_networks
from webhooks.delivery.message import Message, render_body
from webhooks.delivery.sender import SendResult, send
from webhooks.delivery.signing import signed_headers
from webhooks.delivery.transport import guarded_session
from webhooks.extensions import db
from webhooks.models import Attempt, Delivery, Webhook, new_message_id
from webhooks.version import USER_AGENT

EXTENSION_KEY = "webhooks.deliverer"


@dataclass(frozen=True)
class Prepared:
    """A signed request, ready to send."""

    url: str
    headers: dict[str, str]
    body: bytes


class Deliverer:
    def __init__(self, guard: RecipientGuard, timeout: float, body_limit: int) -> None:
        self.guard = guard
        self.timeout = timeout
        self.body_limit = body_limit
        self._local = threading.local()

    @classmethod
    def from_config(cls, config) -> "Deliverer":
        return cls(
            guard=RecipientGuard(parse_networks(config["ALLOWED_NETWORKS"])),
            timeout=float(config["DELIVERY_TIMEOUT"]),
            body_limit=int(config["RESPONSE_BODY_LIMIT"]),
        )

    def session(self) -> requests.Session:
        """One keep-alive session per thread; sessions are not shared between threads."""
        if not hasattr(self._local, "session"):
            self._local.session = guarded_session(self.guard)
        return self._local.session

    def prepare(
        self, msg_id: str, body: str, url: str, secrets: list[str], now: datetime
    ) -> Prepared:
        """Steps 1–2: the delivery's fixed body, signed with the webhook's current secrets."""
        message = Message(msg_id, body.encode())
        headers = signed_headers(message, secrets, int(now.timestamp()), USER_AGENT)
        return Prepared(url, headers, message.body)

    def check_and_send(self, prepared: Prepared) -> SendResult:
        """Steps 3–4: the recipient guard, then the request."""
        try:
            self.guard.check_url(prepared.url)
        except RecipientError as error:
            return SendResult(ok=False, summary=str(error), error=str(error))
        return send(
            self.session(),
            prepared.url,
            prepared.headers,
            prepared.body,
            timeout=self.timeout,
            body_limit=self.body_limit,
        )


def init_app(app: Flask) -> None:
    """Build the app's deliverer; a bad setting fails here, at start, with its name."""
    app.extensions[EXTENSION_KEY] = Deliverer.from_config(app.config)


def current_deliverer() -> Deliverer:
    return current_app.extensions[EXTENSION_KEY]


def attempt_values(delivery_id: int, prepared: Prepared, result: SendResult, now: datetime) -> dict:
    return {
        "delivery_id": delivery_id,
        "created_at": now,
        "url": prepared.url,
        "request_headers": json.dumps(prepared.headers),
        "succeeded": result.ok,
        "response_status": result.status_code,
        "response_headers": json.dumps(result.response_headers) if result.status_code else None,
        "response_body": result.response_body,
        "duration_ms": result.duration_ms,
        "error": result.error,
        "summary": result.summary[:255],
    }


def record_attempts(attempts: list[tuple[int, Prepared, SendResult]], now: datetime) -> None:
    """Step 5: write the attempts, in one statement however many there are. The caller
    updates the deliveries and the webhook's figures, then commits."""
    db.session.execute(insert(Attempt), [attempt_values(*attempt, now=now) for attempt in attempts])


def update_webhook_figures(
    webhook_id: int, last: SendResult, is_test: bool, now: datetime, **changes
) -> None:
    """The webhook's last result (and ``changes``, such as its Sent count), in one UPDATE
    however many attempts it had."""
    values = {
        "last_delivery_at": now,
        "last_delivery_ok": last.ok,
        "last_delivery_summary": (("Test: " if is_test else "") + last.summary)[:255],
        **changes,
    }
    db.session.execute(update(Webhook).where(Webhook.id == webhook_id).values(**values))


def send_test_event(webhook: Webhook) -> SendResult:
    """POST the sample payload of the webhook's event now, through the full pipeline."""
    event = get_event(webhook.event)
    data = event.sample_data() if event else {}
    now = datetime.now(UTC)
    delivery = Delivery(
        webhook=webhook,
        event_type=webhook.event,
        msg_id=new_message_id(),
        body=render_body(webhook.payload_format, webhook.event, data, now),
        is_test=True,
        status="test",
    )
    db.session.add(delivery)
    deliverer = current_deliverer()
    prepared = deliverer.prepare(
        delivery.msg_id, delivery.body, webhook.url, webhook.signing_secrets(now), now
    )
    db.session.commit()  # no transaction stays open while the receiver is waited for
    result = deliverer.check_and_send(prepared)
    now = datetime.now(UTC)
    record_attempts([(delivery.id, prepared, result)], now)
    delivery.attempt_count += 1
    delivery.last_summary = result.summary[:255]
    update_webhook_figures(delivery.webhook_id, result, True, now)
    db.session.commit()
    return result

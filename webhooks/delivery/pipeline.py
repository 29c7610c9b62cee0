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
from sqlalchemy import update

from webhooks.catalogue import get_event
from webhooks.delivery.guard import RecipientError, RecipientGuard, parse_networks
from webhooks.delivery.message import Message, render_body
from webhooks.delivery.sender import SendResult, send
from webhooks.delivery.signing import signed_headers
from webhooks.delivery.transport import guarded_session
from webhooks.extensions import db
from webhooks.models import Attempt, Delivery, Webhook
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

    def prepare(self, delivery: Delivery, now: datetime) -> Prepared:
        """Steps 1–2: the delivery's fixed body, signed with the webhook's current secrets."""
        webhook = delivery.webhook
        message = Message(delivery.msg_id, delivery.body.encode())
        headers = signed_headers(
            message, webhook.signing_secrets(now), int(now.timestamp()), USER_AGENT
        )
        return Prepared(webhook.url, headers, message.body)

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

    def attempt(self, delivery: Delivery) -> tuple[Prepared, SendResult]:
        """Prepare and send one attempt. Ends the current transaction first, so no database
        lock or connection is held while the receiver is being waited for."""
        prepared = self.prepare(delivery, datetime.now(UTC))
        db.session.commit()
        return prepared, self.check_and_send(prepared)


def init_app(app: Flask) -> None:
    """Build the app's deliverer; a bad setting fails here, at start, with its name."""
    app.extensions[EXTENSION_KEY] = Deliverer.from_config(app.config)


def current_deliverer() -> Deliverer:
    return current_app.extensions[EXTENSION_KEY]


def record_attempt(
    delivery: Delivery, prepared: Prepared, result: SendResult, now: datetime
) -> Attempt:
    """Step 5: write the attempt and the webhook's last result. The caller commits."""
    summary = result.summary[:255]
    attempt = Attempt(
        delivery=delivery,
        created_at=now,
        url=prepared.url,
        request_headers=json.dumps(prepared.headers),
        succeeded=result.ok,
        response_status=result.status_code,
        response_headers=json.dumps(result.response_headers) if result.status_code else None,
        response_body=result.response_body,
        duration_ms=result.duration_ms,
        error=result.error,
        summary=summary,
    )
    db.session.add(attempt)
    delivery.attempt_count += 1
    delivery.last_summary = summary
    db.session.execute(
        update(Webhook)
        .where(Webhook.id == delivery.webhook_id)
        .values(
            last_delivery_at=now,
            last_delivery_ok=result.ok,
            last_delivery_summary=(("Test: " if delivery.is_test else "") + result.summary)[:255],
        )
    )
    return attempt


def send_test_event(webhook: Webhook) -> SendResult:
    """POST the sample payload of the webhook's event now, through the full pipeline."""
    event = get_event(webhook.event)
    data = event.sample_data() if event else {}
    delivery = Delivery(
        webhook=webhook,
        event_type=webhook.event,
        body=render_body(webhook.payload_format, webhook.event, data, datetime.now(UTC)),
        is_test=True,
        status="test",
    )
    db.session.add(delivery)
    db.session.commit()
    prepared, result = current_deliverer().attempt(delivery)
    record_attempt(delivery, prepared, result, datetime.now(UTC))
    db.session.commit()
    return result

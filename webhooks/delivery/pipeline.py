"""The pipeline that every delivery walks, test or real: sign → check → send → record.

A ``Deliverer`` holds what the steps need (guard, HTTP sessions, limits) and is built once per
application from its configuration; ``current_deliverer()`` returns the running app's one.
"""

import json
import threading
import time
from datetime import UTC, datetime

import requests
from flask import Flask, current_app
from sqlalchemy import update

from webhooks.catalogue import get_event
from webhooks.delivery.guard import RecipientError, RecipientGuard, parse_networks
from webhooks.delivery.message import Message, envelope
from webhooks.delivery.sender import SendResult, send
from webhooks.delivery.signing import signed_headers
from webhooks.delivery.transport import guarded_session
from webhooks.extensions import db
from webhooks.models import Attempt, Delivery, Webhook
from webhooks.version import USER_AGENT

EXTENSION_KEY = "webhooks.deliverer"


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

    def check_and_send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        try:
            self.guard.check_url(url)
        except RecipientError as error:
            return SendResult(ok=False, summary=str(error), error=str(error))
        return send(
            self.session(), url, headers, body, timeout=self.timeout, body_limit=self.body_limit
        )

    def deliver(self, delivery: Delivery) -> SendResult:
        """Make one attempt of ``delivery`` and record it. Commits: no transaction stays open
        while the receiver is being waited for."""
        webhook = delivery.webhook
        url = webhook.url
        message = Message(delivery.msg_id, delivery.body.encode())
        headers = signed_headers(message, [webhook.secret], int(time.time()), USER_AGENT)
        db.session.commit()
        result = self.check_and_send(url, headers, message.body)
        record_attempt(delivery, url, headers, result)
        db.session.commit()
        return result


def init_app(app: Flask) -> None:
    """Build the app's deliverer; a bad setting fails here, at start, with its name."""
    app.extensions[EXTENSION_KEY] = Deliverer.from_config(app.config)


def current_deliverer() -> Deliverer:
    return current_app.extensions[EXTENSION_KEY]


def record_attempt(
    delivery: Delivery, url: str, headers: dict[str, str], result: SendResult
) -> Attempt:
    """Step 5: write the attempt and what it changes on the delivery and its webhook."""
    now = datetime.now(UTC)
    attempt = Attempt(
        delivery=delivery,
        created_at=now,
        url=url,
        request_headers=json.dumps(headers),
        succeeded=result.ok,
        response_status=result.status_code,
        response_headers=json.dumps(result.response_headers) if result.status_code else None,
        response_body=result.response_body,
        duration_ms=result.duration_ms,
        error=result.error,
        summary=result.summary[:255],
    )
    db.session.add(attempt)
    delivery.attempt_count += 1
    changes = {
        "last_delivery_at": now,
        "last_delivery_ok": result.ok,
        "last_delivery_summary": (("Test: " if delivery.is_test else "") + result.summary)[:255],
    }
    if not delivery.is_test:
        delivery.status = "succeeded" if result.ok else "failing"
        if result.ok:
            changes["sent_count"] = Webhook.sent_count + 1
    db.session.execute(update(Webhook).where(Webhook.id == delivery.webhook_id).values(**changes))
    return attempt


def send_test_event(webhook: Webhook) -> SendResult:
    """POST the sample payload of the webhook's event now, through the full pipeline."""
    event = get_event(webhook.event)
    data = event.sample_data() if event else {}
    delivery = Delivery(
        webhook=webhook,
        event_type=webhook.event,
        body=envelope(webhook.event, data, datetime.now(UTC)),
        is_test=True,
        status="test",
    )
    db.session.add(delivery)
    db.session.commit()
    return current_deliverer().deliver(delivery)

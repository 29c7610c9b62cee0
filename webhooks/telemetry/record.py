"""What the delivery lifecycle and the event doors tell the telemetry.

``attempt`` is called once per attempt where its result is recorded (``webhooks.lifecycle``,
for both engines and for Send Test Event): it counts the delivery's new status, times the
attempt and writes its log line. The line names the delivery, webhook, message id, attempt,
status, duration and event type: never the payload, the headers or a secret.
"""

import logging
from collections import Counter

from sqlalchemy import event
from sqlalchemy.orm import Session

from webhooks.delivery.result import SendResult
from webhooks.telemetry.metrics import ATTEMPT_SECONDS, DELIVERIES, count_events, event_label

attempt_log = logging.getLogger("webhooks.attempts")


def attempt(
    *,
    delivery_id: int,
    webhook_id: int,
    msg_id: str,
    number: int,
    status: str,
    event_type: str,
    result: SendResult,
) -> None:
    label = event_label(event_type)
    DELIVERIES.labels(status=status, event_type=label).inc()
    if result.duration_ms is not None:
        ATTEMPT_SECONDS.labels(outcome="success" if result.ok else "failure").observe(
            result.duration_ms / 1000
        )
    if attempt_log.isEnabledFor(logging.INFO):
        attempt_log.info(
            "delivery %d attempt %d to webhook %d: %s, %s (%s ms)",
            delivery_id,
            number,
            webhook_id,
            status,
            f"HTTP {result.status_code}" if result.status_code else "no answer",
            result.duration_ms,
            extra={
                "attempt_fields": {
                    "delivery": delivery_id,
                    "webhook": webhook_id,
                    "msg_id": msg_id,
                    "attempt": number,
                    "status": status,
                    "http_status": result.status_code,
                    "duration_ms": result.duration_ms,
                    "event_type": label,
                }
            },
        )


_STORED = "webhooks.telemetry.stored"


def events_stored(session: Session, source: str, count: int = 1) -> None:
    """Events were stored in ``session``'s transaction: counted as accepted once it commits
    (a rollback drops them, as ``note_new_work`` does its note)."""
    if count:
        session.info.setdefault(_STORED, Counter())[source] += count


def events_duplicate(source: str, count: int = 1) -> None:
    """Reports whose idempotency key was stored before: answered with the first event."""
    count_events(source, "duplicate", count)


def event_rejected(source: str) -> None:
    """A report refused as input (unknown type, unusable data or id, a body that is not
    an event): nothing was stored."""
    count_events(source, "rejected")


@event.listens_for(Session, "after_commit")
def _count_stored(session: Session) -> None:
    for source, count in session.info.pop(_STORED, Counter()).items():
        count_events(source, "accepted", count)


@event.listens_for(Session, "after_rollback")
def _forget_stored(session: Session) -> None:
    session.info.pop(_STORED, None)

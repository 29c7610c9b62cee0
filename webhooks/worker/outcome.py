"""What an attempt's result does to its delivery and webhook: done, retry later, or give up."""

from datetime import datetime, timedelta

from sqlalchemy import update

from webhooks.delivery.sender import SendResult
from webhooks.extensions import db
from webhooks.models import Delivery, Webhook, as_utc
from webhooks.outbox import enqueue
from webhooks.worker.policy import Policy
from webhooks.worker.queue import DUE_STATES
from webhooks.worker.retry import RETRY_AFTER_STATUSES, next_delay, retry_after_seconds

GONE = 410


def _finish(delivery: Delivery, status: str) -> None:
    delivery.status = status
    delivery.next_attempt_at = None
    delivery.lease_token = None


def apply_outcome(delivery: Delivery, result: SendResult, now: datetime, policy: Policy) -> bool:
    """Move the delivery on after an attempt; True when that disabled the webhook.
    The caller commits."""
    webhook = delivery.webhook
    if result.ok:
        _finish(delivery, "succeeded")
        db.session.execute(
            update(Webhook)
            .where(Webhook.id == webhook.id)
            .values(sent_count=Webhook.sent_count + 1, failing_since=None)
        )
        return False
    if result.status_code == GONE:
        _finish(delivery, "failed")
        disable_webhook(
            webhook, "The receiver answered 410 Gone: it wants no more deliveries.", now
        )
        return True

    if webhook.failing_since is None:
        webhook.failing_since = now
    elif now - as_utc(webhook.failing_since) >= policy.disable_after:
        _finish(delivery, "failed")
        days = policy.disable_after / timedelta(days=1)
        disable_webhook(
            webhook, f"Every attempt failed for {days:g} days; the last: {result.summary}", now
        )
        return True

    delivery.round_failures += 1
    retry_after = None
    if result.status_code in RETRY_AFTER_STATUSES:
        retry_after = retry_after_seconds(result.header("Retry-After"), now)
    delay = next_delay(delivery.round_failures, policy.schedule, policy.jitter, retry_after)
    if delay is None:
        _finish(delivery, "failed")
        return False
    delivery.status = "failing"
    delivery.lease_token = None
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    return False


def disable_webhook(webhook: Webhook, reason: str, now: datetime) -> None:
    """Stop a webhook, fail what was still queued for it, and report a ``webhook_disabled``
    event to the webhooks subscribed to that. The caller commits and wakes the workers."""
    webhook.active = False
    webhook.disabled_at = now
    webhook.disabled_reason = reason[:255]
    db.session.execute(
        update(Delivery)
        .where(Delivery.webhook_id == webhook.id, Delivery.status.in_(DUE_STATES))
        .values(
            status="failed",
            next_attempt_at=None,
            lease_token=None,
            last_summary="Not sent: the webhook was disabled.",
        )
        .execution_options(synchronize_session=False)
    )
    enqueue(
        "webhook_disabled",
        {
            "webhook_id": webhook.id,
            "webhook_name": webhook.name,
            "webhook_url": webhook.url,
            "webhook_event": webhook.event,
            "disabled_reason": webhook.disabled_reason,
            "disabled_at": now.isoformat(),
        },
        source="system",
        now=now,
    )

"""What an attempt's result means for its delivery and webhook: done, retry later, or give up.

``decide`` is pure: it reads the state and the result and returns a ``Decision``; the worker
writes the decisions of a whole batch at once. ``disable_webhook`` is the one writer here.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update

from webhooks.delivery.sender import SendResult
from webhooks.extensions import db
from webhooks.models import ZAPIER, Delivery, Webhook
from webhooks.outbox import enqueue
from webhooks.worker.policy import Policy
from webhooks.worker.queue import DUE_STATES
from webhooks.worker.retry import RETRY_AFTER_STATUSES, next_delay, retry_after_seconds

log = logging.getLogger(__name__)

GONE = 410
GONE_REASON = "The receiver answered 410 Gone: it wants no more deliveries."
SUCCEEDED, RETRYING, FAILED, DISABLED = "succeeded", "retrying", "failed", "disabled"


@dataclass
class WebhookState:
    """What the decisions of one batch need to know of a webhook, kept up to date as the
    batch's results are decided one after another."""

    active: bool
    failing_since: datetime | None


@dataclass(frozen=True)
class Decision:
    outcome: str
    status: str
    round_failures: int
    next_attempt_at: datetime | None = None
    disable_reason: str | None = None


def decide(
    round_failures: int, webhook: WebhookState, result: SendResult, now: datetime, policy: Policy
) -> Decision:
    """The next state of a delivery after an attempt; updates ``webhook`` to match."""
    if result.ok:
        webhook.failing_since = None
        return Decision(SUCCEEDED, "succeeded", round_failures)
    if not webhook.active:  # deactivated or disabled while this attempt was in flight
        return Decision(FAILED, "failed", round_failures)
    if result.status_code == GONE:
        webhook.active = False
        return Decision(DISABLED, "failed", round_failures, disable_reason=GONE_REASON)
    if webhook.failing_since is None:
        webhook.failing_since = now
    elif now - webhook.failing_since >= policy.disable_after:
        webhook.active = False
        days = policy.disable_after / timedelta(days=1)
        reason = f"Every attempt failed for {days:g} days; the last: {result.summary}"
        return Decision(DISABLED, "failed", round_failures, disable_reason=reason)

    failures = round_failures + 1
    retry_after = None
    if result.status_code in RETRY_AFTER_STATUSES:
        retry_after = retry_after_seconds(result.header("Retry-After"), now)
    delay = next_delay(failures, policy.schedule, policy.jitter, retry_after)
    if delay is None:
        return Decision(FAILED, "failed", failures)
    return Decision(RETRYING, "failing", failures, now + timedelta(seconds=delay))


def disable_webhook(webhook: Webhook | None, reason: str, now: datetime) -> None:
    """Stop a webhook, fail what was still queued for it, and report a ``webhook_disabled``
    event to the webhooks subscribed to that. The caller commits and wakes the workers.

    A webhook Zapier created whose receiver answered 410 Gone is deleted instead
    (``remove_gone_zapier_webhook``). None — the webhook was deleted while its results were
    being recorded — needs nothing more."""
    if webhook is None:
        return
    if reason == GONE_REASON and webhook.integration == ZAPIER:
        remove_gone_zapier_webhook(webhook)
        return
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


def remove_gone_zapier_webhook(webhook: Webhook) -> None:
    """Delete a Zapier webhook whose receiver answered 410 Gone: by Zapier's REST hook
    convention the zap was turned off, and Zapier will not unsubscribe it any more.

    The worker calls this after it has written the whole batch's attempts, deliveries and
    webhook figures, in the same transaction: the database cascade then takes the deliveries
    and attempts just written with it, and the one commit keeps all or nothing. Results of this
    webhook still in flight find their delivery gone and are skipped when recorded."""
    db.session.execute(
        delete(Webhook).where(Webhook.id == webhook.id).execution_options(synchronize_session=False)
    )
    db.session.expunge(webhook)
    log.info(
        "Zapier webhook %d (%r, event %s) removed: its receiver answered 410 Gone, so the zap "
        "was turned off",
        webhook.id,
        webhook.name,
        webhook.event,
    )

"""One claimed delivery, start to finish: the pipeline, then what its result means."""

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select

from webhooks.delivery.pipeline import Deliverer, record_attempt
from webhooks.delivery.sender import SendResult
from webhooks.extensions import db
from webhooks.models import Delivery
from webhooks.worker.outcome import apply_outcome
from webhooks.worker.policy import Policy
from webhooks.worker.wakeup import wake_workers


def utcnow() -> datetime:
    return datetime.now(UTC)


def process(
    delivery_id: int,
    token: str,
    deliverer: Deliverer,
    policy: Policy,
    clock: Callable[[], datetime] = utcnow,
) -> SendResult | None:
    """Attempt a delivery this worker has claimed with ``token``; None if it was not sent."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None or delivery.lease_token != token:
        db.session.rollback()
        return None
    if not delivery.webhook.active:
        delivery.status = "failed"
        delivery.next_attempt_at = None
        delivery.lease_token = None
        delivery.last_summary = "Not sent: the webhook is inactive."
        db.session.commit()
        return None
    prepared, result = deliverer.attempt(delivery)
    now = clock()
    still_ours = db.session.scalar(select(Delivery.lease_token).where(Delivery.id == delivery_id))
    record_attempt(delivery, prepared, result, now)
    disabled = still_ours == token and apply_outcome(delivery, result, now, policy)
    db.session.commit()
    if disabled:
        wake_workers()  # the webhook_disabled event may have deliveries of its own
    return result

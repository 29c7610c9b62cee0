"""Claimed deliveries, start to finish: load and sign them, send, then record each result and
what it means. The worker pool runs the three steps in different threads and in batches;
``process`` runs them for one delivery. Reads and writes are a few statements per batch,
whatever its size."""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from webhooks.delivery.pipeline import (
    Deliverer,
    Prepared,
    record_attempts,
    update_webhook_figures,
)
from webhooks.delivery.sender import SendResult
from webhooks.extensions import db
from webhooks.models import Delivery, Webhook, as_utc, signing_secrets
from webhooks.worker.outcome import SUCCEEDED, WebhookState, decide, disable_webhook
from webhooks.worker.policy import Policy
from webhooks.worker.wakeup import notify_new_work


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Job:
    """A claimed delivery, signed and ready to send; needs no database to be sent."""

    delivery_id: int
    token: str
    prepared: Prepared


def load_jobs(claimed: list[tuple[int, str]], deliverer: Deliverer, now: datetime) -> list[Job]:
    """Sign the claimed deliveries. One whose webhook was deactivated meanwhile is failed
    instead of sent. Commits, so no transaction stays open while sending."""
    tokens = dict(claimed)
    rows = db.session.execute(
        select(
            Delivery.id,
            Delivery.lease_token,
            Delivery.msg_id,
            Delivery.body,
            Webhook.url,
            Webhook.active,
            Webhook.secret,
            Webhook.previous_secret,
            Webhook.previous_secret_expires_at,
        )
        .join(Webhook, Delivery.webhook_id == Webhook.id)
        .where(Delivery.id.in_(list(tokens)))
    ).all()
    jobs, inactive = [], []
    for row in rows:
        if row.lease_token != tokens[row.id]:
            continue
        if not row.active:
            inactive.append(row.id)
            continue
        secrets = signing_secrets(
            row.secret, row.previous_secret, row.previous_secret_expires_at, now
        )
        jobs.append(
            Job(
                row.id,
                row.lease_token,
                deliverer.prepare(row.msg_id, row.body, row.url, secrets, now),
            )
        )
    if inactive:
        db.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(inactive))
            .values(
                status="failed",
                next_attempt_at=None,
                lease_token=None,
                last_summary="Not sent: the webhook is inactive.",
            )
        )
    db.session.commit()
    return jobs


def finish(results: list[tuple[Job, SendResult]], policy: Policy, now: datetime) -> None:
    """Record every attempt and move on each delivery this worker still holds. One commit.

    A delivery whose lease ran out and was claimed again keeps its state: its attempt is
    recorded, but the newer claim decides what happens next.
    """
    rows = {
        row.id: row
        for row in db.session.execute(
            select(
                Delivery.id,
                Delivery.lease_token,
                Delivery.round_failures,
                Delivery.attempt_count,
                Delivery.webhook_id,
                Webhook.active,
                Webhook.failing_since,
            )
            .join(Webhook, Delivery.webhook_id == Webhook.id)
            .where(Delivery.id.in_([job.delivery_id for job, _ in results]))
        )
    }
    webhooks: dict[int, WebhookState] = {}
    attempts, decided, counted = [], [], []
    last: dict[int, SendResult] = {}
    succeeded: Counter[int] = Counter()
    disable: dict[int, str] = {}
    for job, result in results:
        row = rows.get(job.delivery_id)
        if row is None:  # deleted with its webhook while being sent
            continue
        webhook = webhooks.setdefault(
            row.webhook_id,
            WebhookState(row.active, as_utc(row.failing_since) if row.failing_since else None),
        )
        attempts.append((row.id, job.prepared, result))
        last[row.webhook_id] = result
        figures = {
            "id": row.id,
            "attempt_count": row.attempt_count + 1,
            "last_summary": result.summary[:255],
        }
        if row.lease_token != job.token:
            counted.append(figures)
            continue
        decision = decide(row.round_failures, webhook, result, now, policy)
        decided.append(
            figures
            | {
                "status": decision.status,
                "round_failures": decision.round_failures,
                "next_attempt_at": decision.next_attempt_at,
                "lease_token": None,
            }
        )
        succeeded[row.webhook_id] += decision.outcome == SUCCEEDED
        if decision.disable_reason:
            disable[row.webhook_id] = decision.disable_reason

    # Rows are written in id order, so two workers finishing batches that share webhooks
    # take their row locks in the same order and cannot deadlock.
    if attempts:
        record_attempts(attempts, now)
    for figures in (decided, counted):
        if figures:
            db.session.execute(update(Delivery), sorted(figures, key=lambda row: row["id"]))
    for webhook_id, result in sorted(last.items()):
        changes = {"failing_since": webhooks[webhook_id].failing_since}
        if succeeded[webhook_id]:
            changes["sent_count"] = Webhook.sent_count + succeeded[webhook_id]
        update_webhook_figures(webhook_id, result, False, now, **changes)
    for webhook_id, reason in disable.items():
        disable_webhook(db.session.get(Webhook, webhook_id), reason, now)
    db.session.commit()
    if disable:
        notify_new_work()  # the webhook_disabled event may have deliveries of its own


def process(
    delivery_id: int,
    token: str,
    deliverer: Deliverer,
    policy: Policy,
    clock: Callable[[], datetime] = utcnow,
) -> SendResult | None:
    """Attempt one delivery this worker has claimed with ``token``; None if it was not sent."""
    jobs = load_jobs([(delivery_id, token)], deliverer, clock())
    if not jobs:
        return None
    result = deliverer.check_and_send(jobs[0].prepared)
    finish([(jobs[0], result)], policy, clock())
    return result

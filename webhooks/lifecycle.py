"""Every transition of a delivery, and of the webhook state that moves with it, in one module:
expand an event into its deliveries, claim, sign, record a result (success, failure with its
next attempt, give up), the circuit breaker, disable, re-enable, redeliver, retry now, retry
failed since, and the test send. Both engines and the admin site and API make their changes through
these functions; docs/delivery-engine.md draws the states.

A transition that makes deliveries due notes it on the session (``note_new_work``), and the
engine is told once that commits: callers commit as usual and cannot forget to notify.
"""

import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, delete, func, insert, or_, select, update

from webhooks import custom_headers
from webhooks.catalogue import get_event
from webhooks.delivery.message import render_body
from webhooks.delivery.messages import Message
from webhooks.delivery.pipeline import Deliverer, Prepared, current_deliverer
from webhooks.delivery.result import SendResult
from webhooks.extensions import db
from webhooks.models import (
    ZAPIER,
    Attempt,
    Delivery,
    DeliveryStatus,
    Webhook,
    as_utc,
    due_status,
    new_message_id,
    signing_secrets,
)
from webhooks.outbox import enqueue
from webhooks.subscriptions import receivable_events
from webhooks.telemetry import record as telemetry
from webhooks.worker.claims import Claim, claim_due, write_lock
from webhooks.worker.fanout import Expansion
from webhooks.worker.fanout import expand as expand_events
from webhooks.worker.outcome import GONE_REASON, WebhookState, decide, track_breaker
from webhooks.worker.policy import Policy
from webhooks.worker.wakeup import note_new_work

log = logging.getLogger(__name__)

INACTIVE = Message("not_sent.inactive")
DISABLED = Message("not_sent.disabled")
INACTIVE_SUMMARY = INACTIVE.english
DISABLED_SUMMARY = DISABLED.english


def utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- expand


def expand(now: datetime, *, announce: bool = True) -> Expansion:
    """stored event → expanded, with a pending delivery per subscribed webhook. Commits; the
    engine is told of the new deliveries, unless ``announce`` is False: a worker that claims
    them next announces only those it leaves."""
    expansion = expand_events(db.session, now)
    if expansion.deliveries and announce:
        note_new_work(db.session)
    db.session.commit()
    return expansion


def expand_all(now: datetime) -> int:
    """Expand every event stored so far (tools and tests); how many deliveries were written."""
    written = 0
    while True:
        expansion = expand(now)
        written += expansion.deliveries
        if not expansion.more:
            return written


# ---------------------------------------------------------------- claim and sign


@dataclass(frozen=True)
class Job:
    """A claimed delivery, signed and ready to send; needs no database to be sent."""

    delivery_id: int
    webhook_id: int
    token: str
    prepared: Prepared
    send_at: datetime


def claim(now: datetime, limit: int, policy: Policy) -> list[Claim]:
    """pending | failing, due → held under a lease, within each webhook's limits. Commits."""
    claims = claim_due(db.session, now, limit, policy.lease)
    db.session.commit()
    return claims


def claim_jobs(
    now: datetime, limit: int, policy: Policy, deliverer: Deliverer
) -> tuple[int, list[Job]]:
    """Claim and sign in one transaction (what the worker does): how many were claimed, and
    the jobs to send. Commits, so no transaction stays open while sending."""
    claims = claim_due(db.session, now, limit, policy.lease)
    jobs = _sign(claims, deliverer, now)
    db.session.commit()
    return len(claims), jobs


def load(claims: list[Claim], deliverer: Deliverer, now: datetime) -> list[Job]:
    """Sign deliveries claimed earlier, if the claims are still theirs. Commits."""
    jobs = _sign(claims, deliverer, now)
    db.session.commit()
    return jobs


def _sign(claims: list[Claim], deliverer: Deliverer, now: datetime) -> list[Job]:
    """The claimed deliveries, signed. One whose webhook was deactivated meanwhile is failed
    instead of sent (held → failed)."""
    if not claims:
        return []
    by_id = {claim.delivery_id: claim for claim in claims}
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
            Webhook.custom_headers,
        )
        .join(Webhook, Delivery.webhook_id == Webhook.id)
        .where(Delivery.id.in_(list(by_id)))
    ).all()
    jobs, inactive = [], []
    for row in rows:
        claimed = by_id[row.id]
        if row.lease_token != claimed.token:
            continue
        if not row.active:
            inactive.append(row.id)
            continue
        secrets = signing_secrets(
            row.secret, row.previous_secret, row.previous_secret_expires_at, now
        )
        prepared = deliverer.prepare(
            row.msg_id, row.body, row.url, secrets, now, custom_headers.load(row.custom_headers)
        )
        jobs.append(Job(row.id, claimed.webhook_id, claimed.token, prepared, claimed.send_at))
    if inactive:
        db.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(inactive))
            .values(
                status=DeliveryStatus.FAILED,
                next_attempt_at=None,
                lease_token=None,
                last_summary=INACTIVE_SUMMARY,
                last_message=INACTIVE.stored(),
                failed_at=now,
            )
        )
    return jobs


# ---------------------------------------------------------------- results

# Recording results is the engine's other hot path: Core statements, built once, on the
# session's connection.
_D, _W = Delivery.__table__, Webhook.__table__
_WEBHOOK_STATES = (
    select(
        _W.c.id,
        _W.c.active,
        _W.c.failing_since,
        _W.c.consecutive_failures,
        _W.c.down_since,
        _W.c.next_probe_at,
        _W.c.probe_step,
    )
    .where(_W.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_W.c.id)
    # FOR NO KEY UPDATE: new deliveries referring to these webhooks may still be stored.
    .with_for_update(key_share=True)
)
_HELD = select(
    _D.c.id,
    _D.c.lease_token,
    _D.c.round_failures,
    _D.c.attempt_count,
    _D.c.webhook_id,
    _D.c.msg_id,
    _D.c.event_type,
).where(_D.c.id.in_(bindparam("ids", expanding=True)))
_COUNTED = (
    update(_D)
    .where(_D.c.id == bindparam("d_id"))
    .values(
        attempt_count=bindparam("attempt_count"),
        last_summary=bindparam("last_summary"),
        last_message=bindparam("last_message"),
    )
)
_DECIDED = _COUNTED.values(
    status=bindparam("status"),
    round_failures=bindparam("round_failures"),
    next_attempt_at=bindparam("next_attempt_at"),
    lease_token=bindparam("lease_token"),
    failed_at=bindparam("failed_at"),
)
_INSERT_ATTEMPTS = insert(Attempt.__table__)


def record(results: list[tuple[Job, SendResult]], policy: Policy, now: datetime) -> None:
    """Record every attempt and move on each delivery this worker still holds: succeeded,
    failing with its next attempt, or failed; count the webhook's receiver up or down; disable
    a webhook that asked to stop or failed too long. One transaction.

    A delivery whose lease ran out and was claimed again keeps its state: its attempt is
    recorded, but the newer claim decides what happens next. A delivery or webhook deleted
    meanwhile is skipped.
    """
    if not results:
        return
    write_lock(db.session)
    connection = db.session.connection()
    # Webhook rows are locked first, in id order, as claims take them.
    webhook_rows = connection.execute(
        _WEBHOOK_STATES, {"ids": sorted({job.webhook_id for job, _ in results})}
    ).all()
    webhooks = {
        row.id: WebhookState(
            active=row.active,
            failing_since=_utc(row.failing_since),
            consecutive_failures=row.consecutive_failures,
            down_since=_utc(row.down_since),
            next_probe_at=_utc(row.next_probe_at),
            probe_step=row.probe_step,
        )
        for row in webhook_rows
    }
    down_before = {webhook_id for webhook_id, state in webhooks.items() if state.down_since}
    rows = {
        row.id: row
        for row in connection.execute(_HELD, {"ids": [job.delivery_id for job, _ in results]})
    }
    attempts, decided, counted, told = [], [], [], []
    last: dict[int, SendResult] = {}
    succeeded: Counter[int] = Counter()
    to_disable: dict[int, str] = {}
    for job, result in results:
        row = rows.get(job.delivery_id)
        webhook = webhooks.get(row.webhook_id) if row is not None else None
        if webhook is None:  # deleted, or its webhook deleted, while being sent
            continue
        attempts.append((row.id, job.prepared, result))
        last[row.webhook_id] = result
        track_breaker(webhook, result, now, policy)
        figures = {
            "d_id": row.id,
            "attempt_count": row.attempt_count + 1,
            "last_summary": result.summary[:255],
            "last_message": result.message.stored(),
        }
        if row.lease_token != job.token:
            counted.append(figures)
            told.append((row, result, None))
            continue
        decision = decide(row.round_failures, webhook, result, now, policy)
        told.append((row, result, decision.status))
        decided.append(
            figures
            | {
                "status": decision.status,
                "round_failures": decision.round_failures,
                "next_attempt_at": decision.next_attempt_at,
                "lease_token": None,
                "failed_at": None if decision.status == DeliveryStatus.SUCCEEDED else now,
            }
        )
        succeeded[row.webhook_id] += decision.status == DeliveryStatus.SUCCEEDED
        if decision.disable_reason:
            to_disable[row.webhook_id] = decision.disable_reason

    # The rows are locked already (webhooks first, by the SELECT … FOR UPDATE above), so the
    # order of these writes cannot deadlock with a claim.
    if attempts:
        _record_attempts(attempts, now)
    for statement, figures in ((_DECIDED, decided), (_COUNTED, counted)):
        if figures:
            connection.execute(statement, sorted(figures, key=lambda row: row["d_id"]))
    for webhook_id, result in sorted(last.items()):
        changes = webhooks[webhook_id].breaker_values()
        if succeeded[webhook_id]:
            changes["sent_count"] = Webhook.sent_count + succeeded[webhook_id]
        _update_webhook_figures(webhook_id, result, False, now, **changes)
        _log_breaker(webhook_id, webhook_id in down_before, webhooks[webhook_id], result)
    for webhook_id, reason in to_disable.items():
        disable(db.session.get(Webhook, webhook_id), reason, now)
    db.session.commit()
    for row, result, status in told:
        _tell_telemetry(row, result, status)


def _tell_telemetry(row, result: SendResult, status: DeliveryStatus | None) -> None:
    """The attempt's metrics and log line, once it is committed; ``status`` None: the lease
    ran out and a newer claim decides what happens to the delivery."""
    telemetry.attempt(
        delivery_id=row.id,
        webhook_id=row.webhook_id,
        msg_id=row.msg_id,
        number=row.attempt_count + 1,
        status=str(status) if status is not None else "reclaimed",
        event_type=row.event_type,
        result=result,
    )


def _log_breaker(webhook_id: int, was_down: bool, state: WebhookState, last: SendResult) -> None:
    """One line when a webhook's receiver is found down, and one when it answers again."""
    if state.down_since is not None and not was_down:
        log.warning(
            "webhook %d: receiver down (%d attempts in a row failed, the last: %s); its "
            "deliveries wait, next probe at %s",
            webhook_id,
            state.consecutive_failures,
            last.summary,
            state.next_probe_at.isoformat(timespec="seconds"),
        )
    elif state.down_since is None and was_down:
        log.info("webhook %d: receiver answers again; its waiting deliveries follow", webhook_id)


def _utc(moment: datetime | None) -> datetime | None:
    return as_utc(moment) if moment is not None else None


def _attempt_values(delivery_id: int, prepared: Prepared, result: SendResult, now: datetime):
    return {
        "delivery_id": delivery_id,
        "created_at": now,
        "url": prepared.url,
        "request_headers": json.dumps(prepared.logged_headers()),
        "succeeded": result.ok,
        "response_status": result.status_code,
        "response_headers": json.dumps(result.response_headers) if result.status_code else None,
        "response_body": result.response_body,
        "duration_ms": result.duration_ms,
        "error": result.error,
        "summary": result.summary[:255],
        "message": result.message.stored(),
    }


def _record_attempts(attempts: list[tuple[int, Prepared, SendResult]], now: datetime) -> None:
    """The attempts, in one statement however many there are."""
    db.session.connection().execute(
        _INSERT_ATTEMPTS, [_attempt_values(*attempt, now=now) for attempt in attempts]
    )


def _last_delivery_message(last: SendResult, is_test: bool) -> dict:
    """A webhook's last result as a code with params (docs/result-messages.md)."""
    message = Message("test", {"result": last.message}) if is_test else last.message
    return message.stored()


def _update_webhook_figures(
    webhook_id: int, last: SendResult, is_test: bool, now: datetime, **changes
) -> None:
    """The webhook's last result (and ``changes``, such as its Sent count), in one UPDATE
    however many attempts it had."""
    values = {
        "last_delivery_at": now,
        "last_delivery_ok": last.ok,
        "last_delivery_summary": (("Test: " if is_test else "") + last.summary)[:255],
        "last_delivery_message": _last_delivery_message(last, is_test),
        **changes,
    }
    db.session.connection().execute(update(_W).where(_W.c.id == webhook_id).values(**values))


# ---------------------------------------------------------------- the test send


def test_event_type(webhook: Webhook) -> str:
    """The event a test send uses: the first the webhook receives (the form and the API
    never save a webhook that receives none; one made in code is sent an empty sample)."""
    return next(iter(receivable_events(webhook)), "")


@dataclass(frozen=True)
class TestSend:
    """A test delivery written and signed, ready to send; needs no database to be sent."""

    delivery_id: int
    webhook_id: int
    msg_id: str
    event_type: str
    prepared: Prepared


def begin_test_send(
    webhook: Webhook, event_type: str, data: dict, deliverer: Deliverer
) -> TestSend:
    """A test send of ``data`` as ``event_type``: a test delivery (never queued, never retried,
    not counted as sent) with its body in the webhook's format, signed with its secrets and
    sent with its custom headers. Commits, so no transaction stays open while the receiver is
    waited for; ``record_test_send`` records what came of it."""
    now = utcnow()
    delivery = Delivery(
        webhook=webhook,
        event_type=event_type,
        msg_id=new_message_id(),
        body=render_body(webhook.payload_format, event_type, data, now),
        is_test=True,
        status=DeliveryStatus.TEST,
    )
    db.session.add(delivery)
    prepared = deliverer.prepare(
        delivery.msg_id,
        delivery.body,
        webhook.url,
        webhook.signing_secrets(now),
        now,
        custom_headers.load(webhook.custom_headers),
    )
    db.session.commit()
    return TestSend(delivery.id, webhook.id, delivery.msg_id, event_type, prepared)


def record_test_send(test: TestSend, result: SendResult) -> bool:
    """Record the attempt of a test send and show it as the webhook's last result. Commits.
    False when the delivery is gone (its webhook was deleted while it was being sent)."""
    now = utcnow()
    # The webhook's row first, as recording a worker's results and deleting a webhook take it,
    # so a delete meanwhile waits for this (or this finds the delivery gone) without deadlock.
    _lock_webhook(test.webhook_id)
    recorded = db.session.execute(
        update(_D)
        .where(_D.c.id == test.delivery_id)
        .values(
            attempt_count=_D.c.attempt_count + 1,
            last_summary=result.summary[:255],
            last_message=result.message.stored(),
        )
    ).rowcount
    if not recorded:
        db.session.rollback()
        return False
    _record_attempts([(test.delivery_id, test.prepared, result)], now)
    _update_webhook_figures(test.webhook_id, result, True, now)
    db.session.commit()
    telemetry.attempt(
        status=str(DeliveryStatus.TEST),
        result=result,
        delivery_id=test.delivery_id,
        webhook_id=test.webhook_id,
        msg_id=test.msg_id,
        number=1,  # a test delivery has one attempt
        event_type=test.event_type,
    )
    return True


def send_test_event(webhook: Webhook) -> SendResult:
    """Send Test Event: POST the sample payload of the webhook's (first) event now, through
    the full pipeline, and wait for the answer; recorded as a test delivery."""
    event_type = test_event_type(webhook)
    event = get_event(event_type)
    deliverer = current_deliverer()
    test = begin_test_send(webhook, event_type, event.sample_data() if event else {}, deliverer)
    result = deliverer.attempt_now(test.prepared)
    record_test_send(test, result)
    return result


# ---------------------------------------------------------------- operator actions


def redelivery_refusal(delivery: Delivery) -> str | None:
    """Why the delivery cannot be sent again — ``"test"`` (a test send; Send Test Event makes
    another) or ``"inactive"`` (its webhook would send nothing) — or None when it can."""
    if delivery.is_test:
        return "test"
    if not delivery.webhook.active:
        return "inactive"
    return None


def retry_now_refusal(delivery: Delivery, now: datetime) -> str | None:
    """Why the delivery cannot be retried now, or None when it can (it is failing: it failed
    and waits for its next retry). The reasons: ``"test"``, ``"inactive"`` (its webhook is
    switched off or disabled), ``"in_flight"`` (a worker is sending it right now), or its
    status when that is not failing: ``"pending"`` (due already), ``"succeeded"``,
    ``"failed"`` (given up: redeliver it)."""
    refusal = redelivery_refusal(delivery)
    if refusal:
        return refusal
    if delivery.status != DeliveryStatus.FAILING:
        return str(delivery.status)
    if delivery.lease_token is not None and as_utc(delivery.next_attempt_at) > now:
        return "in_flight"
    return None


def _requeued(now: datetime) -> dict:
    """What re-queues a delivery: due now, from the start of the retry schedule, unclaimed.
    ``msg_id`` and the body stay, so the receiver can tell it is the same message."""
    return {
        "status": DeliveryStatus.PENDING,
        "next_attempt_at": now,
        "round_failures": 0,
        "lease_token": None,
    }


def _not_in_flight(now: datetime):
    """Not held by a worker: no lease, or one that ran out (the delivery is due again)."""
    return or_(Delivery.lease_token.is_(None), Delivery.next_attempt_at <= now)


def _lock_webhook(webhook_id: int) -> None:
    """Take the webhook's row before writing its deliveries, as recording results and claims
    do, so an operator's action cannot deadlock with a worker."""
    write_lock(db.session)
    db.session.execute(select(_W.c.id).where(_W.c.id == webhook_id).with_for_update(key_share=True))


def _probe_now(webhook_id: int, now: datetime) -> None:
    """Deliveries made due now go now even while the webhook's receiver is counted down: the
    next probe is brought forward (one goes at once; if it gets through, the rest follow)."""
    db.session.execute(
        update(Webhook)
        .where(
            Webhook.id == webhook_id,
            Webhook.down_since.is_not(None),
            Webhook.next_probe_at > now,
        )
        .values(next_probe_at=now)
        .execution_options(synchronize_session=False)
    )


def requeue(delivery: Delivery, now: datetime) -> None:
    """Redeliver: any state but test → pending, due now. The caller commits."""
    _lock_webhook(delivery.webhook_id)
    _probe_now(delivery.webhook_id, now)
    for name, value in _requeued(now).items():
        setattr(delivery, name, value)
    note_new_work(db.session)


def retry_now(delivery: Delivery, now: datetime) -> str | None:
    """Retry now: failing (waiting for its next retry) → due now, keeping its ``msg_id``, its
    body and its step of the retry schedule: if this attempt fails too, the schedule goes on.
    Returns why it was refused (``retry_now_refusal``; ``"in_flight"`` also when a worker
    claimed it meanwhile), or None. The caller commits."""
    refusal = retry_now_refusal(delivery, now)
    if refusal:
        return refusal
    _lock_webhook(delivery.webhook_id)
    made_due = db.session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery.id,
            Delivery.status == DeliveryStatus.FAILING,
            _not_in_flight(now),
        )
        .values(next_attempt_at=now, lease_token=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not made_due:
        db.session.refresh(delivery)
        return retry_now_refusal(delivery, now) or "in_flight"
    _probe_now(delivery.webhook_id, now)
    note_new_work(db.session)
    return None


@dataclass(frozen=True)
class Recovery:
    """What "Retry all failed since" did."""

    queued: int  # failed (given up) → pending, due now, from the start of the schedule
    due_now: int  # failing (waiting for their next retry) → due now
    in_flight: int  # failing, being sent right now: left as they are

    @property
    def made_due(self) -> int:
        return self.queued + self.due_now


def _failed_since(webhook: Webhook, since: datetime) -> list:
    """The webhook's deliveries (not test sends) that failed at or after ``since``; one
    stored before deliveries kept ``failed_at`` counts from when it was created."""
    return [
        Delivery.webhook_id == webhook.id,
        Delivery.is_test.is_(False),
        func.coalesce(Delivery.failed_at, Delivery.created_at) >= as_utc(since),
    ]


def recoverable_since(webhook: Webhook, since: datetime, now: datetime) -> int:
    """How many deliveries ``requeue_failed_since`` would make due now: the failed ones, and
    the failing ones no worker is sending."""
    return db.session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(
            *_failed_since(webhook, since),
            or_(
                Delivery.status == DeliveryStatus.FAILED,
                (Delivery.status == DeliveryStatus.FAILING) & _not_in_flight(now),
            ),
        )
    )


def requeue_failed_since(webhook: Webhook, since: datetime, now: datetime) -> Recovery:
    """Retry all failed since: the webhook's deliveries (not test sends) that failed at or
    after ``since`` are due now — the failed ones queued again (pending, from the start of the
    schedule), the failing ones retried now (as ``retry_now``); those a worker is sending are
    left to it. The caller commits."""
    _lock_webhook(webhook.id)
    conditions = _failed_since(webhook, since)
    queued = db.session.execute(
        update(Delivery)
        .where(*conditions, Delivery.status == DeliveryStatus.FAILED)
        .values(**_requeued(now))
        .execution_options(synchronize_session=False)
    ).rowcount
    failing = [*conditions, Delivery.status == DeliveryStatus.FAILING]
    due_now = db.session.execute(
        update(Delivery)
        .where(*failing, _not_in_flight(now))
        .values(next_attempt_at=now, lease_token=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    in_flight = db.session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(*failing, Delivery.lease_token.is_not(None), Delivery.next_attempt_at > now)
    )
    if queued or due_now:
        _probe_now(webhook.id, now)
        note_new_work(db.session)
    return Recovery(queued, due_now, in_flight)


def enable(webhook: Webhook, now: datetime | None = None) -> None:
    """Re-enable a webhook the system disabled, or one switched off: active again, with a
    clean record (nothing failing, breaker closed). The caller commits."""
    webhook.active = True
    webhook.disabled_at = None
    webhook.disabled_reason = None
    webhook.disabled_message = None
    webhook.failing_since = None
    close_breaker(webhook, now or utcnow())


def settings_saved(webhook: Webhook, url_before: str, now: datetime | None = None) -> None:
    """After the site or the API changed a webhook: ticking Active on a disabled webhook
    re-enables it, and a new URL is a new receiver, so its breaker closes. The caller commits."""
    if webhook.active and webhook.disabled_at is not None:
        enable(webhook, now)
    elif webhook.url != url_before and webhook.down_since is not None:
        close_breaker(webhook, now or utcnow())


def close_breaker(webhook: Webhook, now: datetime) -> None:
    """Treat the receiver as up again (re-enabled, or a new URL): the deliveries waiting for
    its next probe are due now. The caller commits."""
    parked_until = webhook.next_probe_at
    webhook.consecutive_failures = 0
    webhook.down_since = webhook.next_probe_at = None
    webhook.probe_step = 0
    if parked_until is None or webhook.id is None:
        return
    db.session.execute(
        update(Delivery)
        .where(
            Delivery.webhook_id == webhook.id,
            due_status(),
            Delivery.next_attempt_at <= as_utc(parked_until),
            Delivery.lease_token.is_(None),
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    note_new_work(db.session)


def disable(webhook: Webhook | None, reason: Message, now: datetime) -> None:
    """Stop a webhook, fail what was still queued for it (pending | failing → failed), and
    report a ``webhook_disabled`` event to the webhooks subscribed to that. The caller commits.

    A webhook Zapier created whose receiver answered 410 Gone is deleted instead
    (``_remove_gone_zapier_webhook``). None — the webhook was deleted while its results were
    being recorded — needs nothing more."""
    if webhook is None:
        return
    if reason == GONE_REASON and webhook.integration == ZAPIER:
        _remove_gone_zapier_webhook(webhook)
        return
    webhook.active = False
    webhook.disabled_at = now
    webhook.disabled_reason = reason.english[:255]
    webhook.disabled_message = reason.stored()
    db.session.execute(
        update(Delivery)
        .where(Delivery.webhook_id == webhook.id, due_status())
        .values(
            status=DeliveryStatus.FAILED,
            next_attempt_at=None,
            lease_token=None,
            last_summary=DISABLED_SUMMARY,
            last_message=DISABLED.stored(),
            failed_at=now,
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


def _remove_gone_zapier_webhook(webhook: Webhook) -> None:
    """Delete a Zapier webhook whose receiver answered 410 Gone: by Zapier's REST hook
    convention the zap was turned off, and Zapier will not unsubscribe it any more.

    ``record`` calls this after it has written the whole batch's attempts, deliveries and
    webhook figures, in the same transaction: the database cascade then takes the deliveries
    and attempts just written with it, and the one commit keeps all or nothing. Results of this
    webhook still in flight find their delivery gone and are skipped when recorded."""
    events = ", ".join(receivable_events(webhook))
    db.session.execute(
        delete(Webhook).where(Webhook.id == webhook.id).execution_options(synchronize_session=False)
    )
    db.session.expunge(webhook)
    log.info(
        "Zapier webhook %d (%r, event %s) removed: its receiver answered 410 Gone, so the zap "
        "was turned off",
        webhook.id,
        webhook.name,
        events,
    )

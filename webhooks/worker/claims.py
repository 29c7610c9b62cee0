"""Claiming due deliveries, so that each attempt is made by exactly one worker and no webhook
gets more than it allows: ``max_in_flight`` requests at once, ``rate_limit`` a second, and
nothing but a probe while its circuit breaker is open.

A claim moves each chosen delivery's ``next_attempt_at`` to the end of a lease and sets a lease
token, in one conditional UPDATE; a worker that dies leaves its rows to fall due again when the
lease ends. The leased rows are the requests in flight, so the limits hold across every worker
process. Claims are serialised (an advisory lock on PostgreSQL, the write lock on SQLite) so
that two workers cannot both see the same free slot.
"""

import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from webhooks.models import Delivery, Webhook, as_utc, due_status

# Claims may take a rate-limited webhook's deliveries this far ahead of their turn; they wait
# in the worker until then.
RATE_HORIZON = timedelta(seconds=1)
# A claim reads this many due deliveries per free slot, oldest first, to find ones of webhooks
# with room.
WINDOW_PER_SLOT = 4
MAX_WINDOW = 4000
CLAIMS_LOCK = 0x776562686F6F6B  # PostgreSQL advisory lock key: one claimer at a time


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    webhook_id: int
    token: str
    send_at: datetime  # when its rate limit lets it go (now, unless rate-limited)


@dataclass
class _Allowance:
    """What a webhook may still take in this claim."""

    free: int
    rate_limit: int | None
    slot_at: datetime | None
    slot_changed: bool = False


def write_lock(session: Session) -> None:
    """On SQLite, take the database's write lock now, for the rest of the transaction, so what
    the transaction reads stays true until it commits. (Other databases lock rows.)"""
    if session.get_bind().dialect.name != "sqlite":
        return
    dbapi = session.connection().connection.dbapi_connection
    if not dbapi.in_transaction:
        session.execute(text("BEGIN IMMEDIATE"))


def _lock_claims(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(CLAIMS_LOCK)))
    else:
        write_lock(session)


def claim_due(session: Session, now: datetime, limit: int, lease: timedelta) -> list[Claim]:
    """Claim up to ``limit`` due deliveries, oldest first, within each webhook's limits;
    commits."""
    if limit <= 0:
        return []
    _lock_claims(session)
    leased = _in_flight(session, now)
    allowances = _allowances(session, now, leased)
    busy = [webhook_id for webhook_id, allowance in allowances.items() if allowance.free <= 0]
    window = min(max(WINDOW_PER_SLOT * limit, 100), MAX_WINDOW)
    statement = (
        select(Delivery.id, Delivery.webhook_id)
        .where(due_status(), Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.webhook_id, Delivery.id)  # the index's order
        .limit(window)
    )
    if busy:
        statement = statement.where(Delivery.webhook_id.not_in(busy))
    candidates = session.execute(statement).all()
    unknown = {row.webhook_id for row in candidates} - allowances.keys()
    if unknown:
        allowances.update(_allowances(session, now, leased, only=unknown))

    chosen: dict[int, tuple[int, datetime]] = {}
    for delivery_id, webhook_id in candidates:
        allowance = allowances[webhook_id]
        send_at = _take(allowance, now)
        if send_at is not None:
            chosen[delivery_id] = (webhook_id, send_at)
            if len(chosen) == limit:
                break

    # Webhook rows before delivery rows, as the recording of results takes them: no deadlock.
    slots = [
        {"id": webhook_id, "rate_slot_at": allowance.slot_at}
        for webhook_id, allowance in sorted(allowances.items())
        if allowance.slot_changed
    ]
    if slots:
        session.execute(update(Webhook), slots)
    _park(session, now)
    claims = []
    if chosen:
        token = secrets.token_hex(16)
        claimed = session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(list(chosen)), due_status(), Delivery.next_attempt_at <= now)
            .values(next_attempt_at=now + lease, lease_token=token)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        ).all()
        claims = [Claim(i, chosen[i][0], token, chosen[i][1]) for i in sorted(claimed)]
    session.commit()
    return claims


def _take(allowance: _Allowance, now: datetime) -> datetime | None:
    """One more request of this webhook: when it may be sent, or None if not within limits."""
    if allowance.free <= 0:
        return None
    send_at = now
    if allowance.rate_limit:
        send_at = max(now, allowance.slot_at or now)
        if send_at - now > RATE_HORIZON:
            return None
        allowance.slot_at = send_at + timedelta(seconds=1 / allowance.rate_limit)
        allowance.slot_changed = True
    allowance.free -= 1
    return send_at


def _in_flight(session: Session, now: datetime) -> Counter[int]:
    """Requests in flight by webhook: deliveries under a lease that has not run out."""
    rows = session.execute(
        select(Delivery.webhook_id, func.count())
        .where(Delivery.lease_token.is_not(None), Delivery.next_attempt_at > now)
        .group_by(Delivery.webhook_id)
    )
    return Counter(dict(rows.all()))


def _allowances(
    session: Session, now: datetime, leased: Counter[int], only: set[int] | None = None
) -> dict[int, _Allowance]:
    """The allowance of each webhook that has requests in flight, a pending rate slot or an
    open breaker (or of ``only`` these)."""
    statement = select(
        Webhook.id,
        Webhook.max_in_flight,
        Webhook.rate_limit,
        Webhook.rate_slot_at,
        Webhook.down_since,
        Webhook.next_probe_at,
    )
    if only is not None:
        statement = statement.where(Webhook.id.in_(only))
    else:
        statement = statement.where(
            Webhook.id.in_(list(leased))
            | Webhook.down_since.is_not(None)
            | (Webhook.rate_slot_at > now)
        )
    allowances = {}
    for row in session.execute(statement):
        if row.down_since is None:
            allowed = row.max_in_flight
        elif row.next_probe_at is not None and as_utc(row.next_probe_at) <= now:
            allowed = 1  # the breaker lets one probe through
        else:
            allowed = 0
        slot_at = as_utc(row.rate_slot_at) if row.rate_slot_at else None
        free = allowed - leased.get(row.id, 0)
        if row.rate_limit and slot_at is not None and slot_at - now > RATE_HORIZON:
            free = 0  # its rate lets nothing more go for now
        allowances[row.id] = _Allowance(free, row.rate_limit, slot_at)
    return allowances


def _park(session: Session, now: datetime) -> None:
    """Move the due deliveries of webhooks whose receiver is down to their next probe: they
    wait there, not attempted and not charged an attempt, and claims need not skip them."""
    down = select(Webhook.id).where(Webhook.next_probe_at > now)
    probe_at = (
        select(Webhook.next_probe_at).where(Webhook.id == Delivery.webhook_id).scalar_subquery()
    )
    session.execute(
        update(Delivery)
        .where(Delivery.webhook_id.in_(down), due_status(), Delivery.next_attempt_at <= now)
        .values(next_attempt_at=probe_at, lease_token=None)
        .execution_options(synchronize_session=False)
    )


def due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """Ids of up to ``limit`` due deliveries, the longest due first; claims nothing."""
    ids = session.scalars(
        select(Delivery.id)
        .where(due_status(), Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
    ).all()
    session.commit()
    return list(ids)


def seconds_until_next_due(session: Session, now: datetime) -> float | None:
    """How long until the next delivery falls due (a retry, a probe, a lease's end); None when
    none is scheduled. Deliveries due already are not counted: those a claim left are held
    back by their webhooks' limits."""
    earliest = session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            due_status(), Delivery.next_attempt_at > now
        )
    )
    session.commit()
    if earliest is None:
        return None
    return max(0.0, (as_utc(earliest) - now).total_seconds())

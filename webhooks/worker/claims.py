"""Claiming due deliveries, so that each attempt is made by exactly one worker and no webhook
gets more than it allows: ``max_in_flight`` requests at once, ``rate_limit`` a second, and
nothing but a probe while its circuit breaker is open.

A claim moves each chosen delivery's ``next_attempt_at`` to the end of a lease and sets a lease
token, in one conditional UPDATE; a worker that dies leaves its rows to fall due again when the
lease ends. The leased rows are the requests in flight, so the limits hold across every worker
process. Claims are serialised (an advisory lock on PostgreSQL, the write lock on SQLite) so
that two workers cannot both see the same free slot.

Claiming is the engine's hot path: its statements are Core statements on the session's
connection, built once.
"""

import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, func, literal, select, text, tuple_, update
from sqlalchemy.orm import Session

from webhooks.models import Delivery, Webhook, as_utc, due_status

# Claims may take a rate-limited webhook's deliveries this far ahead of their turn; they wait
# in the worker until then.
RATE_HORIZON = timedelta(seconds=1)
# A claim reads the due deliveries in slices, oldest first, leaving out those of webhooks that
# have no room; the first slice is small (one busy webhook's backlog is not read in full), each
# next one twice as big, up to the last.
SLICES = (64, 1024)
CLAIMS_LOCK = 0x776562686F6F6B  # PostgreSQL advisory lock key: one claimer at a time

_D = Delivery.__table__
_W = Webhook.__table__
_IN_FLIGHT = (
    select(_D.c.webhook_id, func.count())
    .where(_D.c.lease_token.is_not(None), _D.c.next_attempt_at > bindparam("now"))
    .group_by(_D.c.webhook_id)
)
_LIMITS = select(
    _W.c.id,
    _W.c.max_in_flight,
    _W.c.rate_limit,
    _W.c.rate_slot_at,
    _W.c.down_since,
    _W.c.next_probe_at,
)
# Webhooks whose allowance a claim needs before it reads the queue: those with requests in
# flight, an open breaker or a rate slot still to come.
_CONSTRAINED = _LIMITS.where(
    _W.c.id.in_(bindparam("leased", expanding=True))
    | _W.c.down_since.is_not(None)
    | (_W.c.rate_slot_at > bindparam("now"))
)
_LIMITS_OF = _LIMITS.where(_W.c.id.in_(bindparam("ids", expanding=True)))
_ORDER = (_D.c.next_attempt_at, _D.c.webhook_id, _D.c.id)  # the order of ix_deliveries_due
_QUEUE = (
    select(*_ORDER)
    .where(due_status(), _D.c.next_attempt_at <= bindparam("now"))
    .order_by(*_ORDER)
    .limit(bindparam("slice"))
)
_PARK = (
    update(_D)
    .where(
        _D.c.webhook_id.in_(select(_W.c.id).where(_W.c.next_probe_at > bindparam("now"))),
        due_status(),
        _D.c.next_attempt_at <= bindparam("now"),
    )
    .values(
        next_attempt_at=select(_W.c.next_probe_at)
        .where(_W.c.id == _D.c.webhook_id)
        .scalar_subquery(),
        lease_token=None,
    )
)
_SLOTS = update(_W).where(_W.c.id == bindparam("w_id")).values(rate_slot_at=bindparam("slot"))


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
    parks: bool = False  # its receiver is down and the probe time has not come


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
    """Claim up to ``limit`` due deliveries, oldest first, within each webhook's limits, in
    the session's transaction (the caller commits; until then the claim holds the lock that
    serialises claims).

    The queue is read in slices through its index, leaving out the webhooks with no room —
    those found so, and those that fill up as the slices are read — so deliveries held back by
    their webhook's limits cost an index range, and a healthy webhook's delivery behind
    thousands of a hung one's is still found."""
    if limit <= 0:
        return []
    _lock_claims(session)
    connection = session.connection()
    in_flight = Counter(dict(connection.execute(_IN_FLIGHT, {"now": now}).all()))
    allowances = _allowances(connection, _CONSTRAINED, now, in_flight, leased=list(in_flight))
    full = {webhook_id for webhook_id, allowance in allowances.items() if allowance.free <= 0}
    chosen: dict[int, tuple[int, datetime]] = {}
    size, after = SLICES[0], None
    while len(chosen) < limit:
        rows = _queue_slice(connection, now, full, after, size)
        unknown = {row.webhook_id for row in rows} - allowances.keys()
        if unknown:
            allowances.update(
                _allowances(connection, _LIMITS_OF, now, in_flight, ids=list(unknown))
            )
        for row in rows:
            if row.webhook_id in full:
                continue
            send_at = _take(allowances[row.webhook_id], now)
            if send_at is None:
                full.add(row.webhook_id)
                continue
            chosen[row.id] = (row.webhook_id, send_at)
            if len(chosen) == limit:
                break
        if len(rows) < size:
            break
        after = tuple(rows[-1])
        size = min(2 * size, SLICES[1])

    # Webhook rows before delivery rows, as the recording of results takes them: no deadlock.
    slots = [
        {"w_id": webhook_id, "slot": allowance.slot_at}
        for webhook_id, allowance in sorted(allowances.items())
        if allowance.slot_changed
    ]
    if slots:
        connection.execute(_SLOTS, slots)
    if any(allowance.parks for allowance in allowances.values()):
        connection.execute(_PARK, {"now": now})
    claims = []
    if chosen:
        token = secrets.token_hex(16)
        claimed = connection.scalars(
            update(_D)
            .where(_D.c.id.in_(list(chosen)), due_status(), _D.c.next_attempt_at <= now)
            .values(next_attempt_at=now + lease, lease_token=token)
            .returning(_D.c.id)
        ).all()
        claims = [Claim(i, chosen[i][0], token, chosen[i][1]) for i in sorted(claimed)]
    return claims


def _queue_slice(connection: Connection, now: datetime, full: set[int], after, size: int):
    """The next ``size`` due deliveries (id, webhook id) in the queue's order after ``after``,
    but those of the ``full`` webhooks."""
    statement = _QUEUE
    if full:
        statement = statement.where(_D.c.webhook_id.not_in(full))
    if after is not None:
        place = [literal(value, column.type) for value, column in zip(after, _ORDER, strict=True)]
        statement = statement.where(tuple_(*_ORDER) > tuple_(*place))
    return connection.execute(statement, {"now": now, "slice": size}).all()


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


def _allowances(
    connection: Connection, statement, now: datetime, in_flight: Counter[int], **parameters
) -> dict[int, "_Allowance"]:
    """Each webhook's allowance: its limit less its requests in flight; one probe when its
    breaker's probe time has come, none before; none while its rate lets nothing go."""
    allowances = {}
    for row in connection.execute(statement, {"now": now, **parameters}):
        parks = False
        if row.down_since is None:
            allowed = row.max_in_flight
        elif row.next_probe_at is not None and as_utc(row.next_probe_at) <= now:
            allowed = 1  # the breaker lets one probe through
        else:
            allowed, parks = 0, True
        slot_at = as_utc(row.rate_slot_at) if row.rate_slot_at else None
        free = allowed - in_flight.get(row.id, 0)
        if row.rate_limit and slot_at is not None and slot_at - now > RATE_HORIZON:
            free = 0  # its rate lets nothing more go for now
        allowances[row.id] = _Allowance(free, row.rate_limit, slot_at, parks=parks)
    return allowances


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

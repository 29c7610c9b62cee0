"""The dashboard's figures, each counted by the database.

The delivery figures read the last 24 hours of ``ix_deliveries_status_created_at`` (status,
created_at, webhook_id) and nothing else of the delivery log, so their cost follows the day's
deliveries, not how many the log keeps; the webhook figures read the webhooks table, which is
small next to the delivery log. No query loads rows just to count them.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Select, bindparam, case, func, literal, select, union_all

from webhooks.extensions import db
from webhooks.models import Delivery, DeliveryStatus, Event, Webhook

HOURS = 24
# Deliveries that did not get through: given up, or failed and waiting for a retry.
FAILED_STATUSES = (DeliveryStatus.FAILED, DeliveryStatus.FAILING)
ATTENTION_LIMIT = 8


@dataclass(frozen=True)
class WebhookCounts:
    active: int = 0
    inactive: int = 0  # switched off by an admin
    disabled: int = 0  # stopped by the system (410 Gone, or failing for days)

    @property
    def total(self) -> int:
        return self.active + self.inactive + self.disabled


def webhook_counts() -> WebhookCounts:
    disabled = Webhook.disabled_at.is_not(None)
    row = db.session.execute(
        select(
            func.count(case((disabled, 1))),
            func.count(case((~disabled & Webhook.active.is_(True), 1))),
            func.count(case((~disabled & Webhook.active.is_(False), 1))),
        ).select_from(Webhook)
    ).one()
    return WebhookCounts(disabled=row[0], active=row[1], inactive=row[2])


@dataclass
class Hour:
    start: datetime
    succeeded: int = 0
    failed: int = 0  # failed or failing

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=1)

    @property
    def total(self) -> int:
        return self.succeeded + self.failed


@dataclass
class Activity:
    """Deliveries created in the last ``HOURS`` whole hours (the current one included)."""

    since: datetime
    hours: list[Hour]
    by_status: dict[str, int] = field(default_factory=dict)
    # Events accepted with schema problems ("warn") since ``since``.
    warned_events: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


# Statuses counted hour by hour for the chart; the others are counted over the whole day.
CHARTED = (DeliveryStatus.SUCCEEDED, *FAILED_STATUSES)
# What the day's statement counts, in the order of its columns: (status, n) for the deliveries
# of that status created in hour n (0 to HOURS - 1), or after the current hour (n = HOURS, by
# a clock ahead of this one); (status, None) over the whole day, for the statuses not charted.
COUNTED = tuple(
    (status, n)
    for status in DeliveryStatus
    for n in (range(HOURS + 1) if status in CHARTED else (None,))
)


def count_created(status: DeliveryStatus, start: str, end: str | None):
    """Deliveries with ``status`` created from the time bound to ``start`` up to the one bound
    to ``end`` (None: no end), as a scalar subquery: one range of
    ``ix_deliveries_status_created_at``, counted from the index alone. Times are compared as
    stored (UTC), so an hour's bounds are exactly its UTC hour."""
    conditions = [Delivery.status == status, Delivery.created_at >= bindparam(start)]
    if end is not None:
        conditions.append(Delivery.created_at < bindparam(end))
    return select(func.count()).select_from(Delivery).where(*conditions).scalar_subquery()


def hour_bound(n: int) -> str:
    """The parameter that holds the start of hour ``n`` (``HOURS``: the end of the last)."""
    return f"hour_{n}"


def count_warned_events(start: str):
    """Events accepted with schema problems since the time bound to ``start``, as a scalar
    subquery: one range of the partial index ``ix_events_schema_warned``, which holds those
    events only."""
    return (
        select(func.count())
        .select_from(Event)
        .where(Event.schema_problem_count.is_not(None), Event.created_at >= bindparam(start))
        .scalar_subquery()
    )


@cache
def day_statement() -> Select:
    """The counts of ``COUNTED``, one column each, then the warned events' count, in one
    statement. Built once: it is the same every time but for the hours' bounds, which are its
    parameters."""
    columns = []
    for status, n in COUNTED:
        if n is None:
            columns.append(count_created(status, hour_bound(0), None))
        else:
            end = hour_bound(n + 1) if n < HOURS else None
            columns.append(count_created(status, hour_bound(n), end))
    return select(*columns, count_warned_events(hour_bound(0)))


def activity(now: datetime) -> Activity:
    """Deliveries by hour and by status since the start of the hour ``HOURS - 1`` hours ago.

    One statement of a count per status and hour: each reads only the index entries it counts,
    so the cost follows the day's deliveries and not the whole log, and nothing is computed per
    row (no grouping by a formatted hour). Deliveries created after the current hour (by a
    clock ahead of this one) count in ``by_status`` only."""
    since = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    hours = [Hour(since + timedelta(hours=n)) for n in range(HOURS)]
    bounds = {hour_bound(n): since + timedelta(hours=n) for n in range(HOURS + 1)}
    *counts, warned_events = db.session.execute(day_statement(), bounds).one()
    by_status: dict[str, int] = {}
    for (status, n), count in zip(COUNTED, counts, strict=True):
        by_status[status] = by_status.get(status, 0) + count
        if n is None or n == HOURS:
            continue
        if status == DeliveryStatus.SUCCEEDED:
            hours[n].succeeded += count
        else:
            hours[n].failed += count
    return Activity(since=since, hours=hours, by_status=by_status, warned_events=warned_events)


@dataclass(frozen=True)
class WebhookHealth:
    webhook: Webhook
    failures: int  # failed deliveries created since the dashboard's ``since``

    @property
    def state(self) -> str:
        """disabled, down, failing, inactive or active: the first that applies.

        Failing means that real deliveries are failing now (``failing_since``, which only
        deliveries set and clear), on an active webhook: not a failed Send Test Event (it also
        writes ``last_delivery_ok``, for the list and the webhook's page), and not a webhook that
        an admin switched off."""
        webhook = self.webhook
        if webhook.disabled_at is not None:
            return "disabled"
        if webhook.active and webhook.down_since is not None:
            return "down"
        if webhook.active and webhook.failing_since is not None:
            return "failing"
        return "active" if webhook.active else "inactive"


def webhooks_by_health(since: datetime, limit: int = ATTENTION_LIMIT) -> list[WebhookHealth]:
    """Up to ``limit`` webhooks, those in trouble first: disabled by the system, down or failing
    now, with failed deliveries since ``since``; then the others, most recently used first.

    The failures are counted per webhook from ``ix_deliveries_status_created_at`` alone, and
    joined to their webhooks by primary key; the webhooks without failures are the others (NOT
    IN the counted ones). A LEFT JOIN of every webhook to the counts would make SQLite, which
    builds no index on them, read all the counts once per webhook."""
    recent = (
        select(Delivery.webhook_id, func.count().label("failures"))
        .where(Delivery.status.in_(FAILED_STATUSES), Delivery.created_at >= since)
        .group_by(Delivery.webhook_id)
        .cte("recent")
    )
    columns = (
        Webhook.id,
        Webhook.active,
        Webhook.disabled_at,
        Webhook.down_since,
        Webhook.failing_since,
        Webhook.last_delivery_at,
    )
    ranked = union_all(
        select(*columns, recent.c.failures).join_from(
            recent, Webhook, Webhook.id == recent.c.webhook_id
        ),
        select(*columns, literal(0).label("failures")).where(
            Webhook.id.not_in(select(recent.c.webhook_id))
        ),
    ).subquery("ranked")
    active = ranked.c.active.is_(True)
    rank = case(
        (ranked.c.disabled_at.is_not(None), 0),
        (active & ranked.c.down_since.is_not(None), 1),
        (active & ranked.c.failing_since.is_not(None), 1),
        (ranked.c.failures > 0, 2),
        else_=3,
    )
    top = db.session.execute(
        select(ranked.c.id, ranked.c.failures)
        .order_by(
            rank,
            ranked.c.failures.desc(),
            ranked.c.last_delivery_at.desc().nulls_last(),
            ranked.c.id.desc(),
        )
        .limit(limit)
    ).all()
    webhooks = db.session.scalars(select(Webhook).where(Webhook.id.in_([row.id for row in top])))
    by_id = {webhook.id: webhook for webhook in webhooks}
    # One deleted in between (PostgreSQL reads each statement's own snapshot) is left out.
    return [WebhookHealth(by_id[row.id], row.failures) for row in top if row.id in by_id]

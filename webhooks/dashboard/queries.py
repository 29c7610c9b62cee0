"""The dashboard's figures, each counted by the database.

The delivery figures read the last 24 hours of ``ix_deliveries_status_created_at`` (status,
created_at, webhook_id) and nothing else of the delivery log, so their cost follows the day's
deliveries, not how many the log keeps; the webhook figures read the webhooks table, which is
small next to the delivery log. No query loads rows just to count them.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, literal, select, union_all

from webhooks.extensions import db
from webhooks.models import Delivery, DeliveryStatus, Webhook

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

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


# Statuses counted hour by hour for the chart; the others are counted over the whole day.
CHARTED = (DeliveryStatus.SUCCEEDED, *FAILED_STATUSES)


def count_created(status: DeliveryStatus, start: datetime, end: datetime | None):
    """Deliveries with ``status`` created from ``start`` up to ``end`` (None: no end), as a
    scalar subquery: one range of ``ix_deliveries_status_created_at``, counted from the index
    alone. Times are compared as stored (UTC), so an hour's bounds are exactly its UTC hour."""
    conditions = [Delivery.status == status, Delivery.created_at >= start]
    if end is not None:
        conditions.append(Delivery.created_at < end)
    return select(func.count()).select_from(Delivery).where(*conditions).scalar_subquery()


def activity(now: datetime) -> Activity:
    """Deliveries by hour and by status since the start of the hour ``HOURS - 1`` hours ago.

    One statement of a count per status and hour: each reads only the index entries it counts,
    so the cost grows with the day's deliveries and not with the whole log, and nothing is
    computed per row (no grouping by a formatted hour). Deliveries created after the current
    hour (by a clock ahead of this one) count in ``by_status`` only."""
    since = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    hours = [Hour(since + timedelta(hours=n)) for n in range(HOURS)]
    buckets: list[tuple[DeliveryStatus, Hour | None, datetime, datetime | None]] = []
    for status in DeliveryStatus:
        if status in CHARTED:
            buckets += [(status, hour, hour.start, hour.end) for hour in hours]
            buckets.append((status, None, hours[-1].end, None))
        else:
            buckets.append((status, None, since, None))
    counts = db.session.execute(
        select(*(count_created(status, start, end) for status, _, start, end in buckets))
    ).one()
    by_status: dict[str, int] = {}
    for (status, hour, _, _), count in zip(buckets, counts, strict=True):
        by_status[status] = by_status.get(status, 0) + count
        if hour is None:
            continue
        if status == DeliveryStatus.SUCCEEDED:
            hour.succeeded += count
        else:
            hour.failed += count
    return Activity(since=since, hours=hours, by_status=by_status)


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
    return [WebhookHealth(by_id[row.id], row.failures) for row in top]

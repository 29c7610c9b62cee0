"""The dashboard's figures, each counted by the database in one aggregate query.

The delivery figures read one range of the index on ``deliveries.created_at`` (the last 24
hours) and group it by hour and status; the webhook figures read the webhooks table, which is
small next to the delivery log. No query loads rows just to count them.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, literal_column, select
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

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


def hour_of(column):
    """The UTC hour of a timestamp column as text, ``YYYY-MM-DD HH``, in the database. The
    constants are written into the SQL, so that GROUP BY repeats the SELECT's expression
    exactly (PostgreSQL insists)."""
    if db.session.get_bind().dialect.name == "postgresql":
        utc = func.timezone(literal_column("'UTC'"), column)
        return func.to_char(utc, literal_column("'YYYY-MM-DD HH24'"))
    # SQLite keeps UTC times as text, "2026-03-10 14:05:00.000000".
    return func.strftime(literal_column("'%Y-%m-%d %H'"), column)


def read_from_rows(column):
    """On SQLite, ``+column``: the same value, which SQLite reads from the rows rather than
    through the column's index, so that the range on ``created_at`` chooses what is read. Left
    alone (it keeps no statistics) it would read every failure ever kept through the index on
    ``status``, or the whole index on ``webhook_id`` to group without sorting."""
    if db.session.get_bind().dialect.name != "sqlite":
        return column
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


def activity(now: datetime) -> Activity:
    """Deliveries by hour and by status since the start of the hour ``HOURS - 1`` hours ago."""
    since = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    hours = [Hour(since + timedelta(hours=n)) for n in range(HOURS)]
    by_key = {hour.start.strftime("%Y-%m-%d %H"): hour for hour in hours}
    bucket = hour_of(Delivery.created_at).label("hour")
    rows = db.session.execute(
        select(bucket, Delivery.status, func.count())
        .where(Delivery.created_at >= since)
        .group_by(bucket, Delivery.status)
    ).all()
    by_status: dict[str, int] = {}
    for key, status, count in rows:
        by_status[status] = by_status.get(status, 0) + count
        hour = by_key.get(key)
        if hour is None:  # created in the future, by a clock ahead of this one
            continue
        if status == DeliveryStatus.SUCCEEDED:
            hour.succeeded += count
        elif status in FAILED_STATUSES:
            hour.failed += count
    return Activity(since=since, hours=hours, by_status=by_status)


@dataclass(frozen=True)
class WebhookHealth:
    webhook: Webhook
    failures: int  # failed deliveries created since the dashboard's ``since``

    @property
    def state(self) -> str:
        """disabled, down, failing, inactive or active: the first that applies."""
        if self.webhook.disabled_at is not None:
            return "disabled"
        if self.webhook.down_since is not None and self.webhook.active:
            return "down"
        if self.webhook.failing_since is not None or self.webhook.last_delivery_ok is False:
            return "failing"
        return "active" if self.webhook.active else "inactive"


def webhooks_by_health(since: datetime, limit: int = ATTENTION_LIMIT) -> list[WebhookHealth]:
    """Up to ``limit`` webhooks, those in trouble first: disabled by the system, failing now,
    whose last delivery failed, with failed deliveries since ``since``; then the others, most
    recently used first."""
    webhook_id = read_from_rows(Delivery.webhook_id)
    recent = (
        select(webhook_id.label("webhook_id"), func.count().label("failures"))
        .where(Delivery.created_at >= since, read_from_rows(Delivery.status).in_(FAILED_STATUSES))
        .group_by(webhook_id)
        .subquery()
    )
    failures = func.coalesce(recent.c.failures, 0)
    rank = case(
        (Webhook.disabled_at.is_not(None), 0),
        (Webhook.down_since.is_not(None) & Webhook.active.is_(True), 1),
        (Webhook.failing_since.is_not(None), 1),
        (Webhook.last_delivery_ok.is_(False), 2),
        (failures > 0, 3),
        else_=4,
    )
    rows = db.session.execute(
        select(Webhook, failures)
        .outerjoin(recent, recent.c.webhook_id == Webhook.id)
        .order_by(
            rank,
            failures.desc(),
            Webhook.last_delivery_at.desc().nulls_last(),
            Webhook.id.desc(),
        )
        .limit(limit)
    ).all()
    return [WebhookHealth(webhook, count) for webhook, count in rows]

"""The "version" of each live page's data: a short fingerprint that changes when anything the
page shows changes, and whether the page shows work still under way (``busy``), so the browser
knows to look again soon.

Each is read through indexes, a small part of what rendering the page costs: a delivery is one
row by its key; a list page is its page of ids (the same keyset query as the page, which an
index answers) and those rows' states by key; the dashboard reads the newest delivery and
attempt ids, the first entry of the queue's partial index, and the webhooks table, which is
small next to the delivery log.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ScalarSelect, func, literal_column, select
from sqlalchemy.orm import load_only

from webhooks.deliveries.queries import Filters, Page, fetch_page
from webhooks.extensions import db
from webhooks.models import Attempt, Delivery, DeliveryStatus, Event, Webhook, as_utc, due_status

# A retry due within this long counts as work under way: the page looks again soon.
SOON = timedelta(seconds=60)
# The queued deliveries the dashboard counts, at most: enough to see one queued again when the
# queue is short; a long queue changes the page through its attempts anyway.
QUEUE_COUNT_CAP = 1000
# Delivery columns that a page shows and a transition changes.
STATE_COLUMNS = (
    Delivery.status,
    Delivery.attempt_count,
    Delivery.next_attempt_at,
    Delivery.lease_token,
    Delivery.last_summary,
)


@dataclass(frozen=True)
class Version:
    version: str
    busy: bool

    def as_json(self) -> dict:
        return {"version": self.version, "busy": self.busy}


def fingerprint(parts: Iterable) -> str:
    """A short digest of ``parts`` written out; not a secret, only a change detector."""
    text = "\x1f".join(repr(part) for part in parts)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _moment(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def _state(delivery: Delivery) -> tuple:
    return (
        delivery.id,
        str(delivery.status),
        delivery.attempt_count,
        _moment(delivery.next_attempt_at),
        delivery.lease_token is not None,
        delivery.last_summary,
    )


def under_way(status: str, next_attempt_at: datetime | None, now: datetime) -> bool:
    """Pending, in flight (held under a lease, which keeps it due) or waiting for a retry that
    comes soon."""
    if status not in DeliveryStatus.due():
        return False
    return next_attempt_at is None or as_utc(next_attempt_at) <= now + SOON


def delivery_version(delivery: Delivery, now: datetime | None = None) -> Version:
    """A delivery's page: its state, its attempts (counted) and whether its webhook is active.
    ``delivery`` is the page's row, or what ``delivery_state`` read."""
    now = now or datetime.now(UTC)
    return Version(
        fingerprint([*_state(delivery), delivery.webhook.active]),
        under_way(delivery.status, delivery.next_attempt_at, now),
    )


@dataclass(frozen=True)
class _WebhookState:
    active: bool


@dataclass(frozen=True)
class DeliveryState:
    """What ``delivery_version`` reads of a delivery, without its body."""

    id: int
    status: str
    attempt_count: int
    next_attempt_at: datetime | None
    lease_token: str | None
    last_summary: str | None
    webhook: _WebhookState


def delivery_state(delivery_id: int) -> DeliveryState | None:
    """One row by its key, joined to its webhook's; None when there is no such delivery."""
    row = db.session.execute(
        select(Delivery.id, *STATE_COLUMNS, Webhook.active)
        .join(Webhook, Delivery.webhook_id == Webhook.id)
        .where(Delivery.id == delivery_id)
    ).one_or_none()
    if row is None:
        return None
    *state, active = row
    return DeliveryState(*state, webhook=_WebhookState(active))


def _rows_version(rows: list[Delivery], extra: Iterable, now: datetime) -> Version:
    return Version(
        fingerprint([*extra, *(_state(row) for row in rows)]),
        any(under_way(row.status, row.next_attempt_at, now) for row in rows),
    )


def page_version(page: Page, now: datetime | None = None) -> Version:
    """A page of the delivery list: the rows it shows and its links to newer and older pages."""
    return _rows_version(page.items, (page.newer, page.older, page.first), now or datetime.now(UTC))


def list_version(filters: Filters, per_page: int, before: int | None, after: int | None) -> Version:
    """The page of the delivery list these arguments show, read as the page reads it but
    without the rows' bodies and webhooks."""
    load = (load_only(Delivery.created_at, *STATE_COLUMNS),)  # created_at: the place in time order
    return page_version(fetch_page(filters, per_page, before=before, after=after, load=load))


def recent_deliveries(webhook: Webhook, limit: int) -> list[Delivery]:
    """The webhook's ``limit`` newest deliveries (through the index on webhook and id), as its
    page shows them."""
    return list(
        db.session.scalars(
            select(Delivery)
            .where(Delivery.webhook_id == webhook.id)
            .options(load_only(*STATE_COLUMNS))
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
    )


def webhook_version(
    webhook: Webhook, deliveries: list[Delivery], now: datetime | None = None
) -> Version:
    """A webhook's page: its state and figures, and its newest ``deliveries``."""
    extra = (
        webhook.active,
        _moment(webhook.disabled_at),
        webhook.disabled_reason,
        _moment(webhook.down_since),
        webhook.consecutive_failures,
        _moment(webhook.failing_since),
        _moment(webhook.last_delivery_at),
        webhook.last_delivery_ok,
        webhook.last_delivery_summary,
        webhook.sent_count,
        _moment(webhook.updated_at),
    )
    return _rows_version(deliveries, extra, now or datetime.now(UTC))


def dashboard_version(now: datetime | None = None) -> Version:
    """The dashboard: a new delivery, a new attempt, a delivery queued or taken off the queue,
    a webhook changed, added or deleted — without counting the last day's deliveries as the
    dashboard itself does. Busy while an event waits to be expanded, or a delivery is pending,
    in flight or (among the newest QUEUE_COUNT_CAP failing) retrying soon; a retry hours away
    does not keep it busy (the dashboard then looks seldom).
    One statement, each part read through an index (or the small webhooks table)."""

    def first(*where) -> ScalarSelect:
        return (
            select(literal_column("1"))
            .select_from(Delivery)
            .where(*where)
            .limit(1)
            .scalar_subquery()
        )

    now = now or datetime.now(UTC)
    queue = select(literal_column("1")).select_from(Delivery).where(due_status())
    # The newest failing deliveries' next retries (through the index on status and id): one
    # due soon makes the dashboard busy.
    retries = (
        select(Delivery.next_attempt_at.label("at"))
        .where(Delivery.status == DeliveryStatus.FAILING)
        .order_by(Delivery.id.desc())
        .limit(QUEUE_COUNT_CAP)
        .subquery()
    )
    row = db.session.execute(
        select(
            select(func.max(Delivery.id)).scalar_subquery(),
            select(func.max(Attempt.id)).scalar_subquery(),
            select(func.count())
            .select_from(queue.limit(QUEUE_COUNT_CAP).subquery())
            .scalar_subquery(),
            select(func.count()).select_from(Webhook).scalar_subquery(),
            select(func.max(Webhook.updated_at)).scalar_subquery(),
            first(Delivery.status == DeliveryStatus.PENDING),
            first(Delivery.lease_token.is_not(None)),
            select(literal_column("1"))
            .select_from(retries)
            .where(retries.c.at <= now + SOON)
            .limit(1)
            .scalar_subquery(),
            select(Event.id)
            .where(Event.expanded_at.is_(None))
            .order_by(Event.id)
            .limit(1)
            .scalar_subquery(),
        )
    ).one()
    newest_delivery, newest_attempt, queued, webhooks, changed, *under_way_now = row
    busy = any(value is not None for value in under_way_now)
    # The time comes back from a bare subquery as the database wrote it (text on SQLite).
    parts = (newest_delivery, newest_attempt, queued, webhooks, str(changed))
    return Version(fingerprint(parts), busy)

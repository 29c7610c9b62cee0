"""Reading the delivery log: the one implementation behind the admin's delivery screens and the
API's ``/deliveries`` resource. (Queueing deliveries again is a transition:
``webhooks.lifecycle``.)

Lists are paged by keyset and never count the table, so they stay fast with millions of rows.
Without a date range a list is in id order: every filter is an equality on a column indexed
together with ``id``, so the index yields a page in order. With a date range it is in time
order, ``(created_at, id)``, which the index on ``created_at`` yields for any range, however old
or wide, newest first; a cursor (a delivery id) then stands for its delivery's place in that
order.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask import abort
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import defer, selectinload
from sqlalchemy.orm.interfaces import LoaderOption
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from webhooks.extensions import db
from webhooks.models import Attempt, Delivery, DeliveryStatus, as_utc

LATEST = datetime.max.replace(tzinfo=UTC)
# The finest time a database keeps: a "to" moment is included by ending the range just after it.
RESOLUTION = timedelta(microseconds=1)


# ---------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    """What a list is narrowed to; ``webhook_id`` is still to be looked up, and
    ``webhook_name`` (text typed in the admin's webhook field) to be resolved to one.

    ``date_from`` and ``date_to`` are UTC days (a ``date``: the whole day, the "to" day
    included) or moments (a ``datetime``: from that moment, up to and including it)."""

    status: DeliveryStatus | None = None
    event: str | None = None
    webhook_id: int | None = None
    webhook_name: str | None = None
    date_from: date | datetime | None = None
    date_to: date | datetime | None = None

    @property
    def dated(self) -> bool:
        return self.date_from is not None or self.date_to is not None


def date_range(filters: Filters) -> tuple[datetime | None, datetime | None]:
    """The filter's dates as a UTC range [start, end); the "to" day or moment is included."""
    start = end = None
    since, until = filters.date_from, filters.date_to
    if isinstance(since, datetime):
        start = as_utc(since)
    elif since is not None:
        start = datetime.combine(since, time.min, tzinfo=UTC)
    if isinstance(until, datetime):
        if as_utc(until) < LATEST:
            end = as_utc(until) + RESOLUTION
    elif until is not None and until < date.max:
        end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    return start, end


# ---------------------------------------------------------------- lookups


def get_delivery_or_404(delivery_id: int) -> Delivery:
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        abort(
            404,
            description="There is no delivery with that id; it may have been purged after the "
            "retention period, or deleted with its webhook.",
        )
    return delivery


def attempts_newest_first(delivery: Delivery) -> list[Attempt]:
    return list(
        db.session.scalars(
            select(Attempt).where(Attempt.delivery_id == delivery.id).order_by(Attempt.id.desc())
        )
    )


# ---------------------------------------------------------------- keyset paging


def _plus(column):
    """``+column``: the same value, but SQLite does not use an index for it."""
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


@dataclass(frozen=True)
class Order:
    """The order of a list, newest first: by ``id``, or by time (``created_at``, then ``id``)
    when a date range is set. A place in it (a delivery, or a cursor) is a tuple of those.

    ``hinted`` (SQLite in time order): the filter columns other than ``indexed`` are written
    ``+column``, which SQLite cannot read through an index, so it reads ``indexed``'s index
    and sorts those rows, or, with ``indexed`` None, walks ``created_at`` skipping the rows that
    do not match.
    """

    by_time: bool = False
    hinted: bool = False
    indexed: str | None = None

    @property
    def columns(self) -> tuple:
        return (Delivery.created_at, Delivery.id) if self.by_time else (Delivery.id,)

    def place(self, delivery: Delivery) -> tuple:
        return (delivery.created_at, delivery.id) if self.by_time else (delivery.id,)


FILTER_COLUMNS = {"webhook_id": "webhook_id", "status": "status", "event": "event_type"}


def list_order(filters: Filters, limit: int = 51) -> Order:
    """Id order, or time order with a date range; on SQLite, also how to read a date range
    that has other filters (``limit`` is the rows a page reads).

    SQLite keeps no statistics, and left alone reads the index of an equality and sorts all its
    rows, whether they are ten or a third of the table. Reading ``created_at`` instead costs
    about ``limit`` / (share of the rows that match). So each filter's rows are counted through
    its (column, id) index, up to sqrt(limit × rows in the table): the fewest are read through
    their index and sorted if they are under that cap, else ``created_at`` is walked. Either
    way a page reads about that many rows at most (7,000 of a million) when the matching rows
    are spread over time; PostgreSQL chooses with its statistics.
    """
    if not filters.dated:
        return Order()
    if _dialect() != "sqlite":
        return Order(by_time=True)
    present = {
        column: getattr(filters, name)
        for name, column in FILTER_COLUMNS.items()
        if getattr(filters, name) is not None
    }
    if not present:
        return Order(by_time=True, hinted=True)
    newest = db.session.scalar(select(func.max(Delivery.id))) or 0
    cap = max(1000, math.isqrt(limit * newest))
    fewest = None
    for column, value in present.items():
        rows = db.session.scalar(
            select(func.count()).select_from(
                select(Delivery.id).where(getattr(Delivery, column) == value).limit(cap).subquery()
            )
        )
        if rows < cap and (fewest is None or rows < fewest[1]):
            fewest = (column, rows)
    return Order(by_time=True, hinted=True, indexed=fewest[0] if fewest else None)


def conditions(
    filters: Filters, order: Order | None = None, beyond: tuple | None = None, older: bool = True
) -> list:
    """WHERE clauses of the filters: equalities on columns indexed together with ``id``, and a
    range on ``created_at`` (see ``Order.hinted`` for the ``+column`` of SQLite); with
    ``beyond``, only the rows after that place in the order (``older``), or before it.

    In time order that is the row value ``(created_at, id) < (c, i)``, written
    ``created_at <= c AND (created_at < c OR id < i)`` so that the index on ``created_at``
    serves it; it replaces the range's bound on that side, since SQLite reads an index range
    from only one bound per side, and the wrong one would read the range up to the cursor.
    """
    order = order or Order()

    def column(name: str):
        found = getattr(Delivery, name)
        return _plus(found) if order.hinted and name != order.indexed else found

    where = []
    for name, column_name in FILTER_COLUMNS.items():
        value = getattr(filters, name)
        if value is not None:
            where.append(column(column_name) == value)
    start, end = date_range(filters)
    if beyond is not None and not order.by_time:
        where.append(Delivery.id < beyond[0] if older else Delivery.id > beyond[0])
    elif beyond is not None:
        at, delivery_id = as_utc(beyond[0]), beyond[1]
        if older and (end is None or at < end):
            end = None  # implied by created_at <= at
            where.append(Delivery.created_at <= at)
            where.append(or_(Delivery.created_at < at, Delivery.id < delivery_id))
        elif not older and (start is None or at >= start):
            start = None  # implied by created_at >= at
            where.append(Delivery.created_at >= at)
            where.append(or_(Delivery.created_at > at, Delivery.id > delivery_id))
        # Else the whole range lies beyond the place.
    if start is not None:
        where.append(Delivery.created_at >= start)
    if end is not None:
        where.append(Delivery.created_at < end)
    return where


def _dialect() -> str:
    return db.session.get_bind().dialect.name


# How a list loads its rows: the admin's table shows each webhook's name and no body; the API
# shows the body and the event's id.
TABLE_ROWS: tuple[LoaderOption, ...] = (defer(Delivery.body), selectinload(Delivery.webhook))
API_ROWS: tuple[LoaderOption, ...] = (selectinload(Delivery.event),)


def page_statement(where: list, order: Order, descending: bool, limit: int) -> Select:
    """The ids of one page, in the list's order (or its reverse). Ids alone, so that an index
    holding the filtered column and ``id`` answers without reading the table."""
    keys = [column.desc() if descending else column.asc() for column in order.columns]
    return select(Delivery.id).where(*where).order_by(*keys).limit(limit)


def _rows(statement: Select, load: Sequence[LoaderOption] = TABLE_ROWS) -> list[Delivery]:
    """The deliveries whose ids ``statement`` selects, in its order, loaded as ``load`` says."""
    ids = list(db.session.scalars(statement))
    if not ids:
        return []
    found = db.session.scalars(select(Delivery).where(Delivery.id.in_(ids)).options(*load))
    by_id = {delivery.id: delivery for delivery in found}
    return [by_id[delivery_id] for delivery_id in ids if delivery_id in by_id]


def _any_beyond(filters: Filters, order: Order, place: tuple, older: bool) -> bool:
    """Whether a row matching the filters lies beyond ``place``: read like a page of one row."""
    statement = page_statement(conditions(filters, order, place, older), order, older, 1)
    return db.session.scalar(statement) is not None


def cursor_place(order: Order, delivery_id: int, older: bool) -> tuple | None:
    """The place in ``order`` of the cursor's delivery. If it is gone (purged, or deleted with
    its webhook), its neighbour in id order stands in, itself included; None when there is
    none, so nothing lies that way."""
    if not order.by_time:
        return (delivery_id,)
    at = db.session.scalar(select(Delivery.created_at).where(Delivery.id == delivery_id))
    if at is not None:
        return (at, delivery_id)
    neighbour = db.session.execute(
        select(Delivery.created_at, Delivery.id)
        .where(Delivery.id < delivery_id if older else Delivery.id > delivery_id)
        .order_by(Delivery.id.desc() if older else Delivery.id.asc())
        .limit(1)
    ).first()
    if neighbour is None:
        return None
    return (neighbour.created_at, neighbour.id + 1 if older else neighbour.id - 1)


def _older_rows(
    filters: Filters,
    order: Order,
    before: int | None,
    limit: int,
    load: Sequence[LoaderOption] = TABLE_ROWS,
) -> list[Delivery]:
    """Up to ``limit`` + 1 deliveries, newest first, older than the delivery ``before`` (the
    newest of all without it); the extra row tells whether there are more."""
    place = None
    if before is not None:
        place = cursor_place(order, before, older=True)
        if place is None:
            return []
    where = conditions(filters, order, place, older=True)
    return _rows(page_statement(where, order, True, limit + 1), load)


def older_than(
    filters: Filters,
    before: int | None,
    limit: int,
    load: Sequence[LoaderOption] = TABLE_ROWS,
) -> tuple[list[Delivery], bool]:
    """A page going back in time only: ``limit`` deliveries older than ``before`` (the newest
    without it), and whether there are older ones still."""
    rows = _older_rows(filters, list_order(filters, limit + 1), before, limit, load)
    return rows[:limit], len(rows) > limit


@dataclass
class Page:
    items: list[Delivery]
    newer: int | None  # the ``after`` of the link to newer deliveries, if there are any
    older: int | None  # the ``before`` of the link to older deliveries, if there are any
    first: bool  # the newest page


def fetch_page(
    filters: Filters,
    per_page: int,
    before: int | None = None,
    after: int | None = None,
    load: Sequence[LoaderOption] = TABLE_ROWS,
) -> Page:
    """One page, newest first, older than ``before`` or newer than ``after`` (at most one of
    them): per_page + 1 rows are read to know whether there are more. Its rows are loaded as
    ``load`` says (the admin's table by default)."""
    order = list_order(filters, per_page + 1)
    if after is not None:
        place = cursor_place(order, after, older=False)
        rows = []
        if place is not None:
            newer = conditions(filters, order, place, older=False)
            rows = _rows(page_statement(newer, order, False, per_page + 1), load)
        if len(rows) > per_page:
            items = rows[:per_page][::-1]
            more = _any_beyond(filters, order, order.place(items[-1]), older=True)
            return Page(items, newer=items[0].id, older=items[-1].id if more else None, first=False)
        # Fewer than a page is newer: that is the newest page, shown full.
    elif before is not None:
        rows = _older_rows(filters, order, before, per_page, load)
        items = rows[:per_page]
        if not items:  # nothing older: the page offers the way back to the newest
            return Page(items, newer=None, older=None, first=False)
        more = _any_beyond(filters, order, order.place(items[0]), older=False)
        newer = items[0].id if more else None
        return Page(
            items,
            newer=newer,
            older=items[-1].id if len(rows) > per_page else None,
            first=newer is None,
        )
    rows = _older_rows(filters, order, None, per_page, load)
    items = rows[:per_page]
    return Page(items, newer=None, older=items[-1].id if len(rows) > per_page else None, first=True)

"""The delivery log screens: the list, one delivery with its attempts, redelivery, recovery.

The list is paged by keyset on ``Delivery.id`` (``?before=`` older, ``?after=`` newer) and never
counts the table, so it stays fast with millions of rows: every filter is an equality on an
indexed column that is followed by ``id`` in its index, or a range on ``created_at``.
"""

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import defer, selectinload
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from webhooks.deliveries.forms import (
    STATUSES,
    ConfirmForm,
    FilterForm,
    Filters,
    RecoverForm,
    parse_id,
)
from webhooks.extensions import db
from webhooks.models import Attempt, Delivery, Webhook, as_utc
from webhooks.worker.queue import DUE_STATES
from webhooks.worker.wakeup import notify_new_work

bp = Blueprint("deliveries", __name__)

# Webhooks offered in the filter's select; one beyond this is still reachable as ?webhook=ID.
WEBHOOK_CHOICES_MAX = 1000
MAX_PER_PAGE = 500


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


def date_range(filters: Filters) -> tuple[datetime | None, datetime | None]:
    """The filter's UTC days as [start, end): the "to" day is included."""
    start = end = None
    if filters.date_from is not None:
        start = datetime.combine(filters.date_from, time.min, tzinfo=UTC)
    if filters.date_to is not None and filters.date_to < date.max:
        end = datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=UTC)
    return start, end


def filter_args(filters: Filters) -> dict[str, str]:
    """The filters as query arguments, for links that keep them."""
    args = {
        "status": filters.status,
        "event": filters.event,
        "webhook": str(filters.webhook_id) if filters.webhook_id else None,
        "from": filters.date_from.isoformat() if filters.date_from else None,
        "to": filters.date_to.isoformat() if filters.date_to else None,
    }
    return {key: value for key, value in args.items() if value}


# ---------------------------------------------------------------- keyset paging


@dataclass
class Cursor:
    before: int | None = None
    after: int | None = None
    notes: list[str] = field(default_factory=list)


def read_cursor() -> Cursor:
    """``?before=ID`` (older than ID) or ``?after=ID`` (newer than ID); bad values are ignored."""
    cursor = Cursor()
    for name in ("before", "after"):
        raw = request.args.get(name, "")
        if not raw:
            continue
        value = parse_id(raw)
        if value is None:
            shown = raw if len(raw) <= 20 else raw[:19] + "…"
            cursor.notes.append(
                f"Ignored “{name}={shown}”: it is not a delivery id, so the newest deliveries "
                "are shown."
            )
        else:
            setattr(cursor, name, value)
    if cursor.before is not None and cursor.after is not None:
        cursor.notes.append("Ignored “after”: a page is either before or after a delivery.")
        cursor.after = None
    return cursor


def _plus(column):
    """``+column``: the same value, but SQLite does not use an index for it."""
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


@dataclass(frozen=True)
class Plan:
    """How SQLite should read a date range; other databases keep statistics and choose well
    on their own, so for them (and without a date range) the plan is left to the database."""

    walk_ids: bool = False  # ``+created_at``: read in id order and skip rows out of range
    sort_ids: bool = False  # ``+id``: read the range through its index, then sort its ids

    @property
    def created_at(self):
        return _plus(Delivery.created_at) if self.walk_ids else Delivery.created_at

    @property
    def id(self):
        return _plus(Delivery.id) if self.sort_ids else Delivery.id


def choose_plan(filters: Filters, cursor: Cursor) -> Plan:
    """The cheaper way to read a page of a date range, estimated with three index seeks.

    SQLite keeps no statistics on ``created_at``: left alone it sorts a whole two-sided range
    by id (a month of a million rows to show 50), or walks every id above a one-sided range.
    Ids grow with ``created_at`` (give or take a transaction), so the ids at the ends of the
    range tell how many rows it holds, and how many lie above it. Sorting an id costs about
    twice as much as skipping a row. Only the plan depends on this estimate, never the rows.
    """
    if db.session.get_bind().dialect.name != "sqlite":
        return Plan()
    if filters.webhook_id is not None or filters.status is not None or filters.event is not None:
        return Plan()  # an index on (column, id) yields the rows in id order
    start, end = date_range(filters)
    if end is None:
        return Plan()  # no upper bound: the newest ids are in the range
    if start is None:
        lowest = db.session.scalar(select(func.min(Delivery.id)))
    else:
        lowest = db.session.scalar(
            select(Delivery.id)
            .where(Delivery.created_at >= start)
            .order_by(Delivery.created_at.asc())
            .limit(1)
        )
    highest = db.session.scalar(
        select(Delivery.id)
        .where(Delivery.created_at < end)
        .order_by(Delivery.created_at.desc())
        .limit(1)
    )
    if lowest is None or highest is None or highest < lowest:
        return Plan(sort_ids=True)  # an empty range: nothing to sort
    newest = db.session.scalar(select(func.max(Delivery.id))) or 0
    # Rows a walk passes before it reaches the range (or, starting beyond it, the whole way).
    if cursor.after is not None:
        start_at = cursor.after
        walked = newest - start_at if start_at >= highest else lowest - start_at
    else:
        start_at = min(cursor.before or newest + 1, newest + 1)
        walked = start_at if start_at <= lowest else start_at - highest
    if 2 * (highest - lowest) > walked:
        return Plan(walk_ids=True)
    return Plan(sort_ids=True)


def conditions(filters: Filters, plan: Plan | None = None) -> list:
    """WHERE clauses of the filters: equalities on columns indexed together with ``id``, and a
    range on ``created_at``."""
    plan = plan or Plan()
    where = []
    if filters.webhook_id is not None:
        where.append(Delivery.webhook_id == filters.webhook_id)
    if filters.status is not None:
        where.append(Delivery.status == filters.status)
    if filters.event is not None:
        where.append(Delivery.event_type == filters.event)
    start, end = date_range(filters)
    if start is not None:
        where.append(plan.created_at >= start)
    if end is not None:
        where.append(plan.created_at < end)
    return where


@dataclass
class Page:
    items: list[Delivery]
    newer: int | None  # the ``after`` of the link to newer deliveries, if there are any
    older: int | None  # the ``before`` of the link to older deliveries, if there are any
    first: bool  # the newest page


def page_statement(where: list, key, descending: bool, limit: int) -> Select:
    """The ids of one page, in id order. Ids alone, so that an index holding the filtered
    column and ``id`` answers without reading the table."""
    order = key.desc() if descending else key.asc()
    return select(Delivery.id).where(*where).order_by(order).limit(limit)


def _rows(statement: Select) -> list[Delivery]:
    """The deliveries whose ids ``statement`` selects, in its order, without their bodies."""
    ids = list(db.session.scalars(statement))
    if not ids:
        return []
    found = db.session.scalars(
        select(Delivery)
        .where(Delivery.id.in_(ids))
        .options(defer(Delivery.body), selectinload(Delivery.webhook))
    )
    by_id = {delivery.id: delivery for delivery in found}
    return [by_id[delivery_id] for delivery_id in ids if delivery_id in by_id]


def _edge(filters: Filters, newest: bool) -> int | None:
    """The id of the newest (or oldest) delivery that matches the filters: a page has newer
    (older) ones when this lies beyond it. Read like a first page, so just as cheap."""
    plan = choose_plan(filters, Cursor() if newest else Cursor(after=0))
    return db.session.scalar(page_statement(conditions(filters, plan), plan.id, newest, 1))


def fetch_page(filters: Filters, cursor: Cursor, per_page: int) -> Page:
    """One page, newest first: per_page + 1 rows are read to know whether there are more."""
    plan = choose_plan(filters, cursor)
    where = conditions(filters, plan)
    key = plan.id
    if cursor.after is not None:
        rows = _rows(page_statement([*where, key > cursor.after], key, False, per_page + 1))
        if len(rows) > per_page:
            items = rows[:per_page][::-1]
            oldest = _edge(filters, newest=False)
            older = items[-1].id if oldest is not None and oldest < items[-1].id else None
            return Page(items, newer=items[0].id, older=older, first=False)
        # Fewer than a page is newer: that is the newest page, shown full.
    elif cursor.before is not None:
        rows = _rows(page_statement([*where, key < cursor.before], key, True, per_page + 1))
        items = rows[:per_page]
        older = items[-1].id if len(rows) > per_page else None
        if not items:  # nothing older: the page offers the way back to the newest
            return Page(items, newer=None, older=None, first=False)
        newest = _edge(filters, newest=True)
        newer = items[0].id if newest is not None and newest > items[0].id else None
        return Page(items, newer=newer, older=older, first=newer is None)
    rows = _rows(page_statement(where, key, True, per_page + 1))
    items = rows[:per_page]
    return Page(items, newer=None, older=items[-1].id if len(rows) > per_page else None, first=True)


def per_page() -> int:
    return min(max(int(current_app.config["DELIVERIES_PER_PAGE"]), 1), MAX_PER_PAGE)


# ---------------------------------------------------------------- re-queueing


def requeue_values(now: datetime) -> dict:
    """What re-queues a delivery: due now, from the start of the retry schedule, unclaimed.
    ``msg_id`` and the body stay, so the receiver can tell it is the same message."""
    return {"status": "pending", "next_attempt_at": now, "round_failures": 0, "lease_token": None}


def default_since(webhook: Webhook, now: datetime) -> datetime:
    """Where "Retry all failed since" starts: when the webhook began failing, else a day ago."""
    if webhook.failing_since:
        start = as_utc(webhook.failing_since)
    elif webhook.disabled_at:
        start = as_utc(webhook.disabled_at) - timedelta(
            days=float(current_app.config["DISABLE_AFTER_DAYS"])
        )
    else:
        start = now - timedelta(days=1)
    return start.replace(second=0, microsecond=0)


# ---------------------------------------------------------------- views


@bp.get("/")
def index():
    form = FilterForm(request.args)
    filters, notes = form.read()
    webhook = None
    if filters.webhook_id is not None:
        webhook = db.session.get(Webhook, filters.webhook_id)
        if webhook is None:
            notes.append(
                f"Ignored the webhook #{filters.webhook_id}: there is no webhook with that id; "
                "it may have been deleted."
            )
            filters = replace(filters, webhook_id=None)
            form.drop_webhook()
    choices = db.session.execute(
        select(Webhook.id, Webhook.name)
        .order_by(func.lower(Webhook.name), Webhook.id)
        .limit(WEBHOOK_CHOICES_MAX)
    ).all()
    if webhook is not None and all(webhook_id != webhook.id for webhook_id, _ in choices):
        choices.append((webhook.id, webhook.name))
    form.set_webhook_choices(choices)

    cursor = read_cursor()
    notes.extend(cursor.notes)
    page = fetch_page(filters, cursor, per_page())

    recover_form = None
    if webhook is not None:
        recover_form = RecoverForm(
            formdata=None,
            webhook_id=webhook.id,
            since=default_since(webhook, datetime.now(UTC)),
        )
    return render_template(
        "deliveries/list.html",
        form=form,
        filters=filters,
        args=filter_args(filters),
        filtered=bool(filter_args(filters)),
        notes=notes,
        page=page,
        webhook=webhook,
        recover_form=recover_form,
        statuses=STATUSES,
        due_states=DUE_STATES,
    )


def pretty_json(text: str | None) -> str | None:
    """JSON indented for reading, or the text as it is when it is not JSON."""
    if text is None:
        return None
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return text


def header_pairs(text: str | None) -> list[tuple[str, str]] | None:
    """Stored headers (a JSON object) as (name, value) pairs; None when they are not that."""
    if not text:
        return None
    try:
        headers = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(headers, dict):
        return None
    return [(str(name), str(value)) for name, value in headers.items()]


@bp.get("/<id:delivery_id>")
def detail(delivery_id: int):
    delivery = get_delivery_or_404(delivery_id)
    attempts = db.session.scalars(
        select(Attempt).where(Attempt.delivery_id == delivery.id).order_by(Attempt.id.desc())
    ).all()
    return render_template(
        "deliveries/detail.html",
        delivery=delivery,
        attempts=attempts,
        body=pretty_json(delivery.body),
        pretty_json=pretty_json,
        header_pairs=header_pairs,
        action_form=ConfirmForm(),
        statuses=STATUSES,
        due_states=DUE_STATES,
    )


@bp.post("/<id:delivery_id>/redeliver")
def redeliver(delivery_id: int):
    delivery = get_delivery_or_404(delivery_id)
    back = url_for("deliveries.detail", delivery_id=delivery.id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if delivery.is_test:
        flash(
            "Test sends are not redelivered. To send another, use Send Test Event on the "
            f"page of the webhook “{delivery.webhook.name}”.",
            "error",
        )
        return redirect(back)
    if not delivery.webhook.active:
        flash(
            f"The webhook “{delivery.webhook.name}” is inactive, so nothing would be sent. "
            "Activate it on its page first, then redeliver.",
            "error",
        )
        return redirect(back)
    for name, value in requeue_values(datetime.now(UTC)).items():
        setattr(delivery, name, value)
    db.session.commit()
    notify_new_work([delivery.id])
    flash(
        f"Redelivery queued: message {delivery.msg_id} will be sent again to "
        f"{delivery.webhook.url} with the same webhook-id, so the receiver can recognise it.",
        "success",
    )
    return redirect(back)


@bp.post("/recover")
def recover():
    form = RecoverForm()
    webhook_id = parse_id(request.form.get("webhook_id"))
    back = url_for("deliveries.index", webhook=webhook_id) if webhook_id else None
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(back or url_for("deliveries.index"))
    webhook = db.session.get(Webhook, form.webhook_id.data)
    if webhook is None:
        flash("There is no webhook with that id; it may have been deleted.", "error")
        return redirect(url_for("deliveries.index"))
    if not webhook.active:
        flash(
            f"The webhook “{webhook.name}” is inactive, so nothing would be sent. "
            "Activate it on its page first, then retry the failed deliveries.",
            "error",
        )
        return redirect(back)
    since = form.since.data.astimezone(UTC)
    count = db.session.execute(
        update(Delivery)
        .where(
            Delivery.webhook_id == webhook.id,
            Delivery.status == "failed",
            Delivery.is_test.is_(False),
            Delivery.created_at >= since,
        )
        .values(**requeue_values(datetime.now(UTC)))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    when = since.strftime("%Y-%m-%d %H:%M UTC")
    if count:
        notify_new_work()
        flash(
            f"{count} failed deliver{'y' if count == 1 else 'ies'} of “{webhook.name}” since "
            f"{when} queued for redelivery.",
            "success",
        )
    else:
        flash(f"No failed deliveries of “{webhook.name}” since {when}; nothing was queued.", "info")
    return redirect(back)

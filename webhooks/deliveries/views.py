"""The delivery log screens: the list, one delivery with its attempts, redelivery, recovery.

The list is paged by keyset (``?before=ID`` older, ``?after=ID`` newer) and never counts the
table, so it stays fast with millions of rows. Without a date range it is in id order: every
filter is an equality on a column indexed together with ``id``, so the index yields a page in
order. With a date range it is in time order, ``(created_at, id)``, which the index on
``created_at`` yields for any range, however old or wide, newest first; a cursor then stands for
its delivery's place in that order.
"""

import json
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import defer, selectinload
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from webhooks.deliveries.forms import (
    STATUSES,
    WEBHOOK_TEXT_MAX,
    ConfirmForm,
    FilterForm,
    Filters,
    RecoverForm,
    parse_id,
    webhook_label,
)
from webhooks.extensions import db
from webhooks.models import Attempt, Delivery, Webhook, as_utc
from webhooks.worker.queue import DUE_STATES
from webhooks.worker.wakeup import notify_new_work

bp = Blueprint("deliveries", __name__)

# Webhooks suggested for the webhook filter, or offered when a typed name matches several.
WEBHOOK_MATCHES_MAX = 20
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


def _name_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def webhook_matches(text: str, limit: int) -> list[tuple[int, str]]:
    """(id, name) of webhooks whose name contains ``text`` (any letter case), by name."""
    return db.session.execute(
        select(Webhook.id, Webhook.name)
        .where(Webhook.name.ilike(_name_pattern(text), escape="\\"))
        .order_by(func.lower(Webhook.name), Webhook.id)
        .limit(limit)
    ).all()


@dataclass
class WebhookChoice:
    """What the webhook field asked for: the webhook, or the webhooks a name could mean."""

    webhook: Webhook | None = None
    matches: list[tuple[int, str]] = field(default_factory=list)
    more: bool = False  # more webhooks match than ``matches`` holds


def resolve_webhook(filters: Filters, notes: list[str]) -> tuple[Filters, WebhookChoice]:
    """The webhook of the filter, by id or by a name typed in the field. A name that matches
    one webhook (exactly, or as the only one containing it) selects it; one that matches
    several offers them; either way the list shows ``webhook=ID`` from then on."""
    choice = WebhookChoice()
    if filters.webhook_id is not None:
        choice.webhook = db.session.get(Webhook, filters.webhook_id)
        if choice.webhook is None:
            notes.append(
                f"Ignored the webhook #{filters.webhook_id}: there is no webhook with that id; "
                "it may have been deleted."
            )
            filters = replace(filters, webhook_id=None)
        return filters, choice
    name = filters.webhook_name
    if name is None:
        return filters, choice
    filters = replace(filters, webhook_name=None)
    exact = db.session.scalars(
        select(Webhook).where(func.lower(Webhook.name) == name.lower()).limit(2)
    ).all()
    if len(exact) == 1:
        choice.webhook = exact[0]
        return replace(filters, webhook_id=exact[0].id), choice
    found = webhook_matches(name, WEBHOOK_MATCHES_MAX + 1)
    if len(found) == 1:
        choice.webhook = db.session.get(Webhook, found[0][0])
        return replace(filters, webhook_id=found[0][0]), choice
    shown = name if len(name) <= 40 else name[:39] + "…"
    if not found:
        notes.append(f"Ignored the webhook “{shown}”: no webhook's name contains it.")
        return filters, choice
    choice.matches, choice.more = found[:WEBHOOK_MATCHES_MAX], len(found) > WEBHOOK_MATCHES_MAX
    notes.append(
        f"Ignored the webhook “{shown}”: {'more than ' if choice.more else ''}"
        f"{len(choice.matches)} webhooks' names contain it. Choose one below."
    )
    return filters, choice


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


@dataclass
class Page:
    items: list[Delivery]
    newer: int | None  # the ``after`` of the link to newer deliveries, if there are any
    older: int | None  # the ``before`` of the link to older deliveries, if there are any
    first: bool  # the newest page


def page_statement(where: list, order: Order, descending: bool, limit: int) -> Select:
    """The ids of one page, in the list's order (or its reverse). Ids alone, so that an index
    holding the filtered column and ``id`` answers without reading the table."""
    keys = [column.desc() if descending else column.asc() for column in order.columns]
    return select(Delivery.id).where(*where).order_by(*keys).limit(limit)


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


def fetch_page(filters: Filters, cursor: Cursor, per_page: int) -> Page:
    """One page, newest first: per_page + 1 rows are read to know whether there are more."""
    order = list_order(filters, per_page + 1)
    if cursor.after is not None:
        place = cursor_place(order, cursor.after, older=False)
        rows = []
        if place is not None:
            newer = conditions(filters, order, place, older=False)
            rows = _rows(page_statement(newer, order, False, per_page + 1))
        if len(rows) > per_page:
            items = rows[:per_page][::-1]
            more = _any_beyond(filters, order, order.place(items[-1]), older=True)
            return Page(items, newer=items[0].id, older=items[-1].id if more else None, first=False)
        # Fewer than a page is newer: that is the newest page, shown full.
    elif cursor.before is not None:
        place = cursor_place(order, cursor.before, older=True)
        rows = []
        if place is not None:
            older = conditions(filters, order, place, older=True)
            rows = _rows(page_statement(older, order, True, per_page + 1))
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
    rows = _rows(page_statement(conditions(filters, order), order, True, per_page + 1))
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
    filters, choice = resolve_webhook(filters, notes)
    webhook = choice.webhook
    if webhook is not None:
        form.show_webhook(webhook.id, webhook.name)
    elif not choice.matches:
        form.drop_webhook()

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
    args = filter_args(filters)
    return render_template(
        "deliveries/list.html",
        form=form,
        filters=filters,
        args=args,
        filtered=bool(args),
        notes=notes,
        page=page,
        webhook=webhook,
        choice=choice,
        webhook_label=webhook_label,
        recover_form=recover_form,
        statuses=STATUSES,
        due_states=DUE_STATES,
    )


@bp.get("/webhook-options")
def webhook_options():
    """Suggestions for the webhook filter as the admin types: at most WEBHOOK_MATCHES_MAX
    webhooks whose name contains the text, or the one with that id."""
    text = " ".join(request.args.get("q", "").split())[:WEBHOOK_TEXT_MAX]
    found: list[tuple[int, str]] = []
    webhook_id = parse_id(text.removeprefix("#"))
    if webhook_id is not None:
        webhook = db.session.get(Webhook, webhook_id)
        if webhook is not None:
            found.append((webhook.id, webhook.name))
    if text:
        found += [
            match for match in webhook_matches(text, WEBHOOK_MATCHES_MAX) if match[0] != webhook_id
        ]
    return jsonify(
        {
            "webhooks": [
                {"id": found_id, "name": name, "label": webhook_label(found_id, name)}
                for found_id, name in found[:WEBHOOK_MATCHES_MAX]
            ]
        }
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

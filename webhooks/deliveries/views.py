"""The delivery log screens: the list, one delivery with its attempts, redelivery, retry now,
recovery.

The list is paged by keyset (``?before=ID`` older, ``?after=ID`` newer) and never counts the
table; how it is read, and how deliveries are queued again, is in ``queries.py``, which the API
uses too.
"""

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

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
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from webhooks.deliveries.forms import (
    STATUSES,
    WEBHOOK_TEXT_MAX,
    ConfirmForm,
    FilterForm,
    RecoverForm,
    parse_id,
    webhook_label,
)
from webhooks.deliveries.queries import (  # Order … page_statement: also read by tests, bench
    Filters,
    Order,
    attempts_newest_first,
    conditions,
    fetch_page,
    get_delivery_or_404,
    list_order,
    page_statement,
)
from webhooks.extensions import db
from webhooks.lifecycle import (
    Recovery,
    redelivery_refusal,
    requeue,
    requeue_failed_since,
    retry_now_refusal,
)
from webhooks.lifecycle import retry_now as retry_delivery_now
from webhooks.models import Delivery, DeliveryStatus, Webhook, as_utc
from webhooks.routing import MAX_BIG_ID
from webhooks.urls import safe_next

__all__ = ["Order", "bp", "conditions", "list_order", "page_statement", "per_page"]

bp = Blueprint("deliveries", __name__)

# Webhooks suggested for the webhook filter, or offered when a typed name matches several.
WEBHOOK_MATCHES_MAX = 20
MAX_PER_PAGE = 500


# ---------------------------------------------------------------- lookups


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
                _(
                    "Ignored the webhook #%(id)s: there is no webhook with that id; "
                    "it may have been deleted.",
                    id=filters.webhook_id,
                )
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
        notes.append(
            _("Ignored the webhook “%(text)s”: no webhook's name contains it.", text=shown)
        )
        return filters, choice
    choice.matches, choice.more = found[:WEBHOOK_MATCHES_MAX], len(found) > WEBHOOK_MATCHES_MAX
    if choice.more:
        note = ngettext(
            "Ignored the webhook “%(text)s”: more than %(num)d webhook's name contains it. "
            "Choose one below.",
            "Ignored the webhook “%(text)s”: more than %(num)d webhooks' names contain it. "
            "Choose one below.",
            len(choice.matches),
            text=shown,
        )
    else:
        note = ngettext(
            "Ignored the webhook “%(text)s”: %(num)d webhook's name contains it. Choose one below.",
            "Ignored the webhook “%(text)s”: %(num)d webhooks' names contain it. Choose one below.",
            len(choice.matches),
            text=shown,
        )
    notes.append(note)
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
        value = parse_id(raw, MAX_BIG_ID)
        if value is None:
            shown = raw if len(raw) <= 20 else raw[:19] + "…"
            argument = f"{name}={shown}"
            cursor.notes.append(
                _(
                    "Ignored “%(argument)s”: it is not a delivery id, so the newest deliveries "
                    "are shown.",
                    argument=argument,
                )
            )
        else:
            setattr(cursor, name, value)
    if cursor.before is not None and cursor.after is not None:
        cursor.notes.append(_("Ignored “after”: a page is either before or after a delivery."))
        cursor.after = None
    return cursor


def per_page() -> int:
    return min(max(int(current_app.config["DELIVERIES_PER_PAGE"]), 1), MAX_PER_PAGE)


# ---------------------------------------------------------------- re-queueing


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
    page = fetch_page(filters, per_page(), before=cursor.before, after=cursor.after)

    recover_form = None
    if webhook is not None:
        recover_form = RecoverForm(
            formdata=None,
            webhook_id=webhook.id,
            since=default_since(webhook, datetime.now(UTC)),
        )
    args = filter_args(filters)
    now = datetime.now(UTC)
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
        due_states=DeliveryStatus.due(),
        retryable={d.id for d in page.items if retry_now_refusal(d, now) is None},
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


@bp.get("/<bigid:delivery_id>")
def detail(delivery_id: int):
    delivery = get_delivery_or_404(delivery_id)
    attempts = attempts_newest_first(delivery)
    return render_template(
        "deliveries/detail.html",
        delivery=delivery,
        attempts=attempts,
        header_pairs=header_pairs,
        action_form=ConfirmForm(),
        statuses=STATUSES,
        due_states=DeliveryStatus.due(),
        retry_refusal=retry_now_refusal(delivery, datetime.now(UTC)),
    )


@bp.post("/<bigid:delivery_id>/redeliver")
def redeliver(delivery_id: int):
    delivery = get_delivery_or_404(delivery_id)
    back = url_for("deliveries.detail", delivery_id=delivery.id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    refusal = redelivery_refusal(delivery)
    if refusal == "test":
        flash(
            _(
                "Test sends are not redelivered. To send another, use Send Test Event on the "
                "page of the webhook “%(name)s”.",
                name=delivery.webhook.name,
            ),
            "error",
        )
        return redirect(back)
    if refusal == "inactive":
        flash(
            _(
                "The webhook “%(name)s” is inactive, so nothing would be sent. "
                "Activate it on its page first, then redeliver.",
                name=delivery.webhook.name,
            ),
            "error",
        )
        return redirect(back)
    requeue(delivery, datetime.now(UTC))
    db.session.commit()
    flash(
        _(
            "Redelivery queued: message %(msg_id)s will be sent again to %(url)s with the same "
            "webhook-id, so the receiver can recognise it.",
            msg_id=delivery.msg_id,
            url=delivery.webhook.url,
        ),
        "success",
    )
    return redirect(back)


def retry_now_refused(delivery: Delivery, refusal: str) -> str:
    """What the admin is told when Retry now is refused."""
    name = delivery.webhook.name
    if refusal == "test":
        return _(
            "Test sends are not retried. To send another, use Send Test Event on the page of "
            "the webhook “%(name)s”.",
            name=name,
        )
    if refusal == "inactive":
        return _(
            "The webhook “%(name)s” is inactive, so nothing would be sent. "
            "Activate it on its page first, then retry.",
            name=name,
        )
    if refusal == "in_flight":
        return _(
            "Message %(msg_id)s is being sent right now; reload the page in a moment to see "
            "the result.",
            msg_id=delivery.msg_id,
        )
    if refusal == DeliveryStatus.SUCCEEDED:
        return _(
            "Message %(msg_id)s was delivered already, so there is nothing to retry. To send "
            "it again anyway, use Redeliver.",
            msg_id=delivery.msg_id,
        )
    if refusal == DeliveryStatus.FAILED:
        return _(
            "Message %(msg_id)s is not waiting for a retry: its retries were given up. Use "
            "Redeliver to queue it again.",
            msg_id=delivery.msg_id,
        )
    return _(
        "Message %(msg_id)s has not failed: it is queued and is sent as soon as a worker is free.",
        msg_id=delivery.msg_id,
    )


@bp.post("/<bigid:delivery_id>/retry-now")
def retry_now(delivery_id: int):
    """Retry now a failing delivery, waiting for its next retry; from its page, or from a row
    of the list (``next`` leads back there)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        flash(
            _(
                "There is no delivery with that id; it may have been deleted with its webhook, "
                "or purged after the retention period."
            ),
            "error",
        )
        return redirect(safe_next(request.form.get("next")) or url_for("deliveries.index"))
    back = safe_next(request.form.get("next")) or url_for(
        "deliveries.detail", delivery_id=delivery.id
    )
    refusal = retry_delivery_now(delivery, datetime.now(UTC))
    if refusal:
        flash(retry_now_refused(delivery, refusal), "error")
        return redirect(back)
    db.session.commit()
    flash(
        _(
            "Retrying now: message %(msg_id)s is sent to %(url)s at once, with the same "
            "webhook-id. Reload the page to see the result.",
            msg_id=delivery.msg_id,
            url=delivery.webhook.url,
        ),
        "success",
    )
    return redirect(back)


def recovery_message(recovery: Recovery, name: str, when: str) -> tuple[str, str]:
    """The flash after "Retry all failed since": what was queued, what is retried now, what
    is being sent already; (message, category)."""
    parts = []
    if recovery.queued:
        parts.append(
            ngettext(
                "%(num)d failed delivery of “%(name)s” since %(when)s queued for redelivery.",
                "%(num)d failed deliveries of “%(name)s” since %(when)s queued for redelivery.",
                recovery.queued,
                name=name,
                when=when,
            )
        )
    if recovery.due_now:
        parts.append(
            ngettext(
                "%(num)d delivery of “%(name)s” that was waiting for its next retry is retried "
                "now.",
                "%(num)d deliveries of “%(name)s” that were waiting for their next retry are "
                "retried now.",
                recovery.due_now,
                name=name,
            )
        )
    if recovery.in_flight:
        parts.append(
            ngettext(
                "%(num)d failing delivery of “%(name)s” is being sent right now.",
                "%(num)d failing deliveries of “%(name)s” are being sent right now.",
                recovery.in_flight,
                name=name,
            )
        )
    if parts:
        return " ".join(parts), "success" if recovery.made_due else "info"
    message = _(
        "No failed or failing deliveries of “%(name)s” since %(when)s; nothing was queued.",
        name=name,
        when=when,
    )
    return message, "info"


@bp.post("/recover")
def recover():
    form = RecoverForm()
    webhook_id = parse_id(request.form.get("webhook_id"))
    back = url_for("deliveries.index", webhook=webhook_id) if webhook_id else None
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(back or url_for("deliveries.index"))
    webhook = db.session.get(Webhook, form.webhook_id.data)
    if webhook is None:
        flash(_("There is no webhook with that id; it may have been deleted."), "error")
        return redirect(url_for("deliveries.index"))
    if not webhook.active:
        flash(
            _(
                "The webhook “%(name)s” is inactive, so nothing would be sent. "
                "Activate it on its page first, then retry the failed deliveries.",
                name=webhook.name,
            ),
            "error",
        )
        return redirect(back)
    since = form.since.data.astimezone(UTC)
    recovery = requeue_failed_since(webhook, since, datetime.now(UTC))
    db.session.commit()
    flash(*recovery_message(recovery, webhook.name, since.strftime("%Y-%m-%d %H:%M UTC")))
    return redirect(back)

"""The webhook screens: list, add, edit, delete, bulk actions, Send Test Event, re-enabling a
disabled webhook (with the offer to retry what failed while it was off) and rotating its
signing secret."""

import json
from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import selectinload

from webhooks import custom_headers, lifecycle
from webhooks.admin.forms import BulkForm, ConfirmForm, WebhookForm
from webhooks.admin.save_warnings import warnings_for
from webhooks.catalogue import all_events, get_event, sample_envelopes
from webhooks.deliveries.forms import STATUSES, RecoverForm, parse_id
from webhooks.delivery.messages import result_text
from webhooks.extensions import db
from webhooks.i18n import _l
from webhooks.models import ALL_EVENTS, SECRET_OVERLAP, Delivery, Webhook, as_utc
from webhooks.numbers import plain_digits
from webhooks.routing import MAX_BIG_ID, page_number
from webhooks.subscriptions import receiving, webhook_counts
from webhooks.templating import format_time
from webhooks.test_panel.forms import TestPanelForm, panel_samples
from webhooks.test_panel.results import Outcome, outcome
from webhooks.urls import safe_next

bp = Blueprint("webhooks", __name__)

SORTS = {
    "name": func.lower(Webhook.name),
    "url": func.lower(Webhook.url),
    "sent": Webhook.sent_count,
    "active": Webhook.active,
    "last": Webhook.last_delivery_at,
    "created": Webhook.created_at,
}
MAX_BULK = 1000
# The ?state= filter of the list; the three states do not overlap.
STATES = {"active": _l("Active"), "inactive": _l("Inactive"), "disabled": _l("Disabled")}
STATE_FILTERS = {
    "active": (Webhook.active.is_(True), Webhook.disabled_at.is_(None)),
    "inactive": (Webhook.active.is_(False), Webhook.disabled_at.is_(None)),
    "disabled": (Webhook.disabled_at.is_not(None),),
}


def get_webhook_or_404(webhook_id: int) -> Webhook:
    webhook = db.session.get(Webhook, webhook_id)
    if webhook is None:
        abort(404, description="There is no webhook with that id; it may have been deleted.")
    return webhook


def payload_samples() -> dict[str, dict[str, str]]:
    """Each event's sample payload in each format, pretty-printed: {format: {slug: json}}."""
    return {
        "standard": sample_envelopes(),
        "flat": {event.slug: json.dumps(event.sample_data(), indent=2) for event in all_events()},
    }


def overlap_hours() -> int:
    return int(SECRET_OVERLAP.total_seconds() // 3600)


# The edit page's ?retry_since= (a UTC moment to the second, as "2026-12-05T11:30:07"): after a
# re-enable, the page offers to retry what failed since then.
RETRY_SINCE_MAX = 32


def retry_since_second(moment: datetime) -> datetime:
    """The second ``moment`` falls in: the "since" of the offer, as its form sends it."""
    return as_utc(moment).replace(microsecond=0)


def retry_offer(webhook: Webhook) -> tuple[RecoverForm, int] | None:
    """The offer to retry what failed since ``?retry_since=`` (set by re-enabling): a
    "Retry all failed since" form for that moment and how many it would send; None when
    there is nothing to offer (no or a bad moment, the webhook off, nothing failed)."""
    raw = request.args.get("retry_since", "")
    if not raw or len(raw) > RETRY_SINCE_MAX or not webhook.active:
        return None
    try:
        since = datetime.fromisoformat(raw)
    except ValueError:
        return None
    since = retry_since_second(since)
    now = datetime.now(UTC)
    if since > now + timedelta(minutes=1):
        return None
    count = lifecycle.recoverable_since(webhook, since, now)
    if not count:
        return None
    return RecoverForm(formdata=None, webhook_id=webhook.id, since=since), count


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@bp.get("/")
def index():
    query = request.args.get("q", "").strip()[:200]
    sort = request.args.get("sort", "created")
    if sort not in SORTS:
        sort = "created"
    default_direction = "desc" if sort in ("created", "last", "sent") else "asc"
    direction = request.args.get("dir", default_direction)
    if direction not in ("asc", "desc"):
        direction = default_direction
    state = request.args.get("state", "")
    if state not in STATES:
        state = ""
    event = request.args.get("event", "")
    if get_event(event) is None:
        event = ""
    column = SORTS[sort]
    statement = select(Webhook).options(selectinload(Webhook.event_rows))
    if state:
        statement = statement.where(*STATE_FILTERS[state])
    if event:
        statement = statement.where(receiving(event))
    if query:
        pattern = _like(query)
        statement = statement.where(
            or_(Webhook.name.ilike(pattern, escape="\\"), Webhook.url.ilike(pattern, escape="\\"))
        )
    order = column.asc() if direction == "asc" else column.desc()
    tiebreak = Webhook.id.asc() if direction == "asc" else Webhook.id.desc()
    page = db.paginate(
        statement.order_by(order, tiebreak),
        page=page_number(),
        per_page=current_app.config["WEBHOOKS_PER_PAGE"],
        max_per_page=100,
        error_out=False,
    )
    return render_template(
        "webhooks/list.html",
        page=page,
        query=query,
        state=state,
        states=STATES,
        event=event,
        sort=sort,
        direction=direction,
        bulk_form=BulkForm(),
        action_form=ConfirmForm(),
        events=all_events(),
        samples=sample_envelopes(),
        webhook_counts=webhook_counts(),
    )


def prefilled_event() -> dict[str, str]:
    """``?event=`` of /webhooks/new (a link from the event catalogue): the event the form
    starts with, when it is one the form offers."""
    slug = request.args.get("event", "")
    return {"event": slug} if slug == ALL_EVENTS or get_event(slug) is not None else {}


@bp.route("/new", methods=["GET", "POST"])
def create():
    form = WebhookForm(**prefilled_event())
    if form.validate_on_submit():
        webhook = form.new_webhook()
        db.session.add(webhook)
        db.session.commit()
        flash(
            _(
                "Webhook “%(name)s” added. Send a test event to check the receiver.",
                name=webhook.name,
            ),
            "success",
        )
        for warning in warnings_for(webhook):
            flash(warning, "warning")
        return redirect(url_for("webhooks.edit", webhook_id=webhook.id))
    return render_template("webhooks/form.html", form=form, samples=payload_samples())


@bp.route("/<id:webhook_id>/edit", methods=["GET", "POST"])
def edit(webhook_id: int):
    webhook = get_webhook_or_404(webhook_id)
    form = WebhookForm(
        obj=webhook,
        more_events=[] if webhook.all_events else webhook.events[1:],
        stored_headers=custom_headers.load(webhook.custom_headers),
    )
    form.submit.label.text = _("Save Changes")
    if form.validate_on_submit():
        url_before = webhook.url
        form.populate_obj(webhook)
        lifecycle.settings_saved(webhook, url_before)
        db.session.commit()
        flash(_("Webhook “%(name)s” saved.", name=webhook.name), "success")
        for warning in warnings_for(webhook):
            flash(warning, "warning")
        return redirect(url_for("webhooks.edit", webhook_id=webhook.id))
    return render_edit(webhook, form)


def shown_test_send(webhook: Webhook) -> Outcome | None:
    """The test send ``?test_send=<id>`` names (where the test panel's form leads without the
    page's script), if it is one of this webhook's."""
    delivery_id = parse_id(request.args.get("test_send"), MAX_BIG_ID)
    if delivery_id is None:
        return None
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None or delivery.webhook_id != webhook.id or not delivery.is_test:
        return None
    return outcome(delivery)


def render_edit(
    webhook: Webhook, form: WebhookForm | None = None, panel: TestPanelForm | None = None
) -> str:
    """The webhook's page: its settings form (``form`` with the errors of a failed save), the
    test panel (``panel`` with the errors of a refused test send), its secret and deliveries."""
    if form is None:
        form = WebhookForm(
            formdata=None, obj=webhook, stored_headers=custom_headers.load(webhook.custom_headers)
        )
        form.submit.label.text = _("Save Changes")
        if form.is_submitted():  # the panel's form was posted: the settings still offer spares
            for _row in range(WebhookForm.SPARE_HEADER_ROWS):
                form.headers.append_entry()
    deliveries = db.session.scalars(
        select(Delivery)
        .where(Delivery.webhook_id == webhook.id)
        .options(selectinload(Delivery.attempts))
        .order_by(Delivery.id.desc())
        .limit(current_app.config["RECENT_DELIVERIES"])
    ).all()
    return render_template(
        "webhooks/edit.html",
        form=form,
        webhook=webhook,
        deliveries=deliveries,
        action_form=ConfirmForm(),
        samples=payload_samples(),
        previous_secret_valid=len(webhook.signing_secrets(datetime.now(UTC))) > 1,
        statuses=STATUSES,
        retry_offer=retry_offer(webhook),
        panel=panel or TestPanelForm.prefilled(webhook),
        panel_samples=panel_samples(webhook),
        test_send=shown_test_send(webhook),
        test_event=lifecycle.test_event_type(webhook),
    )


@bp.post("/<id:webhook_id>/test")
def test(webhook_id: int):
    webhook = get_webhook_or_404(webhook_id)
    back = safe_next(request.form.get("next")) or url_for("webhooks.edit", webhook_id=webhook.id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    result = lifecycle.send_test_event(webhook)
    summary = result_text(result.message.stored(), result.summary)
    if result.ok:
        message = _(
            "Test event delivered to %(url)s: %(summary)s.", url=webhook.url, summary=summary
        )
    else:
        message = _("Test event failed: %(summary)s.", summary=summary)
    if result.body_preview:
        message += " " + _("Response: %(body)s", body=result.body_preview)
    flash(message, "success" if result.ok else "error")
    return redirect(back)


@bp.post("/<id:webhook_id>/enable")
def enable(webhook_id: int):
    """Re-enable a webhook the system disabled (or one that was switched off). When deliveries
    failed while it was disabled (disabling fails those still queued), its page follows, with
    the offer to retry them."""
    webhook = get_webhook_or_404(webhook_id)
    back = safe_next(request.form.get("next")) or url_for("webhooks.edit", webhook_id=webhook.id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    disabled_at = webhook.disabled_at
    now = datetime.now(UTC)
    lifecycle.enable(webhook, now)
    db.session.commit()
    flash(
        _(
            "Webhook “%(name)s” re-enabled: new events are delivered to it again.",
            name=webhook.name,
        ),
        "success",
    )
    if disabled_at is not None:
        since = retry_since_second(disabled_at)
        if lifecycle.recoverable_since(webhook, since, now):
            return redirect(
                url_for(
                    "webhooks.edit",
                    webhook_id=webhook.id,
                    retry_since=since.replace(tzinfo=None).isoformat(timespec="seconds"),
                )
            )
    return redirect(back)


@bp.route("/<id:webhook_id>/rotate", methods=["GET", "POST"])
def rotate(webhook_id: int):
    """Replace the signing secret; the old one keeps signing too during the overlap."""
    webhook = get_webhook_or_404(webhook_id)
    form = ConfirmForm()
    now = datetime.now(UTC)
    if form.validate_on_submit():
        webhook.rotate_secret(now)
        db.session.commit()
        flash(
            ngettext(
                "The signing secret of “%(name)s” was rotated. For %(num)d hour, until "
                "%(until)s, both the old and the new secret sign every request: "
                "webhook-signature carries two space-separated signatures. Switch the receiver "
                "to the new secret before then.",
                "The signing secret of “%(name)s” was rotated. For %(num)d hours, until "
                "%(until)s, both the old and the new secret sign every request: "
                "webhook-signature carries two space-separated signatures. Switch the receiver "
                "to the new secret before then.",
                overlap_hours(),
                name=webhook.name,
                until=format_time(webhook.previous_secret_expires_at),
            ),
            "success",
        )
        return redirect(url_for("webhooks.edit", webhook_id=webhook.id))
    expires = webhook.previous_secret_expires_at
    return render_template(
        "webhooks/confirm_rotate.html",
        form=form,
        webhook=webhook,
        hours=overlap_hours(),
        previous_valid_until=as_utc(expires) if len(webhook.signing_secrets(now)) > 1 else None,
    )


@bp.route("/<id:webhook_id>/delete", methods=["GET", "POST"])
def delete_one(webhook_id: int):
    webhook = get_webhook_or_404(webhook_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        db.session.delete(webhook)
        db.session.commit()
        flash(_("Webhook “%(name)s” deleted.", name=webhook.name), "success")
        return redirect(url_for("webhooks.index"))
    return render_template("webhooks/confirm_delete.html", form=form, webhooks=[webhook])


def _selected_ids() -> list[int]:
    ids = []
    for raw in request.form.getlist("ids")[:MAX_BULK]:
        if plain_digits(raw) and len(raw) < 12:
            ids.append(int(raw))
    return ids


@bp.post("/bulk")
def bulk():
    form = BulkForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for("webhooks.index"))
    ids = _selected_ids()
    if not ids:
        flash(_("Select at least one webhook first."), "error")
        return redirect(url_for("webhooks.index"))
    action = form.action.data
    if action == "delete" and form.confirmed.data != "yes":
        webhooks = db.session.scalars(select(Webhook).where(Webhook.id.in_(ids))).all()
        return render_template(
            "webhooks/confirm_delete.html", form=form, webhooks=webhooks, bulk=True
        )
    if action == "delete":
        count = db.session.execute(delete(Webhook).where(Webhook.id.in_(ids))).rowcount
        done = ngettext("%(num)d webhook deleted.", "%(num)d webhooks deleted.", count)
    elif action == "activate":
        webhooks = db.session.scalars(select(Webhook).where(Webhook.id.in_(ids))).all()
        for webhook in webhooks:
            # Already-active webhooks keep their failure clock; the others are enabled afresh.
            if not webhook.active or webhook.disabled_at is not None:
                lifecycle.enable(webhook)
        count = len(webhooks)
        done = ngettext("%(num)d webhook activated.", "%(num)d webhooks activated.", count)
    else:
        count = db.session.execute(
            update(Webhook).where(Webhook.id.in_(ids)).values(active=False)
        ).rowcount
        done = ngettext("%(num)d webhook deactivated.", "%(num)d webhooks deactivated.", count)
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("webhooks.index"))

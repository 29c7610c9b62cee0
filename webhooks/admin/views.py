"""The webhook screens: list, add, edit, delete, bulk actions and Send Test Event."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import selectinload

from webhooks.admin.forms import BulkForm, ConfirmForm, WebhookForm
from webhooks.catalogue import all_events, sample_envelopes
from webhooks.delivery.pipeline import send_test_event
from webhooks.extensions import db
from webhooks.models import Delivery, Webhook
from webhooks.routing import page_number
from webhooks.urls import safe_next

bp = Blueprint("webhooks", __name__)

SORTS = {
    "name": func.lower(Webhook.name),
    "url": func.lower(Webhook.url),
    "event": Webhook.event,
    "sent": Webhook.sent_count,
    "active": Webhook.active,
    "last": Webhook.last_delivery_at,
    "created": Webhook.created_at,
}
MAX_BULK = 1000


def get_webhook_or_404(webhook_id: int) -> Webhook:
    webhook = db.session.get(Webhook, webhook_id)
    if webhook is None:
        abort(404, description="There is no webhook with that id; it may have been deleted.")
    return webhook


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
    column = SORTS[sort]
    statement = select(Webhook)
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
        sort=sort,
        direction=direction,
        bulk_form=BulkForm(),
        action_form=ConfirmForm(),
        events=all_events(),
        samples=sample_envelopes(),
    )


@bp.route("/new", methods=["GET", "POST"])
def create():
    form = WebhookForm()
    if form.validate_on_submit():
        webhook = Webhook(
            name=form.name.data, url=form.url.data, event=form.event.data, active=form.active.data
        )
        db.session.add(webhook)
        db.session.commit()
        flash(
            f"Webhook “{webhook.name}” added. Send a test event to check the receiver.", "success"
        )
        return redirect(url_for("webhooks.edit", webhook_id=webhook.id))
    return render_template("webhooks/form.html", form=form, samples=sample_envelopes())


@bp.route("/<id:webhook_id>/edit", methods=["GET", "POST"])
def edit(webhook_id: int):
    webhook = get_webhook_or_404(webhook_id)
    form = WebhookForm(obj=webhook)
    form.submit.label.text = "Save Changes"
    if form.validate_on_submit():
        form.populate_obj(webhook)
        db.session.commit()
        flash(f"Webhook “{webhook.name}” saved.", "success")
        return redirect(url_for("webhooks.edit", webhook_id=webhook.id))
    deliveries = db.session.scalars(
        select(Delivery)
        .where(Delivery.webhook_id == webhook.id)
        .options(selectinload(Delivery.attempts))
        .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        .limit(current_app.config["RECENT_DELIVERIES"])
    ).all()
    return render_template(
        "webhooks/edit.html",
        form=form,
        webhook=webhook,
        deliveries=deliveries,
        action_form=ConfirmForm(),
        samples=sample_envelopes(),
    )


@bp.post("/<id:webhook_id>/test")
def test(webhook_id: int):
    webhook = get_webhook_or_404(webhook_id)
    back = safe_next(request.form.get("next")) or url_for("webhooks.edit", webhook_id=webhook.id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    result = send_test_event(webhook)
    preview = f" Response: {result.body_preview}" if result.body_preview else ""
    if result.ok:
        flash(f"Test event delivered to {webhook.url}: {result.summary}.{preview}", "success")
    else:
        flash(f"Test event failed: {result.summary}.{preview}", "error")
    return redirect(back)


@bp.route("/<id:webhook_id>/delete", methods=["GET", "POST"])
def delete_one(webhook_id: int):
    webhook = get_webhook_or_404(webhook_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        db.session.delete(webhook)
        db.session.commit()
        flash(f"Webhook “{webhook.name}” deleted.", "success")
        return redirect(url_for("webhooks.index"))
    return render_template("webhooks/confirm_delete.html", form=form, webhooks=[webhook])


def _selected_ids() -> list[int]:
    ids = []
    for raw in request.form.getlist("ids")[:MAX_BULK]:
        if raw.isdigit() and len(raw) < 12:
            ids.append(int(raw))
    return ids


@bp.post("/bulk")
def bulk():
    form = BulkForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("webhooks.index"))
    ids = _selected_ids()
    if not ids:
        flash("Select at least one webhook first.", "error")
        return redirect(url_for("webhooks.index"))
    action = form.action.data
    if action == "delete" and form.confirmed.data != "yes":
        webhooks = db.session.scalars(select(Webhook).where(Webhook.id.in_(ids))).all()
        return render_template(
            "webhooks/confirm_delete.html", form=form, webhooks=webhooks, bulk=True
        )
    if action == "delete":
        count = db.session.execute(delete(Webhook).where(Webhook.id.in_(ids))).rowcount
        done = "deleted"
    else:
        count = db.session.execute(
            update(Webhook).where(Webhook.id.in_(ids)).values(active=action == "activate")
        ).rowcount
        done = "activated" if action == "activate" else "deactivated"
    db.session.commit()
    flash(f"{count} webhook{'s' if count != 1 else ''} {done}.", "success")
    return redirect(url_for("webhooks.index"))

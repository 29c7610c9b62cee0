"""The event catalogue page (every event, its description, its payload and its payload check),
the events accepted with schema problems, and one reported event with its deliveries."""

import json

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import defer, joinedload

from webhooks.catalogue import all_events, event_name, get_event, sample_envelopes
from webhooks.deliveries.forms import STATUSES
from webhooks.events.forms import MODE_LABELS, SchemaModeForm
from webhooks.extensions import db
from webhooks.models import Delivery, Event
from webhooks.outbox import stored_problems
from webhooks.schema_checks import schema_modes, set_schema_mode
from webhooks.subscriptions import webhook_counts

bp = Blueprint("events", __name__)

# Deliveries listed on an event's page, and warned events on their list, at most.
EVENT_DELIVERIES = 100
WARNED_EVENTS = 50


@bp.get("/")
def index():
    return render_template(
        "events/index.html",
        events=all_events(),
        samples=sample_envelopes(),
        webhook_counts=webhook_counts(),
        modes=schema_modes(),
        mode_labels=MODE_LABELS,
    )


@bp.post("/types/<slug>/schema-mode")
def set_mode(slug: str):
    """Set an event type's payload check from its form on the catalogue page."""
    event = get_event(slug)
    if event is None:
        abort(404, description="There is no event type with that slug.")
    form = SchemaModeForm()
    back = url_for("events.index", _anchor=f"event-{slug}")
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        for error in form.schema_mode.errors:
            flash(str(error), "error")
        return redirect(back)
    mode = form.schema_mode.data
    set_schema_mode(slug, mode)
    db.session.commit()
    flash(
        _(
            "Payload check of “%(event)s” set to “%(mode)s”.",
            event=event_name(slug),
            mode=MODE_LABELS[mode],
        ),
        "success",
    )
    return redirect(back)


@bp.get("/warned")
def warned():
    """The newest events accepted with schema problems (``ix_events_schema_warned``)."""
    events = db.session.scalars(
        select(Event)
        .where(Event.schema_problem_count.is_not(None))
        .options(defer(Event.data))
        .order_by(Event.created_at.desc())
        .limit(WARNED_EVENTS)
    ).all()
    return render_template(
        "events/warned.html", events=events, problems=stored_problems, limit=WARNED_EVENTS
    )


@bp.get("/<uid>")
def detail(uid: str):
    event = db.session.scalar(select(Event).where(Event.uid == uid))
    if event is None:
        abort(
            404,
            description="There is no event with that id; it may have been purged after the "
            "retention period.",
        )
    deliveries = db.session.scalars(
        select(Delivery)
        .where(Delivery.event_id == event.id)
        .options(defer(Delivery.body), joinedload(Delivery.webhook))
        .order_by(Delivery.id)
        .limit(EVENT_DELIVERIES)
    ).all()
    return render_template(
        "events/detail.html",
        event=event,
        payload=_pretty(event.data),
        problems=stored_problems(event),
        deliveries=deliveries,
        statuses=STATUSES,
        limit=EVENT_DELIVERIES,
    )


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return text

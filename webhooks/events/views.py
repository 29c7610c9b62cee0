"""The event catalogue page: every event, its description and its payload."""

from flask import Blueprint, render_template

from webhooks.catalogue import all_events, sample_envelopes
from webhooks.subscriptions import webhook_counts

bp = Blueprint("events", __name__)


@bp.get("/")
def index():
    return render_template(
        "events/index.html",
        events=all_events(),
        samples=sample_envelopes(),
        webhook_counts=webhook_counts(),
    )

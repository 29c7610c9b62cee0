"""``/healthz`` for load balancers and monitors: public, cheap, and free of secrets."""

from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from webhooks.extensions import db
from webhooks.models import Delivery, Event, as_utc, due_status
from webhooks.worker import heartbeat
from webhooks.worker.engine import engine_of

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 when the database and the queue answer and a delivery worker has checked in within
    the last 15 s (wherever it runs); 503 otherwise, saying which. With the embedded engine the
    database is the queue."""
    body: dict = {}
    healthy = True
    try:
        db.session.execute(text("SELECT 1"))
        now = datetime.now(UTC)
        oldest = db.session.scalar(
            select(func.min(Delivery.next_attempt_at)).where(
                due_status(), Delivery.next_attempt_at <= now
            )
        )
        # The oldest event no worker has expanded into deliveries yet (by the partial index).
        unexpanded = db.session.scalar(
            select(Event.created_at).where(Event.expanded_at.is_(None)).order_by(Event.id).limit(1)
        )
        workers = heartbeat.alive(db.session, now)
        body["database"] = "ok"
        body["oldest_due_delivery_seconds"] = _age(now, oldest)
        body["oldest_unexpanded_event_seconds"] = _age(now, unexpanded)
        body["worker"] = "running" if workers else "none"
        body["workers"] = workers
        healthy = bool(workers)
    except SQLAlchemyError:
        db.session.rollback()
        body["database"] = body["worker"] = "unreachable"
        healthy = False
    queue = engine_of(current_app).queue_health()
    body["queue"] = body["database"] if queue is None else queue
    healthy = healthy and body["queue"] == "ok"
    body["status"] = "ok" if healthy else "failing"
    return jsonify(body), 200 if healthy else 503


def _age(now: datetime, moment: datetime | None) -> float:
    return round(max(0.0, (now - as_utc(moment)).total_seconds()), 1) if moment else 0

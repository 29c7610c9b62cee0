"""``/healthz`` for load balancers and monitors: public, cheap, and free of secrets."""

from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from webhooks.extensions import db
from webhooks.models import Delivery, as_utc, due_status
from webhooks.worker.engine import engine_of

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 when the database and the queue answer and the worker runs; 503 otherwise, saying
    which. With the embedded engine the database is the queue."""
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
        body["database"] = "ok"
        body["oldest_due_delivery_seconds"] = (
            round((now - as_utc(oldest)).total_seconds(), 1) if oldest else 0
        )
    except SQLAlchemyError:
        db.session.rollback()
        body["database"] = "unreachable"
        healthy = False
    queue, body["worker"], engine_ok = engine_of(current_app).health()
    body["queue"] = body["database"] if queue is None else queue
    healthy = healthy and engine_ok
    body["status"] = "ok" if healthy else "failing"
    return jsonify(body), 200 if healthy else 503

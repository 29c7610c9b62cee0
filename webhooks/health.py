"""``/healthz`` for load balancers and monitors: public, cheap, and free of secrets."""

from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from webhooks.extensions import db
from webhooks.models import Delivery, as_utc
from webhooks.worker.queue import DUE_STATES
from webhooks.worker.runtime import EXTENSION_KEY as WORKER_KEY

bp = Blueprint("health", __name__)


def _worker_state() -> tuple[str, bool]:
    """(state, healthy) of the worker this process is responsible for."""
    if current_app.config["QUEUE"] == "celery":
        return "celery", True
    if not current_app.config["EMBEDDED_WORKER"]:
        return "external", True
    pool = current_app.extensions.get(WORKER_KEY)
    if pool is None:
        return "not running in this process", True
    return ("running", True) if pool.is_alive() else ("stopped", False)


@bp.get("/healthz")
def healthz():
    """200 when the database answers and the worker runs; 503 otherwise, saying which."""
    body: dict = {}
    healthy = True
    try:
        db.session.execute(text("SELECT 1"))
        now = datetime.now(UTC)
        oldest = db.session.scalar(
            select(func.min(Delivery.next_attempt_at)).where(
                Delivery.status.in_(DUE_STATES), Delivery.next_attempt_at <= now
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
    body["worker"], worker_ok = _worker_state()
    healthy = healthy and worker_ok
    body["status"] = "ok" if healthy else "failing"
    return jsonify(body), 200 if healthy else 503

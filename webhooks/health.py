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


BROKER_TIMEOUT = 2.0  # seconds a health check may wait for the Celery broker


def _broker_reachable() -> bool:
    """Whether a new connection to the Celery broker opens now (Redis or RabbitMQ alike)."""
    celery_app = current_app.extensions["celery"]
    try:
        with celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT)
    except Exception:  # kombu raises its own and the transport's errors
        return False
    return True


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
    """200 when the database and the queue answer and the worker runs; 503 otherwise, saying
    which. With the embedded engine the database is the queue."""
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
    if current_app.config["QUEUE"] == "celery":
        queue_ok = _broker_reachable()
        body["queue"] = "ok" if queue_ok else "unreachable"
        healthy = healthy and queue_ok
    else:
        body["queue"] = body["database"]
    body["worker"], worker_ok = _worker_state()
    healthy = healthy and worker_ok
    body["status"] = "ok" if healthy else "failing"
    return jsonify(body), 200 if healthy else 503

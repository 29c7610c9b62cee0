"""``GET /metrics`` for Prometheus, behind a bearer token.

The endpoint exists only when ``METRICS_TOKEN`` is set (404 otherwise, as for any unknown
path): the figures say how busy the service is and which events it carries, which is nobody's
business but the operator's. A scraper sends ``Authorization: Bearer <token>``; the token is
compared in constant time, and the answer is never cached.
"""

import hmac

from flask import Blueprint, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from webhooks.telemetry.metrics import process_registry
from webhooks.telemetry.queue import QueueCollector

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    """The process (or, in multi-process mode, every process) counters and histograms, and
    the queue's gauges read from the database now."""
    token = str(current_app.config.get("METRICS_TOKEN") or "")
    if not token:
        abort(404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        return (
            "Send the metrics token as Authorization: Bearer <token>.\n",
            401,
            {
                "WWW-Authenticate": 'Bearer realm="metrics"',
                "Content-Type": "text/plain; charset=utf-8",
            },
        )
    queue = CollectorRegistry(auto_describe=False)
    queue.register(QueueCollector())
    body = generate_latest(process_registry()) + generate_latest(queue)
    return body, 200, {"Content-Type": CONTENT_TYPE_LATEST}

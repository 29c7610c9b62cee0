"""Telemetry for operators: Prometheus metrics at ``/metrics`` and a log line per attempt.

``init_app`` checks the settings (``LOG_FORMAT``, ``METRICS_TOKEN``), sets up the log format
and registers the ``/metrics`` endpoint. The delivery lifecycle and the event doors report
what happened through ``webhooks.telemetry.record``.
"""

from flask import Flask

from webhooks.telemetry import logs
from webhooks.telemetry.views import bp


def init_app(app: Flask) -> None:
    logs.init_app(app)
    app.register_blueprint(bp)

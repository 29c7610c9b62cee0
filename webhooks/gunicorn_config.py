"""gunicorn settings for `make run`, `webhooks run` and production: the site (and, with
WEBHOOKS_EMBEDDED_WORKER=true, a delivery worker in each web process).

The repository's gunicorn.conf.py imports this module, so a checkout and an installed wheel
(``gunicorn --config python:webhooks.gunicorn_config``) run with the same settings.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_class = "gthread"
threads = 8
# Send Test Event waits for the receiver (WEBHOOKS_DELIVERY_TIMEOUT, 15 s by default).
timeout = 120
graceful_timeout = 60
# Each worker tells the arbiter it is alive by touching a file, on every request: on tmpfs
# that costs nothing. (gunicorn makes the file with mkstemp and unlinks it at once.)
SHARED_MEMORY = "/dev/shm"  # noqa: S108
if os.path.isdir(SHARED_MEMORY):
    worker_tmp_dir = SHARED_MEMORY
accesslog = "-"
# No Basic user name and no credential-shaped query value in the access log.
logger_class = "webhooks.access_log.CredentialFreeLogger"
# WEBHOOKS_LOG_FORMAT=json from the environment turns gunicorn's own lines into JSON too (the
# app checks the setting, wherever it comes from, when it starts).
JSON_LOGS = os.environ.get("WEBHOOKS_LOG_FORMAT", "text").strip().lower() == "json"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"},
        "json": {"()": "webhooks.telemetry.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if JSON_LOGS else "plain",
        }
    },
    "root": {"level": "WARNING", "handlers": ["console"]},
    "loggers": {"webhooks": {"level": "INFO", "handlers": ["console"], "propagate": False}},
}
if JSON_LOGS:
    # gunicorn's own lines, its access log included: loggers named here lose the handlers
    # gunicorn gave them, and write through the JSON one.
    for name in ("gunicorn.error", "gunicorn.access"):
        logconfig_dict["loggers"][name] = {
            "level": "INFO",
            "handlers": ["console"],
            "propagate": False,
        }


def post_worker_init(worker):
    from webhooks.worker.engine import start_embedded

    start_embedded(worker.wsgi)


def worker_exit(server, worker):
    from webhooks.worker.engine import stop_embedded

    stop_embedded(worker.wsgi)


def child_exit(server, worker):
    """prometheus-client's multi-process mode: a gunicorn worker that ended hands back its
    live figures (PROMETHEUS_MULTIPROC_DIR, docs/deploy.md)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

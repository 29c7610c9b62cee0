"""gunicorn settings for `make run` and production: the site (and, with
WEBHOOKS_EMBEDDED_WORKER=true, a delivery worker in each web process)."""

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
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"level": "WARNING", "handlers": ["console"]},
    "loggers": {"webhooks": {"level": "INFO", "handlers": ["console"], "propagate": False}},
}


def post_worker_init(worker):
    from webhooks.worker.engine import start_embedded

    start_embedded(worker.wsgi)


def worker_exit(server, worker):
    from webhooks.worker.engine import stop_embedded

    stop_embedded(worker.wsgi)

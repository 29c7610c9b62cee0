"""gunicorn settings for `make run`: the site and, in each web process, the delivery worker."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_class = "gthread"
threads = 8
# Send Test Event waits for the receiver (WEBHOOKS_DELIVERY_TIMEOUT, 15 s by default).
timeout = 120
graceful_timeout = 60
accesslog = "-"
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

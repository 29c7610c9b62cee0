"""gunicorn settings: one source, webhooks/gunicorn_config.py, for a checkout and a wheel."""

from webhooks.gunicorn_config import *  # noqa: F403

"""The Celery entry point for the Celery engine (WEBHOOKS_QUEUE=celery):

celery -A webhooks.celery_worker worker --pool threads --concurrency 32
celery -A webhooks.celery_worker beat
"""

from celery.signals import worker_process_init

from webhooks import create_app
from webhooks.extensions import db

flask_app = create_app()  # not named `app`: `celery -A` would take it for the Celery app
if "celery" not in flask_app.extensions:
    raise RuntimeError(
        "The delivery engine is not Celery: set WEBHOOKS_QUEUE=celery (and "
        "WEBHOOKS_CELERY_BROKER_URL) for the web server, the Celery workers and beat alike."
    )
celery = flask_app.extensions["celery"]


@worker_process_init.connect
def _own_database_connections(**_kwargs: object) -> None:
    """A prefork child opens database connections of its own, never the parent's."""
    with flask_app.app_context():
        db.engine.dispose(close=False)

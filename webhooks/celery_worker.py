"""The Celery entry point for the Celery engine (WEBHOOKS_QUEUE=celery):

celery -A webhooks.celery_worker worker --pool threads --concurrency 32
celery -A webhooks.celery_worker beat
"""

from webhooks import create_app

flask_app = create_app()  # not named `app`: `celery -A` would take it for the Celery app
if "celery" not in flask_app.extensions:
    raise RuntimeError(
        "The delivery engine is not Celery: set WEBHOOKS_QUEUE=celery (and "
        "WEBHOOKS_CELERY_BROKER_URL) for the web server, the Celery workers and beat alike."
    )
celery = flask_app.extensions["celery"]

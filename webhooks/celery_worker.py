"""The Celery entry point for the Celery engine (WEBHOOKS_QUEUE=celery):

celery -A webhooks.celery_worker worker --pool threads --concurrency 2

Each process that runs tasks (the worker itself with the threads or solo pool, each child with
prefork) runs a delivery dispatcher, started and stopped with the process. `flask worker` runs
the same in one process.
"""

from webhooks import create_process_app
from webhooks.worker.celery_engine import host_dispatchers

flask_app = create_process_app()  # not named `app`: `celery -A` would take it for the Celery app
if "celery" not in flask_app.extensions:
    raise RuntimeError(
        "The delivery engine is not Celery: set WEBHOOKS_QUEUE=celery (and "
        "WEBHOOKS_CELERY_BROKER_URL) for the web server and the Celery workers alike."
    )
celery = flask_app.extensions["celery"]
host_dispatchers(flask_app)

"""``flask worker``: the delivery worker on its own."""

import logging

import click
from flask import current_app
from flask.cli import with_appcontext

from webhooks.worker.engine import engine_of


@click.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10000),
    default=None,
    help="Requests in flight at once (default: WEBHOOKS_WORKER_CONCURRENCY, 1000).",
)
@with_appcontext
def worker_command(concurrency: int | None):
    """Send due deliveries until stopped with Ctrl-C or SIGTERM.

    `make run` starts one beside the web server. Run more to add sending capacity: any number
    of workers may run against the same database; each attempt is made by exactly one of them,
    and each webhook's limits hold across all of them. With WEBHOOKS_QUEUE=celery it runs a
    Celery worker, which the engine's news of work reaches. On SIGTERM in-flight attempts
    finish before it exits.
    """
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(levelname)s] %(message)s")
    if not engine_of(current_app._get_current_object()).run_worker(concurrency):
        raise click.ClickException("Some deliveries were still in flight when the worker stopped.")

"""``flask worker``: the delivery worker on its own."""

import logging

import click
from flask import current_app
from flask.cli import with_appcontext

from webhooks.worker.runtime import run_until_signalled


@click.command("worker")
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=None,
    help="Deliveries sent at once (default: WEBHOOKS_WORKER_THREADS, 32).",
)
@with_appcontext
def worker_command(threads: int | None):
    """Send due deliveries until stopped with Ctrl-C or SIGTERM.

    Use it when the web server runs with WEBHOOKS_EMBEDDED_WORKER=false, or to add sending
    capacity: any number of workers may run against the same database; each attempt is made
    by exactly one of them. On SIGTERM in-flight attempts finish before it exits.
    """
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(levelname)s] %(message)s")
    app = current_app._get_current_object()
    if not run_until_signalled(app, threads):
        raise click.ClickException("Some deliveries were still in flight when the worker stopped.")


@click.command("celery-sweep")
@with_appcontext
def celery_sweep_command():
    """Queue a Celery attempt for every due delivery now (QUEUE = "celery" only).

    Celery beat runs the same sweep every WEBHOOKS_SWEEP_INTERVAL seconds; this runs one at
    once, e.g. after the broker lost its messages.
    """
    from webhooks.worker.wakeup import uses_celery

    if not uses_celery():
        raise click.ClickException("The delivery engine is not Celery: set WEBHOOKS_QUEUE=celery.")
    from webhooks.worker.celery_engine import SWEEP_BATCH, sweep_due

    count = sweep_due(current_app._get_current_object())
    more = " (the first of more; run it again or let beat do it)" if count == SWEEP_BATCH else ""
    click.echo(f"Queued {count} due deliver{'y' if count == 1 else 'ies'}{more}.")

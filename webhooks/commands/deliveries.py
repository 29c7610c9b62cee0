"""``flask deliveries``: housekeeping of the delivery log."""

from datetime import UTC, datetime, timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from webhooks.worker.retention import purge


@click.group("deliveries", cls=AppGroup)
def deliveries_group():
    """Housekeeping of the delivery log."""


@deliveries_group.command("purge")
@click.option(
    "--older-than-days",
    type=click.FloatRange(min=0),
    default=None,
    help="Age in days (default: WEBHOOKS_RETENTION_DAYS, 30).",
)
def purge_command(older_than_days: float | None):
    """Delete deliveries, their attempts and their events older than the retention period."""
    days = older_than_days if older_than_days is not None else current_app.config["RETENTION_DAYS"]
    deliveries, events = purge(datetime.now(UTC) - timedelta(days=float(days)))
    click.echo(f"Purged {deliveries} deliveries and {events} events older than {days:g} days.")

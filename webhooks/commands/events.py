"""``flask events``: report an event from the command line, list the event types."""

import json

import click
from flask.cli import AppGroup

from webhooks.catalogue import all_events
from webhooks.outbox import EventError, dispatch, stored_problems


@click.group("events", cls=AppGroup)
def events_group():
    """Report events and list the event types."""


@events_group.command("send")
@click.argument("event_type")
@click.argument("data", required=False)
@click.option(
    "--file",
    "data_file",
    type=click.File("r", encoding="utf-8"),
    help="Read the payload (a JSON object) from this file; - reads standard input.",
)
@click.option("--id", "idempotency_key", help="Idempotency key: the same key is stored once.")
def send_command(event_type: str, data: str | None, data_file, idempotency_key: str | None):
    """Report an event: EVENT_TYPE with DATA, a JSON object given inline or with --file.

    \b
    Example:
      flask --app wsgi events send payment_received '{"payment_id": 7, "payment_total": "$9"}'
    """
    if (data is None) == (data_file is None):
        raise click.UsageError("Give the payload either as the DATA argument or with --file.")
    try:
        text = data if data is not None else data_file.read()
    except UnicodeDecodeError as error:
        raise click.BadParameter(f"not UTF-8 text: {error}", param_hint="--file") from error
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise click.BadParameter(f"not valid JSON: {error}", param_hint="DATA") from error
    try:
        result = dispatch(event_type, payload, idempotency_key=idempotency_key, source="cli")
    except EventError as error:
        if error.code == "invalid_id":
            raise click.BadParameter(error.message, param_hint="--id") from error
        raise click.ClickException(error.message) from error
    state = "Stored" if result.created else "Already stored (same --id)"
    click.echo(
        f"{state}: event {result.event.uid}; the worker delivers it to every subscribed webhook."
    )
    problems = stored_problems(result.event) if result.created else []
    if problems:
        click.echo(
            f"Warning: the payload does not match the JSON Schema of {event_type} "
            f"({len(problems)} problem(s), kept with the event):",
            err=True,
        )
        for problem in problems:
            click.echo(f"  {problem['path']}: {problem['message']}", err=True)


@events_group.command("types")
def types_command():
    """List every event type with its name."""
    for event in all_events():
        click.echo(f"{event.slug:28} {event.name}")

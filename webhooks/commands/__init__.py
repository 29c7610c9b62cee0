"""Command-line tools: ``.venv/bin/flask --app wsgi --help`` lists them."""

from flask import Flask

from webhooks.commands.admin import admin_group
from webhooks.commands.deliveries import deliveries_group
from webhooks.commands.events import events_group
from webhooks.commands.tokens import tokens_group
from webhooks.commands.worker import worker_command


def register_commands(app: Flask) -> None:
    for command in (
        admin_group,
        events_group,
        tokens_group,
        deliveries_group,
        worker_command,
    ):
        app.cli.add_command(command)

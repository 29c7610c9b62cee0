"""The ``webhooks`` command of an installed wheel (or a checkout's virtualenv): the site, the
delivery worker and every ``flask --app wsgi`` command, without a wsgi.py or a --app.

    webhooks run                  serve the site with gunicorn (webhooks/gunicorn_config.py)
    webhooks worker               the delivery worker
    webhooks db upgrade           create or migrate the database
    webhooks admin create EMAIL   an admin; also `tokens`, `events`, `deliveries`
"""

import os
import sys

import click
from flask.cli import FlaskGroup, ScriptInfo

from webhooks import create_app
from webhooks.settings import SettingError

HELP = """Self-hosted webhook admin and delivery service.

\b
Settings come from the environment (WEBHOOKS_<NAME>, DATABASE_URL) or from config.py in the
instance folder (WEBHOOKS_INSTANCE_PATH). First steps on a new install:
  webhooks db upgrade
  webhooks admin create you@example.com
  webhooks run --host 0.0.0.0 --port 5000     # the site
  webhooks worker                             # the delivery worker, beside it

Each command has its own --help.
"""


def load_app():
    """The app, or a one-line error for a setting it cannot use."""
    try:
        return create_app()
    except SettingError as error:
        raise click.ClickException(str(error)) from error


@click.command("run")
@click.option(
    "--host",
    envvar="HOST",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (HOST).",
)
@click.option(
    "--port",
    envvar="PORT",
    type=click.IntRange(1, 65535),
    default=5000,
    show_default=True,
    help="Port to listen on (PORT).",
)
@click.option(
    "--workers",
    envvar="WEB_CONCURRENCY",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="gunicorn processes (WEB_CONCURRENCY).",
)
def run_command(host: str, port: int, workers: int):
    """Serve the admin site and the API with gunicorn, stopped with Ctrl-C or SIGTERM.

    The settings are those of `make run` and the Procfile (webhooks/gunicorn_config.py).
    Deliveries are sent by `webhooks worker`, run beside it (or set
    WEBHOOKS_EMBEDDED_WORKER=true for a worker inside each web process).
    """
    load_app()  # a bad setting stops here, in one line, before gunicorn starts
    os.environ.update(HOST=host, PORT=str(port), WEB_CONCURRENCY=str(workers))
    arguments = ["--config", "python:webhooks.gunicorn_config", "webhooks:create_app()"]
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", *arguments])  # noqa: S606


class WebhooksGroup(FlaskGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        """The commands for --help: with a setting the app cannot use, its one-line error and
        the commands that need no app, rather than a traceback."""
        try:
            ctx.ensure_object(ScriptInfo).load_app()
        except click.ClickException as error:
            click.secho(f"Error: {error.format_message()}", err=True, fg="red")
            return sorted(self.commands)
        return super().list_commands(ctx)


cli = WebhooksGroup(
    name="webhooks",
    help=HELP,
    create_app=load_app,
    add_default_commands=False,
    add_version_option=False,
    set_debug_flag=False,
)
# The app is this one: Flask's --app, --debug and --env-file options have nothing to choose.
cli.params = [param for param in cli.params if param.name not in {"app", "debug", "env_file"}]
cli.add_command(run_command)


def main() -> None:
    cli.main(prog_name="webhooks")

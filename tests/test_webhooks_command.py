"""The `webhooks` console command (the wheel's entry point, installed in the checkout's
virtualenv by `make install`): its help, and a setting it cannot use stopping it in one line."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import requests

from tests.conftest import unused_port
from tests.engine_helpers import wait_until

WEBHOOKS = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "webhooks")


def webhooks(tmp_path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "WEBHOOKS_INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        **settings,
    }
    return subprocess.run(
        [WEBHOOKS, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def test_help_lists_the_site_the_worker_and_every_admin_command(tmp_path):
    done = webhooks(tmp_path, "--help")

    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.split("Commands:")[1].splitlines() if line}
    assert {"run", "worker", "db", "admin", "tokens", "events", "deliveries"} <= listed
    assert "webhooks db upgrade" in done.stdout
    assert "--app" not in done.stdout  # the app is this one


def test_run_help_says_it_serves_the_site_with_gunicorn(tmp_path):
    done = webhooks(tmp_path, "run", "--help")

    assert done.returncode == 0, done.stderr
    assert "gunicorn" in done.stdout
    for option in ("--host", "--port", "--workers"):
        assert option in done.stdout


def test_admin_commands_run_through_the_webhooks_command(tmp_path):
    assert webhooks(tmp_path, "db", "upgrade").returncode == 0
    created = webhooks(tmp_path, "admin", "create", "ops@example.com", "--password", "long enough")

    assert created.returncode == 0, created.stderr
    assert "ops@example.com" in created.stdout


def test_help_with_an_unknown_log_format_names_it_in_one_line(tmp_path):
    done = webhooks(tmp_path, "--help", WEBHOOKS_LOG_FORMAT="yaml")

    assert done.returncode == 0
    assert done.stderr.strip() == (
        "Error: WEBHOOKS_LOG_FORMAT: 'yaml' is not a log format; expected text or json"
    )
    assert "run" in done.stdout.split("Commands:")[1]


@pytest.mark.parametrize("args", [["run"], ["worker"], ["db", "upgrade"]])
def test_an_unknown_log_format_stops_each_command_with_one_line(tmp_path, args):
    done = webhooks(tmp_path, *args, WEBHOOKS_LOG_FORMAT="yaml")

    assert done.returncode != 0
    assert done.stderr.strip() == (
        "Error: WEBHOOKS_LOG_FORMAT: 'yaml' is not a log format; expected text or json"
    )


def test_run_serves_the_site_and_writes_json_lines_with_log_format_json(tmp_path):
    assert webhooks(tmp_path, "db", "upgrade").returncode == 0
    port = unused_port()
    log = tmp_path / "run.log"
    env = {
        **os.environ,
        "WEBHOOKS_INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "WEBHOOKS_LOG_FORMAT": "json",
    }
    with log.open("w") as out:
        server = subprocess.Popen(
            [WEBHOOKS, "run", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )

    def login_page():
        try:
            return requests.get(f"http://127.0.0.1:{port}/login", timeout=5)
        except requests.ConnectionError:
            return None

    try:
        page = wait_until(login_page, 30, 0.2)
    finally:
        server.terminate()
        server.wait(30)
    assert page.status_code == 200
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    messages = [line["message"] for line in lines]
    assert any("Listening at" in message for message in messages), messages
    assert any("GET /login" in message for message in messages), messages  # the access log

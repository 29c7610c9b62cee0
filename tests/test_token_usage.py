"""The curl command of the token pages works when pasted into a shell: run here with bash
against the site on a real port, it reports an event that is stored."""

import html
import re
import subprocess

import pytest
import requests
from sqlalchemy import func, select

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from webhooks.extensions import db
from webhooks.models import Event

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
COMMAND_RE = re.compile(r'<pre id="usage-example"[^>]*>(.*?)</pre>', re.S)


@pytest.fixture
def browser(live_server):
    """A requests session logged in to the site on its real port."""
    session = requests.Session()
    login = session.get(f"{live_server}/login", timeout=10).text
    session.post(
        f"{live_server}/login",
        data={
            "csrf_token": CSRF_RE.search(login).group(1),
            "email": ADMIN_EMAIL,
            "password": ADMIN_PASSWORD,
        },
        timeout=10,
    ).raise_for_status()
    return session


def shown_command(page: str) -> str:
    return html.unescape(COMMAND_RE.search(page).group(1))


def events(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Event))


def run(command: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", command + " --silent --show-error --fail-with-body"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def test_the_new_tokens_command_reports_an_event_when_pasted(app, live_server, browser):
    form = browser.get(f"{live_server}/tokens/", timeout=10).text
    page = browser.post(
        f"{live_server}/tokens/",
        data={"csrf_token": CSRF_RE.search(form).group(1), "name": "platform", "scope": "full"},
        timeout=10,
    ).text
    command = shown_command(page)
    assert live_server + "/api/v1/events" in command
    assert "whk_" in command and "<" not in command and "{...}" not in command

    done = run(command)

    assert done.returncode == 0, done.stderr
    assert '"id"' in done.stdout
    assert events(app) == 1


def test_the_token_pages_command_reads_the_token_from_the_shell(app, live_server, browser):
    form = browser.get(f"{live_server}/tokens/", timeout=10).text
    created = browser.post(
        f"{live_server}/tokens/",
        data={"csrf_token": CSRF_RE.search(form).group(1), "name": "platform", "scope": "full"},
        timeout=10,
    ).text
    token = re.search(r'<pre id="plain-token"[^>]*>(whk_[^<]+)</pre>', created).group(1)
    command = shown_command(browser.get(f"{live_server}/tokens/", timeout=10).text)
    assert "$WEBHOOKS_TOKEN" in command and token not in command

    assert run(command).returncode != 0  # no token in the shell: refused
    done = run(command, WEBHOOKS_TOKEN=token)

    assert done.returncode == 0, done.stderr
    assert events(app) == 1

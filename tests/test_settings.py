"""A mistyped setting stops start-up with one line naming it and the form it expects: at
create_app, for every setting, and as one line without a traceback from the processes that
`make run` and production start."""

import os
import subprocess

import pytest

from tests.worker_processes import PROJECT
from webhooks import create_app
from webhooks.settings import READERS, SettingError

FLASK = str(PROJECT / ".venv" / "bin" / "flask")

BAD = [
    ("DELIVERY_TIMEOUT", "abc", "a number of seconds above 0"),
    ("DELIVERY_TIMEOUT", 0, "a number of seconds above 0"),
    ("DELIVERY_TIMEOUT", "nan", "a number of seconds above 0"),
    ("RESPONSE_BODY_LIMIT", 1.5, "a whole number of bytes"),
    ("RETRY_JITTER", 2, "a fraction from 0 to 1"),
    ("DISABLE_AFTER_DAYS", -1, "a number of days"),
    ("RETENTION_DAYS", "thirty", "a number of days above 0"),
    ("MAX_EVENT_BYTES", "256k", "a whole number of bytes"),
    ("WORKER_CONCURRENCY", 0, "at least 1"),
    ("WORKER_POLL_INTERVAL", True, "a number of seconds above 0"),
    ("BREAKER_AFTER", 0, "at least 1"),
    ("EMBEDDED_WORKER", "maybe", "true or false"),
    ("QUEUE", "rabbit", "embedded or celery"),
    ("WEBHOOKS_PER_PAGE", "many", "a whole number"),
    ("LIVE_POLL_SECONDS", -2, "a number of seconds"),
    ("SESSION_COOKIE_SECURE", "sometimes", "true or false"),
    ("TRUSTED_PROXIES", "one", "a whole number"),
    ("ALLOWED_NETWORKS", "localhost", "comma-separated CIDR ranges"),
    ("RETRY_SCHEDULE", "5,soon", "comma-separated seconds"),
    ("RETRY_SCHEDULE", "5,-1", "comma-separated seconds"),
    ("LOGIN_LIMIT_PER_ACCOUNT", "five", "a limit such as"),
    ("SCHEMA_ENFORCEMENT", "strict", "off, warn or reject"),
    ("TRUSTED_HOSTS", "webhooks.example.com:8443", "comma-separated host names"),
]


@pytest.mark.parametrize(("name", "value", "expected"), BAD)
def test_a_mistyped_setting_stops_the_app_naming_it_and_its_form(config, name, value, expected):
    config[name] = value

    with pytest.raises(SettingError) as caught:
        create_app(config)

    message = str(caught.value)
    assert message.startswith(f"WEBHOOKS_{name}: {value!r} ")
    assert "; expected " in message and expected in message.split("; expected ", 1)[1]
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DELIVERY_TIMEOUT", "15"),
        ("DELIVERY_TIMEOUT", 0.5),
        ("RETRY_JITTER", 0),
        ("DISABLE_AFTER_DAYS", 0),
        ("EMBEDDED_WORKER", "true"),
        ("EMBEDDED_WORKER", False),
        ("QUEUE", "embedded"),
        ("LIVE_POLL_SECONDS", 0),
        ("TRUSTED_PROXIES", "1"),
        ("RETRY_SCHEDULE", 60),
        ("ALLOWED_NETWORKS", "127.0.0.0/8, ::1"),
    ],
)
def test_settings_in_their_forms_are_taken(config, name, value):
    config[name] = value

    assert create_app(config).config[name] == value


def test_every_checked_setting_has_a_default():
    from webhooks.config import DEFAULTS

    assert set(READERS) <= set(DEFAULTS) | {"MAX_CONTENT_LENGTH"}


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "WEBHOOKS_ALLOWED_NETWORKS",
            "localhost",
            "Setting error: WEBHOOKS_ALLOWED_NETWORKS: 'localhost' is not a CIDR range; "
            "expected comma-separated CIDR ranges, such as 127.0.0.0/8,10.0.0.0/8",
        ),
        (
            "WEBHOOKS_DELIVERY_TIMEOUT",
            "fifteen",
            "Setting error: WEBHOOKS_DELIVERY_TIMEOUT: 'fifteen' is not a number; "
            "expected a number of seconds above 0, such as 15",
        ),
    ],
)
def test_the_command_line_prints_one_line_and_no_traceback(tmp_path, variable, value, line):
    env = {**os.environ, "WEBHOOKS_INSTANCE_PATH": str(tmp_path), variable: value}

    done = subprocess.run(
        [FLASK, "--app", "wsgi", "db", "upgrade"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert done.stderr.strip() == line
    assert "Traceback" not in done.stdout + done.stderr

"""The ``flask admin`` commands that create admins and reset their passwords.

The commands run as ``flask --app wsgi admin ...`` runs them: through a ``FlaskGroup``, which
loads the app and pushes its context; the last test runs them from the app's own CLI runner.
"""

import re

import pytest
from flask.cli import FlaskGroup
from sqlalchemy import delete, func, select

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, AuthActions
from webhooks.extensions import db
from webhooks.models import User


@pytest.fixture(autouse=True)
def _no_admin_env(monkeypatch):
    """The developer's own WEBHOOKS_ADMIN_* settings must not leak into these tests."""
    monkeypatch.delenv("WEBHOOKS_ADMIN_EMAIL", raising=False)
    monkeypatch.delenv("WEBHOOKS_ADMIN_PASSWORD", raising=False)


@pytest.fixture
def flask_command(app):
    """The ``flask`` command line, loading the app under test."""
    return FlaskGroup(
        create_app=lambda: app,
        add_version_option=False,
        load_dotenv=False,
        set_debug_flag=False,
    )


@pytest.fixture
def cli(runner, flask_command):
    """Run ``flask admin ARGS`` and return click's result."""

    def invoke(*args, **kwargs):
        return runner.invoke(flask_command, ["admin", *args], **kwargs)

    return invoke


def can_log_in(app, email: str, password: str) -> bool:
    client = app.test_client()
    response = AuthActions(client).login(email=email, password=password)
    return response.status_code == 302 and response.headers["Location"] == "/"


def user_emails(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(User.email)))


def remove_all_users(app) -> None:
    with app.app_context():
        db.session.execute(delete(User))
        db.session.commit()


def test_create_makes_an_admin_who_can_log_in(app, cli):
    result = cli("create", "Second@Example.com", "--password", "s3cret-pass")
    assert result.exit_code == 0, result.output
    assert "Admin second@example.com created." in result.output
    assert user_emails(app) == [ADMIN_EMAIL, "second@example.com"]
    assert can_log_in(app, "second@example.com", "s3cret-pass")
    assert not can_log_in(app, "second@example.com", "wrong-pass")


def test_create_stores_a_hash_not_the_password(app, cli):
    cli("create", "second@example.com", "--password", "s3cret-pass")
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "second@example.com"))
        assert "s3cret-pass" not in user.password_hash


@pytest.mark.parametrize("email", [ADMIN_EMAIL, ADMIN_EMAIL.upper(), f" {ADMIN_EMAIL} "])
def test_create_with_existing_email_fails_clearly(app, cli, email):
    result = cli("create", email, "--password", "another-pass")
    assert result.exit_code != 0
    assert f"An admin with the email {ADMIN_EMAIL} already exists." in result.output
    assert user_emails(app) == [ADMIN_EMAIL]
    assert can_log_in(app, ADMIN_EMAIL, ADMIN_PASSWORD)


def test_create_with_short_password_fails_clearly(app, cli):
    result = cli("create", "second@example.com", "--password", "1234567")
    assert result.exit_code != 0
    assert "The password must be at least 8 characters long." in result.output
    assert user_emails(app) == [ADMIN_EMAIL]


def test_create_accepts_password_of_exactly_eight_characters(app, cli):
    result = cli("create", "second@example.com", "--password", "12345678")
    assert result.exit_code == 0, result.output
    assert can_log_in(app, "second@example.com", "12345678")


@pytest.mark.parametrize("email", ["not-an-email", "two words@example.com"])
def test_create_with_invalid_email_fails_clearly(app, cli, email):
    result = cli("create", email, "--password", "s3cret-pass")
    assert result.exit_code != 0
    assert "is not an email address." in result.output
    assert user_emails(app) == [ADMIN_EMAIL]


def test_create_asks_for_password_twice_when_left_out(app, cli):
    result = cli("create", "second@example.com", input="s3cret-pass\ns3cret-pass\n")
    assert result.exit_code == 0, result.output
    assert can_log_in(app, "second@example.com", "s3cret-pass")


def test_reset_password_changes_the_password(app, cli):
    result = cli("reset-password", ADMIN_EMAIL, "--password", "brand-new-pass")
    assert result.exit_code == 0, result.output
    assert f"Password of {ADMIN_EMAIL} changed." in result.output
    assert not can_log_in(app, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert can_log_in(app, ADMIN_EMAIL, "brand-new-pass")


def test_reset_password_for_unknown_email_fails_clearly(app, cli):
    result = cli("reset-password", "nobody@example.com", "--password", "brand-new-pass")
    assert result.exit_code != 0
    assert "There is no admin with the email nobody@example.com." in result.output
    assert user_emails(app) == [ADMIN_EMAIL]
    assert can_log_in(app, ADMIN_EMAIL, ADMIN_PASSWORD)


def test_reset_password_refuses_short_password(app, cli):
    result = cli("reset-password", ADMIN_EMAIL, "--password", "short")
    assert result.exit_code != 0
    assert "The password must be at least 8 characters long." in result.output
    assert can_log_in(app, ADMIN_EMAIL, ADMIN_PASSWORD)


def test_bootstrap_without_settings_creates_first_admin_once(app, cli):
    remove_all_users(app)
    result = cli("bootstrap")
    assert result.exit_code == 0, result.output
    assert "First admin created." in result.output
    assert re.search(r"email:\s+admin@example\.com", result.output)
    password = re.search(r"password:\s+(\S+)", result.output).group(1)
    assert len(password) >= 12
    assert user_emails(app) == ["admin@example.com"]
    assert can_log_in(app, "admin@example.com", password)

    again = cli("bootstrap")
    assert again.exit_code == 0, again.output
    assert again.output == ""
    assert user_emails(app) == ["admin@example.com"]
    assert can_log_in(app, "admin@example.com", password)


def test_bootstrap_without_settings_leaves_existing_admins_alone(app, cli):
    result = cli("bootstrap")
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert user_emails(app) == [ADMIN_EMAIL]
    assert can_log_in(app, ADMIN_EMAIL, ADMIN_PASSWORD)


def test_bootstrap_creates_the_admin_named_in_the_environment(app, cli, monkeypatch):
    monkeypatch.setenv("WEBHOOKS_ADMIN_EMAIL", "Ops@Example.com")
    monkeypatch.setenv("WEBHOOKS_ADMIN_PASSWORD", "from-the-env-1")
    result = cli("bootstrap")
    assert result.exit_code == 0, result.output
    assert "Admin ops@example.com created from WEBHOOKS_ADMIN_EMAIL." in result.output
    assert "from-the-env-1" not in result.output
    assert user_emails(app) == [ADMIN_EMAIL, "ops@example.com"]
    assert can_log_in(app, "ops@example.com", "from-the-env-1")

    unchanged = cli("bootstrap")
    assert unchanged.exit_code == 0, unchanged.output
    assert unchanged.output == ""

    monkeypatch.setenv("WEBHOOKS_ADMIN_PASSWORD", "rotated-pass-2")
    updated = cli("bootstrap")
    assert updated.exit_code == 0, updated.output
    assert "Password of ops@example.com set from WEBHOOKS_ADMIN_PASSWORD." in updated.output
    assert user_emails(app) == [ADMIN_EMAIL, "ops@example.com"]
    assert not can_log_in(app, "ops@example.com", "from-the-env-1")
    assert can_log_in(app, "ops@example.com", "rotated-pass-2")


def test_bootstrap_from_environment_on_an_empty_database(app, cli, monkeypatch):
    remove_all_users(app)
    monkeypatch.setenv("WEBHOOKS_ADMIN_EMAIL", "ops@example.com")
    monkeypatch.setenv("WEBHOOKS_ADMIN_PASSWORD", "from-the-env-1")
    result = cli("bootstrap")
    assert result.exit_code == 0, result.output
    assert "First admin created." not in result.output
    assert user_emails(app) == ["ops@example.com"]


@pytest.mark.parametrize(
    "variable", ["WEBHOOKS_ADMIN_EMAIL", "WEBHOOKS_ADMIN_PASSWORD"], ids=["email-only", "pw-only"]
)
def test_bootstrap_with_only_one_setting_fails_clearly(app, cli, monkeypatch, variable):
    remove_all_users(app)
    monkeypatch.setenv(variable, "ops@example.com" if "EMAIL" in variable else "from-the-env-1")
    result = cli("bootstrap")
    assert result.exit_code != 0
    assert "Set both WEBHOOKS_ADMIN_EMAIL and WEBHOOKS_ADMIN_PASSWORD, or neither." in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_bootstrap_refuses_short_password_from_environment(app, cli, monkeypatch):
    monkeypatch.setenv("WEBHOOKS_ADMIN_EMAIL", "ops@example.com")
    monkeypatch.setenv("WEBHOOKS_ADMIN_PASSWORD", "short")
    result = cli("bootstrap")
    assert result.exit_code != 0
    assert "at least 8 characters" in result.output
    assert user_emails(app) == [ADMIN_EMAIL]


def test_admin_commands_work_from_the_apps_own_cli_runner(app, runner):
    result = runner.invoke(args=["admin", "create", "second@example.com", "--password", "12345678"])
    assert result.exit_code == 0, result.output
    assert user_emails(app) == [ADMIN_EMAIL, "second@example.com"]

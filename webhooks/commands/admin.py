"""``flask admin``: the accounts that can log in to the admin site."""

import os

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from webhooks import admins
from webhooks.extensions import db
from webhooks.models import User


def _normalise_email(email: str) -> str:
    email = admins.normalise_email(email)
    if not admins.is_email(email):
        raise click.BadParameter(f"{email!r} is not an email address.", param_hint="EMAIL")
    return email


def _check_password(password: str) -> str:
    if not admins.password_long_enough(password):
        raise click.BadParameter(
            f"The password must be at least {admins.MIN_PASSWORD} characters long.",
            param_hint="--password",
        )
    return password


_find = admins.find


@click.group("admin", cls=AppGroup)
def admin_group():
    """Manage the accounts that can log in to the admin site."""


@admin_group.command("create")
@click.argument("email")
@click.password_option(help="The new admin's password (asked for when left out).")
def create_admin(email: str, password: str):
    """Create an admin account that logs in with EMAIL."""
    email = _normalise_email(email)
    _check_password(password)
    if _find(email) is not None:
        raise click.ClickException(f"An admin with the email {email} already exists.")
    admins.create(email, password)
    db.session.commit()
    click.echo(f"Admin {email} created.")


@admin_group.command("reset-password")
@click.argument("email")
@click.password_option(help="The new password (asked for when left out).")
def reset_password(email: str, password: str):
    """Set a new password for the admin who logs in with EMAIL."""
    email = _normalise_email(email)
    _check_password(password)
    user = _find(email)
    if user is None:
        raise click.ClickException(f"There is no admin with the email {email}.")
    user.set_password(password)
    db.session.commit()
    click.echo(f"Password of {email} changed.")


@admin_group.command("bootstrap")
def bootstrap():
    """Make sure a first admin exists (run by ``make run``).

    With WEBHOOKS_ADMIN_EMAIL and WEBHOOKS_ADMIN_PASSWORD set, that account is created or its
    password updated. Otherwise, when no account exists at all, one is created and its email
    and a random password are printed once.
    """
    email = os.environ.get("WEBHOOKS_ADMIN_EMAIL", "").strip()
    password = os.environ.get("WEBHOOKS_ADMIN_PASSWORD", "")
    if email or password:
        if not (email and password):
            raise click.ClickException(
                "Set both WEBHOOKS_ADMIN_EMAIL and WEBHOOKS_ADMIN_PASSWORD, or neither."
            )
        email = _normalise_email(email)
        _check_password(password)
        user = _find(email)
        if user is None:
            user = User(email=email)
            db.session.add(user)
            click.echo(f"Admin {email} created from WEBHOOKS_ADMIN_EMAIL.")
        elif user.check_password(password):
            return
        else:
            click.echo(f"Password of {email} set from WEBHOOKS_ADMIN_PASSWORD.")
        user.set_password(password)
        db.session.commit()
        return
    if db.session.scalar(select(func.count()).select_from(User)):
        return
    email = "admin@example.com"
    password = admins.new_password()
    admins.create(email, password)
    db.session.commit()
    click.echo("")
    click.echo("  First admin created. Log in with:")
    click.echo(f"    email:    {email}")
    click.echo(f"    password: {password}")
    click.echo("  This password is shown only once; change it on the site (click your")
    click.echo("  email at the top of the page), or with")
    click.echo(f"  `.venv/bin/flask --app wsgi admin reset-password {email}`.")
    click.echo("")

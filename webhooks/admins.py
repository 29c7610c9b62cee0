"""The admin accounts and their rules, shared by ``flask admin`` and the Admins page: what an
email and a password must be, creating an admin, and removing one (never the last)."""

import secrets

from sqlalchemy import delete, func, select

from webhooks.extensions import db
from webhooks.models import User

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_EMAIL = 254


class LastAdmin(Exception):
    """Removing this admin would leave nobody who can log in."""


def normalise_email(email: str) -> str:
    """The form an email is stored and looked up in: no surrounding spaces, lower case."""
    return email.strip().lower()


def is_email(email: str) -> bool:
    """Whether a normalised email can be an admin's login: one ``@`` with text either side,
    no spaces or control characters, at most MAX_EMAIL characters."""
    name, at, domain = email.rpartition("@")
    return (
        bool(at and name and domain)
        and len(email) <= MAX_EMAIL
        and not any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in email)
    )


def password_long_enough(password: str) -> bool:
    return MIN_PASSWORD <= len(password)


def new_password() -> str:
    """A random password for an admin added without one (shown once)."""
    return secrets.token_urlsafe(12)


def find(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == normalise_email(email)))


def create(email: str, password: str) -> User:
    """Add an admin (the caller commits); the email is stored normalised."""
    user = User(email=normalise_email(email))
    user.set_password(password)
    db.session.add(user)
    return user


def remove(user: User) -> None:
    """Delete an admin, which ends their sessions at once (the caller commits).

    The admins' rows are locked first (on databases that lock rows), so two admins removing
    each other at the same moment cannot both succeed and leave nobody.
    """
    ids = db.session.scalars(select(User.id).with_for_update()).all()
    if len(ids) <= 1:
        raise LastAdmin(user.email)
    db.session.execute(delete(User).where(User.id == user.id))
    db.session.expire_all()

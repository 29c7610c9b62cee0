"""Device cookies: a browser that logged in to an account before is known to it.

After a successful login the browser gets a signed cookie naming the account's email and a
random device id. Its later login attempts for that email are limited per device instead of
per account (``webhooks.auth.throttle``), so somebody guessing passwords for the account from
elsewhere cannot lock its admin out. The cookie is signed with the app's secret key under a
salt of its own (it cannot be made from a session cookie or the other way round), HttpOnly,
SameSite=Lax, Secure over HTTPS, and lasts a year; a new one is given at every login.
See OWASP's "Slow Down Online Guessing Attacks with Device Cookies".
"""

import hashlib
import secrets
from datetime import timedelta

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from webhooks.admins import normalise_email

COOKIE_NAME = "device"
SALT = "webhooks.auth.device-cookie"
LIFETIME = timedelta(days=365)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)


def known_device(email: str) -> str | None:
    """The id of this browser's device cookie when it is valid and was given for ``email``
    (any spelling of it); None for no cookie, a tampered or expired one, or another email's."""
    value = request.cookies.get(COOKIE_NAME)
    if not value:
        return None
    try:
        content = _serializer().loads(value, max_age=int(LIFETIME.total_seconds()))
    except BadSignature:  # also an expired cookie (SignatureExpired is a BadSignature)
        return None
    if not isinstance(content, dict):
        return None
    device, owner = content.get("device"), content.get("email")
    if not isinstance(device, str) or owner != normalise_email(email):
        return None
    return device


def device_key(device: str) -> str:
    """The device's key in the limit store: hashed, like the accounts' keys."""
    return "device:" + hashlib.sha256(device.encode()).hexdigest()


def remember(response: Response, email: str) -> Response:
    """Give the browser a new device cookie for ``email`` (after it logged in)."""
    value = _serializer().dumps(
        {"email": normalise_email(email), "device": secrets.token_urlsafe(16)}
    )
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=int(LIFETIME.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure,
    )
    return response

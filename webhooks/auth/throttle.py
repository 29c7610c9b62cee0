"""Limits on password checks: every login attempt from one client address; for one account, the
attempts from browsers it does not know; for a browser it knows, that browser's own attempts.

An attempt is counted before its password is checked, with the limit store's atomic ``hit``,
so simultaneous guesses cannot get past a limit between the check and the count. A browser with
a valid device cookie for the account (``webhooks.auth.devices``) is counted against its own
limit only; once that is spent it is treated like any other browser. So guesses from elsewhere
lock out other browsers, never the admin's own. A successful attempt costs its place too.

The per-account limit counts any submitted email, known or not, and its refusal reads like the
per-address one, so neither tells whether an account exists. A refusal is a 429 on the usual
error page (or a message on the form of a logged-in page), saying when to try again (also in
Retry-After).
"""

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import NoReturn

from flask import Flask, Response, abort, current_app, g
from flask_babel import ngettext
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import STRATEGIES, RateLimiter

from webhooks.admins import normalise_email
from webhooks.auth import devices
from webhooks.extensions import limiter
from webhooks.settings import SettingError

log = logging.getLogger(__name__)
SETTINGS = ("LOGIN_LIMIT_PER_ADDRESS", "LOGIN_LIMIT_PER_ACCOUNT", "LOGIN_LIMIT_PER_DEVICE")
FALLBACK = "login_throttle_fallback"


@dataclass(frozen=True)
class Refusal:
    """An attempt over a limit, and how long until the limit lets one through."""

    seconds: int

    @property
    def message(self) -> str:
        return too_many_attempts(self.seconds)


def account_key(email: str) -> str:
    """The submitted email, hashed: a fixed-size key that keeps addresses out of the store."""
    email = normalise_email(email)
    return "account:" + hashlib.sha256(email.encode("utf-8", "replace")).hexdigest()


def _limits(setting: str) -> list[RateLimitItem]:
    return parse_many(str(current_app.config[setting]))


def _hit(setting: str, key: str) -> Refusal | None:
    """Count one attempt against every limit of ``setting`` for ``key``, atomically each; the
    first limit that is full refuses (and the attempt is not counted against it)."""
    for item in _limits(setting):
        strategy: RateLimiter = limiter.limiter  # its memory fallback while the store is down
        try:
            counted = strategy.hit(item, key)
        except Exception:  # the store went away: count in this process meanwhile
            log.warning("Login limit storage unreachable; counting in this process")
            strategy = current_app.extensions[FALLBACK]
            counted = strategy.hit(item, key)
        if not counted:
            reset = strategy.get_window_stats(item, key).reset_time
            return Refusal(max(1, math.ceil(reset - time.time())))
    return None


def reserve_attempt(email: str) -> Refusal | None:
    """Count one password check for ``email`` before it is made; a Refusal when a limit says
    no (the password must then not be checked).

    A browser with a valid device cookie for the email is counted per device; when its device
    limit is spent, or without a cookie, the attempt is counted per account.
    """
    device = devices.known_device(email)
    if device is not None and _hit("LOGIN_LIMIT_PER_DEVICE", devices.device_key(device)) is None:
        return None
    return _hit("LOGIN_LIMIT_PER_ACCOUNT", account_key(email))


def refuse(refusal: Refusal) -> NoReturn:
    """Answer 429 on the error page, with Retry-After."""
    g.login_retry_after = refusal.seconds
    abort(429, description=refusal.message)


def too_many_attempts(seconds: int) -> str:
    if seconds < 60:
        return ngettext(
            "Too many login attempts. Try again in %(num)d second.",
            "Too many login attempts. Try again in %(num)d seconds.",
            seconds,
        )
    return ngettext(
        "Too many login attempts. Try again in %(num)d minute.",
        "Too many login attempts. Try again in %(num)d minutes.",
        math.ceil(seconds / 60),
    )


def _address_limit_message() -> str:
    """The per-address refusal (Flask-Limiter's), worded like the others."""
    current = limiter.current_limit
    seconds = 60 if current is None else max(1, math.ceil(current.window.reset_time - time.time()))
    g.login_retry_after = seconds
    return too_many_attempts(seconds)


def add_retry_after(response: Response) -> Response:
    if response.status_code == 429 and "login_retry_after" in g:
        response.headers["Retry-After"] = str(g.login_retry_after)
    return response


per_address = limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"],
    methods=["POST"],
    error_message=_address_limit_message,
)


def init_app(app: Flask) -> None:
    """Refuse to start with a limit Flask-Limiter would skip (it logs bad limits and goes on);
    in a Redis store the counters' keys start with REDIS_KEY_PREFIX."""
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {
        "key_prefix": app.config["REDIS_KEY_PREFIX"] + RedisStorage.PREFIX,
        **app.config.get("RATELIMIT_STORAGE_OPTIONS", {}),
    }
    for name in SETTINGS:
        try:
            valid = bool(parse_many(str(app.config[name])))
        except ValueError:
            valid = False
        if not valid:
            raise SettingError(
                name, app.config[name], "is not a limit", "a limit such as '10 per minute'"
            )
    strategy = STRATEGIES[app.config.get("RATELIMIT_STRATEGY", "fixed-window")]
    app.extensions[FALLBACK] = strategy(MemoryStorage())

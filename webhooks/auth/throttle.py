"""Limits on logging in: every attempt from one client address, and the failed ones for one email.

The per-account limit counts failures for any submitted email, known or not, and its refusal
reads like the per-address one, so neither tells whether an account exists. A refusal is a 429
on the usual error page, saying when to try again (also in Retry-After).
"""

import hashlib
import math
import time

from flask import Flask, Response, current_app, g, request
from flask_babel import ngettext
from limits import parse_many
from limits.storage import RedisStorage

from webhooks.extensions import limiter

SETTINGS = ("LOGIN_LIMIT_PER_ADDRESS", "LOGIN_LIMIT_PER_ACCOUNT")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def account_key() -> str:
    """The submitted email, hashed: a fixed-size key that keeps addresses out of the store."""
    email = normalise_email(request.form.get("email", ""))
    return "account:" + hashlib.sha256(email.encode("utf-8", "replace")).hexdigest()


def count_failure() -> None:
    """Charge this request to the per-account limit (it is tested before, charged after)."""
    g.login_failed = True


def _failed(_response: Response) -> bool:
    return g.get("login_failed", False)


def seconds_until_retry() -> int:
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, math.ceil(current.window.reset_time - time.time()))


def too_many_attempts() -> str:
    g.login_retry_after = seconds = seconds_until_retry()
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


def add_retry_after(response: Response) -> Response:
    if response.status_code == 429 and "login_retry_after" in g:
        response.headers["Retry-After"] = str(g.login_retry_after)
    return response


per_address = limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"],
    methods=["POST"],
    error_message=too_many_attempts,
)
per_account = limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    key_func=account_key,
    methods=["POST"],
    deduct_when=_failed,
    error_message=too_many_attempts,
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
            raise ValueError(
                f"{name} must be a limit such as '10 per minute', not {app.config[name]!r}"
            )

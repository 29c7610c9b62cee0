"""Every setting is checked when the app is made, so a mistyped one stops start-up with one
line naming it and the form it expects (``wsgi.py`` prints it), never a traceback and never
later, in the middle of a delivery.

The settings with a syntax of their own are read by their modules (the guard's networks, the
retry schedule, the login limits), which raise ``SettingError`` too.
"""

import math
from collections.abc import Callable, Mapping
from typing import Any

from webhooks.schema_checks import MODES as SCHEMA_MODES


class SettingError(ValueError):
    """A setting that cannot be used; ``str(error)`` is the one line to show."""

    def __init__(self, name: str, value: Any, problem: str, expected: str) -> None:
        self.name = name
        super().__init__(f"WEBHOOKS_{name}: {value!r} {problem}; expected {expected}")


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("is not a number")
    if isinstance(value, int | float):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise ValueError("is not a number") from None
    if not math.isfinite(number):
        raise ValueError("is not a finite number")
    return number


def number(low: float, *, above: bool = False, high: float | None = None):
    def read(value: Any) -> float:
        found = _number(value)
        if found < low or (above and found == low) or (high is not None and found > high):
            raise ValueError("is out of range")
        return found

    return read


def whole(low: int):
    def read(value: Any) -> int:
        found = _number(value)
        if found != int(found):
            raise ValueError("is not a whole number")
        if found < low:
            raise ValueError("is out of range")
        return int(found)

    return read


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("is not true or false")


def one_of(*choices: str):
    def read(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"is not one of {', '.join(choices)}")
        return value

    return read


# name → (reader, the form it expects)
READERS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "DELIVERY_TIMEOUT": (number(0, above=True), "a number of seconds above 0, such as 15"),
    "RESPONSE_BODY_LIMIT": (whole(0), "a whole number of bytes, such as 20480"),
    "RETRY_JITTER": (number(0, high=1), "a fraction from 0 to 1, such as 0.2"),
    "DISABLE_AFTER_DAYS": (number(0), "a number of days, such as 5 (0 disables at once)"),
    "RETENTION_DAYS": (number(0, above=True), "a number of days above 0, such as 30"),
    "MAX_EVENT_BYTES": (whole(1), "a whole number of bytes, such as 262144"),
    "WORKER_CONCURRENCY": (whole(1), "a whole number of requests of at least 1, such as 1000"),
    "WORKER_POLL_INTERVAL": (number(0, above=True), "a number of seconds above 0, such as 1"),
    "BREAKER_AFTER": (whole(1), "a whole number of failures of at least 1, such as 5"),
    "EMBEDDED_WORKER": (boolean, "true or false"),
    "QUEUE": (one_of("embedded", "celery"), "embedded or celery"),
    "SCHEMA_ENFORCEMENT": (one_of(*SCHEMA_MODES), "off, warn or reject"),
    "WEBHOOKS_PER_PAGE": (whole(1), "a whole number of at least 1, such as 20"),
    "DELIVERIES_PER_PAGE": (whole(1), "a whole number of at least 1, such as 50"),
    "RECENT_DELIVERIES": (whole(1), "a whole number of at least 1, such as 10"),
    "LIVE_POLL_SECONDS": (number(0), "a number of seconds, such as 2 (0: no live updates)"),
    "LIVE_IDLE_POLL_SECONDS": (number(0), "a number of seconds, such as 15"),
    "MAX_CONTENT_LENGTH": (whole(1), "a whole number of bytes, such as 1048576"),
    "SESSION_COOKIE_SECURE": (boolean, "true or false"),
    "TRUSTED_PROXIES": (whole(0), "a whole number of proxies, such as 0 or 1"),
}


def check(config: Mapping[str, Any], readers: Mapping = READERS) -> None:
    """Raise ``SettingError`` for the first setting of ``readers`` that ``config`` holds in a
    form its reader refuses."""
    for name, (read, expected) in readers.items():
        if name not in config:
            continue
        try:
            read(config[name])
        except SettingError:
            raise
        except ValueError as error:
            raise SettingError(name, config[name], str(error), expected) from None

"""When to try again: the retry schedule, its jitter and the receiver's Retry-After."""

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from webhooks.config import SettingError

RETRY_AFTER_STATUSES = frozenset({429, 503})
MAX_RETRY_AFTER = 24 * 3600


def parse_schedule(setting: str | float | Sequence[float]) -> tuple[float, ...]:
    """Seconds between attempts, from a list or a comma-separated setting such as "5,300,1800"
    (a one-step setting such as WEBHOOKS_RETRY_SCHEDULE=60 arrives as a number)."""
    if isinstance(setting, int | float):
        items = [setting]
    else:
        items = setting.split(",") if isinstance(setting, str) else list(setting)
    try:
        schedule = tuple(float(item) for item in items if str(item).strip())
    except ValueError as error:
        message = f"WEBHOOKS_RETRY_SCHEDULE: {setting!r} is not a list of seconds"
        raise SettingError(message) from error
    if any(step < 0 for step in schedule):
        raise SettingError("WEBHOOKS_RETRY_SCHEDULE: steps must not be negative")
    return schedule


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) in seconds, bounded to one day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - now).total_seconds()
    return min(max(seconds, 1.0), MAX_RETRY_AFTER)


def next_delay(
    failed_attempts: int,
    schedule: Sequence[float],
    jitter: float = 0.2,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds until the next attempt after ``failed_attempts`` failures; None when exhausted."""
    if failed_attempts > len(schedule):
        return None
    if retry_after is not None:
        return retry_after
    base = schedule[failed_attempts - 1]
    spread = (rng or random).uniform(-jitter, jitter)
    return max(0.0, base * (1 + spread))

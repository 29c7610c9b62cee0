"""The worker's settings, read and checked once from the app's configuration."""

from dataclasses import dataclass
from datetime import timedelta

from webhooks.worker.retry import parse_schedule


@dataclass(frozen=True)
class Policy:
    schedule: tuple[float, ...]
    jitter: float
    disable_after: timedelta
    lease: timedelta
    retention: timedelta

    @classmethod
    def from_config(cls, config) -> "Policy":
        timeout = float(config["DELIVERY_TIMEOUT"])
        return cls(
            schedule=parse_schedule(config["RETRY_SCHEDULE"]),
            jitter=float(config["RETRY_JITTER"]),
            disable_after=timedelta(days=float(config["DISABLE_AFTER_DAYS"])),
            # Longer than any one attempt can take: connect and read timeouts, plus a margin.
            lease=timedelta(seconds=2 * timeout + 30),
            retention=timedelta(days=float(config["RETENTION_DAYS"])),
        )

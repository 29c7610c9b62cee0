"""The worker's settings, read and checked once from the app's configuration."""

from dataclasses import dataclass
from datetime import timedelta

from webhooks.config import SettingError
from webhooks.worker.claims import RATE_HORIZON
from webhooks.worker.retry import parse_schedule

# Between probes of a receiver that is down when the retry schedule is empty.
DEFAULT_PROBE_DELAY = 60.0


@dataclass(frozen=True)
class Policy:
    schedule: tuple[float, ...]
    jitter: float
    disable_after: timedelta
    lease: timedelta
    retention: timedelta
    breaker_after: int

    @classmethod
    def from_config(cls, config) -> "Policy":
        timeout = float(config["DELIVERY_TIMEOUT"])
        breaker_after = int(config["BREAKER_AFTER"])
        if breaker_after < 1:
            raise SettingError("WEBHOOKS_BREAKER_AFTER: must be at least 1")
        return cls(
            schedule=parse_schedule(config["RETRY_SCHEDULE"]),
            jitter=float(config["RETRY_JITTER"]),
            disable_after=timedelta(days=float(config["DISABLE_AFTER_DAYS"])),
            # Longer than any one attempt can take, with its wait for a rate-limit slot.
            lease=timedelta(seconds=2 * timeout + 30) + RATE_HORIZON,
            retention=timedelta(days=float(config["RETENTION_DAYS"])),
            breaker_after=breaker_after,
        )

    def probe_delay(self, step: int) -> float:
        """Seconds from a receiver found down to its ``step``-th probe: the retry schedule's
        step, the last one repeating."""
        if not self.schedule:
            return DEFAULT_PROBE_DELAY
        return self.schedule[min(step, len(self.schedule) - 1)]

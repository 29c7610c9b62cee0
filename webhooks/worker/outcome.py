"""What an attempt's result means for its delivery and webhook: done, retry later, or give up;
and whether the webhook's receiver is down (the circuit breaker).

Everything here is pure: it reads the state and the result and returns (or updates) plain
values; ``webhooks.lifecycle`` writes the decisions of a whole batch at once.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from webhooks.delivery.messages import Message
from webhooks.delivery.result import SendResult
from webhooks.models import DeliveryStatus
from webhooks.worker.policy import Policy
from webhooks.worker.retry import RETRY_AFTER_STATUSES, next_delay, retry_after_seconds

GONE = 410
GONE_REASON = Message("disabled.gone")


@dataclass
class WebhookState:
    """What the decisions of one batch need to know of a webhook, kept up to date as the
    batch's results are decided one after another."""

    active: bool
    failing_since: datetime | None
    consecutive_failures: int = 0
    down_since: datetime | None = None
    next_probe_at: datetime | None = None
    probe_step: int = 0

    def breaker_values(self) -> dict:
        return {
            "failing_since": self.failing_since,
            "consecutive_failures": self.consecutive_failures,
            "down_since": self.down_since,
            "next_probe_at": self.next_probe_at,
            "probe_step": self.probe_step,
        }


@dataclass(frozen=True)
class Decision:
    status: DeliveryStatus
    round_failures: int
    next_attempt_at: datetime | None = None
    disable_reason: Message | None = None


def decide(
    round_failures: int, webhook: WebhookState, result: SendResult, now: datetime, policy: Policy
) -> Decision:
    """The next state of a delivery after an attempt; updates ``webhook`` to match."""
    if result.ok:
        webhook.failing_since = None
        return Decision(DeliveryStatus.SUCCEEDED, round_failures)
    if not webhook.active:  # deactivated or disabled while this attempt was in flight
        return Decision(DeliveryStatus.FAILED, round_failures)
    if result.status_code == GONE:
        webhook.active = False
        return Decision(DeliveryStatus.FAILED, round_failures, disable_reason=GONE_REASON)
    if webhook.failing_since is None:
        webhook.failing_since = now
    elif now - webhook.failing_since >= policy.disable_after:
        webhook.active = False
        days = policy.disable_after / timedelta(days=1)
        reason = Message("disabled.failing", {"days": days, "last": result.message})
        return Decision(DeliveryStatus.FAILED, round_failures, disable_reason=reason)

    failures = round_failures + 1
    retry_after = None
    if result.status_code in RETRY_AFTER_STATUSES:
        retry_after = retry_after_seconds(result.header("Retry-After"), now)
    delay = next_delay(failures, policy.schedule, policy.jitter, retry_after)
    if delay is None:
        return Decision(DeliveryStatus.FAILED, failures)
    return Decision(DeliveryStatus.FAILING, failures, now + timedelta(seconds=delay))


def track_breaker(webhook: WebhookState, result: SendResult, now: datetime, policy: Policy) -> None:
    """Count the attempts in a row that found the receiver down (a timeout, no connection, a
    5xx). At ``policy.breaker_after`` the breaker opens: the receiver is down since now, and
    only a probe goes at ``next_probe_at``. A failed probe sets the next one a step further
    along the retry schedule; any answer from the receiver closes the breaker. A refusal of
    the guard or an internal error says nothing about the receiver."""
    if result.receiver_down:
        webhook.consecutive_failures += 1
        if webhook.down_since is None:
            if webhook.consecutive_failures >= policy.breaker_after:
                webhook.down_since = now
                webhook.probe_step = 0
                _next_probe(webhook, now, policy)
        elif webhook.next_probe_at is None or now >= webhook.next_probe_at:
            _next_probe(webhook, now, policy)  # the probe failed
        return
    if result.ok or result.status_code is not None:
        webhook.consecutive_failures = 0
        webhook.down_since = webhook.next_probe_at = None
        webhook.probe_step = 0


def _next_probe(webhook: WebhookState, now: datetime, policy: Policy) -> None:
    webhook.next_probe_at = now + timedelta(seconds=policy.probe_delay(webhook.probe_step))
    webhook.probe_step += 1

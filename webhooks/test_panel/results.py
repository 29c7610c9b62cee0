"""What the panel shows of a test send: still sending, its result, or that none will come."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import abort, current_app
from flask_babel import gettext as _

from webhooks.delivery.messages import result_text
from webhooks.delivery.result import preview, status_text
from webhooks.extensions import db
from webhooks.models import Delivery, as_utc

# Past the delivery timeout by this much with no attempt recorded, a test send's result is
# not coming: the process sending it stopped (a restart) before it could record it.
LOST_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class Outcome:
    state: str  # "sending", "done" or "lost"
    delivery_id: int
    ok: bool | None = None
    message: str = ""
    status: str | None = None
    duration_ms: int | None = None
    response: str | None = None

    def as_json(self) -> dict:
        return {
            "state": self.state,
            "id": self.delivery_id,
            "ok": self.ok,
            "message": self.message,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "response": self.response,
        }


def test_send_or_404(webhook_id: int, delivery_id: int) -> Delivery:
    """A test send of this webhook; anything else is not found."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None or delivery.webhook_id != webhook_id or not delivery.is_test:
        abort(404, description=_("There is no test send with that id for this webhook."))
    return delivery


def outcome(delivery: Delivery, now: datetime | None = None) -> Outcome:
    attempt = delivery.last_attempt
    if attempt is None:
        now = now or datetime.now(UTC)
        waited = now - as_utc(delivery.created_at)
        if waited < timedelta(seconds=current_app.config["DELIVERY_TIMEOUT"]) + LOST_AFTER:
            return Outcome("sending", delivery.id, message=_("Sending…"))
        return Outcome(
            "lost",
            delivery.id,
            ok=False,
            message=_("No result arrived: the site restarted while it was sending. Send it again."),
        )
    if attempt.succeeded:
        message = _(
            "Test event delivered to %(url)s: %(summary)s.",
            url=attempt.url,
            summary=result_text(attempt.message, attempt.summary),
        )
    else:
        message = _(
            "Test event failed: %(summary)s.",
            summary=result_text(attempt.message, attempt.summary),
        )
    return Outcome(
        "done",
        delivery.id,
        ok=attempt.succeeded,
        message=message,
        status=status_text(attempt.response_status) if attempt.response_status else None,
        duration_ms=attempt.duration_ms,
        response=preview(attempt.response_body) or None,
    )

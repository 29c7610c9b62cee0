"""Helpers shared by the delivery-engine tests: API tokens, what is stored, the receiver's
view of a request, and a worker driven by hand with a fake clock."""

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook as SW
from werkzeug import Response

from webhooks import lifecycle
from webhooks.delivery.pipeline import EXTENSION_KEY as DELIVERER_KEY
from webhooks.delivery.result import SendResult
from webhooks.extensions import db
from webhooks.models import ApiToken, Attempt, Delivery, Event, Webhook, as_utc
from webhooks.tokens import create_token
from webhooks.worker.claims import Claim
from webhooks.worker.dispatcher import Dispatcher
from webhooks.worker.policy import Policy

# ---------------------------------------------------------------- API


def api_token(app, name: str = "ci", scope: str = "full") -> str:
    """A new API token's plain text, as `flask tokens create` would print it."""
    with app.app_context():
        _token, plain = create_token(name, scope)
        db.session.commit()
        return plain


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_event(client, token: str | None, payload=None, *, raw=None, content_type=None):
    """POST /api/v1/events with a JSON payload, or ``raw`` bytes/text as the body."""
    headers = bearer(token) if token else {}
    body = raw if raw is not None else json.dumps(payload)
    return client.post(
        "/api/v1/events",
        data=body,
        headers=headers,
        content_type=content_type or "application/json",
    )


def assert_api_error(response, status: int, code: str | None = None) -> str:
    """The response is the API's one error shape; returns its message."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) in ({"code", "message"}, {"code", "message", "fields"}), body
    if code is not None:
        assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str) and len(message) > 10
    return message


# ---------------------------------------------------------------- what is stored


def stored(app) -> dict[str, int]:
    """How many events, deliveries and attempts the database holds."""
    with app.app_context():
        return {
            name: db.session.scalar(select(func.count()).select_from(model))
            for name, model in (("events", Event), ("deliveries", Delivery), ("attempts", Attempt))
        }


def deliveries_of(app, webhook_id: int) -> list[dict]:
    """The webhook's deliveries and their attempts, as plain values."""
    with app.app_context():
        rows = db.session.scalars(
            select(Delivery).where(Delivery.webhook_id == webhook_id).order_by(Delivery.id)
        ).all()
        return [delivery_values(row) for row in rows]


def delivery_values(row: Delivery) -> dict:
    return {
        "id": row.id,
        "msg_id": row.msg_id,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "body": row.body,
        "status": row.status,
        "attempt_count": row.attempt_count,
        "round_failures": row.round_failures,
        "next_attempt_at": as_utc(row.next_attempt_at) if row.next_attempt_at else None,
        "lease_token": row.lease_token,
        "last_summary": row.last_summary,
        "attempts": [
            {
                "succeeded": attempt.succeeded,
                "response_status": attempt.response_status,
                "error": attempt.error,
                "summary": attempt.summary,
                "request_headers": json.loads(attempt.request_headers),
            }
            for attempt in row.attempts
        ],
    }


def delivery(app, delivery_id: int) -> dict:
    with app.app_context():
        return delivery_values(db.session.get(Delivery, delivery_id))


def webhook_values(app, webhook_id: int) -> dict:
    with app.app_context():
        hook = db.session.get(Webhook, webhook_id)
        return {
            "active": hook.active,
            "secret": hook.secret,
            "sent_count": hook.sent_count,
            "failing_since": as_utc(hook.failing_since) if hook.failing_since else None,
            "disabled_at": hook.disabled_at,
            "disabled_reason": hook.disabled_reason,
            "last_delivery_ok": hook.last_delivery_ok,
            "consecutive_failures": hook.consecutive_failures,
            "down_since": as_utc(hook.down_since) if hook.down_since else None,
            "next_probe_at": as_utc(hook.next_probe_at) if hook.next_probe_at else None,
        }


def update_webhook(app, webhook_id: int, **values) -> None:
    with app.app_context():
        hook = db.session.get(Webhook, webhook_id)
        for name, value in values.items():
            setattr(hook, name, value)
        db.session.commit()


def update_delivery(app, delivery_id: int, **values) -> None:
    with app.app_context():
        row = db.session.get(Delivery, delivery_id)
        for name, value in values.items():
            setattr(row, name, value)
        db.session.commit()


def token_row(app, plain: str) -> ApiToken:
    with app.app_context():
        return db.session.scalar(select(ApiToken).where(ApiToken.prefix == plain[:10]))


# ---------------------------------------------------------------- the receiver's view


def received_headers(request) -> dict[str, str]:
    return {name: request.headers[name] for name in request.headers.keys()}


def verify(secret: str, request):
    """The payload, if the request carries a valid Standard Webhooks signature for ``secret``."""
    return SW(secret).verify(request.get_data(as_text=True), received_headers(request))


def run_worker(app) -> int:
    """Send every due delivery, as the worker would; how many were sent."""
    sent = 0
    with app.app_context():
        dispatcher = Dispatcher(app, concurrency=1)
        while count := dispatcher.run_once(limit=50):
            sent += count
    return sent


def expand(app, now: datetime | None = None) -> int:
    """Expand every event stored so far into its deliveries, as a worker does within
    milliseconds; how many deliveries were written."""
    with app.app_context():
        return lifecycle.expand_all(now or datetime.now(UTC))


class WakeFlag(threading.Event):
    """Set when the app's engine is told of new work, as a dispatcher would be woken."""

    def wake(self) -> None:
        self.set()


def wake_flag(app) -> WakeFlag:
    flag = WakeFlag()
    app.extensions["webhooks.engine"].attach(flag)
    return flag


def wait_until(predicate: Callable[[], object], seconds: float = 5.0, interval: float = 0.01):
    """Poll ``predicate`` until it is truthy; returns its value, or fails after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {seconds} s")
        time.sleep(interval)


# ---------------------------------------------------------------- a worker driven by hand


class FakeClock:
    """The worker's idea of now; starts at the real now and moves only when told."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def move_to(self, moment: datetime) -> datetime:
        self.now = as_utc(moment)
        return self.now


def policy_of(app) -> Policy:
    return Policy.from_config(app.config)


def claim(app, now: datetime, limit: int = 100) -> list[Claim]:
    with app.app_context():
        return lifecycle.claim(now, limit, policy_of(app))


def run_claimed(
    app, claimed: list[Claim], clock: Callable[[], datetime]
) -> list[SendResult | None]:
    """Attempt claimed deliveries one by one as a worker would, with the given clock; None for
    one that was not sent (its claim is no longer the worker's)."""
    results: list[SendResult | None] = []
    with app.app_context():
        deliverer = app.extensions[DELIVERER_KEY]
        policy = policy_of(app)
        for one in claimed:
            jobs = lifecycle.load([one], deliverer, clock())
            if not jobs:
                results.append(None)
                continue
            result = deliverer.attempt_now(jobs[0].prepared)
            lifecycle.record([(jobs[0], result)], policy, clock())
            results.append(result)
    return results


def work(app, clock: FakeClock, limit: int = 100) -> list:
    """One worker pass at the clock's now: expand new events, claim what is due, then send
    it."""
    expand(app, clock.now)
    return run_claimed(app, claim(app, clock.now, limit), clock)


# ---------------------------------------------------------------- a scripted receiver


class Script:
    """A receiver handler that answers requests in turn (the last answer repeats) and notes
    each request: when it arrived, its headers and body. An answer is a status, a
    (status, headers) pair, or a callable taking the request."""

    def __init__(self, *answers) -> None:
        self.answers = answers or (200,)
        self.seen: list[dict] = []
        self._lock = threading.Lock()

    def __call__(self, request):
        with self._lock:
            index = len(self.seen)
            self.seen.append(
                {
                    "at": time.monotonic(),
                    "headers": received_headers(request),
                    "body": request.get_data(as_text=True),
                    "request": request,
                }
            )
        answer = self.answers[min(index, len(self.answers) - 1)]
        if callable(answer):
            return answer(request)
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        return Response("answer", status=status, headers=headers)

    def ids(self) -> list[str]:
        with self._lock:
            return [seen["headers"]["Webhook-Id"] for seen in self.seen]

    def count(self) -> int:
        with self._lock:
            return len(self.seen)

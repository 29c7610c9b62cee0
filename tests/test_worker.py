"""The delivery worker against a real receiver on 127.0.0.1.

Most tests drive it by hand: a claim, then each attempt and its recording, with a fake clock,
so a retry five hours away is a clock move, not a wait. The last ones run the dispatcher for
real.
"""

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import select
from werkzeug import Response

from tests.conftest import unused_port
from tests.engine_helpers import (
    FakeClock,
    Script,
    claim,
    deliveries_of,
    delivery,
    expand,
    policy_of,
    run_claimed,
    stored,
    update_delivery,
    update_webhook,
    verify,
    wait_until,
    webhook_values,
    work,
)
from webhooks import create_app, dispatch
from webhooks.extensions import db
from webhooks.models import Delivery, Event, Webhook
from webhooks.outbox import enqueue
from webhooks.worker.dispatcher import Dispatcher
from webhooks.worker.retention import purge
from webhooks.worker.wakeup import ENGINE_KEY

PAYMENT = {"payment_id": 7, "payment_total": "$9.00"}
DEFAULT_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]

pytestmark = pytest.mark.embedded_engine  # the embedded engine's own tests


def report(app, event_type: str = "payment_received", data: dict | None = None) -> str:
    """Report an event and expand it into its deliveries, as a worker does at once."""
    with app.app_context():
        uid = dispatch(event_type, data if data is not None else PAYMENT).event.uid
    expand(app)
    return uid


def hooked(receiver, make_webhook, script: Script, path: str = "/hook", **fields) -> int:
    """A webhook whose receiver answers with ``script``."""
    receiver.expect_request(path, method="POST").respond_with_handler(script)
    return make_webhook(url=receiver.url_for(path), **fields)


def only_delivery(app, webhook_id: int) -> dict:
    rows = deliveries_of(app, webhook_id)
    assert len(rows) == 1, rows
    return rows[0]


def delivery_status(app, webhook_id: int) -> str | None:
    """The status of the webhook's one delivery, or None until the worker has written it (it
    expands the reported event within milliseconds of being woken)."""
    rows = deliveries_of(app, webhook_id)
    assert len(rows) <= 1, rows
    return rows[0]["status"] if rows else None


def seconds_after(moment: datetime, base: datetime) -> float:
    return (moment - base).total_seconds()


# ---------------------------------------------------------------- success


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_delivery_answered_2xx_succeeds_and_counts_as_sent(app, receiver, make_webhook, status):
    script = Script(status)
    webhook_id = hooked(receiver, make_webhook, script, sent_count=4)
    report(app)

    results = work(app, FakeClock())

    assert [result.ok for result in results] == [True]
    row = only_delivery(app, webhook_id)
    assert row["status"] == "succeeded"
    assert row["next_attempt_at"] is None
    assert row["lease_token"] is None
    assert row["attempt_count"] == 1
    assert row["attempts"][0]["succeeded"] is True
    assert row["attempts"][0]["response_status"] == status
    assert row["attempts"][0]["error"] is None
    hook = webhook_values(app, webhook_id)
    assert hook["sent_count"] == 5
    assert hook["last_delivery_ok"] is True
    assert script.count() == 1


def test_receiver_gets_the_stored_body_signed_with_the_webhook_secret(app, receiver, make_webhook):
    script = Script(200)
    webhook_id = hooked(receiver, make_webhook, script)
    report(app)

    work(app, FakeClock())

    seen = script.seen[0]
    row = only_delivery(app, webhook_id)
    assert seen["body"] == row["body"]
    assert seen["headers"]["Webhook-Id"] == row["msg_id"]
    assert seen["headers"]["Content-Type"] == "application/json"
    payload = verify(webhook_values(app, webhook_id)["secret"], seen["request"])
    assert payload["type"] == "payment_received"
    assert payload["data"] == PAYMENT
    recorded = row["attempts"][0]["request_headers"]
    assert recorded["webhook-signature"] == seen["headers"]["Webhook-Signature"]


def test_nothing_is_sent_twice_once_it_succeeded(app, receiver, make_webhook):
    script = Script(200)
    hooked(receiver, make_webhook, script)
    report(app)
    clock = FakeClock()

    work(app, clock)
    clock.advance(7 * 24 * 3600)
    assert work(app, clock) == []

    assert script.count() == 1


# ---------------------------------------------------------------- failures and retries


def test_failed_delivery_is_retried_about_5_seconds_later(app, receiver, make_webhook):
    script = Script(500)
    webhook_id = hooked(receiver, make_webhook, script)
    report(app)
    clock = FakeClock()

    [result] = work(app, clock)

    assert result.ok is False
    row = only_delivery(app, webhook_id)
    assert row["status"] == "failing"
    assert row["lease_token"] is None
    assert 4.0 <= seconds_after(row["next_attempt_at"], clock.now) <= 6.0
    assert row["attempts"][0]["response_status"] == 500
    assert "HTTP 500" in row["attempts"][0]["error"]
    hook = webhook_values(app, webhook_id)
    assert hook["sent_count"] == 0
    assert hook["failing_since"] == clock.now
    assert hook["active"] is True
    # Not before it is due.
    clock.advance(3.9)
    assert work(app, clock) == []
    assert script.count() == 1


@pytest.mark.parametrize("status", [301, 302, 400, 401, 404, 422, 500, 502])
def test_any_answer_but_2xx_is_a_failure(app, receiver, make_webhook, status):
    script = Script((status, {"Location": "https://example.com/elsewhere"}))
    webhook_id = hooked(receiver, make_webhook, script)
    report(app)

    work(app, FakeClock())

    row = only_delivery(app, webhook_id)
    assert row["status"] == "failing"
    assert row["attempts"][0]["succeeded"] is False
    assert row["attempts"][0]["response_status"] == status
    assert webhook_values(app, webhook_id)["sent_count"] == 0


def test_retries_follow_the_schedule_then_the_delivery_fails(app, receiver, make_webhook):
    script = Script(500)
    webhook_id = hooked(receiver, make_webhook, script)
    report(app)
    clock = FakeClock()

    for step in DEFAULT_SCHEDULE:
        assert len(work(app, clock)) == 1
        row = only_delivery(app, webhook_id)
        assert row["status"] == "failing"
        waited = seconds_after(row["next_attempt_at"], clock.now)
        assert step * 0.8 <= waited <= step * 1.2, (step, waited)
        clock.advance(waited - 1)
        assert work(app, clock) == [], "sent before it was due"
        clock.move_to(row["next_attempt_at"])

    assert len(work(app, clock)) == 1  # the last attempt
    row = only_delivery(app, webhook_id)
    assert row["status"] == "failed"
    assert row["next_attempt_at"] is None
    assert row["attempt_count"] == len(DEFAULT_SCHEDULE) + 1
    clock.advance(30 * 24 * 3600)
    assert work(app, clock) == []
    assert script.count() == len(DEFAULT_SCHEDULE) + 1
    # The schedule ends before DISABLE_AFTER_DAYS: the webhook itself stays on.
    assert webhook_values(app, webhook_id)["active"] is True


@pytest.fixture
def short_schedule(config):
    config["RETRY_SCHEDULE"] = "1,2"
    config["WORKER_POLL_INTERVAL"] = 30
    return config


def test_every_retry_carries_the_same_webhook_id_and_a_fresh_signature(
    short_schedule, app, receiver, make_webhook
):
    script = Script(500, 503, 200)
    webhook_id = hooked(receiver, make_webhook, script)
    report(app)
    clock = FakeClock()

    for _ in range(3):
        work(app, clock)
        row = only_delivery(app, webhook_id)
        if row["next_attempt_at"]:
            clock.move_to(row["next_attempt_at"])

    assert row["status"] == "succeeded"
    assert len(set(script.ids())) == 1
    assert script.ids()[0] == row["msg_id"]
    secret = webhook_values(app, webhook_id)["secret"]
    for seen in script.seen:
        assert verify(secret, seen["request"])["data"] == PAYMENT
    assert len({seen["headers"]["Webhook-Timestamp"] for seen in script.seen}) >= 2


def test_short_schedule_retries_on_time_then_fails(short_schedule, app, receiver, make_webhook):
    script = Script(500)
    webhook_id = hooked(receiver, make_webhook, script)
    pool = Dispatcher(app, concurrency=1)
    pool.start()
    try:
        report(app)
        wait_until(lambda: delivery_status(app, webhook_id) == "failed", seconds=8)
    finally:
        assert pool.stop(timeout=10)

    arrivals = [seen["at"] for seen in script.seen]
    assert len(arrivals) == 3
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    # The worker sleeps until the retry is due, not until the 30 s poll.
    assert 0.75 <= gaps[0] <= 2.5, gaps
    assert 1.55 <= gaps[1] <= 3.5, gaps
    assert only_delivery(app, webhook_id)["attempt_count"] == 3


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_sets_the_next_attempt(app, receiver, make_webhook, status):
    webhook_id = hooked(receiver, make_webhook, Script((status, {"Retry-After": "120"})))
    report(app)
    clock = FakeClock()

    work(app, clock)

    row = only_delivery(app, webhook_id)
    assert row["status"] == "failing"
    assert seconds_after(row["next_attempt_at"], clock.now) == pytest.approx(120, abs=0.01)


def test_retry_after_as_a_date_sets_the_next_attempt(app, receiver, make_webhook):
    answer: dict[str, str] = {}
    webhook_id = hooked(receiver, make_webhook, Script((429, answer)))
    report(app)
    # After the report, so its delivery is due; on a whole second, as an HTTP date has no less.
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1))
    answer["Retry-After"] = format_datetime(clock.now + timedelta(minutes=10), usegmt=True)

    work(app, clock)

    row = only_delivery(app, webhook_id)
    assert seconds_after(row["next_attempt_at"], clock.now) == pytest.approx(600, abs=1)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("999999", 86400), ("0", 1), ("soon", 5), ("-5", 5)],
    ids=["over-a-day", "zero", "garbage", "negative"],
)
def test_retry_after_is_bounded_and_ignored_when_unreadable(
    app, receiver, make_webhook, retry_after, expected
):
    webhook_id = hooked(receiver, make_webhook, Script((429, {"Retry-After": retry_after})))
    report(app)
    clock = FakeClock()

    work(app, clock)

    waited = seconds_after(only_delivery(app, webhook_id)["next_attempt_at"], clock.now)
    assert expected * 0.8 <= waited <= expected * 1.2


def test_retry_after_on_a_500_is_not_obeyed(app, receiver, make_webhook):
    webhook_id = hooked(receiver, make_webhook, Script((500, {"Retry-After": "3600"})))
    report(app)
    clock = FakeClock()

    work(app, clock)

    assert seconds_after(only_delivery(app, webhook_id)["next_attempt_at"], clock.now) <= 6


# ---------------------------------------------------------------- network failures


@pytest.fixture
def one_second_timeout(config):
    config["DELIVERY_TIMEOUT"] = 1
    return config


def test_receiver_too_slow_is_a_recorded_timeout(one_second_timeout, app, receiver, make_webhook):
    release = threading.Event()

    def stall(_request):
        release.wait(5)
        return Response("too late")

    webhook_id = hooked(receiver, make_webhook, Script(stall))
    report(app)

    started = time.monotonic()
    try:
        [result] = work(app, FakeClock())
    finally:
        release.set()
    waited = time.monotonic() - started

    assert result.ok is False
    assert 0.9 <= waited < 4
    row = only_delivery(app, webhook_id)
    assert row["status"] == "failing"
    attempt = row["attempts"][0]
    assert attempt["response_status"] is None
    assert "timeout" in attempt["error"]
    assert "did not answer within 1 s" in attempt["error"]
    assert webhook_values(app, webhook_id)["failing_since"] is not None


def test_receiver_dripping_its_answer_cannot_hold_an_attempt_past_the_timeout(
    one_second_timeout, app, receiver, make_webhook
):
    def drip(_request):
        def body():
            for _ in range(10):
                time.sleep(0.4)  # each byte well within the 1 s timeout; 4 s in all
                yield b"."

        return Response(body(), status=200)

    webhook_id = hooked(receiver, make_webhook, Script(drip))
    report(app)

    started = time.monotonic()
    work(app, FakeClock())
    took = time.monotonic() - started

    assert only_delivery(app, webhook_id)["attempt_count"] == 1
    assert took < 3.0, f"the attempt took {took:.1f} s with a 1 s timeout"


def test_refused_connection_is_a_recorded_failure(app, make_webhook):
    webhook_id = make_webhook(url=f"http://127.0.0.1:{unused_port()}/hook")
    report(app)

    work(app, FakeClock())

    row = only_delivery(app, webhook_id)
    assert row["status"] == "failing"
    assert "connection refused" in row["attempts"][0]["error"]
    assert row["attempts"][0]["response_status"] is None


def test_private_address_is_a_recorded_failure_and_never_reached(app, make_webhook):
    webhook_id = make_webhook(url="http://10.11.12.13/hook")
    report(app)

    work(app, FakeClock())

    row = only_delivery(app, webhook_id)
    assert row["status"] == "failing"
    assert "blocked address" in row["attempts"][0]["error"]


# ---------------------------------------------------------------- disabling webhooks


@pytest.fixture
def watcher(app, receiver, make_webhook):
    """A webhook subscribed to webhook_disabled, and what it receives."""
    script = Script(200)
    webhook_id = hooked(receiver, make_webhook, script, "/watch", event="webhook_disabled")
    return webhook_id, script


def test_410_gone_disables_the_webhook_at_once(app, receiver, make_webhook, watcher):
    watcher_id, watched = watcher
    script = Script(410)
    gone_id = hooked(receiver, make_webhook, script, "/gone", name="Old CRM")
    bystander = Script(200)
    bystander_id = hooked(receiver, make_webhook, bystander, "/ok", name="Bystander")
    report(app)
    report(app)
    first, later = sorted(d["id"] for d in deliveries_of(app, gone_id))
    update_delivery(app, later, next_attempt_at=datetime.now(UTC) + timedelta(hours=1))
    clock = FakeClock()

    work(app, clock)

    hook = webhook_values(app, gone_id)
    assert hook["active"] is False
    assert "410" in hook["disabled_reason"]
    assert hook["disabled_at"] is not None
    assert delivery(app, first)["status"] == "failed"
    queued = delivery(app, later)
    assert queued["status"] == "failed"
    assert queued["next_attempt_at"] is None
    assert "disabled" in queued["last_summary"]
    assert script.count() == 1
    assert webhook_values(app, bystander_id)["active"] is True
    assert {d["status"] for d in deliveries_of(app, bystander_id)} == {"succeeded"}

    # The webhook_disabled event goes out to its subscribers.
    clock.advance(1)
    work(app, clock)
    assert watched.count() == 1
    payload = verify(webhook_values(app, watcher_id)["secret"], watched.seen[0]["request"])
    assert payload["type"] == "webhook_disabled"
    assert payload["data"]["webhook_id"] == gone_id
    assert payload["data"]["webhook_name"] == "Old CRM"
    assert "410" in payload["data"]["disabled_reason"]
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.type == "webhook_disabled"))
        assert event.source == "system"
    # Nothing more goes to the disabled webhook.
    clock.advance(3600 * 2)
    work(app, clock)
    assert script.count() == 1


def test_webhook_failing_for_six_days_is_disabled_with_its_reason(
    app, receiver, make_webhook, watcher
):
    watcher_id, watched = watcher
    script = Script(500)
    webhook_id = hooked(receiver, make_webhook, script)
    report(app)
    clock = FakeClock()
    update_webhook(app, webhook_id, failing_since=clock.now - timedelta(days=6))

    work(app, clock)

    hook = webhook_values(app, webhook_id)
    assert hook["active"] is False
    assert "failed for 5 days" in hook["disabled_reason"]
    assert "HTTP 500" in hook["disabled_reason"]
    assert only_delivery(app, webhook_id)["status"] == "failed"
    clock.advance(1)
    work(app, clock)
    assert watched.count() == 1
    assert "failed for 5 days" in watched.seen[0]["body"]


def test_webhook_failing_for_four_days_keeps_being_retried(app, receiver, make_webhook):
    webhook_id = hooked(receiver, make_webhook, Script(500))
    report(app)
    clock = FakeClock()
    since = clock.now - timedelta(days=4)
    update_webhook(app, webhook_id, failing_since=since)

    work(app, clock)

    hook = webhook_values(app, webhook_id)
    assert hook["active"] is True
    assert hook["failing_since"] == since  # the first failure, not the latest
    assert only_delivery(app, webhook_id)["status"] == "failing"


def test_success_clears_failing_since(app, receiver, make_webhook):
    webhook_id = hooked(
        receiver, make_webhook, Script(200), failing_since=datetime.now(UTC) - timedelta(days=3)
    )
    report(app)

    work(app, FakeClock())

    assert webhook_values(app, webhook_id)["failing_since"] is None


def test_inactive_webhook_gets_nothing_and_its_delivery_fails(app, receiver, make_webhook):
    script = Script(200)
    webhook_id = hooked(receiver, make_webhook, script)
    report(app)
    update_webhook(app, webhook_id, active=False)

    assert work(app, FakeClock()) == [None]

    row = only_delivery(app, webhook_id)
    assert row["status"] == "failed"
    assert "inactive" in row["last_summary"]
    assert row["attempts"] == []
    assert row["next_attempt_at"] is None
    assert script.count() == 0


# ---------------------------------------------------------------- claiming


def test_two_workers_claiming_the_same_delivery_only_one_gets_it(app, make_webhook):
    make_webhook()
    report(app)
    now = datetime.now(UTC)

    first = claim(app, now)
    second = claim(app, now)

    assert len(first) == 1
    assert second == []


def test_many_claimers_at_once_share_the_work_without_overlap(app, make_webhook):
    for number in range(5):
        make_webhook(name=f"hook {number}")
    for _ in range(8):
        report(app)
    now = datetime.now(UTC)
    claims: list[list] = []
    barrier = threading.Barrier(6)
    deadline = time.monotonic() + 20

    def claimer():
        barrier.wait()
        # A claim that loses the race for every row it looked at returns nothing: look again
        # until all 40 are taken.
        while sum(len(batch) for batch in claims) < 40 and time.monotonic() < deadline:
            claims.append(claim(app, now, limit=5))

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    ids = [one.delivery_id for batch in claims for one in batch]
    assert len(ids) == len(set(ids)) == 40
    assert claim(app, now) == []


def test_expired_lease_is_claimable_again_and_the_old_claim_sends_nothing(
    app, receiver, make_webhook
):
    script = Script(200)
    webhook_id = hooked(receiver, make_webhook, script)
    report(app)
    lease = policy_of(app).lease
    clock = FakeClock()

    [old] = claim(app, clock.now)
    assert claim(app, clock.now + lease - timedelta(seconds=1)) == []
    clock.advance((lease + timedelta(seconds=1)).total_seconds())
    [new] = claim(app, clock.now)

    assert new.delivery_id == old.delivery_id
    assert new.token != old.token
    assert run_claimed(app, [old], clock) == [None]
    assert script.count() == 0
    assert delivery(app, old.delivery_id)["lease_token"] == new.token

    run_claimed(app, [new], clock)
    assert only_delivery(app, webhook_id)["status"] == "succeeded"
    assert script.count() == 1


def test_worker_whose_lease_ran_out_mid_send_does_not_overwrite_the_result(
    app, receiver, make_webhook
):
    """Worker A's request hangs past its lease; worker B claims the delivery and delivers it.
    A's late failure is recorded as an attempt but does not undo B's success."""
    lease = policy_of(app).lease
    clocks = {}

    def worker_b_delivers_meanwhile(_request):
        clock_b = clocks["b"]
        run_claimed(app, claim(app, clock_b.now), clock_b)
        return Response("A's answer comes too late", status=500)

    script = Script(worker_b_delivers_meanwhile, 200)
    webhook_id = hooked(receiver, make_webhook, script)
    report(app)
    clock_a = FakeClock()
    clocks["b"] = FakeClock(clock_a.now + lease + timedelta(seconds=1))
    clock_b = clocks["b"]

    claimed_by_a = claim(app, clock_a.now)
    clock_a.move_to(clock_b.now + timedelta(seconds=2))  # A's result lands after B's
    [result_a] = run_claimed(app, claimed_by_a, clock_a)

    assert result_a.status_code == 500
    row = only_delivery(app, webhook_id)
    assert row["status"] == "succeeded"
    assert row["next_attempt_at"] is None
    assert row["lease_token"] is None
    assert row["attempt_count"] == 2
    assert sorted(a["response_status"] for a in row["attempts"]) == [200, 500]
    hook = webhook_values(app, webhook_id)
    assert hook["failing_since"] is None
    assert hook["sent_count"] == 1
    assert len(set(script.ids())) == 1


def test_stale_worker_failure_does_not_reschedule_a_delivery_claimed_again(
    app, receiver, make_webhook
):
    """B holds the delivery now; A's late 500 must not move it to failing or change its time."""
    lease = policy_of(app).lease
    new_claim = {}

    def lease_runs_out_meanwhile(_request):
        new_claim["token"] = claim(app, clock.now + lease + timedelta(seconds=1))[0].token
        return Response("late", status=500)

    webhook_id = hooked(receiver, make_webhook, Script(lease_runs_out_meanwhile))
    report(app)
    clock = FakeClock()

    run_claimed(app, claim(app, clock.now), clock)

    row = only_delivery(app, webhook_id)
    assert row["status"] == "pending"
    assert row["lease_token"] == new_claim["token"]
    assert row["round_failures"] == 0
    assert seconds_after(row["next_attempt_at"], clock.now) > lease.total_seconds()
    assert row["attempt_count"] == 1  # the attempt happened and is recorded
    assert webhook_values(app, webhook_id)["failing_since"] is None


# ---------------------------------------------------------------- secret rotation


def test_after_rotation_deliveries_carry_both_signatures(app, receiver, make_webhook):
    script = Script(200)
    webhook_id = hooked(receiver, make_webhook, script)
    old_secret = webhook_values(app, webhook_id)["secret"]
    with app.app_context():
        db.session.get(Webhook, webhook_id).rotate_secret(datetime.now(UTC))
        db.session.commit()
    new_secret = webhook_values(app, webhook_id)["secret"]
    report(app)

    work(app, FakeClock())

    seen = script.seen[0]
    signatures = seen["headers"]["Webhook-Signature"].split(" ")
    assert len(signatures) == 2
    assert all(signature.startswith("v1,") for signature in signatures)
    assert new_secret != old_secret
    assert verify(new_secret, seen["request"])["data"] == PAYMENT
    assert verify(old_secret, seen["request"])["data"] == PAYMENT


def test_old_secret_stops_signing_when_the_overlap_ends(app, receiver, make_webhook):
    script = Script(200)
    webhook_id = hooked(receiver, make_webhook, script)
    with app.app_context():
        db.session.get(Webhook, webhook_id).rotate_secret(datetime.now(UTC) - timedelta(days=2))
        db.session.commit()
    report(app)

    work(app, FakeClock())

    seen = script.seen[0]
    assert len(seen["headers"]["Webhook-Signature"].split(" ")) == 1
    assert verify(webhook_values(app, webhook_id)["secret"], seen["request"])


# ---------------------------------------------------------------- retention


def test_purge_deletes_old_deliveries_attempts_and_orphan_events(app, receiver, make_webhook):
    config_days = app.config["RETENTION_DAYS"]
    now = datetime.now(UTC)
    old = now - timedelta(days=config_days + 1)
    recent = now - timedelta(days=config_days - 1)
    hooked(receiver, make_webhook, Script(200), created_at=old - timedelta(days=1))
    with app.app_context():
        old_event = enqueue("payment_received", {"n": "old"}, source="python", now=old)
        new_event = enqueue("payment_received", {"n": "new"}, source="python", now=recent)
        # An event no webhook was subscribed to, as old as the others.
        enqueue("invoice_sent", {"n": "lonely"}, source="python", now=old)
        db.session.commit()
        old_uid, new_uid = old_event.uid, new_event.uid
    work(app, FakeClock())  # both get an attempt
    assert stored(app) == {"events": 3, "deliveries": 2, "attempts": 2}

    with app.app_context():
        deleted = purge(now - timedelta(days=config_days))

    assert deleted == (1, 2)
    assert stored(app) == {"events": 1, "deliveries": 1, "attempts": 1}
    with app.app_context():
        assert db.session.scalar(select(Event.uid)) == new_uid
        assert db.session.scalar(select(Event).where(Event.uid == old_uid)) is None
        assert db.session.scalar(select(Delivery.event_id)) is not None


def test_purge_keeps_an_old_event_that_still_has_a_recent_delivery(app, make_webhook):
    now = datetime.now(UTC)
    make_webhook(created_at=now - timedelta(days=41))
    with app.app_context():
        enqueue("payment_received", {}, source="python", now=now - timedelta(days=40))
        db.session.commit()
    expand(app)
    with app.app_context():
        row = db.session.scalar(select(Delivery))
        row.created_at = now  # e.g. a redelivery queued today
        db.session.commit()

        assert purge(now - timedelta(days=30)) == (0, 0)
    assert stored(app)["events"] == 1


def test_purge_keeps_an_old_event_not_yet_expanded_and_the_engine_delivers_it(
    app, receiver, make_webhook
):
    # A worker that was down for longer than the retention: its backlog is still delivered.
    now = datetime.now(UTC)
    script = Script(200)
    hooked(receiver, make_webhook, script, created_at=now - timedelta(days=41))
    with app.app_context():
        enqueue("payment_received", {"n": "late"}, source="python", now=now - timedelta(days=40))
        db.session.commit()

        assert purge(now - timedelta(days=30)) == (0, 0)
    assert stored(app)["events"] == 1

    work(app, FakeClock())

    assert len(script.seen) == 1
    assert stored(app) == {"events": 1, "deliveries": 1, "attempts": 1}


# ---------------------------------------------------------------- the thread pool


@pytest.fixture
def slow_poll(config):
    config["WORKER_POLL_INTERVAL"] = SLOW_POLL
    return config


SLOW_POLL = 30
# What arrives this soon after its report was woken for, not found by the next look 30 s on
# (far more than a wake takes, even on a loaded machine).
WOKEN_WITHIN = SLOW_POLL / 4


def test_pool_run_once_sends_one_due_delivery(app, receiver, make_webhook):
    script = Script(200)
    webhook_id = hooked(receiver, make_webhook, script)
    report(app)
    report(app)
    pool = Dispatcher(app, concurrency=1)

    with app.app_context():
        assert pool.run_once() == 1
        assert pool.run_once(limit=5) == 1
        assert pool.run_once() == 0

    assert {d["status"] for d in deliveries_of(app, webhook_id)} == {"succeeded"}
    assert script.count() == 2


def test_reported_event_arrives_at_once_without_waiting_for_the_poll(
    slow_poll, app, receiver, make_webhook
):
    script = Script(200)
    webhook_id = hooked(receiver, make_webhook, script)
    pool = Dispatcher(app, concurrency=2)
    pool.start()
    try:
        time.sleep(0.3)  # the pool has looked, found nothing and sleeps for 30 s
        reported = time.monotonic()
        report(app)
        wait_until(script.count, seconds=WOKEN_WITHIN)
        arrived = script.seen[0]["at"]
        wait_until(lambda: delivery_status(app, webhook_id) == "succeeded", seconds=3)
    finally:
        stopped_at = time.monotonic()
        assert pool.stop(timeout=10) is True
    assert arrived - reported < WOKEN_WITHIN
    assert time.monotonic() - stopped_at < 5
    assert webhook_values(app, webhook_id)["sent_count"] == 1


def test_stopping_the_pool_lets_the_attempt_in_flight_finish(
    slow_poll, app, receiver, make_webhook
):
    def slow(_request):
        time.sleep(0.5)
        return Response("ok")

    script = Script(slow)
    webhook_id = hooked(receiver, make_webhook, script)
    pool = Dispatcher(app, concurrency=2)
    pool.start()
    try:
        report(app)
        wait_until(script.count, seconds=2)
    finally:
        assert pool.stop(timeout=10) is True

    row = only_delivery(app, webhook_id)
    assert row["status"] == "succeeded"
    assert row["lease_token"] is None


def test_stop_returns_by_its_timeout_when_a_receiver_hangs(slow_poll, app, receiver, make_webhook):
    release = threading.Event()

    def hang(_request):
        release.wait(5)
        return Response("late")

    script = Script(hang)
    hooked(receiver, make_webhook, script)
    pool = Dispatcher(app, concurrency=1)
    pool.start()
    try:
        report(app)
        wait_until(script.count, seconds=3)
        started = time.monotonic()
        stopped = pool.stop(timeout=0.5)
        took = time.monotonic() - started
    finally:
        release.set()

    assert stopped is False  # it says the attempt was still in flight
    assert took < 1.2, f"stop(timeout=0.5) took {took:.1f} s"


def test_pool_sends_many_deliveries_each_once(slow_poll, app, receiver, make_webhook):
    script = Script(200)
    webhook_ids = [hooked(receiver, make_webhook, script, name=f"h{n}") for n in range(3)]
    pool = Dispatcher(app, concurrency=4)
    pool.start()
    try:
        for _ in range(10):
            report(app)
        wait_until(lambda: script.count() >= 30, seconds=10)
        wait_until(
            lambda: all(
                d["status"] == "succeeded" for w in webhook_ids for d in deliveries_of(app, w)
            ),
            seconds=5,
        )
    finally:
        assert pool.stop(timeout=10)
    assert script.count() == 30
    assert len(set(script.ids())) == 30
    assert [webhook_values(app, w)["sent_count"] for w in webhook_ids] == [10, 10, 10]


@pytest.fixture
def announcements(app, monkeypatch):
    """The times the engine was told of new work (each would wake every worker)."""
    engine = app.extensions[ENGINE_KEY]
    told = []
    notify = engine.notify

    def counted() -> None:
        told.append(time.monotonic())
        notify()

    monkeypatch.setattr(engine, "notify", counted)
    return told


def delivered_by_a_running_worker(app, receiver, make_webhook, webhooks: int, concurrency: int):
    script = Script(200)
    for n in range(webhooks):
        hooked(receiver, make_webhook, script, name=f"h{n}")
    pool = Dispatcher(app, concurrency=concurrency)
    pool.start()
    try:
        with app.app_context():
            dispatch("payment_received", PAYMENT)
        wait_until(lambda: script.count() == webhooks, seconds=10)
    finally:
        assert pool.stop(timeout=10)


def test_a_worker_that_claims_every_delivery_it_expanded_tells_no_one(
    slow_poll, app, receiver, make_webhook, announcements
):
    delivered_by_a_running_worker(app, receiver, make_webhook, webhooks=3, concurrency=4)

    assert len(announcements) == 1  # the event's storing, not its expansion


def test_a_worker_without_room_for_what_it_expanded_tells_the_others(
    slow_poll, app, receiver, make_webhook, announcements
):
    delivered_by_a_running_worker(app, receiver, make_webhook, webhooks=3, concurrency=1)

    assert len(announcements) == 2  # the event's storing, then the deliveries it left


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("value", "schedule"),
    [
        ("5,300,1800", (5.0, 300.0, 1800.0)),
        ("[10, 20]", (10.0, 20.0)),
        ("60", (60.0,)),
    ],
    ids=["comma-separated", "json-list", "one-step"],
)
def test_retry_schedule_set_in_the_environment_is_used(tmp_path, monkeypatch, value, schedule):
    monkeypatch.setenv("WEBHOOKS_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    monkeypatch.setenv("WEBHOOKS_RETRY_SCHEDULE", value)
    app = create_app()

    pool = Dispatcher(app, concurrency=1)

    assert pool.policy.schedule == schedule

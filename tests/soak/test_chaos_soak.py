"""Receiver chaos soak: 5,000 events reported through the API to 5 webhooks, whose receivers
answer 500, stall past the delivery timeout, close the connection or go down for seconds at
random, while `flask worker` processes send them and one of them is killed (SIGKILL) twice
with requests in flight.

What an operator relies on: every delivery ends succeeded, none is lost, and a message that
arrives more than once carries the same ``webhook-id`` and body each time. Run by `make soak`
(not `make test`); it prints its figures, copied to docs/reliability.md. WEBHOOKS_TEST_SOAK_SEED
replays another run's random choices (answers and outages; timing still varies).
"""

import os
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import case, select

from tests.engine_helpers import api_token, bearer, wait_until
from tests.soak.receiver import CLOSED, ERROR, OK, STALL, ChaosReceiver, run_outages
from tests.worker_processes import deployment, engine_under_test
from webhooks.extensions import db
from webhooks.models import Attempt, Delivery, Event, Webhook

pytestmark = pytest.mark.soak

SEED = int(os.environ.get("WEBHOOKS_TEST_SOAK_SEED", "20250505"))
EVENTS = 5000
WEBHOOKS = 5  # each subscribed to the events' type: 25,000 deliveries
WORKERS, CONCURRENCY = 2, 100
REPORTERS = 8  # API clients reporting at once
TIMEOUT = 1.0  # WEBHOOKS_DELIVERY_TIMEOUT; the lease is 2 × 1 + 30 = 32 s
MIX = {OK: 0.70, ERROR: 0.15, CLOSED: 0.10, STALL: 0.05}
STALL_FOR = TIMEOUT + 0.5
OUTAGE_UP, OUTAGE_DOWN = (4.0, 10.0), (1.0, 3.0)  # seconds, drawn at random each time
# 40 retries over about 75 s. About half of all attempts fail with this mix and these
# outages (1.95 attempts per delivery), and an outage of at most 3 s spans only a few retries,
# so a delivery fails for good with a chance of the order of 0.5 ** 38 ≈ 4e-12, 1e-7 for a
# whole run; in trial runs no delivery needed more than 16 attempts.
SCHEDULE = [0.5, 0.5, 1, 1, 1, 1.5, 1.5, 1.5] + [2] * 32
KILL_AT = (0.2, 0.5)  # shares of the deliveries succeeded when a worker is killed
# Bounds of the run: a delivery left stuck shows as no progress for longer than a lease of a
# killed worker (32 s) plus a retry step; the budget caps a run slowed by a loaded machine.
STUCK_AFTER = 75.0
BUDGET = 360.0

# The circuit breaker opens after this many attempts in a row find a receiver down. With 30 %
# of the answers failing at random, the default 5 would open it about a hundred times a run
# for receivers that are up (0.3 ** 5 per attempt) and the run would mostly wait for probes;
# 20 opens it only for the outages, where every attempt is refused.
BREAKER_AFTER = 20

SETTINGS = {
    **engine_under_test(),  # the embedded engine, or Celery with WEBHOOKS_TEST_QUEUE=celery
    "DELIVERY_TIMEOUT": TIMEOUT,
    "RETRY_SCHEDULE": ",".join(f"{step:g}" for step in SCHEDULE),
    "RETRY_JITTER": 0.1,
    "WORKER_POLL_INTERVAL": 0.2,
    "BREAKER_AFTER": BREAKER_AFTER,
}


@pytest.fixture
def instance(tmp_path, monkeypatch):
    with deployment(tmp_path, monkeypatch, SETTINGS) as made:
        yield made


@pytest.fixture
def receivers():
    made = [ChaosReceiver(SEED + number, MIX, STALL_FOR) for number in range(WEBHOOKS)]
    yield made
    for receiver in made:
        receiver.stop()


# ---------------------------------------------------------------- reporting


def report_events(app, token: str) -> int:
    """POST every event to /api/v1/events from REPORTERS clients at once, as a platform
    would: an answer other than 2xx is retried with the same idempotency key. Returns how many
    requests were retried."""
    retries = Counter()

    def report(numbers: range) -> None:
        client = app.test_client()
        for number in numbers:
            payload = {
                "type": "payment_received",
                "id": f"soak-{number}",
                "data": {"payment_id": number, "amount_cents": 100 + number, "currency": "EUR"},
            }
            for _try in range(20):
                response = client.post("/api/v1/events", json=payload, headers=bearer(token))
                if response.status_code in (200, 202):
                    break
                retries[response.status_code] += 1
                time.sleep(0.5)
            else:
                raise AssertionError(f"event {number} not accepted: {response.status_code}")

    with ThreadPoolExecutor(REPORTERS) as pool:
        reports = [pool.submit(report, range(n, EVENTS, REPORTERS)) for n in range(REPORTERS)]
        for done in reports:
            done.result()
    return sum(retries.values())


# ---------------------------------------------------------------- killing a worker mid-send


def local_ports(pid: int, remote_ports: set[int]) -> set[int]:
    """The local ports of the process's TCP connections to ``remote_ports`` (Linux /proc)."""
    inodes = set()
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir():
        try:
            link = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) in remote_ports:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def kill_mid_send(process, receivers: list[ChaosReceiver]) -> int:
    """SIGKILL the worker at a moment when receivers are answering requests it sent; returns
    how many were in flight."""

    def in_flight() -> int:
        answering = set().union(*(receiver.ports_in_flight() for receiver in receivers))
        count = len(answering & local_ports(process.pid, {r.port for r in receivers}))
        return count if count >= 2 else 0

    count = wait_until(in_flight, 20, interval=0.005)
    process.kill()
    process.wait(10)
    return count


# ---------------------------------------------------------------- the database's view


def statuses(app) -> Counter:
    with app.app_context():
        rows = db.session.execute(
            select(Delivery.status, db.func.count()).group_by(Delivery.status)
        ).all()
        db.session.commit()
        return Counter(dict(rows))


def stored_rows(app) -> tuple[Counter, list, list]:
    """The events by how many deliveries they were expanded into (None: not expanded), the
    deliveries and the attempts."""
    expanded_into = case((Event.expanded_at.is_(None), None), else_=Event.delivery_count)
    with app.app_context():
        rows = db.session.execute(
            select(expanded_into, db.func.count()).group_by(expanded_into)
        ).all()
        events = Counter(dict(rows))
        deliveries = db.session.execute(
            select(
                Delivery.id,
                Delivery.msg_id,
                Delivery.event_id,
                Delivery.webhook_id,
                Delivery.body,
                Delivery.status,
                Delivery.attempt_count,
                Delivery.lease_token,
            )
        ).all()
        attempts = db.session.execute(
            select(Attempt.delivery_id, Attempt.succeeded, Attempt.response_status, Attempt.summary)
        ).all()
        db.session.commit()
        return events, deliveries, attempts


def database_name(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


def client_view(attempt) -> str:
    """What the worker saw of an attempt."""
    if attempt.succeeded:
        return "2xx"
    if attempt.response_status:
        return f"HTTP {attempt.response_status}"
    summary = attempt.summary
    if "connection refused" in summary:
        return "refused (receiver down)"
    if summary.startswith("timeout") or "did not finish within" in summary:
        return "timeout"
    return "connection closed or reset"


# ---------------------------------------------------------------- the soak


def test_every_delivery_succeeds_through_receiver_chaos_and_killed_workers(
    instance, receivers, capsys
):
    started = time.monotonic()
    hooks = {}
    for number, receiver in enumerate(receivers):
        hook_id = instance.webhook(receiver.url, name=f"Chaos receiver {number}")
        with instance.app.app_context():
            receiver.expect_secret(db.session.get(Webhook, hook_id).secret)
        hooks[hook_id] = receiver
    token = api_token(instance.app)
    workers = [instance.start_worker(CONCURRENCY) for _ in range(WORKERS)]
    stop_outages = threading.Event()
    outages = run_outages(receivers, SEED + 100, OUTAGE_UP, OUTAGE_DOWN, stop_outages)

    reported: dict = {}

    def reporting() -> None:
        begun = time.monotonic()
        reported["retries"] = report_events(instance.app, token)
        reported["seconds"] = time.monotonic() - begun

    reporter = threading.Thread(target=reporting, name="reporter", daemon=True)
    reporter.start()

    expected = EVENTS * WEBHOOKS
    kills: list[int] = []  # requests in flight at each kill
    killed_at: list[float] = []
    progress, progress_at = 0, started
    try:
        while True:
            counts = statuses(instance.app)
            now = time.monotonic()
            assert not counts["failed"], f"deliveries failed for good: {counts}"
            assert reporter.is_alive() or "seconds" in reported, "reporting the events failed"
            if counts["succeeded"] > progress:
                progress, progress_at = counts["succeeded"], now
            assert now - progress_at < STUCK_AFTER, f"stuck for {STUCK_AFTER:g} s: {counts}"
            assert now - started < BUDGET, f"not done within {BUDGET:g} s: {counts}"
            if len(kills) < len(KILL_AT) and counts["succeeded"] >= KILL_AT[len(kills)] * expected:
                victim = next(process for process, _log in workers if process.poll() is None)
                kills.append(kill_mid_send(victim, receivers))
                killed_at.append(time.monotonic() - started)
                workers.append(instance.start_worker(CONCURRENCY))
            if counts["succeeded"] == expected and not reporter.is_alive():
                break
            time.sleep(0.25)
        delivered_in = time.monotonic() - started
    finally:
        stop_outages.set()
        for thread in outages:
            thread.join(10)
        reporter.join(60)
    for receiver in receivers:
        receiver.stop()
    for process, log in workers:
        if process.poll() is None:
            process.terminate()
            assert process.wait(20) == 0, log.read_text()[-3000:]
    for _process, log in workers:
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]

    events, deliveries, attempts = stored_rows(instance.app)

    # Every event was expanded once, into a delivery per subscribed webhook (a worker killed
    # mid-expansion wrote none of its deliveries), and each of those succeeded.
    assert events == {WEBHOOKS: EVENTS}
    assert len(deliveries) == expected
    assert len({(row.event_id, row.webhook_id) for row in deliveries}) == expected
    assert Counter(row.status for row in deliveries) == {"succeeded": expected}
    assert not [row.id for row in deliveries if row.lease_token is not None]

    # Every one reached its own receiver, signed, and was answered 200 there at least once;
    # the receivers saw no other message, and each copy of a message is the same message.
    by_msg = {row.msg_id: row for row in deliveries}
    copies: dict[str, list] = defaultdict(list)
    for hook_id, receiver in hooks.items():
        for seen in receiver.received:
            row = by_msg.get(seen.msg_id)
            assert row is not None, f"a message no delivery sent: {seen.msg_id!r}"
            assert row.webhook_id == hook_id, f"{seen.msg_id} reached another webhook's receiver"
            assert seen.signed, f"{seen.msg_id} arrived with a signature that does not verify"
            assert seen.body.decode() == row.body, f"{seen.msg_id} arrived with another body"
            copies[seen.msg_id].append(seen)
    not_received = [
        msg_id for msg_id in by_msg if not any(seen.answer == OK for seen in copies.get(msg_id, []))
    ]
    assert not not_received, f"{len(not_received)} succeeded but never answered 200"
    for receiver in receivers:  # no payload came again under a new webhook-id
        accepted = [seen for seen in receiver.received if seen.answer == OK]
        assert len({seen.body for seen in accepted}) == len({seen.msg_id for seen in accepted})
    delivered = {msg_id: sum(s.answer == OK for s in seen) for msg_id, seen in copies.items()}
    duplicated = {msg_id: count for msg_id, count in delivered.items() if count > 1}

    answers = Counter()
    for receiver in receivers:
        answers.update(receiver.tally())
    seen_by_worker = Counter(client_view(attempt) for attempt in attempts)
    assert len(kills) == 2 and all(kills)
    for answer in (OK, ERROR, STALL, CLOSED):
        assert answers[answer], f"no request was answered {answer}"
    assert seen_by_worker["refused (receiver down)"], "no attempt found a receiver down"

    figures = [
        ("database", database_name(instance.app)),
        ("engine", SETTINGS["QUEUE"]),
        ("events reported (POST /api/v1/events)", events.total()),
        ("webhooks subscribed", WEBHOOKS),
        ("deliveries", len(deliveries)),
        ("deliveries succeeded", sum(row.status == "succeeded" for row in deliveries)),
        ("attempts recorded", len(attempts)),
        ("most attempts for one delivery", max(row.attempt_count for row in deliveries)),
        *((f"  worker saw: {kind}", n) for kind, n in sorted(seen_by_worker.items())),
        ("requests received by the receivers", sum(answers.values())),
        *((f"  answered: {kind}", n) for kind, n in sorted(answers.items())),
        ("  broken while the request was read", sum(r.broken_reads for r in receivers)),
        ("receiver outages", sum(len(r.outages) for r in receivers)),
        ("  seconds down in all", round(sum(sum(r.outages) for r in receivers), 1)),
        (
            f"  receivers found down (breaker after {BREAKER_AFTER})",
            sum(log.read_text().count(": receiver down (") for _process, log in workers),
        ),
        ("messages answered 200 more than once", len(duplicated)),
        ("  extra copies (same webhook-id and body)", sum(duplicated.values()) - len(duplicated)),
        ("workers killed (SIGKILL)", len(kills)),
        ("  seconds into the run", ", ".join(f"{moment:.0f}" for moment in killed_at)),
        ("  requests in flight at each kill", ", ".join(map(str, kills))),
        ("workers started", len(workers)),
        ("event reports retried", reported["retries"]),
        ("seconds to report the events", round(reported["seconds"], 1)),
        ("seconds until every delivery succeeded", round(delivered_in, 1)),
        ("seconds in all", round(time.monotonic() - started, 1)),
        ("seed (WEBHOOKS_TEST_SOAK_SEED)", SEED),
    ]
    with capsys.disabled():
        print("\n\nReceiver chaos soak")
        for name, value in figures:
            print(f"  {name:<46} {value}")

"""`flask worker` as separate processes against one database and a real receiver: a SQLite
file, or a database of its own on the WEBHOOKS_TEST_DATABASE_URL server when that is set.

What an operator relies on: SIGTERM stops a worker cleanly, a worker killed mid-send loses
nothing (the next one sends the same message again), and two workers never send the same
delivery twice. Every wait is bounded; every process is killed in the end.
"""

import signal
import subprocess
import threading
import time
from collections import Counter

import pytest
from werkzeug import Response

from tests.engine_helpers import Script, wait_until
from tests.worker_processes import deployment


@pytest.fixture
def instance(tmp_path, monkeypatch):
    with deployment(tmp_path, monkeypatch) as made:
        yield made


def terminate(process: subprocess.Popen, seconds: float = 10) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(seconds)


# ---------------------------------------------------------------- stopping


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_signal_stops_the_worker_cleanly(instance, signum):
    process, log = instance.start_worker()

    started = time.monotonic()
    process.send_signal(signum)
    assert process.wait(10) == 0
    assert time.monotonic() - started < 5

    text = log.read_text()
    assert f"received {signum.name}" in text
    assert "delivery worker stopped" in text
    assert "Traceback" not in text


def test_sigterm_lets_the_delivery_in_flight_finish(instance, receiver):
    arrived = threading.Event()

    def slow(_request):
        arrived.set()
        time.sleep(1)
        return Response("ok")

    script = Script(slow)
    receiver.expect_request("/hook", method="POST").respond_with_handler(script)
    instance.webhook(receiver.url_for("/hook"))
    process, log = instance.start_worker()
    instance.report({"n": 1})
    assert arrived.wait(10)

    assert terminate(process) == 0

    [row] = instance.deliveries()
    assert row["status"] == "succeeded", log.read_text()
    assert row["attempt_count"] == 1
    assert script.count() == 1


# ---------------------------------------------------------------- a killed worker


def kill_mid_send(instance, receiver, start_worker) -> Script:
    """A worker started by ``start_worker`` is killed (SIGKILL) while the receiver holds its
    first request open; the receiver answers 200 to every later request."""
    arrived, release = threading.Event(), threading.Event()

    def hang(_request):
        arrived.set()
        release.wait(10)
        return Response("too late")

    script = Script(hang, 200)
    receiver.expect_request("/hook", method="POST").respond_with_handler(script)
    instance.webhook(receiver.url_for("/hook"))
    first, _log = start_worker()
    try:
        instance.report({"payment_id": 1})
        assert arrived.wait(10), "the first worker never sent"
        first.kill()  # mid-send: no chance to record or acknowledge anything
        first.wait(10)
    finally:
        release.set()
    return script


def test_killed_worker_loses_nothing_and_the_next_sends_the_same_message(instance, receiver):
    script = kill_mid_send(instance, receiver, instance.start_worker)

    [row] = instance.deliveries()
    assert row["status"] == "pending"  # still queued: nothing was lost
    assert row["lease_token"] is not None
    assert row["attempt_count"] == 0

    instance.end_leases()
    second, log = instance.start_worker()
    wait_until(lambda: instance.deliveries()[0]["status"] == "succeeded", 15)

    [row] = instance.deliveries()
    assert script.count() == 2
    assert script.ids() == [row["msg_id"], row["msg_id"]]
    assert row["attempt_count"] == 1
    assert terminate(second) == 0, log.read_text()


def test_lease_of_a_killed_worker_keeps_others_away_until_it_ends(instance, receiver):
    script = kill_mid_send(instance, receiver, instance.start_worker)
    instance.start_worker()

    time.sleep(1.5)  # several polls of the new worker

    assert script.count() == 1  # the lease (2 * timeout + 30 s) has not ended yet
    assert instance.deliveries()[0]["status"] == "pending"


# ---------------------------------------------------------------- two workers


def test_two_workers_send_each_of_200_deliveries_exactly_once(instance, receiver):
    script = Script(200)
    receiver.expect_request("/hook", method="POST").respond_with_handler(script)
    for number in range(20):
        instance.webhook(receiver.url_for("/hook"), name=f"Receiver {number}")
    workers = [instance.start_worker(), instance.start_worker()]

    for number in range(10):
        instance.report({"payment_id": number})

    wait_until(lambda: script.count() >= 200, 30, interval=0.1)
    wait_until(lambda: all(row["status"] == "succeeded" for row in instance.deliveries()), 15, 0.1)
    time.sleep(0.5)  # time enough for a double send to show

    rows = instance.deliveries()
    assert len(rows) == 200
    assert instance.unexpanded() == 0
    assert {row["status"] for row in rows} == {"succeeded"}
    assert {row["attempt_count"] for row in rows} == {1}
    ids = script.ids()
    assert len(ids) == 200
    assert sorted(ids) == sorted(row["msg_id"] for row in rows)
    for process, log in workers:
        assert terminate(process) == 0, log.read_text()
        assert "Traceback" not in log.read_text()


def test_four_workers_lose_nothing_of_2000_deliveries_when_one_is_killed(instance, receiver):
    script = Script(200)
    receiver.expect_request("/hook", method="POST").respond_with_handler(script)
    for number in range(20):
        instance.webhook(receiver.url_for("/hook"), name=f"Receiver {number}")
    workers = [instance.start_worker() for _ in range(4)]

    for number in range(100):  # 100 events × 20 webhooks
        instance.report({"payment_id": number})
    wait_until(lambda: script.count() >= 400, 30, interval=0.05)
    victim, _log = workers[0]
    victim.kill()  # mid-run: what it had claimed stays leased to it
    victim.wait(10)
    # What it may have sent without recording is among what was leased when it died (its
    # leases may run out and be claimed again before the end, on a slow machine).
    leased_at_the_kill = {row["msg_id"] for row in instance.deliveries() if row["lease_token"]}

    def unfinished() -> list[dict]:
        return [row for row in instance.deliveries() if row["status"] != "succeeded"]

    # The others expand every event and finish everything else; what the dead worker held
    # waits for its lease. Events first: an event's deliveries are written in the commit that
    # marks it expanded, so once none is left to expand every delivery is there to be read.
    wait_until(
        lambda: not instance.unexpanded() and all(row["lease_token"] for row in unfinished()),
        60,
        interval=0.2,
    )
    instance.end_leases()
    wait_until(lambda: not unfinished(), 30, interval=0.2)

    rows = instance.deliveries()
    assert len(rows) == 2000
    received = script.ids()
    # Every delivery arrived; only what the dead worker held (sent, perhaps, but not yet
    # recorded) was sent again, under the same webhook-id.
    assert set(received) == {row["msg_id"] for row in rows}
    repeated = {msg_id for msg_id, times in Counter(received).items() if times > 1}
    assert repeated <= leased_at_the_kill
    assert max(Counter(received).values()) <= 2
    for process, log in workers[1:]:
        assert terminate(process) == 0, log.read_text()
        assert "Traceback" not in log.read_text()

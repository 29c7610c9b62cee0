"""A worker killed (SIGKILL) with 1,000 attempts in flight loses nothing: 100 webhooks, ten
requests at once each, to a receiver that holds every request for a few seconds. What the dead
worker held is sent again by the next one once its leases end, under the same ``webhook-id``
and with the same body. Run by `make soak`."""

import time
from collections import Counter

import pytest

from tests.async_receiver import AsyncReceiver
from tests.engine_helpers import wait_until
from tests.worker_processes import deployment, engine_under_test

pytestmark = pytest.mark.soak

WEBHOOKS = 100  # × max_in_flight 10: 1,000 requests in flight at once
EVENTS = 20  # 2,000 deliveries
HOLD = 4.0  # seconds the receiver holds each request


@pytest.fixture
def receiver():
    made = AsyncReceiver()
    yield made
    made.stop()


@pytest.fixture
def instance(tmp_path, monkeypatch):
    settings = {**engine_under_test(), "DELIVERY_TIMEOUT": 10, "WORKER_POLL_INTERVAL": 0.2}
    with deployment(tmp_path, monkeypatch, settings) as made:
        yield made


def test_a_worker_killed_with_1000_attempts_in_flight_loses_nothing(instance, receiver, capsys):
    url = receiver.behave("/held", delay=HOLD)
    for number in range(WEBHOOKS):
        instance.webhook(url, name=f"Held {number}")
    for number in range(EVENTS):
        instance.report({"payment_id": number})
    victim, _log = instance.start_worker(concurrency=1000)

    wait_until(lambda: receiver.in_flight("/held") >= 1000, 60, 0.01)
    in_flight = receiver.in_flight("/held")
    victim.kill()
    victim.wait(10)
    killed_at = time.monotonic()

    # Its leases would end after 2 × 10 + 30 s: end them now rather than wait.
    instance.end_leases()
    survivor, log = instance.start_worker(concurrency=1000)
    wait_until(lambda: {row["status"] for row in instance.deliveries()} == {"succeeded"}, 120, 0.25)
    recovered_in = time.monotonic() - killed_at

    rows = instance.deliveries()
    assert len(rows) == WEBHOOKS * EVENTS
    received = Counter(receiver.ids("/held"))
    assert set(received) == {row["msg_id"] for row in rows}  # every message arrived
    repeats = sum(count - 1 for count in received.values())
    assert 0 < repeats <= in_flight  # only what was in flight at the kill came again
    bodies = receiver.bodies("/held")
    assert all(len(bodies[msg_id]) == 1 for msg_id in received)  # a repeat is the same message
    assert receiver.most_in_flight("/held") <= 1000
    survivor.terminate()
    assert survivor.wait(30) == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()
    with capsys.disabled():
        print(
            f"\nkilled with {in_flight} attempts in flight; {len(rows)} deliveries all "
            f"succeeded {recovered_in:.1f} s later; {repeats} sent twice, each with its "
            "webhook-id and body"
        )

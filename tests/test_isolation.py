"""Each webhook is kept apart from the others: at most ``max_in_flight`` of its requests at
once, at most ``rate_limit`` a second, a circuit breaker that parks its deliveries while its
receiver is down, and a receiver that hangs delays nobody else. Real receivers on 127.0.0.1;
the bounds on time are generous, the figures belong to bench/engine.py.
"""

import resource
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from tests.async_receiver import AsyncReceiver
from tests.conftest import unused_port
from tests.engine_helpers import (
    FakeClock,
    Script,
    deliveries_of,
    run_worker,
    stored,
    wait_until,
    webhook_values,
    work,
)
from tests.worker_processes import deployment
from webhooks import dispatch
from webhooks.extensions import db
from webhooks.models import Delivery, Webhook, as_utc
from webhooks.worker.dispatcher import Dispatcher

pytestmark = pytest.mark.embedded_engine  # the dispatcher runs here, by hand or in threads


@pytest.fixture(scope="module")
def async_receiver():
    made = AsyncReceiver()
    yield made
    made.stop()


def report(app, count: int, event_type: str = "payment_received") -> None:
    with app.app_context():
        for number in range(count):
            dispatch(event_type, {"payment_id": number})


def statuses(app, webhook_id: int) -> list[str]:
    return [row["status"] for row in deliveries_of(app, webhook_id)]


def running(app, concurrency: int = 200) -> Dispatcher:
    dispatcher = Dispatcher(app, concurrency)
    dispatcher.start()
    return dispatcher


# ---------------------------------------------------------------- requests in flight


def test_never_more_than_max_in_flight_requests_reach_one_receiver(
    app, make_webhook, async_receiver
):
    url = async_receiver.behave("/capped", delay=0.3)
    capped = make_webhook(name="Capped", url=url, max_in_flight=3)
    other_url = async_receiver.behave("/other", delay=0.3)
    other = make_webhook(name="Other", url=other_url, max_in_flight=10)
    dispatcher = running(app)
    try:
        report(app, 12)
        wait_until(lambda: statuses(app, capped) == ["succeeded"] * 12, 15)
        wait_until(lambda: statuses(app, other) == ["succeeded"] * 12, 5)
    finally:
        assert dispatcher.stop(timeout=10)

    assert async_receiver.most_in_flight("/capped") == 3  # the cap, reached and never passed
    assert async_receiver.most_in_flight("/other") == 10  # its own cap, not the other's
    assert sorted(async_receiver.ids("/capped")) == sorted(
        row["msg_id"] for row in deliveries_of(app, capped)
    )


def test_the_cap_holds_across_two_worker_processes(tmp_path, monkeypatch, async_receiver):
    url = async_receiver.behave("/two-workers", delay=0.3)
    with deployment(tmp_path, monkeypatch) as instance:
        webhook_id = instance.webhook(url, max_in_flight=2)
        for number in range(10):
            instance.report({"payment_id": number})
        instance.start_worker(concurrency=50)
        instance.start_worker(concurrency=50)
        wait_until(
            lambda: {row["status"] for row in instance.deliveries()} == {"succeeded"}, 20, 0.05
        )
        assert len(instance.deliveries()) == 10
        assert webhook_id

    assert async_receiver.most_in_flight("/two-workers") == 2
    assert len(set(async_receiver.ids("/two-workers"))) == 10


def test_max_in_flight_is_set_by_the_form_and_refused_out_of_range(app, admin, make_webhook):
    from tests.conftest import post_form

    webhook_id = make_webhook()
    values = {"name": "Receiver", "url": "https://example.com/hook", "event": "payment_received"}
    edit = f"/webhooks/{webhook_id}/edit"

    page = post_form(admin, edit, {**values, "max_in_flight": "0", "rate_limit": "x"}, edit)
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Enter a whole number from 1 to 1000." in text
    assert "Enter a whole number from 1 to 10000, or leave it empty." in text
    with app.app_context():
        hook = db.session.get(Webhook, webhook_id)
        assert (hook.max_in_flight, hook.rate_limit) == (10, None)

    saved = post_form(admin, edit, {**values, "max_in_flight": "4", "rate_limit": "25"}, edit)
    assert saved.status_code == 302
    with app.app_context():
        hook = db.session.get(Webhook, webhook_id)
        assert (hook.max_in_flight, hook.rate_limit) == (4, 25)
    assert "4 requests at once, at most 25 a second" in " ".join(
        admin.get(edit).get_data(as_text=True).split()
    )


# ---------------------------------------------------------------- rate limit


def test_a_rate_limit_spaces_the_requests_and_fails_none(app, make_webhook, async_receiver):
    url = async_receiver.behave("/rated")
    webhook_id = make_webhook(url=url, rate_limit=5)
    dispatcher = running(app)
    try:
        report(app, 12)
        wait_until(lambda: statuses(app, webhook_id) == ["succeeded"] * 12, 15)
    finally:
        assert dispatcher.stop(timeout=10)

    arrivals = async_receiver.arrivals("/rated")
    assert len(arrivals) == 12
    # One every 200 ms: 2.2 s from the first send to the last, less up to one interval by
    # which the first may reach the receiver late (timed on arrival); unlimited, all 12
    # would arrive within a few milliseconds.
    assert arrivals[-1] - arrivals[0] >= 11 / 5 - 1 / 5
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1) for start in arrivals)
    assert busiest <= 5 + 1  # a late one can meet the next on time within a window
    assert {row["attempt_count"] for row in deliveries_of(app, webhook_id)} == {1}


# ---------------------------------------------------------------- circuit breaker


@pytest.fixture
def breaker_config(config):
    config.update(BREAKER_AFTER=3, RETRY_JITTER=0)
    return config


def test_a_receiver_down_pauses_its_webhook_probes_it_then_drains_the_backlog(
    breaker_config, app, make_webhook, caplog
):
    caplog.set_level("INFO", logger="webhooks.lifecycle")
    port = unused_port()
    webhook_id = make_webhook(url=f"http://127.0.0.1:{port}/hook", max_in_flight=1)
    report(app, 6)
    clock = FakeClock()

    for _ in range(3):  # one at a time (max_in_flight 1): three refused connections
        [result] = work(app, clock)
        assert result.ok is False and "connection refused" in result.summary
    hook = webhook_values(app, webhook_id)
    assert hook["down_since"] == clock.now
    assert hook["next_probe_at"] == clock.now + timedelta(seconds=5)

    # Paused: nothing more is attempted; the three never tried wait for the probe, uncharged.
    assert work(app, clock) == []
    rows = deliveries_of(app, webhook_id)
    assert [row["attempt_count"] for row in rows] == [1, 1, 1, 0, 0, 0]
    assert {row["status"] for row in rows[3:]} == {"pending"}
    assert {row["next_attempt_at"] for row in rows[3:]} == {hook["next_probe_at"]}
    assert stored(app)["attempts"] == 3

    # The probe: one delivery, the oldest, at the probe time; it fails, the next is further off.
    clock.move_to(hook["next_probe_at"])
    [probe] = work(app, clock)
    assert probe.ok is False
    assert work(app, clock) == []
    hook = webhook_values(app, webhook_id)
    assert hook["next_probe_at"] == clock.now + timedelta(seconds=300)  # the schedule's 2nd step
    assert stored(app)["attempts"] == 4

    # The receiver is back: the next probe gets through, the breaker closes, the rest follow.
    receiver = HTTPServer(host="127.0.0.1", port=port)
    receiver.expect_request("/hook", method="POST").respond_with_handler(Script(200))
    receiver.start()
    try:
        clock.move_to(hook["next_probe_at"])
        [probe] = work(app, clock)
        assert probe.ok is True
        assert webhook_values(app, webhook_id)["down_since"] is None
        drained = [result for _ in range(10) for result in work(app, clock)]
    finally:
        receiver.stop()
    assert len(drained) == 5 and all(result.ok for result in drained)
    said = [record.getMessage() for record in caplog.records if record.name == "webhooks.lifecycle"]
    assert said == [
        f"webhook {webhook_id}: receiver down (3 attempts in a row failed, the last: connection "
        f"refused by 127.0.0.1:{port}); its deliveries wait, next probe at "
        f"{(clock.now - timedelta(seconds=300)).isoformat(timespec='seconds')}",
        f"webhook {webhook_id}: receiver answers again; its waiting deliveries follow",
    ]
    rows = deliveries_of(app, webhook_id)
    assert {row["status"] for row in rows} == {"succeeded"}
    assert [row["attempt_count"] for row in rows[3:]] == [1, 1, 1]  # never charged while parked
    assert len({row["msg_id"] for row in rows}) == 6


def test_answers_of_a_live_receiver_never_open_the_breaker(
    breaker_config, app, receiver, make_webhook
):
    receiver.expect_request("/hook", method="POST").respond_with_data("no", status=400)
    webhook_id = make_webhook(url=receiver.url_for("/hook"))
    report(app, 6)

    run_worker(app)

    hook = webhook_values(app, webhook_id)
    assert hook["down_since"] is None
    assert hook["consecutive_failures"] == 0
    assert {row["attempt_count"] for row in deliveries_of(app, webhook_id)} == {1}


def test_receiver_down_is_shown_on_the_list_the_webhook_page_the_dashboard_and_the_api(
    breaker_config, app, admin, make_webhook
):
    from tests.engine_helpers import api_token, bearer

    webhook_id = make_webhook(name="Shop CRM", url=f"http://127.0.0.1:{unused_port()}/hook")
    report(app, 3)
    clock = FakeClock(datetime.now(UTC))
    work(app, clock)
    hook = webhook_values(app, webhook_id)
    assert hook["down_since"] is not None

    for path in ("/webhooks/", f"/webhooks/{webhook_id}/edit", "/"):
        page = " ".join(admin.get(path).get_data(as_text=True).split())
        assert "Receiver down since" in page, path
        assert "next probe" in page, path
    body = (
        app.test_client()
        .get(f"/api/v1/webhooks/{webhook_id}", headers=bearer(api_token(app)))
        .get_json()
    )
    assert body["receiver_down_since"] is not None
    assert body["next_probe_at"] is not None


def test_a_new_url_closes_the_breaker_and_sends_the_parked_deliveries_at_once(
    breaker_config, app, admin, make_webhook, receiver
):
    from tests.conftest import post_form

    webhook_id = make_webhook(url=f"http://127.0.0.1:{unused_port()}/hook", max_in_flight=1)
    report(app, 5)
    clock = FakeClock()
    for _ in range(4):
        work(app, clock)
    assert webhook_values(app, webhook_id)["down_since"] is not None

    receiver.expect_request("/new", method="POST").respond_with_data("ok")
    edit = f"/webhooks/{webhook_id}/edit"
    values = {"name": "Receiver", "url": receiver.url_for("/new"), "event": "payment_received"}
    assert post_form(admin, edit, values, edit).status_code == 302

    assert webhook_values(app, webhook_id)["down_since"] is None
    with app.app_context():
        parked = db.session.scalars(
            select(Delivery).where(Delivery.attempt_count == 0, Delivery.webhook_id == webhook_id)
        ).all()
        assert len(parked) == 2
        assert all(as_utc(row.next_attempt_at) <= datetime.now(UTC) for row in parked)


# ---------------------------------------------------------------- a receiver that hangs


def test_hung_receivers_do_not_delay_a_healthy_webhook(config, app, make_webhook, async_receiver):
    hung_url = async_receiver.behave("/hung", hang=True)
    for number in range(3):
        make_webhook(name=f"Hung {number}", url=hung_url, event="invoice_sent")
    healthy_url = async_receiver.behave("/healthy")
    make_webhook(name="Healthy", url=healthy_url)
    dispatcher = running(app, concurrency=100)
    try:
        report(app, 40, "invoice_sent")  # 120 deliveries to receivers that never answer
        wait_until(lambda: async_receiver.count("/hung") >= 30, 10)
        waits = []
        for number in range(5):
            sent = time.monotonic()
            report(app, 1)
            wait_until(lambda n=number: async_receiver.count("/healthy") > n, 5, 0.005)
            waits.append(async_receiver.arrivals("/healthy")[-1] - sent)
    finally:
        async_receiver.release()
        dispatcher.stop(timeout=10)

    assert max(waits) < 1.0, waits  # the old pool of 32 threads waited out every hung request
    assert async_receiver.most_in_flight("/hung") == 30  # three webhooks, ten each


# ---------------------------------------------------------------- an unfinished 2xx


@pytest.fixture
def unfinished_answer():
    """A receiver that answers 200 with a Content-Length of 100 and sends 10 bytes of it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held = []

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            held.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    listener.close()
    for conn in held:
        conn.close()


@pytest.fixture
def one_second_timeout(config):
    config["DELIVERY_TIMEOUT"] = 1
    return config


def test_a_2xx_whose_body_does_not_finish_is_a_failed_attempt(
    one_second_timeout, app, make_webhook, unfinished_answer
):
    webhook_id = make_webhook(url=unfinished_answer)
    report(app, 1)

    [result] = work(app, FakeClock())

    assert result.ok is False
    assert result.summary.startswith("HTTP 200 OK in ")
    assert result.summary.endswith("; the response did not finish within 1 s")
    [row] = deliveries_of(app, webhook_id)
    assert row["status"] == "failing"
    assert row["attempts"][0]["succeeded"] is False
    assert webhook_values(app, webhook_id)["sent_count"] == 0


def test_send_test_event_reports_an_unfinished_2xx_as_a_failure(
    one_second_timeout, app, admin, make_webhook, unfinished_answer
):
    from tests.conftest import post_form

    webhook_id = make_webhook(url=unfinished_answer)
    edit = f"/webhooks/{webhook_id}/edit"

    response = post_form(admin, f"/webhooks/{webhook_id}/test", {}, edit)

    page = " ".join(admin.get(response.headers["Location"]).get_data(as_text=True).split())
    assert "Test event failed: HTTP 200 OK in" in page
    assert "the response did not finish within 1 s" in page


# ---------------------------------------------------------------- open files

OPEN_FILES = """
import resource, sys
from webhooks import create_app
from webhooks.worker.dispatcher import Dispatcher

app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": sys.argv[1]})
resource.setrlimit(resource.RLIMIT_NOFILE, (300, int(sys.argv[2])))
dispatcher = Dispatcher(app, concurrency=1000)
dispatcher._open_enough_files()
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], dispatcher.room)
"""


@pytest.mark.parametrize(("hard", "expected"), [(2048, "1256 1000"), (400, "400 144")])
def test_a_dispatcher_raises_its_open_files_limit_or_keeps_fewer_requests_in_flight(
    tmp_path, hard, expected
):
    """Each request in flight needs a connection, and 1,024 open files is a common default.
    (In a process of its own: a lowered limit would stay with the test run.)"""
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < hard:
        pytest.skip(f"this machine does not let a process open {hard} files")
    done = subprocess.run(
        [sys.executable, "-c", OPEN_FILES, f"sqlite:///{tmp_path / 'w.db'}", str(hard)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == expected


def test_a_webhook_whose_receiver_stays_down_is_still_disabled_after_five_days(
    breaker_config, app, make_webhook
):
    webhook_id = make_webhook(url=f"http://127.0.0.1:{unused_port()}/hook", max_in_flight=1)
    report(app, 4)
    clock = FakeClock()
    for _ in range(3):
        work(app, clock)
    assert webhook_values(app, webhook_id)["down_since"] is not None

    # Probes every few hours fail for days; the one after five days disables the webhook.
    for _ in range(30):
        hook = webhook_values(app, webhook_id)
        if hook["disabled_at"] is not None:
            break
        clock.move_to(hook["next_probe_at"])
        assert len(work(app, clock)) == 1  # one probe, never more

    hook = webhook_values(app, webhook_id)
    assert hook["active"] is False
    assert "Every attempt failed for 5 days" in hook["disabled_reason"]
    assert {row["status"] for row in deliveries_of(app, webhook_id)} == {"failed"}

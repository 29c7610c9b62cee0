"""`flask worker` as separate processes against one database and a real receiver: a SQLite
file, or a database of its own on the WEBHOOKS_TEST_DATABASE_URL server when that is set.

What an operator relies on: SIGTERM stops a worker cleanly, a worker killed mid-send loses
nothing (the next one sends the same message again), and two workers never send the same
delivery twice. Every wait is bounded; every process is killed in the end.
"""

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from werkzeug import Response

from tests.conftest import SERVER_URL, database_on_server
from tests.engine_helpers import Script, wait_until
from webhooks import create_app, dispatch
from webhooks.extensions import db
from webhooks.models import Delivery, Webhook

PROJECT = Path(__file__).resolve().parent.parent
FLASK = str(PROJECT / ".venv" / "bin" / "flask")


@contextmanager
def own_database(tmp_path: Path) -> Iterator[str]:
    """A database for one deployment: a SQLite file, or a new database on the test server."""
    if not SERVER_URL:
        yield f"sqlite:///{tmp_path / 'w.db'}"
        return
    with database_on_server("webhooks_proc") as url:
        yield url


class Instance:
    """A deployment in a temporary folder: its settings, its database and its workers."""

    def __init__(self, tmp_path: Path, monkeypatch, database_url: str) -> None:
        self.path = tmp_path
        self.env = {
            **os.environ,
            "WEBHOOKS_INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": database_url,
            "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.0/8",
            "WEBHOOKS_DELIVERY_TIMEOUT": "2",
            "WEBHOOKS_WORKER_POLL_INTERVAL": "0.2",
        }
        for name, value in self.env.items():
            if name.startswith("WEBHOOKS_") or name == "DATABASE_URL":
                monkeypatch.setenv(name, value)
        self.workers: list[tuple[subprocess.Popen, Path]] = []
        self.flask("db", "upgrade")
        self.app = create_app()  # the same settings as the processes, from the environment

    def flask(self, *args: str) -> str:
        done = subprocess.run(
            [FLASK, "--app", "wsgi", *args],
            cwd=PROJECT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start_worker(self) -> tuple[subprocess.Popen, Path]:
        log = self.path / f"worker-{len(self.workers)}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [FLASK, "--app", "wsgi", "worker", "--threads", "2"],
                cwd=PROJECT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.workers.append((process, log))
        wait_until(lambda: "worker started" in log.read_text() or process.poll() is not None, 15)
        assert process.poll() is None, log.read_text()
        return process, log

    def kill_all(self) -> None:
        for process, _log in self.workers:
            if process.poll() is None:
                process.kill()
            process.wait(10)

    # -- the database, as the web site would write it --------------------------------------
    def webhook(self, url: str, **fields) -> int:
        with self.app.app_context():
            values = {"name": "Receiver", "url": url, "event": "payment_received", **fields}
            hook = Webhook(**values)
            db.session.add(hook)
            db.session.commit()
            return hook.id

    def report(self, data: dict) -> None:
        with self.app.app_context():
            dispatch("payment_received", data)

    def deliveries(self) -> list[dict]:
        with self.app.app_context():
            rows = db.session.scalars(select(Delivery).order_by(Delivery.id)).all()
            return [
                {
                    "msg_id": row.msg_id,
                    "status": row.status,
                    "attempt_count": row.attempt_count,
                    "lease_token": row.lease_token,
                    "next_attempt_at": row.next_attempt_at,
                }
                for row in rows
            ]

    def end_leases(self) -> None:
        """Move every lease's end into the past, as if the lease time had gone by."""
        with self.app.app_context():
            db.session.execute(
                update(Delivery)
                .where(Delivery.lease_token.is_not(None))
                .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            db.session.commit()


@pytest.fixture
def instance(tmp_path, monkeypatch):
    with own_database(tmp_path) as database_url:
        deployment = Instance(tmp_path, monkeypatch, database_url)
        try:
            yield deployment
        finally:
            deployment.kill_all()
            with deployment.app.app_context():
                db.engine.dispose()


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

    def unfinished() -> list[dict]:
        return [row for row in instance.deliveries() if row["status"] != "succeeded"]

    # The others finish everything else; what the dead worker held waits for its lease.
    wait_until(lambda: all(row["lease_token"] for row in unfinished()), 60, interval=0.2)
    held_by_the_dead = len(unfinished())
    instance.end_leases()
    wait_until(lambda: not unfinished(), 30, interval=0.2)

    rows = instance.deliveries()
    assert len(rows) == 2000
    received = script.ids()
    # Every delivery arrived; only what the dead worker held (sent, perhaps, but not yet
    # recorded) was sent again, under the same webhook-id.
    assert set(received) == {row["msg_id"] for row in rows}
    assert len(received) - len(set(received)) <= held_by_the_dead
    for process, log in workers[1:]:
        assert terminate(process) == 0, log.read_text()
        assert "Traceback" not in log.read_text()

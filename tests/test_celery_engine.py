"""The Celery engine (WEBHOOKS_QUEUE=celery): real Celery workers and beat as separate processes,
a real Redis broker, a real receiver, and a database of their own (a SQLite file, or one on the
WEBHOOKS_TEST_DATABASE_URL server).

The process tests need a Redis: WEBHOOKS_TEST_CELERY_BROKER_URL, e.g.
``redis://127.0.0.1:6379/15``; their keys start with the run and worker's namespace
(tests/run_namespace.py), and emptying the broker deletes only those. The broker restart test
starts a Redis server of its own. Every wait is bounded; every process is killed in the end.
"""

import logging
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import unused_port
from tests.engine_helpers import Script, expand, verify, wait_until
from tests.run_namespace import flush_redis_namespace
from tests.test_deliveries_ui import add_delivery, add_webhook, recover, redeliver
from tests.test_worker_process import kill_mid_send, terminate
from tests.worker_processes import Instance, own_database
from webhooks import create_app, dispatch
from webhooks.extensions import db
from webhooks.models import Delivery, Event, Webhook
from webhooks.worker.celery_engine import CeleryEngine
from webhooks.worker.engine import start_embedded

PROJECT = Path(__file__).resolve().parent.parent
CELERY = str(PROJECT / ".venv" / "bin" / "celery")
BROKER_URL = os.environ.get("WEBHOOKS_TEST_CELERY_BROKER_URL")
needs_broker = pytest.mark.skipif(
    not BROKER_URL,
    reason="needs a Redis: set WEBHOOKS_TEST_CELERY_BROKER_URL, e.g. redis://127.0.0.1:6379/15",
)


# ---------------------------------------------------------------- in this process, no broker


@pytest.fixture
def celery_queue(config):
    """The app under test uses the Celery engine (ask for it before ``app``), with a broker
    that nothing listens on."""
    config.update(QUEUE="celery", CELERY_BROKER_URL=f"redis://127.0.0.1:{unused_port()}/0")
    return config


class Messages:
    """The ``webhooks.wake`` messages the engine sends, caught before the broker."""

    def __init__(self, app, monkeypatch) -> None:
        self.sent = 0
        task = app.extensions["celery"].tasks["webhooks.wake"]
        monkeypatch.setattr(task, "apply_async", self.send)

    def send(self, *args, **kwargs) -> None:
        self.sent += 1


def test_celery_engine_announces_each_commit_with_new_work_once(
    celery_queue, app, make_webhook, monkeypatch
):
    messages = Messages(app, monkeypatch)
    for number in range(3):
        make_webhook(name=f"R{number}")
    with app.app_context():
        result = dispatch("payment_received", {"payment_id": 1})
        assert messages.sent == 1
        # No subscriber, but still an event stored: the engine has to expand it.
        dispatch("invoice_sent", {})
        assert messages.sent == 2
        assert db.session.scalars(select(Delivery.id)).all() == []  # the engine writes them

    assert expand(app) == 3  # both events in one commit: one message for its deliveries
    assert messages.sent == 3
    with app.app_context():
        ids = db.session.scalars(select(Delivery.id)).all()
        event = db.session.get(Event, result.event.id)
        assert event.expanded_at is not None and event.delivery_count == 3

    assert isinstance(app.extensions["webhooks.engine"], CeleryEngine)
    assert len(ids) == 3
    with app.app_context():
        dispatch("invoice_sent", {})
    assert messages.sent == 4
    assert expand(app) == 0  # expanded into no delivery: no new work to announce
    assert messages.sent == 4
    assert start_embedded(app) is None  # Celery workers send; the web process does not
    assert app.test_client().get("/healthz").get_json()["worker"] == "none"  # none checked in


def test_an_unreachable_broker_does_not_fail_reporting(celery_queue, app, make_webhook, caplog):
    make_webhook()
    with app.app_context():
        with caplog.at_level(logging.ERROR, logger="webhooks.celery"):
            result = dispatch("payment_received", {"payment_id": 1})
        [event] = db.session.scalars(select(Event)).all()
        # Committed: the workers find it when they next look.
        assert event.uid == result.event.uid and event.expanded_at is None
    assert result.created
    assert "the workers will find it" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="webhooks.celery"):
        assert expand(app) == 1  # as a worker polling would; its news is lost too
    with app.app_context():
        [row] = db.session.scalars(select(Delivery)).all()
        assert row.status == "pending" and row.event_id == result.event.id
    assert "the workers will find it" in caplog.text


def test_redelivery_and_retry_all_failed_announce_work_after_the_commit(
    celery_queue, app, admin, monkeypatch
):
    messages = Messages(app, monkeypatch)
    webhook_id = add_webhook(app)
    first = add_delivery(app, webhook_id, status="failed")
    second = add_delivery(app, webhook_id, status="failed")

    redeliver(admin, first)
    assert messages.sent == 1

    recover(admin, {"webhook_id": webhook_id, "since": "2026-01-01T00:00"})
    assert messages.sent == 2
    with app.app_context():
        assert db.session.get(Delivery, second).status == "pending"


def test_an_unknown_queue_stops_the_app(config):
    config["QUEUE"] = "rabbit"
    with pytest.raises(
        ValueError, match="WEBHOOKS_QUEUE: .rabbit. is not one of embedded, celery; expected"
    ):
        create_app(config)


# ---------------------------------------------------------------- Celery processes


class CeleryInstance(Instance):
    def __init__(
        self, tmp_path: Path, monkeypatch, database_url: str, broker_url: str = BROKER_URL
    ) -> None:
        for name, value in {
            "WEBHOOKS_QUEUE": "celery",
            "WEBHOOKS_CELERY_BROKER_URL": broker_url,
            "WEBHOOKS_RETRY_SCHEDULE": "1,1",
            "WEBHOOKS_RETRY_JITTER": "0",
            "WEBHOOKS_WORKER_POLL_INTERVAL": "1",
            # Each worker process's dispatcher sends at most this many at once: the test
            # receiver (werkzeug's threaded server) is not built for hundreds at a time.
            "WEBHOOKS_WORKER_CONCURRENCY": "4",
        }.items():
            monkeypatch.setenv(name, value)
        super().__init__(tmp_path, monkeypatch, database_url)

    def celery(self, *args: str, ready: str) -> tuple[subprocess.Popen, Path]:
        log = self.path / f"celery-{len(self.workers)}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [CELERY, "-A", "webhooks.celery_worker", *args, "--loglevel", "INFO"],
                cwd=self.path,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group: prefork children die with it
            )
        self.workers.append((process, log))
        wait_until(lambda: ready in log.read_text() or process.poll() is not None, 20, 0.05)
        assert process.poll() is None, log.read_text()
        return process, log

    def kill_all(self) -> None:
        for process, _log in self.workers:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(10)

    def start_celery_worker(
        self, pool: str = "threads", concurrency: int = 4
    ) -> tuple[subprocess.Popen, Path]:
        name = f"w{len(self.workers)}-{os.getpid()}@localhost"
        return self.celery(
            "worker",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--hostname",
            name,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            ready=" ready.",
        )


def flush_broker(broker_url: str = BROKER_URL) -> None:
    """Empty the broker of this run and worker's messages (the namespace's keys only)."""
    flush_redis_namespace(broker_url)


@contextmanager
def celery_deployment(tmp_path, monkeypatch, broker_url: str = BROKER_URL):
    flush_broker(broker_url)
    with own_database(tmp_path) as database_url:
        instance = CeleryInstance(tmp_path, monkeypatch, database_url, broker_url)
        try:
            yield instance
        finally:
            instance.kill_all()
            flush_broker(broker_url)
            with instance.app.app_context():
                db.engine.dispose()


@pytest.fixture
def deployment(tmp_path, monkeypatch):
    with celery_deployment(tmp_path, monkeypatch) as instance:
        yield instance


def assert_clean_logs(deployment) -> None:
    for _process, log in deployment.workers:
        assert "Traceback" not in log.read_text(), log.read_text()


def statuses(deployment) -> list[str]:
    return [row["status"] for row in deployment.deliveries()]


def what_happened(deployment, script: Script, lines: int = 25) -> str:
    """What a failed wait saw: the deliveries by status, the receiver's count, and the end of
    each Celery process's log."""
    counts = Counter(statuses(deployment))
    report = [
        f"deliveries by status: {dict(counts)}; requests received: {script.count()}; "
        f"events not yet expanded: {deployment.unexpanded()}"
    ]
    for _process, log in deployment.workers:
        tail = log.read_text().splitlines()[-lines:]
        report += [f"--- {log.name} (last {len(tail)} lines)", *tail]
    return "\n".join(report)


@needs_broker
def test_every_delivery_arrives_signed_once(deployment, receiver):
    script = Script(200)
    receiver.expect_request("/hook", method="POST").respond_with_handler(script)
    hooks = [deployment.webhook(receiver.url_for("/hook"), name=f"R{n}") for n in range(3)]
    deployment.start_celery_worker()

    for number in range(5):
        deployment.report({"payment_id": number})
    wait_until(lambda: statuses(deployment) == ["succeeded"] * 15, 20, 0.1)
    time.sleep(0.3)  # time enough for a double send to show

    rows = deployment.deliveries()
    assert sorted(script.ids()) == sorted(row["msg_id"] for row in rows)
    assert {row["attempt_count"] for row in rows} == {1}
    with deployment.app.app_context():
        secrets = [db.session.get(Webhook, hook).secret for hook in hooks]
    for seen in script.seen:
        assert any(verify_or_none(secret, seen["request"]) for secret in secrets)
    assert_clean_logs(deployment)


def verify_or_none(secret: str, request):
    try:
        return verify(secret, request)
    except Exception:
        return None


@needs_broker
def test_a_failed_attempt_is_retried_on_schedule(deployment, receiver):
    script = Script(500, 200)
    receiver.expect_request("/hook", method="POST").respond_with_handler(script)
    deployment.webhook(receiver.url_for("/hook"))
    deployment.start_celery_worker()

    deployment.report({"payment_id": 1})
    wait_until(lambda: statuses(deployment) == ["succeeded"], 15, 0.05)

    [row] = deployment.deliveries()
    assert row["attempt_count"] == 2
    assert script.ids() == [row["msg_id"], row["msg_id"]]
    gap = script.seen[1]["at"] - script.seen[0]["at"]
    assert 0.9 <= gap < 3.0  # RETRY_SCHEDULE 1 s, no jitter: the worker wakes when it is due
    assert_clean_logs(deployment)


@needs_broker
def test_work_whose_message_was_lost_is_found_by_the_worker_itself(deployment, receiver):
    script = Script(200)
    receiver.expect_request("/hook", method="POST").respond_with_handler(script)
    deployment.webhook(receiver.url_for("/hook"))

    deployment.report({"payment_id": 1})
    deployment.report({"payment_id": 2})
    flush_broker()  # the broker lost its messages (restarted without persistence)
    deployment.start_celery_worker()  # it looks at once when it starts
    wait_until(lambda: statuses(deployment) == ["succeeded"] * 2, 15, 0.05)

    deployment.report({"payment_id": 3})
    flush_broker()
    # Polled every WEBHOOKS_WORKER_POLL_INTERVAL (1 s): a lost message costs that delay.
    wait_until(lambda: statuses(deployment) == ["succeeded"] * 3, 5, 0.05)

    rows = deployment.deliveries()
    assert sorted(script.ids()) == sorted(row["msg_id"] for row in rows)
    assert_clean_logs(deployment)


@needs_broker
def test_flask_worker_runs_a_celery_worker_with_the_celery_engine(deployment, receiver):
    """`make run` starts `flask worker` beside the site: with WEBHOOKS_QUEUE=celery it is a
    Celery worker, woken by the broker's message."""
    script = Script(200)
    receiver.expect_request("/hook", method="POST").respond_with_handler(script)
    deployment.webhook(receiver.url_for("/hook"))
    deployment.env["WEBHOOKS_WORKER_POLL_INTERVAL"] = "60"  # what arrives at once was woken
    process, log = deployment.start_worker(concurrency=50)  # `flask worker`
    wait_until(lambda: " ready." in log.read_text(), 20, 0.05)

    reported = time.monotonic()
    deployment.report({"payment_id": 1})
    wait_until(lambda: statuses(deployment) == ["succeeded"], 10, 0.02)

    assert script.seen[0]["at"] - reported < 1.0  # the message woke it; no poll needed
    assert "Task webhooks.wake" in log.read_text()
    assert terminate(process, 30) == 0, log.read_text()
    assert "delivery worker stopped" in log.read_text()
    assert_clean_logs(deployment)


@needs_broker
def test_a_killed_celery_worker_loses_nothing(deployment, receiver):
    script = kill_mid_send(deployment, receiver, deployment.start_celery_worker)

    [row] = deployment.deliveries()
    assert row["status"] == "pending" and row["lease_token"] is not None
    assert row["attempt_count"] == 0

    deployment.end_leases()
    deployment.start_celery_worker()
    wait_until(lambda: statuses(deployment) == ["succeeded"], 15, 0.05)

    [row] = deployment.deliveries()
    assert script.ids() == [row["msg_id"], row["msg_id"]]  # the same webhook-id again
    assert row["attempt_count"] == 1


def received_once(script: Script, rows: list[dict]) -> bool:
    received = script.ids()
    return len(received) == len(set(received)) == len(rows)


@needs_broker
def test_four_celery_workers_send_each_of_2000_deliveries_exactly_once(deployment, receiver):
    script = Script(200)
    receiver.expect_request("/hook", method="POST").respond_with_handler(script)
    for number in range(20):
        deployment.webhook(receiver.url_for("/hook"), name=f"Receiver {number}")
    workers = [deployment.start_celery_worker() for _ in range(2)]  # threads
    workers += [deployment.start_celery_worker("prefork", 2) for _ in range(2)]

    for number in range(100):  # 100 events × 20 webhooks
        deployment.report({"payment_id": number})
    try:
        wait_until(lambda: statuses(deployment) == ["succeeded"] * 2000, 120, 0.25)
    except AssertionError:
        pytest.fail(what_happened(deployment, script))

    rows = deployment.deliveries()
    assert {row["attempt_count"] for row in rows} == {1}
    assert received_once(script, rows)
    assert set(script.ids()) == {row["msg_id"] for row in rows}
    for process, log in workers:
        assert terminate(process, 30) == 0, log.read_text()
    assert_clean_logs(deployment)


@needs_broker
def test_four_celery_workers_lose_nothing_of_2000_deliveries_when_one_is_killed(
    deployment, receiver
):
    script = Script(200)
    receiver.expect_request("/hook", method="POST").respond_with_handler(script)
    for number in range(20):
        deployment.webhook(receiver.url_for("/hook"), name=f"Receiver {number}")
    workers = [deployment.start_celery_worker() for _ in range(4)]

    for number in range(100):
        deployment.report({"payment_id": number})
    wait_until(lambda: script.count() >= 400, 60, 0.05)
    victim, _log = workers[0]
    victim.kill()  # mid-run: what it had claimed stays leased to it; its messages are gone
    victim.wait(10)
    # What it may have sent without recording is among what was leased when it died (its
    # leases may run out and be claimed again before the end, on a slow machine).
    leased_at_the_kill = {row["msg_id"] for row in deployment.deliveries() if row["lease_token"]}

    def unfinished() -> list[dict]:
        return [row for row in deployment.deliveries() if row["status"] != "succeeded"]

    # The others expand every event and finish everything else; what the dead worker held
    # waits for its lease. Events first: an event's deliveries are written in the commit that
    # marks it expanded, so once none is left to expand every delivery is there to be read.
    try:
        wait_until(
            lambda: not deployment.unexpanded() and all(row["lease_token"] for row in unfinished()),
            120,
            0.25,
        )
        deployment.end_leases()
        wait_until(lambda: not unfinished(), 60, 0.25)
    except AssertionError:
        pytest.fail(what_happened(deployment, script))

    rows = deployment.deliveries()
    assert len(rows) == 2000
    received = script.ids()
    assert set(received) == {row["msg_id"] for row in rows}
    repeated = {msg_id for msg_id, times in Counter(received).items() if times > 1}
    assert repeated <= leased_at_the_kill  # repeats keep their id
    assert max(Counter(received).values()) <= 2
    for process, log in workers[1:]:
        assert terminate(process, 30) == 0, log.read_text()
        assert "Traceback" not in log.read_text()


class RedisServer:
    """A Redis server of the test's own on a free port of 127.0.0.1, keeping nothing on disk,
    that the test may shut down and start again on the same port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = unused_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self.answers, 10, 0.05)

    def stop(self) -> None:
        """Shut it down as `redis-cli shutdown nosave` would (SIGTERM; nothing is saved)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def answers(self) -> bool:
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@needs_broker
@pytest.mark.skipif(not shutil.which("redis-server"), reason="starts a Redis server (redis-server)")
def test_a_broker_restart_during_a_run_loses_nothing(tmp_path, monkeypatch, own_redis, receiver):
    with celery_deployment(tmp_path, monkeypatch, own_redis.url) as deployment:
        broker_restart_loses_nothing(deployment, own_redis, receiver)


def broker_restart_loses_nothing(deployment, redis_server: RedisServer, receiver) -> None:
    script = Script(200)
    receiver.expect_request("/hook", method="POST").respond_with_handler(script)
    for number in range(3):
        deployment.webhook(receiver.url_for("/hook"), name=f"R{number}")
    worker, log = deployment.start_celery_worker()

    for number in range(20):
        deployment.report({"payment_id": number})
    redis_server.stop()
    for number in range(20, 30):  # reported while there is no broker at all
        deployment.report({"payment_id": number})
    redis_server.start()
    if worker.poll() is not None:
        # Celery 5.7 / kombu can exit on a lost Redis connection while late-acknowledged tasks
        # are in flight ("Unrecoverable error", closing the channel); a supervisor
        # (systemd's Restart=always, docs/deploy.md) starts it again, as this does.
        assert "Unrecoverable error" in log.read_text(), log.read_text()
        worker, log = deployment.start_celery_worker()

    # A Celery worker retries the broker 2, 4, 6 … at most 30 s apart; its dispatcher polls the
    # database every second meanwhile, and expands the events whose messages were lost.
    def settled() -> bool:
        # Events first: once none is left to expand, every delivery is there to be read.
        return not deployment.unexpanded() and set(statuses(deployment)) <= {"succeeded", "failed"}

    try:
        wait_until(settled, 90, 0.2)
    except AssertionError:
        pytest.fail(what_happened(deployment, script))
    assert statuses(deployment) == ["succeeded"] * 90, what_happened(deployment, script)
    rows = deployment.deliveries()
    assert set(script.ids()) == {row["msg_id"] for row in rows}  # all arrived; repeats keep ids
    assert worker.poll() is None  # the worker reconnected by itself, or its replacement runs

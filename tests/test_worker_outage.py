"""The database away for a few seconds while `flask worker` is busy: a PostgreSQL server cut
off by a proxy of the test's own (the real server keeps running), or a SQLite file held locked
by another program past the worker's lock wait.

What an operator relies on: the worker stays up and says once, in one line, that it is waiting
for the database (not a traceback per poll) and once that it is back; every delivery then
arrives, none lost, and one sent twice carries the same webhook-id. Meanwhile the site answers
503 with its clear page and the API 503 ``database_unavailable``.
"""

import json
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import make_url
from werkzeug import Response

from tests.conftest import SERVER_URL, AuthActions, unused_port
from tests.engine_helpers import Script, api_token, assert_api_error, post_event, wait_until
from tests.test_database_unavailable import assert_unavailable_page
from tests.worker_processes import Instance, own_database
from webhooks import create_app
from webhooks.extensions import db
from webhooks.models import User
from webhooks.worker.dispatcher import MAX_ERROR_PAUSE

WEBHOOKS = 5
EVENTS = 12  # 60 deliveries: about 1.5 s of work for a worker with 2 requests at once
OUTAGE = 5.0  # seconds without a database
IN_FLIGHT_LANDS = 1.0  # what was being sent when the database went away arrives within this
UNAVAILABLE = "database unavailable"
BACK = "database reachable again"

needs_server = pytest.mark.skipif(
    SERVER_URL is None,
    reason="cuts a PostgreSQL server off through a proxy; set WEBHOOKS_TEST_DATABASE_URL",
)


class DatabaseProxy:
    """A TCP proxy in front of the database server that the test can take away and bring back
    without touching the server: ``down`` closes every proxied connection and stops listening,
    so new connections are refused; ``up`` listens on the same port again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = unused_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None

    def url(self, database_url: str) -> str:
        """``database_url`` by way of this proxy."""
        proxied = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return proxied.render_as_string(hide_password=False)

    def up(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener
        self._acceptor = threading.Thread(
            target=self._accept, args=(listener,), name="db-proxy", daemon=True
        )
        self._acceptor.start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        self._acceptor.join(5)
        listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), name="db-proxy-pump", daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets -= {source, sink}
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def slow_ok(_request):
    time.sleep(0.05)
    return Response("ok")


def start_busy_worker(instance: Instance, receiver) -> tuple:
    """WEBHOOKS × EVENTS pending deliveries to a receiver on 127.0.0.1 that takes 50 ms per
    request, and a `flask worker` (2 requests at once) that has started on them."""
    script = Script(slow_ok)
    receiver.expect_request("/hook", method="POST").respond_with_handler(script)
    for number in range(WEBHOOKS):
        instance.webhook(receiver.url_for("/hook"), name=f"Receiver {number}")
    for number in range(EVENTS):
        instance.report({"payment_id": number})
    process, log = instance.start_worker()
    wait_until(lambda: script.count() >= 10, 15, interval=0.01)
    return process, log, script


def ride_out(process, script: Script, outage: Callable[[], object], during=None) -> dict:
    """Take the database away with the ``outage`` context manager for OUTAGE seconds while
    the worker is busy; ``during`` runs meanwhile. Returns what the receiver saw, and how
    soon after the database came back the worker sent again."""
    with outage():
        started = time.monotonic()
        at_cut = script.count()
        time.sleep(IN_FLIGHT_LANDS)
        landed = script.count()
        if during is not None:
            during()
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - started)))
        figures = {
            "at_cut": at_cut,
            "landed": landed,
            "at_end": script.count(),
            "outage": time.monotonic() - started,
        }
        assert process.poll() is None, "the worker died during the outage"
    back = time.monotonic()
    # Without a database nothing new is claimed: only what was in flight was sent.
    assert figures["at_end"] == figures["landed"], figures
    assert figures["landed"] - figures["at_cut"] <= 2  # at most 2 requests in flight
    # It tries again at most every MAX_ERROR_PAUSE seconds (SQLite: plus its 1 s lock wait).
    wait_until(lambda: script.count() > figures["landed"], MAX_ERROR_PAUSE + 3, interval=0.01)
    figures["resumed_after"] = time.monotonic() - back
    return figures


def assert_all_arrive(instance: Instance, process, log, script: Script, expected: int) -> dict:
    """Every delivery ends succeeded, each message arrived, and any message sent twice went
    under its one webhook-id; the log holds one line for the outage and one for its end."""

    def all_sent() -> bool:
        rows = instance.deliveries()
        return len(rows) == expected and all(row["status"] == "succeeded" for row in rows)

    # Up to one lease (2 × DELIVERY_TIMEOUT + 30 s): a claim whose COMMIT the cut hid from the
    # worker is sent once the lease has run out.
    wait_until(all_sent, 45, interval=0.1)
    rows = instance.deliveries()
    received = script.ids()
    assert set(received) == {row["msg_id"] for row in rows}  # none lost, none unknown
    assert process.poll() is None
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    text = log.read_text()
    assert "Traceback" not in text, text
    assert text.count(UNAVAILABLE) == 1, text
    assert text.count(BACK) == 1, text
    [warning] = [line for line in text.splitlines() if UNAVAILABLE in line]
    assert "WARNING" in warning and "waiting" in warning and "retrying" in warning, warning
    return {
        "deliveries": len(rows),
        "received": len(received),
        "duplicates": len(received) - len(set(received)),
        "attempts": sum(row["attempt_count"] for row in rows),
    }


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture
def proxied_instance(tmp_path, monkeypatch):
    """A deployment on a database of its own whose `flask worker` reaches PostgreSQL only
    through a DatabaseProxy; the test's own checks go straight to the server."""
    with own_database(tmp_path) as database_url:
        url = make_url(database_url)
        proxy = DatabaseProxy((url.host or "127.0.0.1", url.port or 5432))
        proxy.up()
        deployment = Instance(tmp_path, monkeypatch, database_url)
        deployment.env["DATABASE_URL"] = proxy.url(database_url)
        try:
            yield deployment, proxy
        finally:
            deployment.kill_all()
            proxy.down()
            with deployment.app.app_context():
                db.engine.dispose()


@contextmanager
def site_through(proxy: DatabaseProxy, database_url: str) -> Iterator:
    """The web site on the deployment's database, by way of the proxy."""
    site = create_app(
        {
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": proxy.url(database_url),
            "PROPAGATE_EXCEPTIONS": False,
            "QUEUE": "embedded",
            "EMBEDDED_WORKER": False,
        }
    )
    try:
        yield site
    finally:
        with site.app_context():
            db.session.remove()
            db.engine.dispose()


@needs_server
def test_worker_waits_out_a_postgresql_outage_and_delivers_everything(proxied_instance, receiver):
    instance, proxy = proxied_instance
    with instance.app.app_context():
        admin = User(email="admin@example.com")
        admin.set_password("correct horse battery")
        db.session.add(admin)
        db.session.commit()
    token = api_token(instance.app)
    process, log, script = start_busy_worker(instance, receiver)

    with site_through(proxy, instance.app.config["SQLALCHEMY_DATABASE_URI"]) as site:
        client = site.test_client()
        assert AuthActions(client).login().status_code == 302
        assert client.get("/webhooks/").status_code == 200

        def site_answers_503():
            assert_unavailable_page(client.get("/webhooks/"))
            response = post_event(client, token, {"type": "payment_received", "data": {"n": -1}})
            assert_api_error(response, 503, "database_unavailable")
            assert response.headers["Retry-After"] == "5"

        @contextmanager
        def database_away():
            proxy.down()
            try:
                yield
            finally:
                proxy.up()

        outage = ride_out(process, script, database_away, during=site_answers_503)

        # The site is back as soon as the database is, and so is ingestion.
        assert client.get("/webhooks/").status_code == 200
        response = post_event(client, token, {"type": "payment_received", "data": {"n": 99}})
        assert response.status_code == 202, response.get_data(as_text=True)

    figures = assert_all_arrive(instance, process, log, script, WEBHOOKS * (EVENTS + 1))
    print(f"PostgreSQL outage: {outage} → {figures}")


# ---------------------------------------------------------------- SQLite


@pytest.fixture
def sqlite_instance(tmp_path, monkeypatch):
    """A deployment on a SQLite file whose writers give up on a lock after 1 s (30 s by
    default), so a lock held for a few seconds is an outage."""
    engine_options = {"pool_pre_ping": True, "connect_args": {"timeout": 1}}
    monkeypatch.setenv("WEBHOOKS_SQLALCHEMY_ENGINE_OPTIONS", json.dumps(engine_options))
    path = tmp_path / "locked.db"
    deployment = Instance(tmp_path, monkeypatch, f"sqlite:///{path}")
    try:
        yield deployment, path
    finally:
        deployment.kill_all()
        with deployment.app.app_context():
            db.engine.dispose()


def test_worker_waits_out_a_locked_sqlite_database_and_delivers_everything(
    sqlite_instance, receiver
):
    instance, path = sqlite_instance
    process, log, script = start_busy_worker(instance, receiver)

    @contextmanager
    def database_locked():
        lock = sqlite3.connect(path, timeout=10, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # another program holding the write lock
        try:
            yield
        finally:
            lock.execute("ROLLBACK")
            lock.close()

    outage = ride_out(process, script, database_locked)

    figures = assert_all_arrive(instance, process, log, script, WEBHOOKS * EVENTS)
    print(f"SQLite lock: {outage} → {figures}")

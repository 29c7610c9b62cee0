"""Fixtures: an app on its own database, a browser-like client, a real receiver on 127.0.0.1.

The database is a SQLite file per test, or — with WEBHOOKS_TEST_DATABASE_URL set to a server,
e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test`` — a database of this test run's
(and xdist worker's) own on that server, created at the start, emptied after each test and
dropped at the end. Redis keys are this run and worker's own too: see tests/run_namespace.py.

`make test` runs the suite on several xdist workers (``--dist loadgroup``); the tests that
measure time or load the machine run one after another on one worker, and so do the browser
tests on another (``GROUPS``).
"""

import os
import re
import socket
import threading
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import text
from werkzeug.serving import make_server

from tests.run_namespace import database_on_server, redis_key_prefix, run_id
from webhooks import create_app
from webhooks.extensions import db
from webhooks.models import User, Webhook

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


SERVER_URL = os.environ.get("WEBHOOKS_TEST_DATABASE_URL")
# The engine the app under test queues deliveries on: the embedded default, or Celery on the
# WEBHOOKS_TEST_CELERY_BROKER_URL broker (its messages are left there; no Celery worker runs
# unless a test starts one).
QUEUE = os.environ.get("WEBHOOKS_TEST_QUEUE", "embedded")
BROKER_URL = os.environ.get("WEBHOOKS_TEST_CELERY_BROKER_URL")
if QUEUE == "celery" and not BROKER_URL:
    raise pytest.UsageError("WEBHOOKS_TEST_QUEUE=celery needs WEBHOOKS_TEST_CELERY_BROKER_URL")
sqlite_only = pytest.mark.skipif(
    SERVER_URL is not None,
    reason="reads SQLite's own query plans or triggers; this run uses WEBHOOKS_TEST_DATABASE_URL",
)


TESTS = Path(__file__).resolve().parent
# `make test` runs on several xdist workers (--dist loadgroup), and sends each group below to
# one worker, one test after another. "timing": the tests that measure time (a retry's gap, a
# deadline, a rate) or load the machine (thousands of deliveries, killed workers, the soak), so
# that they never slow each other past their bounds. "browser": the Chromium tests, which share
# one browser and never compete with each other for the page's few-second expectations.
# A group takes the files named (under tests/; a folder takes all of its files) and the tests
# with the markers named.
GROUPS = {
    "timing": {
        "paths": (
            "soak",
            "test_celery_engine.py",
            "test_deadline.py",
            "test_fanout.py",
            "test_isolation.py",
            "test_lock_order.py",
            "test_memory_limits.py",
            "test_nginx_front.py",
            "test_save_warnings.py",
            "test_send_test_event.py",
            "test_test_panel.py",
            "test_site_and_worker.py",
            "test_worker.py",
            "test_worker_outage.py",
            "test_worker_process.py",
        ),
        "markers": ("soak",),
    },
    "browser": {"paths": ("browser",), "markers": ("browser",)},
}


def pytest_configure(config) -> None:
    run_id()  # drawn here, before xdist starts its workers, which inherit it


def group_of(item) -> str | None:
    """The xdist group of a test, if it has one (GROUPS)."""
    path = Path(item.path)
    for name, group in GROUPS.items():
        if any(path == TESTS / part or TESTS / part in path.parents for part in group["paths"]):
            return name
        if any(item.get_closest_marker(marker) for marker in group["markers"]):
            return name
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items) -> None:
    """Mark each test of a group with its xdist group (``--dist loadgroup``)."""
    for item in items:
        name = group_of(item)
        if name:
            item.add_marker(pytest.mark.xdist_group(name))


def pytest_collection_finish(session) -> None:
    """Stop at once if xdist would spread a group: pytest-xdist 3.8 marks a test's group in its
    node id, which pytest 9.2 no longer lets it change (hence pytest<9.2)."""
    if not session.config.getoption("loadgroup", False):
        return
    spread = [item.nodeid for item in session.items if group_of(item)]
    spread = [nodeid for nodeid in spread if "@" not in nodeid.rsplit("]", 1)[-1]]
    if spread:
        raise pytest.UsageError(
            f"--dist loadgroup would run {len(spread)} grouped tests on any worker, e.g. "
            f"{spread[0]}: this pytest-xdist does not group tests with this pytest"
        )


@pytest.fixture(scope="session")
def server_database():
    """The URL of this run's own database on the WEBHOOKS_TEST_DATABASE_URL server, or None."""
    if not SERVER_URL:
        yield None
        return
    with database_on_server("webhooks_test") as url:
        yield url


@pytest.fixture
def config(request, tmp_path, server_database):
    """Settings of the app under test; a test may change them before asking for ``app``."""
    queue = "embedded" if request.node.get_closest_marker("embedded_engine") else QUEUE
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": server_database or f"sqlite:///{tmp_path / 'webhooks.db'}",
        "WTF_CSRF_ENABLED": True,
        # Hashing a password the production way takes 0.1 s; every test makes an admin.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "ALLOWED_NETWORKS": "127.0.0.0/8",
        "DELIVERY_TIMEOUT": 2,
        "QUEUE": queue,
        "REDIS_KEY_PREFIX": redis_key_prefix(),
        **({"CELERY_BROKER_URL": BROKER_URL} if queue == "celery" else {}),
    }


@pytest.fixture
def app(config):
    app = create_app(config)
    with app.app_context():
        db.create_all()
        user = User(email=ADMIN_EMAIL)
        user.set_password(ADMIN_PASSWORD)
        db.session.add(user)
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        if db.engine.dialect.name != "sqlite":
            tables = ", ".join(table.name for table in db.metadata.sorted_tables)
            with db.engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_token(client, path: str = "/login") -> str:
    """Read the CSRF token from a page, as a browser's form would carry it."""
    page = client.get(path)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


class AuthActions:
    def __init__(self, client):
        self._client = client

    def login(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD, next_path=None):
        token = csrf_token(self._client, "/login")
        url = "/login" if next_path is None else f"/login?next={next_path}"
        return self._client.post(
            url, data={"csrf_token": token, "email": email, "password": password}
        )

    def logout(self):
        token = csrf_token(self._client, "/webhooks/")
        return self._client.post("/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def admin(client, auth):
    """A client logged in as the admin."""
    response = auth.login()
    assert response.status_code == 302
    return client


def post_form(client, path: str, data: dict, token_from: str = "/webhooks/"):
    """POST a form with a CSRF token taken from a page, as a browser would."""
    return client.post(path, data={"csrf_token": csrf_token(client, token_from), **data})


def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, read, closed)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture(scope="session")
def _receiver_server():
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def receiver(_receiver_server):
    """A real HTTP server on 127.0.0.1 that records what it receives."""
    _receiver_server.clear()
    yield _receiver_server
    _receiver_server.clear()


@pytest.fixture
def live_server(app):
    """The app on a real HTTP server on 127.0.0.1 (a free port); its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-app", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def make_webhook(app):
    def make(**fields) -> int:
        values = {
            "name": "Receiver",
            "url": "https://example.com/hook",
            "events": ["payment_received"],
        }
        if "event" in fields:  # the one event a webhook receives, as most tests need
            fields["events"] = [fields.pop("event")]
        values.update(fields)
        with app.app_context():
            webhook = Webhook(**values)
            db.session.add(webhook)
            db.session.commit()
            return webhook.id

    return make

"""Fixtures: an app on its own database, a browser-like client, a real receiver on 127.0.0.1.

The database is a SQLite file per test, or — with WEBHOOKS_TEST_DATABASE_URL set to a server,
e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test`` — a database of this test run's own
on that server, created at the start, emptied after each test and dropped at the end.
"""

import os
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import create_engine, make_url, text
from werkzeug.serving import make_server

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


@contextmanager
def database_on_server(prefix: str) -> Iterator[str]:
    """A new, empty database on the WEBHOOKS_TEST_DATABASE_URL server, dropped afterwards."""
    url = make_url(SERVER_URL)
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


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

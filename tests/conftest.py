"""Fixtures: an app on its own SQLite file, a browser-like client, a real receiver on 127.0.0.1."""

import re
import socket

import pytest
from pytest_httpserver import HTTPServer

from webhooks import create_app
from webhooks.extensions import db
from webhooks.models import User, Webhook

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def config(tmp_path):
    """Settings of the app under test; a test may change them before asking for ``app``."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'webhooks.db'}",
        "WTF_CSRF_ENABLED": True,
        "ALLOWED_NETWORKS": "127.0.0.0/8",
        "DELIVERY_TIMEOUT": 2,
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
def make_webhook(app):
    def make(**fields) -> int:
        values = {
            "name": "Receiver",
            "url": "https://example.com/hook",
            "event": "payment_received",
        }
        values.update(fields)
        with app.app_context():
            webhook = Webhook(**values)
            db.session.add(webhook)
            db.session.commit()
            return webhook.id

    return make

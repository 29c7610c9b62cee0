"""The database unreachable or locked: pages answer 503 with a clear page, the API 503 in its
error shape, both with Retry-After; nothing is half-written, and all is well once it is back."""

import sqlite3

import pytest
from sqlalchemy import make_url
from sqlalchemy.exc import OperationalError

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, csrf_token, post_form
from tests.engine_helpers import api_token, assert_api_error, expand, post_event, stored
from webhooks import create_app

MESSAGE = "The database cannot be reached right now, so nothing was changed."


def assert_unavailable_page(response) -> None:
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Temporarily unavailable" in page
    assert MESSAGE in page
    assert "Traceback" not in page


@pytest.fixture
def unreachable(config):
    """The app with its database on a port where nothing listens."""
    config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://webhooks@127.0.0.1:9/webhooks"
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"connect_timeout": 2}}
    config["PROPAGATE_EXCEPTIONS"] = False
    return create_app(config)


def test_logging_in_while_the_database_is_unreachable_is_a_clear_503(unreachable):
    client = unreachable.test_client()
    assert client.get("/login").status_code == 200  # the form itself needs no database

    response = client.post(
        "/login",
        data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": csrf_token(client)},
    )

    assert_unavailable_page(response)


def test_the_api_answers_503_in_its_error_shape_while_the_database_is_unreachable(unreachable):
    client = unreachable.test_client()

    reported = post_event(client, "whk_" + "z" * 43, {"type": "payment_received", "data": {}})
    listed = client.get("/api/v1/webhooks", headers={"Authorization": "Bearer whk_" + "z" * 43})

    for response in (reported, listed):
        assert_api_error(response, 503, "database_unavailable")
        assert response.headers["Retry-After"] == "5"


@pytest.fixture
def sqlite_path(config):
    url = make_url(config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite":
        pytest.skip("locks a SQLite file; this run uses WEBHOOKS_TEST_DATABASE_URL")
    # Give up on a lock after 0.2 s instead of SQLite's default 5 s.
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 0.2}}
    config["PROPAGATE_EXCEPTIONS"] = False
    return url.database


def test_a_locked_sqlite_database_is_a_503_and_all_resumes_once_it_is_free(
    sqlite_path, app, admin, client, make_webhook
):
    make_webhook(name="Shop")
    token = api_token(app)
    assert admin.get("/webhooks/").status_code == 200
    before = post_event(client, token, {"type": "payment_received", "data": {"n": 0}})
    assert before.status_code == 202
    form = {"name": "Blocked", "url": "https://example.com/x", "event": "payment_received"}
    lock = sqlite3.connect(sqlite_path, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # another program holding the write lock
    try:
        assert admin.get("/webhooks/").status_code == 200  # readers go on (WAL)
        assert_unavailable_page(post_form(admin, "/webhooks/new", form, "/webhooks/new"))
        response = post_event(client, token, {"type": "payment_received", "data": {"n": 1}})
        assert_api_error(response, 503, "database_unavailable")
        with pytest.raises(OperationalError, match="locked"):
            expand(app)  # the worker cannot expand the event stored before either
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    assert "Blocked" not in admin.get("/webhooks/").get_data(as_text=True)
    # The refused writes left nothing behind: the event stored before is still unexpanded.
    assert stored(app) == {"events": 1, "deliveries": 0, "attempts": 0}
    response = post_event(client, token, {"type": "payment_received", "data": {"n": 2}})
    assert response.status_code == 202
    assert expand(app) == 2  # both events, once each
    assert stored(app) == {"events": 2, "deliveries": 2, "attempts": 0}


def test_sqlite_writers_wait_30_seconds_for_the_lock_by_default(tmp_path):
    app = create_app(
        {"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'w.db'}"}
    )
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"] == {"timeout": 30}
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True

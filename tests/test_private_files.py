"""The instance's files that hold secrets are 0600 whatever the umask: the SQLite database with
its -wal and -shm files (signing secrets, password and token hashes) and the session key."""

import os
import stat

import pytest
from sqlalchemy import text

from webhooks import create_app
from webhooks.extensions import db
from webhooks.models import Webhook
from webhooks.private_files import sqlite_database_file


@pytest.fixture
def open_umask():
    """A umask that would leave new files readable by everyone (0644)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def app_on(database, **settings):
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "SECRET_KEY": "k",
            **settings,
        }
    )


def write_a_webhook(app) -> None:
    with app.app_context():
        db.create_all()
        db.session.add(Webhook(name="a", url="https://example.com/", events=["payment_received"]))
        db.session.commit()
        # A reader keeps the write-ahead log and its index open, as the site does.
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_a_new_sqlite_database_and_its_wal_and_shm_are_private(tmp_path, open_umask):
    database = tmp_path / "data" / "webhooks.db"
    app = app_on(database)

    write_a_webhook(app)

    with app.app_context():
        with db.engine.connect() as connection:
            connection.execute(text("SELECT count(*) FROM webhooks"))
            files = [
                database,
                database.with_name("webhooks.db-wal"),
                database.with_name("webhooks.db-shm"),
            ]
            assert all(path.exists() for path in files)
            assert [mode(path) for path in files] == [0o600, 0o600, 0o600]
        db.engine.dispose()


def test_files_an_older_version_left_readable_are_narrowed_on_start(tmp_path, open_umask):
    database = tmp_path / "webhooks.db"
    for suffix in ("", "-wal", "-shm"):
        path = database.with_name(database.name + suffix)
        path.write_bytes(b"")
        path.chmod(0o644)

    app_on(database)

    for suffix in ("", "-wal", "-shm"):
        assert mode(database.with_name(database.name + suffix)) == 0o600


def test_the_session_key_is_private_from_the_moment_it_exists(tmp_path, open_umask, monkeypatch):
    monkeypatch.setenv("WEBHOOKS_INSTANCE_PATH", str(tmp_path))
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})

    key = tmp_path / "secret_key"
    assert mode(key) == 0o600
    assert key.read_text().strip() == app.config["SECRET_KEY"]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sqlite:////srv/webhooks/webhooks.db", "/srv/webhooks/webhooks.db"),
        ("sqlite:///webhooks.db", "webhooks.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///file:shared?mode=memory&uri=true", None),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/test", None),
    ],
)
def test_which_uris_name_a_database_file(uri, expected):
    found = sqlite_database_file(uri)

    assert (None if found is None else str(found)) == expected

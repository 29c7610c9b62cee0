"""`flask worker` processes of a deployment in a temporary folder, against a SQLite file or a
database of its own on the WEBHOOKS_TEST_DATABASE_URL server. Shared by the worker-process
tests and the receiver chaos soak."""

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from tests.conftest import BROKER_URL, QUEUE, SERVER_URL
from tests.engine_helpers import wait_until
from tests.run_namespace import database_on_server, redis_key_prefix
from webhooks import create_app, dispatch
from webhooks.extensions import db
from webhooks.models import Delivery, Event, Webhook

PROJECT = Path(__file__).resolve().parent.parent
FLASK = str(PROJECT / ".venv" / "bin" / "flask")
GUNICORN = str(PROJECT / ".venv" / "bin" / "gunicorn")


def engine_under_test() -> dict:
    """The settings of the run's engine (WEBHOOKS_TEST_QUEUE): with Celery, `flask worker`
    runs a Celery worker on the WEBHOOKS_TEST_CELERY_BROKER_URL broker."""
    return {"QUEUE": QUEUE, **({"CELERY_BROKER_URL": BROKER_URL} if QUEUE == "celery" else {})}


@contextmanager
def own_database(tmp_path: Path) -> Iterator[str]:
    """A database for one deployment: a SQLite file, or a new database on the test server."""
    if not SERVER_URL:
        yield f"sqlite:///{tmp_path / 'w.db'}"
        return
    with database_on_server("webhooks_proc") as url:
        yield url


class Instance:
    """A deployment in a temporary folder: its settings, its database and its workers.

    ``settings`` are WEBHOOKS_<NAME> values on top of the defaults below, for the worker
    processes and for ``self.app`` alike."""

    def __init__(
        self, tmp_path: Path, monkeypatch, database_url: str, settings: dict | None = None
    ) -> None:
        self.path = tmp_path
        # The instance folder holds the workers' doorbells, whose socket paths must stay under
        # 100 bytes: a short folder of its own (removed with this object), since an xdist
        # worker's tmp_path (/tmp/pytest-of-root/pytest-N/popen-gwN/test_…0) leaves too little.
        self._instance_folder = tempfile.TemporaryDirectory(prefix="instance-")
        self.env = {
            **os.environ,
            "WEBHOOKS_INSTANCE_PATH": self._instance_folder.name,
            "DATABASE_URL": database_url,
            "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.0/8",
            "WEBHOOKS_DELIVERY_TIMEOUT": "2",
            "WEBHOOKS_WORKER_POLL_INTERVAL": "0.2",
            "WEBHOOKS_REDIS_KEY_PREFIX": redis_key_prefix(),
            **{f"WEBHOOKS_{name}": str(value) for name, value in (settings or {}).items()},
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

    def start_worker(self, concurrency: int = 2) -> tuple[subprocess.Popen, Path]:
        log = self.path / f"worker-{len(self.workers)}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [FLASK, "--app", "wsgi", "worker", "--concurrency", str(concurrency)],
                cwd=PROJECT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.workers.append((process, log))
        wait_until(lambda: "worker started" in log.read_text() or process.poll() is not None, 15)
        assert process.poll() is None, log.read_text()
        return process, log

    def start_gunicorn(self, port: int, log: Path) -> subprocess.Popen:
        """The site as `make run` serves it (gunicorn.conf.py, wsgi:app) on 127.0.0.1:``port``,
        writing to ``log``; the caller waits for it and stops it."""
        with log.open("w") as out:
            return subprocess.Popen(
                [GUNICORN, "--config", "gunicorn.conf.py", "wsgi:app"],
                cwd=PROJECT,
                env={**self.env, "HOST": "127.0.0.1", "PORT": str(port)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill_all(self) -> None:
        for process, _log in self.workers:
            if process.poll() is None:
                process.kill()
            process.wait(10)

    # -- the database, as the web site would write it --------------------------------------
    def webhook(self, url: str, **fields) -> int:
        with self.app.app_context():
            if "event" in fields:  # the one event the webhook receives
                fields["events"] = [fields.pop("event")]
            values = {"name": "Receiver", "url": url, "events": ["payment_received"], **fields}
            hook = Webhook(**values)
            db.session.add(hook)
            db.session.commit()
            return hook.id

    def report(self, data: dict) -> None:
        """Store a payment_received event; the workers expand it into its deliveries."""
        with self.app.app_context():
            dispatch("payment_received", data)

    def unexpanded(self) -> int:
        """How many events are stored that no worker has expanded into deliveries yet."""
        with self.app.app_context():
            return db.session.scalar(
                select(func.count()).select_from(Event).where(Event.expanded_at.is_(None))
            )

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


@contextmanager
def deployment(tmp_path: Path, monkeypatch, settings: dict | None = None) -> Iterator[Instance]:
    """An Instance on a database of its own; its workers are killed and its connections
    closed at the end."""
    with own_database(tmp_path) as database_url:
        instance = Instance(tmp_path, monkeypatch, database_url, settings)
        try:
            yield instance
        finally:
            instance.kill_all()
            with instance.app.app_context():
                db.session.remove()
                db.engine.dispose()

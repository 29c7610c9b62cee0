"""The namespace of a test run and of each of its xdist workers, so that two runs on one machine
(CI beside a developer, two work trees, the soak beside the suite) never share a database or
a queue, and neither do two workers of one run:

- SQLite files live in pytest's tmp_path, under the worker's own base folder (popen-gwN);
- on the WEBHOOKS_TEST_DATABASE_URL server each worker creates databases named after its
  namespace, and drops them when done (``database_on_server``);
- on Redis every key that the app under test writes — the Celery broker's queues and bindings
  (kombu's ``global_keyprefix``) and the login limits' counters — starts with
  ``redis_key_prefix()`` (the REDIS_KEY_PREFIX setting), and a test that empties "the broker"
  deletes only its own keys (``flush_redis_namespace``), never the database.

The run's id is WEBHOOKS_TEST_RUN: the first process of a run draws it (``run_id``), and
the xdist workers and every process a test starts inherit it. The worker's id is xdist's
PYTEST_XDIST_WORKER (``gw0``, ``gw1`` …), or ``main`` without xdist.
"""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, make_url, text

RUN_VARIABLE = "WEBHOOKS_TEST_RUN"


def run_id() -> str:
    """This run's id, drawn once by the run's first process and inherited from it."""
    return os.environ.setdefault(RUN_VARIABLE, secrets.token_hex(4))


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def namespace() -> str:
    """``t<run>_<worker>``: letters, digits and underscores, fit for a database name."""
    return f"t{run_id()}_{worker_id()}"


def redis_key_prefix() -> str:
    return f"{namespace()}:"


def database_name(prefix: str) -> str:
    """A new database name of this run and worker (PostgreSQL allows 63 characters)."""
    return f"{prefix}_{namespace()}_{secrets.token_hex(3)}"


@contextmanager
def database_on_server(prefix: str, server_url: str | None = None) -> Iterator[str]:
    """A new, empty database on the server of ``server_url`` (WEBHOOKS_TEST_DATABASE_URL by
    default), named after this run and worker; it is dropped afterwards, with any connection
    still open to it."""
    url = make_url(server_url or os.environ["WEBHOOKS_TEST_DATABASE_URL"])
    name = database_name(prefix)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def flush_redis_namespace(redis_url: str, prefix: str | None = None) -> int:
    """Delete every key of ``prefix`` (this run and worker's by default) in ``redis_url``'s
    database, leaving other namespaces' keys alone; how many were deleted."""
    import redis

    prefix = redis_key_prefix() if prefix is None else prefix
    if not prefix:
        raise ValueError("an empty prefix would delete every namespace's keys")
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        return client.delete(*keys) if keys else 0
    finally:
        client.close()

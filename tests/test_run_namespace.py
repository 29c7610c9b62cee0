"""Two test runs (or two xdist workers) on one machine share nothing: each has its own
databases and its own Redis keys (tests/run_namespace.py, the REDIS_KEY_PREFIX setting).

The Redis tests need WEBHOOKS_TEST_CELERY_BROKER_URL (CI's Celery run sets it)."""

import os
from queue import Empty

import pytest
import redis
from sqlalchemy import make_url

from tests.conftest import BROKER_URL, SERVER_URL, AuthActions
from tests.run_namespace import flush_redis_namespace, namespace, redis_key_prefix
from webhooks import create_app

needs_redis = pytest.mark.skipif(
    not BROKER_URL, reason="needs a Redis: set WEBHOOKS_TEST_CELERY_BROKER_URL"
)


@pytest.fixture
def two_namespaces():
    """Two namespaces inside this run and worker's own (emptied afterwards)."""
    names = [f"{redis_key_prefix()}{letter}:" for letter in "ab"]
    yield names
    for name in names:
        flush_redis_namespace(BROKER_URL, name)


def celery_app(config: dict, prefix: str):
    """An app under test on the Celery engine, its Redis keys starting with ``prefix``."""
    app = create_app({**config, "QUEUE": "celery", "CELERY_BROKER_URL": BROKER_URL,
                      "REDIS_KEY_PREFIX": prefix})  # fmt: skip
    return app, app.extensions["celery"]


def wake_messages(celery, timeout: float) -> list[str]:
    """Take the messages waiting in the engine's queue ("celery"): their task names."""
    names = []
    with celery.connection_for_read() as connection:
        queue = connection.SimpleQueue("celery", no_ack=True)
        try:
            while True:
                message = queue.get(timeout=timeout)
                names.append(message.headers["task"])
        except Empty:
            pass
        finally:
            queue.close()
    return names


@needs_redis
def test_two_namespaces_queues_do_not_see_each_others_messages(config, two_namespaces):
    first, second = two_namespaces
    app_a, celery_a = celery_app(config, first)
    app_b, celery_b = celery_app(config, second)
    with app_a.app_context():
        app_a.extensions["webhooks.engine"].notify()  # what a commit with new work sends
        app_a.extensions["webhooks.engine"].notify()

    keys = redis.Redis.from_url(BROKER_URL)
    try:
        assert keys.llen(f"{first}celery") == 2
        assert keys.exists(f"{second}celery") == 0
        assert keys.llen("celery") == 0  # nothing outside a namespace either
    finally:
        keys.close()
    assert wake_messages(celery_b, timeout=0.5) == []
    assert wake_messages(celery_a, timeout=2) == ["webhooks.wake", "webhooks.wake"]


@needs_redis
def test_emptying_a_namespace_leaves_the_others_keys(two_namespaces):
    first, second = two_namespaces
    keys = redis.Redis.from_url(BROKER_URL)
    try:
        keys.set(f"{first}one", 1)
        keys.rpush(f"{first}celery", "message")
        keys.set(f"{second}one", 2)

        assert flush_redis_namespace(BROKER_URL, first) == 2
        assert keys.exists(f"{first}one", f"{first}celery") == 0
        assert keys.get(f"{second}one") == b"2"
    finally:
        keys.close()
    with pytest.raises(ValueError, match="every namespace"):
        flush_redis_namespace(BROKER_URL, "")


@needs_redis
def test_login_limit_counters_in_redis_carry_the_namespace(config, two_namespaces):
    first, _second = two_namespaces
    app = create_app({**config, "RATELIMIT_STORAGE_URI": BROKER_URL, "REDIS_KEY_PREFIX": first})
    AuthActions(app.test_client()).login("nobody@example.com", "wrong password")

    keys = redis.Redis.from_url(BROKER_URL)
    try:
        counters = [key.decode() for key in keys.scan_iter(match=f"{first}LIMITS*")]
    finally:
        keys.close()
    assert counters, "the failed login was not counted under the namespace"


def test_the_app_under_test_has_this_workers_database_and_redis_prefix(config):
    assert config["REDIS_KEY_PREFIX"] == f"{namespace()}:"
    database = make_url(config["SQLALCHEMY_DATABASE_URI"])
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if SERVER_URL:
        assert database.database.startswith(f"webhooks_test_{namespace()}_")
    elif worker:
        assert f"/popen-{worker}/" in database.database  # the worker's own temporary folder
    assert namespace().startswith(f"t{os.environ['WEBHOOKS_TEST_RUN']}_")

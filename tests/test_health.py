"""/healthz: what a load balancer sees, without logging in."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import BROKER_URL, unused_port
from tests.engine_helpers import expand, wait_until
from webhooks.extensions import db
from webhooks.models import Delivery
from webhooks.outbox import enqueue
from webhooks.worker import heartbeat
from webhooks.worker.dispatcher import Dispatcher
from webhooks.worker.engine import start_embedded, stop_embedded


def add_delivery(app, webhook_id: int, **fields) -> None:
    with app.app_context():
        values = {"event_type": "payment_received", "body": "{}", "status": "pending"}
        db.session.add(Delivery(webhook_id=webhook_id, **(values | fields)))
        db.session.commit()


def test_health_answers_anonymous_callers_with_the_database_state(client):
    response = client.get("/healthz")
    assert response.json["database"] == "ok"
    assert response.json["oldest_due_delivery_seconds"] == 0
    assert response.json["oldest_unexpanded_event_seconds"] == 0


def test_health_reports_how_long_the_oldest_due_delivery_has_waited(app, client, make_webhook):
    webhook_id = make_webhook()
    now = datetime.now(UTC)
    add_delivery(app, webhook_id, next_attempt_at=now - timedelta(minutes=10))
    add_delivery(app, webhook_id, next_attempt_at=now + timedelta(minutes=10))
    add_delivery(app, webhook_id, status="succeeded", next_attempt_at=now - timedelta(days=1))
    age = client.get("/healthz").json["oldest_due_delivery_seconds"]
    assert 600 <= age < 660


def test_health_reports_how_long_the_oldest_event_has_waited_to_be_expanded(app, client):
    with app.app_context():
        enqueue(
            "payment_received", {}, source="python", now=datetime.now(UTC) - timedelta(minutes=3)
        )
        enqueue("payment_received", {}, source="python")
        db.session.commit()
    assert 180 <= client.get("/healthz").json["oldest_unexpanded_event_seconds"] < 240

    expand(app)

    assert client.get("/healthz").json["oldest_unexpanded_event_seconds"] == 0


@pytest.mark.embedded_engine
def test_health_is_ok_while_a_worker_checks_in_and_fails_when_none_does(app, client):
    """The worker may run in another process (as `make run` has it) or on another machine: it
    checks in every 5 s, and /healthz counts those seen in the last 15 s."""
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json == response.json | {"worker": "none", "workers": 0, "status": "failing"}

    dispatcher = Dispatcher(app, concurrency=2)
    dispatcher.start()
    try:
        wait_until(lambda: client.get("/healthz").json["workers"] == 1, 5)
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json == response.json | {"worker": "running", "status": "ok"}
    finally:
        assert dispatcher.stop(timeout=5)

    response = client.get("/healthz")  # a worker that stops checks out
    assert response.status_code == 503
    assert response.json["worker"] == "none"


@pytest.mark.embedded_engine
def test_a_worker_that_stopped_checking_in_is_taken_for_dead(app, client):
    with app.app_context():
        heartbeat.check_in(db.session, "embedded", datetime.now(UTC) - timedelta(seconds=16))
        assert heartbeat.alive(db.session, datetime.now(UTC)) == 0
    assert client.get("/healthz").json["worker"] == "none"


@pytest.fixture
def worker_in_the_web_process(config):
    config["EMBEDDED_WORKER"] = True
    return config


@pytest.mark.embedded_engine
def test_the_embedded_worker_of_a_web_process_checks_in_too(worker_in_the_web_process, app, client):
    dispatcher = start_embedded(app)
    try:
        assert isinstance(dispatcher, Dispatcher)
        wait_until(lambda: client.get("/healthz").status_code == 200, 5)
    finally:
        stop_embedded(app)


def test_health_fails_with_503_when_the_database_is_unreachable(config, tmp_path):
    from webhooks import create_app

    config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}"
    response = create_app(config).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"
    assert response.json["status"] == "failing"


@pytest.fixture
def unreachable_broker(config):
    config.update(QUEUE="celery", CELERY_BROKER_URL=f"redis://127.0.0.1:{unused_port()}/0")


@pytest.fixture
def reachable_broker(config):
    if not BROKER_URL:
        pytest.skip("needs WEBHOOKS_TEST_CELERY_BROKER_URL, a Redis")
    config.update(QUEUE="celery", CELERY_BROKER_URL=BROKER_URL)


def test_health_checks_the_celery_broker(unreachable_broker, client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json == response.json | {"queue": "unreachable", "status": "failing"}
    assert response.json["database"] == "ok"


def test_health_is_ok_with_a_reachable_celery_broker_and_a_worker(reachable_broker, app, client):
    with app.app_context():  # as a Celery worker's dispatcher does
        heartbeat.check_in(db.session, "celery", datetime.now(UTC))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == response.json | {"queue": "ok", "worker": "running", "status": "ok"}


@pytest.mark.embedded_engine
def test_health_reports_the_queue_with_the_database_for_the_embedded_engine(client):
    assert client.get("/healthz").json["queue"] == "ok"

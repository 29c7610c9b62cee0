"""/healthz: what a load balancer sees, without logging in."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import BROKER_URL, unused_port
from webhooks.extensions import db
from webhooks.models import Delivery
from webhooks.worker.dispatcher import Dispatcher
from webhooks.worker.engine import start_embedded, stop_embedded


def add_delivery(app, webhook_id: int, **fields) -> None:
    with app.app_context():
        values = {"event_type": "payment_received", "body": "{}", "status": "pending"}
        db.session.add(Delivery(webhook_id=webhook_id, **(values | fields)))
        db.session.commit()


def test_health_answers_anonymous_callers_with_the_database_state(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok"
    assert response.json["database"] == "ok"
    assert response.json["oldest_due_delivery_seconds"] == 0


def test_health_reports_how_long_the_oldest_due_delivery_has_waited(app, client, make_webhook):
    webhook_id = make_webhook()
    now = datetime.now(UTC)
    add_delivery(app, webhook_id, next_attempt_at=now - timedelta(minutes=10))
    add_delivery(app, webhook_id, next_attempt_at=now + timedelta(minutes=10))
    add_delivery(app, webhook_id, status="succeeded", next_attempt_at=now - timedelta(days=1))
    age = client.get("/healthz").json["oldest_due_delivery_seconds"]
    assert 600 <= age < 660


@pytest.mark.embedded_engine
def test_health_fails_when_the_embedded_worker_has_stopped(app, client):
    assert client.get("/healthz").json["worker"] == "not running in this process"
    pool = start_embedded(app)
    try:
        assert isinstance(pool, Dispatcher)
        body = client.get("/healthz").json
        assert body["worker"] == "running"
        pool.stop(timeout=5)
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json == response.json | {"worker": "stopped", "status": "failing"}
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


def test_health_is_ok_with_a_reachable_celery_broker(reachable_broker, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == response.json | {"queue": "ok", "worker": "celery", "status": "ok"}


@pytest.mark.embedded_engine
def test_health_reports_the_queue_with_the_database_for_the_embedded_engine(client):
    assert client.get("/healthz").json["queue"] == "ok"

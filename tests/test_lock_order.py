"""Deleting a webhook while a worker records its results does not deadlock: recording takes the
webhook's row first, as a delete does, so the delete waits for the results and then takes their
rows with it. PostgreSQL only: SQLite has one writer at a time, and cannot deadlock so."""

import threading
import time

import pytest
from sqlalchemy import delete, func, select

from tests.conftest import SERVER_URL
from tests.engine_helpers import FakeClock, expand, policy_of
from webhooks import dispatch, lifecycle
from webhooks.delivery.pipeline import EXTENSION_KEY as DELIVERER_KEY
from webhooks.extensions import db
from webhooks.models import Attempt, Delivery, Webhook

pytestmark = [
    pytest.mark.embedded_engine,
    pytest.mark.skipif(not SERVER_URL, reason="row locks: set WEBHOOKS_TEST_DATABASE_URL"),
]


def test_deleting_a_webhook_while_its_results_are_recorded_waits_and_succeeds(
    app, receiver, make_webhook, monkeypatch
):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))
    with app.app_context():
        for number in range(3):
            dispatch("payment_received", {"payment_id": number})
    assert expand(app) == 3  # as the worker does before it claims
    clock = FakeClock()
    with app.app_context():
        deliverer, policy = app.extensions[DELIVERER_KEY], policy_of(app)
        jobs = lifecycle.load(lifecycle.claim(clock.now, 10, policy), deliverer, clock.now)
        results = [(job, deliverer.attempt_now(job.prepared)) for job in jobs]
    assert len(results) == 3

    # Recording pauses once it has written the deliveries, before the webhook's figures: it
    # holds their rows then. The delete comes in at that moment.
    figures = lifecycle._update_webhook_figures
    paused, go_on = threading.Event(), threading.Event()

    def figures_after_a_pause(*args, **kwargs):
        paused.set()
        go_on.wait(10)
        figures(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "_update_webhook_figures", figures_after_a_pause)
    errors: list[BaseException] = []

    def record() -> None:
        try:
            with app.app_context():
                lifecycle.record(results, policy, clock.now)
        except BaseException as error:  # noqa: BLE001  (the test reports it)
            errors.append(error)

    recorder = threading.Thread(target=record)
    recorder.start()
    assert paused.wait(10)
    deleted_at = {}

    def delete_the_webhook() -> None:
        try:
            with app.app_context():
                db.session.execute(delete(Webhook).where(Webhook.id == webhook_id))
                db.session.commit()
                deleted_at["t"] = time.monotonic()
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    deleter = threading.Thread(target=delete_the_webhook)
    deleter.start()
    time.sleep(1.5)  # longer than PostgreSQL's deadlock_timeout (1 s): a deadlock would show
    assert "t" not in deleted_at  # the delete waits for the results being recorded
    released_at = time.monotonic()
    go_on.set()
    recorder.join(10)
    deleter.join(10)

    assert errors == []
    assert deleted_at["t"] >= released_at
    with app.app_context():
        left = [
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Webhook, Delivery, Attempt)
        ]
    assert left == [0, 0, 0]  # the delete took the recorded results with it

"""Group commit of API events: concurrent requests share one transaction, and each is still
answered only after its own event is committed, with its own outcome. The writer stores events
only; the engine then expands each into its deliveries, exactly once."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select

import webhooks.event_writer
from tests.engine_helpers import (
    api_token,
    assert_api_error,
    expand,
    post_event,
    stored,
    wait_until,
)
from webhooks.event_writer import EXTENSION_KEY
from webhooks.extensions import db
from webhooks.models import ApiToken, Delivery, Event
from webhooks.tokens import revoke

PAYMENT = {"payment_id": 7, "payment_total": "$9.00"}


@pytest.fixture
def config(config):
    config["PROPAGATE_EXCEPTIONS"] = False
    return config


@pytest.fixture
def subscribers(make_webhook):
    return [make_webhook(name=name) for name in ("one", "two", "three")]


@pytest.fixture
def held_writer(app, monkeypatch):
    """The writer's first transaction waits until ``expect`` more requests are queued behind
    it, so the next batch is known to hold them all. Returns a function setting ``expect``."""
    writer = app.extensions[EXTENSION_KEY]
    real = webhooks.event_writer._store_batch
    waiting = {"expect": 0, "first": True}

    def store_batch(connection, reports, token_hashes, **options):
        if waiting["first"]:
            waiting["first"] = False
            deadline = time.monotonic() + 30
            while writer._jobs.qsize() < waiting["expect"] and time.monotonic() < deadline:
                time.sleep(0.01)
        return real(connection, reports, token_hashes, **options)

    monkeypatch.setattr(webhooks.event_writer, "_store_batch", store_batch)
    return lambda count: waiting.update(expect=count)


@pytest.fixture
def transactions(app):
    """How many transactions the app's engine commits."""
    with app.app_context():
        engine = db.engine
    commits = []
    listener = lambda connection: commits.append(1)  # noqa: E731
    sqlalchemy_event.listen(engine, "commit", listener)
    yield commits
    sqlalchemy_event.remove(engine, "commit", listener)


def post_at_once(app, payloads_and_tokens) -> list:
    """POST each (payload, token) from its own thread and client, all at the same time."""

    def post(item):
        payload, token = item
        with app.test_client() as client:
            return post_event(client, token, payload)

    with ThreadPoolExecutor(len(payloads_and_tokens)) as pool:
        return list(pool.map(post, payloads_and_tokens))


def test_concurrent_requests_share_one_transaction(app, subscribers, held_writer, transactions):
    token = api_token(app)
    held_writer(9)
    transactions.clear()

    responses = post_at_once(app, [({"type": "payment_received", "data": PAYMENT}, token)] * 10)

    assert [r.status_code for r in responses] == [202] * 10
    assert len({r.get_json()["id"] for r in responses}) == 10
    assert all(r.get_json()["deliveries"] is None for r in responses)  # not expanded yet
    assert stored(app) == {"events": 10, "deliveries": 0, "attempts": 0}
    # The first request alone, then the nine that queued behind it together.
    assert len(transactions) == 2

    assert expand(app) == 30
    assert stored(app) == {"events": 10, "deliveries": 30, "attempts": 0}


def test_each_answer_comes_after_its_event_is_committed(app, subscribers, monkeypatch):
    token = api_token(app)
    committed_when_answered = []
    real_report = webhooks.event_writer.EventWriter.report

    def report(writer, event_report, token_hash):
        outcome = real_report(writer, event_report, token_hash)
        with db.engine.connect() as other:  # what another process sees as the request answers
            committed_when_answered.append(
                other.scalar(select(func.count()).where(Event.uid == outcome.event.uid))
            )
        return outcome

    monkeypatch.setattr(webhooks.event_writer.EventWriter, "report", report)

    responses = post_at_once(app, [({"type": "payment_received", "data": PAYMENT}, token)] * 8)

    assert committed_when_answered == [1] * 8
    with app.app_context():
        uids = set(db.session.scalars(select(Event.uid)))
    assert {r.get_json()["id"] for r in responses} == uids

    # Each is then expanded into its own deliveries, exactly once.
    assert expand(app) == 24
    with app.app_context():
        per_event = dict(
            db.session.execute(
                select(Event.uid, func.count(Delivery.id)).join(Delivery).group_by(Event.uid)
            ).all()
        )
    assert per_event == {uid: 3 for uid in uids}


def test_one_key_twice_in_a_batch_stores_one_event(app, subscribers, held_writer):
    token = api_token(app)
    held_writer(2)
    same = {"type": "payment_received", "data": PAYMENT, "id": "pay-7"}

    responses = post_at_once(
        app,
        [({"type": "payment_received", "data": PAYMENT}, token), (same, token), (same, token)],
    )

    assert sorted(r.status_code for r in responses) == [200, 202, 202]
    assert responses[1].get_json()["id"] == responses[2].get_json()["id"]
    assert stored(app) == {"events": 2, "deliveries": 0, "attempts": 0}
    assert expand(app) == 6
    assert stored(app) == {"events": 2, "deliveries": 6, "attempts": 0}


def test_tokens_are_checked_one_by_one_within_a_batch(app, subscribers, held_writer):
    good, revoked, read_only = api_token(app), api_token(app), api_token(app, scope="read")
    with app.app_context():
        revoke(db.session.scalars(select(ApiToken).order_by(ApiToken.id)).all()[1])
        db.session.commit()
    held_writer(3)
    payload = {"type": "payment_received", "data": PAYMENT}

    responses = post_at_once(
        app, [(payload, good), (payload, revoked), (payload, read_only), (payload, good)]
    )

    assert [r.status_code for r in responses] == [202, 401, 403, 202]
    assert_api_error(responses[1], 401, "invalid_token")
    assert_api_error(responses[2], 403, "read_only_token")
    assert stored(app)["events"] == 2


def test_a_token_revoked_just_before_the_write_is_refused(app, client, subscribers):
    token = api_token(app)
    assert post_event(client, token, {"type": "payment_received", "data": {}}).status_code == 202
    with app.app_context():
        revoke(db.session.scalars(select(ApiToken)).one())
        db.session.commit()

    response = post_event(client, token, {"type": "payment_received", "data": {}})

    assert_api_error(response, 401, "invalid_token")
    assert stored(app)["events"] == 1


def test_an_event_that_cannot_be_stored_fails_alone(app, subscribers, held_writer, monkeypatch):
    real_store = webhooks.event_writer.store

    def store(connection, reports, **options):
        if any(report.data.get("poison") for report in reports):
            raise RuntimeError("this event cannot be stored")
        return real_store(connection, reports, **options)

    monkeypatch.setattr(webhooks.event_writer, "store", store)
    token = api_token(app)
    held_writer(3)
    good = {"type": "payment_received", "data": PAYMENT}
    bad = {"type": "payment_received", "data": {"poison": True}}

    responses = post_at_once(app, [(good, token), (good, token), (bad, token), (good, token)])

    assert [r.status_code for r in responses] == [202, 202, 500, 202]
    assert_api_error(responses[2], 500, "internal_error")
    assert stored(app) == {"events": 3, "deliveries": 0, "attempts": 0}
    assert expand(app) == 9


def test_an_idle_writer_ends_and_the_next_event_starts_another(app, client, monkeypatch):
    monkeypatch.setattr(webhooks.event_writer, "IDLE_SECONDS", 0.05)
    writer = app.extensions[EXTENSION_KEY]
    token = api_token(app)
    assert post_event(client, token, {"type": "payment_received", "data": {}}).status_code == 202

    # The writer clears its thread only on the way out, and may have done so already.
    wait_until(lambda: writer._thread is None)

    assert post_event(client, token, {"type": "payment_received", "data": {}}).status_code == 202
    assert stored(app)["events"] == 2


@pytest.mark.parametrize("token_value", ["whk_not-a-real-token", "nonsense"])
def test_a_malformed_event_with_a_bad_token_is_told_only_about_the_token(app, client, token_value):
    api_token(app)

    response = post_event(client, token_value, raw="{not json")

    assert_api_error(response, 401, "invalid_token")


def test_a_malformed_event_with_a_good_token_is_told_what_is_wrong(app, client):
    token = api_token(app)

    response = post_event(client, token, raw="{not json")

    assert_api_error(response, 400, "invalid_json")


def test_requests_from_many_threads_all_arrive_exactly_once(app, subscribers):
    token = api_token(app)
    payloads = [({"type": "payment_received", "data": {"n": n}}, token) for n in range(40)]

    responses = post_at_once(app, payloads)

    assert all(r.status_code == 202 for r in responses)
    with app.app_context():
        numbers = sorted(
            int(data.split(":")[1].rstrip("}")) for data in db.session.scalars(select(Event.data))
        )
    assert numbers == list(range(40))
    assert threading.active_count() < 100


def test_a_broken_writer_connection_is_replaced_and_nothing_is_lost(app, client, subscribers):
    writer = app.extensions[EXTENSION_KEY]
    token = api_token(app)
    assert post_event(client, token, {"type": "payment_received", "data": {}}).status_code == 202
    writer._connection.connection.driver_connection.close()  # as a database restart would

    response = post_event(client, token, {"type": "payment_received", "data": {}})

    assert response.status_code == 202
    assert stored(app) == {"events": 2, "deliveries": 0, "attempts": 0}
    assert expand(app) == 6

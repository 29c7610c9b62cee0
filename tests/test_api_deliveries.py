"""/api/v1/deliveries: the delivery log as an API client reads it, redelivery and "retry failed
since".

The log is made the real way: events reported to POST /api/v1/events, expanded and sent by the
worker to a real receiver on 127.0.0.1 that answers 200 on /ok and 500 on /broken. Each test
checks the JSON and what the database holds.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from tests.engine_helpers import (
    api_token,
    assert_api_error,
    bearer,
    expand,
    post_event,
    run_worker,
    update_delivery,
    update_webhook,
    wake_flag,
)
from webhooks.extensions import db
from webhooks.lifecycle import send_test_event
from webhooks.models import Attempt, Delivery, Webhook, as_utc

# The log's deliveries are dated 12 hours apart from here, in id order.
BASE_TIME = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(hours=12)
DELIVERY_KEYS = {
    "id",
    "msg_id",
    "webhook_id",
    "event_id",
    "event_type",
    "status",
    "is_test",
    "attempt_count",
    "next_attempt_at",
    "last_summary",
    "created_at",
    "body",
}
ATTEMPT_KEYS = {
    "id",
    "created_at",
    "url",
    "succeeded",
    "status_code",
    "duration_ms",
    "summary",
    "error",
    "request_headers",
    "response_headers",
    "response_body",
}


@pytest.fixture
def config(config):
    config["PROPAGATE_EXCEPTIONS"] = False  # a crash must come back as the 500 a client sees
    config["RETRY_SCHEDULE"] = ""  # a failed attempt is final: the delivery is "failed"
    return config


@pytest.fixture
def token(app):
    return api_token(app)


@pytest.fixture
def reader(app):
    return api_token(app, "reader", scope="read")


@dataclass
class Log:
    shop: int  # payment_received → /ok
    broken: int  # payment_received → /broken
    people: int  # customer_created → /ok
    flaky: int  # customer_created → /broken
    test_send: int  # the delivery of a Send Test Event to shop


@pytest.fixture
def log(app, client, token, receiver, make_webhook) -> Log:
    """Eleven deliveries: 4 succeeded, 4 failed, 2 pending, 1 test send, dated 12 h apart."""
    receiver.expect_request("/ok", method="POST").respond_with_data("thanks")
    receiver.expect_request("/broken", method="POST").respond_with_data(
        '{"oops": true}', status=500, content_type="application/json"
    )
    shop = make_webhook(name="shop", url=receiver.url_for("/ok"))
    broken = make_webhook(name="broken", url=receiver.url_for("/broken"))
    people = make_webhook(name="people", url=receiver.url_for("/ok"), event="customer_created")
    flaky = make_webhook(name="flaky", url=receiver.url_for("/broken"), event="customer_created")
    for number in range(3):
        report(client, token, "payment_received", {"payment_id": number})
    report(client, token, "customer_created", {"customer_id": 1})
    assert run_worker(app) == 8
    report(client, token, "customer_created", {"customer_id": 2})
    assert expand(app) == 2  # its deliveries, left pending
    with app.app_context():
        send_test_event(db.session.get(Webhook, shop))
        rows = db.session.scalars(select(Delivery).order_by(Delivery.id)).all()
        for number, row in enumerate(rows):
            row.created_at = BASE_TIME + number * STEP
            if row.failed_at is not None:  # it failed when it was sent: at once
                row.failed_at = row.created_at
        test_send = next(row.id for row in rows if row.is_test)
        db.session.commit()
    return Log(shop, broken, people, flaky, test_send)


def report(client, token, event_type: str, data: dict) -> None:
    response = post_event(client, token, {"type": event_type, "data": data})
    assert response.status_code == 202, response.get_json()


def rows(app) -> list[dict]:
    """Every delivery as stored, newest first."""
    with app.app_context():
        found = db.session.scalars(select(Delivery).order_by(Delivery.id.desc())).all()
        return [
            {
                "id": row.id,
                "msg_id": row.msg_id,
                "webhook_id": row.webhook_id,
                "event_type": row.event_type,
                "event_uid": row.event.uid if row.event is not None else None,
                "status": row.status,
                "is_test": row.is_test,
                "attempt_count": row.attempt_count,
                "round_failures": row.round_failures,
                "lease_token": row.lease_token,
                "next_attempt_at": as_utc(row.next_attempt_at) if row.next_attempt_at else None,
                "created_at": as_utc(row.created_at),
                "body": row.body,
            }
            for row in found
        ]


def row(app, delivery_id: int) -> dict:
    return next(found for found in rows(app) if found["id"] == delivery_id)


def ids_of(app, *, webhook_id: int, status: str) -> list[int]:
    """Ids of the webhook's deliveries in that status, oldest first."""
    return sorted(
        found["id"]
        for found in rows(app)
        if found["webhook_id"] == webhook_id and found["status"] == status
    )


def get(client, token, path: str, **params):
    return client.get(f"/api/v1{path}", headers=bearer(token), query_string=params or None)


def post(client, token, path: str, payload=None, **kwargs):
    if payload is not None:
        kwargs["json"] = payload
    return client.post(f"/api/v1{path}", headers=bearer(token), **kwargs)


def listed(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [shown["id"] for shown in response.get_json()["data"]]


def assert_invalid(response, *names: str) -> dict[str, list[str]]:
    """A 422 validation_failed naming exactly ``names`` under ``fields``."""
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "fields"}, error
    assert error["code"] == "validation_failed"
    assert set(error["fields"]) == set(names), error["fields"]
    assert all(messages and all(messages) for messages in error["fields"].values())
    return error["fields"]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def to_ms(value: datetime) -> datetime:
    """A stored time as the API shows it: to the millisecond."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def pending_msg_ids(app) -> list[str]:
    """The messages the log left pending; the worker sends them along with what is queued."""
    return [found["msg_id"] for found in rows(app) if found["status"] == "pending"]


# ---------------------------------------------------------------- the list


def test_list_shows_every_delivery_newest_first_as_stored(app, client, token, log):
    response = get(client, token, "/deliveries")

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"data", "next"}
    assert body["next"] is None
    stored = rows(app)
    assert [shown["id"] for shown in body["data"]] == [found["id"] for found in stored]
    assert len(stored) == 11
    for shown, found in zip(body["data"], stored, strict=True):
        assert set(shown) == DELIVERY_KEYS  # no attempts in a list
        assert shown["msg_id"] == found["msg_id"]
        assert shown["webhook_id"] == found["webhook_id"]
        assert shown["event_id"] == found["event_uid"]
        assert shown["event_type"] == found["event_type"]
        assert shown["status"] == found["status"]
        assert shown["is_test"] is found["is_test"]
        assert shown["attempt_count"] == found["attempt_count"]
        assert shown["body"] == found["body"]
        assert moment(shown["created_at"]) == to_ms(found["created_at"])
        assert shown["created_at"].endswith("Z")
    test_send = next(shown for shown in body["data"] if shown["id"] == log.test_send)
    assert test_send["event_id"] is None and test_send["status"] == "test"
    assert {shown["status"] for shown in body["data"]} == {"succeeded", "failed", "pending", "test"}


def case_id(value) -> str:
    """A case's id, the same in every process (xdist's workers compare their collections): a
    set in sorted order, a filter case's row test as "matching"."""
    if isinstance(value, set):
        return "{" + ", ".join(repr(item) for item in sorted(value)) + "}"
    return "matching" if callable(value) else str(value)


# Each case: the query, and which stored deliveries it must give (a test on the stored row).
FILTERS = [
    ({"status": "failed"}, lambda r, log: r["status"] == "failed"),
    ({"status": "pending"}, lambda r, log: r["status"] == "pending"),
    ({"status": "test"}, lambda r, log: r["is_test"]),
    ({"event": "customer_created"}, lambda r, log: r["event_type"] == "customer_created"),
    ({"webhook_id": "{broken}"}, lambda r, log: r["webhook_id"] == log.broken),
    (
        {"status": "succeeded", "event": "payment_received", "webhook_id": "{shop}"},
        lambda r, log: r["webhook_id"] == log.shop and r["status"] == "succeeded",
    ),
    # A bare date is a whole UTC day: "to" includes all of it.
    ({"from": "2026-03-03"}, lambda r, log: r["created_at"] >= datetime(2026, 3, 3, tzinfo=UTC)),
    ({"to": "2026-03-02"}, lambda r, log: r["created_at"] < datetime(2026, 3, 3, tzinfo=UTC)),
    # A "to" moment is included.
    (
        {"to": "2026-03-02T12:00:00Z"},
        lambda r, log: r["created_at"] <= datetime(2026, 3, 2, 12, tzinfo=UTC),
    ),
    # A zone offset is honoured: 06:00+06:00 is midnight UTC.
    (
        {"from": "2026-03-02T06:00:00+06:00", "to": "2026-03-03"},
        lambda r, log: (
            datetime(2026, 3, 2, tzinfo=UTC) <= r["created_at"] < datetime(2026, 3, 4, tzinfo=UTC)
        ),
    ),
    # A time without a zone is UTC.
    (
        {"from": "2026-03-04T00:00:00"},
        lambda r, log: r["created_at"] >= datetime(2026, 3, 4, tzinfo=UTC),
    ),
    (
        {"status": "failed", "webhook_id": "{broken}", "from": "2026-03-02", "to": "2026-03-05"},
        lambda r, log: (
            r["status"] == "failed"
            and r["webhook_id"] == log.broken
            and datetime(2026, 3, 2, tzinfo=UTC)
            <= r["created_at"]
            < datetime(2026, 3, 6, tzinfo=UTC)
        ),
    ),
]


@pytest.mark.parametrize(("params", "matches"), FILTERS, ids=case_id)
def test_each_filter_narrows_the_list_to_the_matching_deliveries(
    app, client, token, log, params, matches
):
    params = {name: value.format(**vars(log)) for name, value in params.items()}
    everything = rows(app)
    expected = [found["id"] for found in everything if matches(found, log)]
    assert 0 < len(expected) < len(everything)  # the case does narrow the list

    response = get(client, token, "/deliveries", **params)

    assert listed(response) == expected
    assert response.get_json()["next"] is None


def test_a_webhook_without_deliveries_lists_none(client, token, log):
    for webhook_id in ("424242", str(2**31 - 1)):
        response = get(client, token, "/deliveries", webhook_id=webhook_id)
        assert listed(response) == []
        assert response.get_json()["next"] is None


def test_an_id_beyond_what_the_database_stores_is_refused_not_an_error(client, token, log):
    # Webhook ids are INTEGER on PostgreSQL, delivery ids BIGINT: a larger one must never
    # reach the database.
    for name, too_big in (("webhook_id", 2**31), ("before", 2**63)):
        response = get(client, token, "/deliveries", **{name: str(too_big)})
        assert response.status_code == 422
        assert set(response.get_json()["error"]["fields"]) == {name}
    assert get(client, token, f"/deliveries/{2**63}").status_code == 404
    assert post(client, token, f"/deliveries/{2**63}/redeliver").status_code == 404


def test_delivery_ids_past_what_an_integer_holds_are_ids_all_the_same(client, token, log):
    """Deliveries outlive INTEGER (2,147,483,647) on a busy platform: their ids are BIGINT."""
    response = get(client, token, "/deliveries", before=str(2**40))
    assert response.status_code == 200
    ids = [item["id"] for item in response.get_json()["data"]]
    assert ids and ids == sorted(ids, reverse=True)  # the newest page, all older than 2**40
    assert_api_error(get(client, token, f"/deliveries/{2**40}"), 404, "not_found")


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"limit": "1"},
        {"status": "failed", "limit": "1"},
        {"webhook_id": "{shop}", "limit": "2"},
        {"from": "2026-03-02", "to": "2026-03-05T12:00:00Z", "limit": "2"},  # time order
        {"event": "payment_received", "from": "2026-03-01", "limit": "4"},
    ],
    ids=str,
)
def test_following_next_walks_every_delivery_exactly_once(app, client, token, log, params):
    params = {name: value.format(**vars(log)) for name, value in params.items()}
    # Every delivery matching the query, newest first, read all at once.
    expected = listed(get(client, token, "/deliveries", **{**params, "limit": "100"}))
    assert expected
    limit = int(params.get("limit", 50))

    seen: list[int] = []
    response = get(client, token, "/deliveries", **params)
    pages = 0
    while True:
        page = listed(response)
        pages += 1
        assert 0 < len(page) <= limit
        seen += page
        next_url = response.get_json()["next"]
        if next_url is None:
            break
        assert len(page) == limit
        path, query = urlsplit(next_url).path, parse_qs(urlsplit(next_url).query)
        assert path == "/api/v1/deliveries"
        assert query.pop("before") == [str(page[-1])]
        assert query == {name: [value] for name, value in params.items()}  # filters kept
        response = client.get(next_url, headers=bearer(token))
    assert seen == expected
    assert len(set(seen)) == len(seen)
    assert pages == -(-len(expected) // limit)


def test_before_a_delivery_that_is_gone_continues_with_the_older_ones(app, client, token, log):
    everything = [found["id"] for found in rows(app)]
    middle = everything[5]
    with app.app_context():
        db.session.delete(db.session.get(Delivery, middle))
        db.session.commit()
    assert listed(get(client, token, "/deliveries", before=str(middle))) == everything[6:]
    dated = get(client, token, "/deliveries", before=str(middle), **{"from": "2026-03-01"})
    assert listed(dated) == everything[6:]


@pytest.mark.embedded_engine
def test_a_page_is_50_by_default_and_at_most_100(app, client, token, make_webhook):
    make_webhook(name="busy", url="https://example.com/hook")
    for number in range(101):
        report(client, token, "payment_received", {"payment_id": number})
    assert expand(app) == 101

    first = get(client, token, "/deliveries")
    assert len(listed(first)) == 50
    assert first.get_json()["next"] is not None
    full = get(client, token, "/deliveries", limit="100")
    assert len(listed(full)) == 100
    last = client.get(full.get_json()["next"], headers=bearer(token))
    assert len(listed(last)) == 1 and last.get_json()["next"] is None
    assert_invalid(get(client, token, "/deliveries", limit="101"), "limit")


def statements_of(app, client, token, **params) -> list[str]:
    """The SQL that GET /deliveries runs."""
    statements: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", capture)
    try:
        listed(get(client, token, "/deliveries", **params))
    finally:
        sa_event.remove(engine, "before_cursor_execute", capture)
    return statements


def test_the_list_never_counts_the_table(app, client, token, log):
    for params in ({}, {"limit": "2", "before": "9"}, {"status": "failed"}):
        on_deliveries = [
            sql for sql in statements_of(app, client, token, **params) if "FROM deliveries" in sql
        ]
        assert on_deliveries
        assert not [sql for sql in on_deliveries if "count(" in sql.lower()]


def test_a_long_page_runs_no_more_queries_than_a_short_one(app, client, token, log):
    short = statements_of(app, client, token, limit="2")
    long = statements_of(app, client, token, limit="100")  # all eleven, bodies and events
    assert len(long) == len(short)


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("status=lost", {"status"}),
        ("status=FAILED", {"status"}),
        ("event=nope", {"event"}),
        ("event=%F0%9F%92%A5", {"event"}),
        ("event=payment_received%00", {"event"}),
        ("status=%FF", {"status"}),
        ("webhook_id=abc", {"webhook_id"}),
        ("webhook_id=0", {"webhook_id"}),
        ("webhook_id=-3", {"webhook_id"}),
        ("webhook_id=9223372036854775808", {"webhook_id"}),
        ("webhook_id=" + "9" * 400, {"webhook_id"}),
        ("webhook_id=%EF%BC%91", {"webhook_id"}),  # a full-width digit one
        ("before=1.5", {"before"}),
        ("limit=0", {"limit"}),
        ("limit=101", {"limit"}),
        ("limit=ten", {"limit"}),
        ("from=yesterday", {"from"}),
        ("to=2026-13-45", {"to"}),
        ("to=2026-02-30", {"to"}),
        ("from=2026-03-02T06:00:00+06:00", {"from"}),  # a + not written %2B arrives as a space
        ("from=0001-01-01T00:00:00%2B01:00", {"from"}),  # before the first moment in UTC
        ("to=9999-12-31T23:59:59-01:00", {"to"}),  # after the last
        ("from=" + "2" * 100, {"from"}),
        ("from=2026-03-05&to=2026-03-04", {"to"}),
        ("from=2026-03-05T00:00:01Z&to=2026-03-05T00:00:00Z", {"to"}),
        ("webhook=1", {"webhook"}),  # the admin page's name for it
        ("after=3", {"after"}),
        ("page=2", {"page"}),
        ("status=failed&status=pending", {"status"}),
        ("status=lost&limit=0&from=soon&colour=red", {"status", "limit", "from", "colour"}),
    ],
)
def test_a_parameter_the_list_cannot_use_is_422(client, token, log, query, fields):
    response = client.get(f"/api/v1/deliveries?{query}", headers=bearer(token))
    assert_invalid(response, *fields)


def test_dates_at_the_ends_of_the_calendar_are_accepted(client, token, log):
    assert len(listed(get(client, token, "/deliveries", **{"from": "0001-01-01"}))) == 11
    assert len(listed(get(client, token, "/deliveries", to="9999-12-31"))) == 11
    assert len(listed(get(client, token, "/deliveries", to="9999-12-31T23:59:59.999999Z"))) == 11
    assert listed(get(client, token, "/deliveries", **{"from": "9999-12-31"})) == []


# ---------------------------------------------------------------- one delivery


def test_a_delivery_is_read_with_its_attempts_newest_first(app, client, token, log):
    failed = ids_of(app, webhook_id=log.broken, status="failed")[0]
    assert post(client, token, f"/deliveries/{failed}/redeliver").status_code == 202
    run_worker(app)

    response = get(client, token, f"/deliveries/{failed}")

    assert response.status_code == 200
    shown = response.get_json()
    assert set(shown) == DELIVERY_KEYS | {"attempts"}
    found = row(app, failed)
    assert shown["msg_id"] == found["msg_id"]
    assert shown["status"] == "failed" and shown["attempt_count"] == 2
    assert shown["event_id"] == found["event_uid"] and shown["event_id"].startswith("evt_")
    assert json.loads(shown["body"])["data"] == {
        "payment_id": json.loads(found["body"])["data"]["payment_id"]
    }
    with app.app_context():
        attempts = db.session.scalars(
            select(Attempt).where(Attempt.delivery_id == failed).order_by(Attempt.id.desc())
        ).all()
        stored_ids = [attempt.id for attempt in attempts]
        stored_headers = [json.loads(attempt.request_headers) for attempt in attempts]
    assert [attempt["id"] for attempt in shown["attempts"]] == stored_ids
    assert len(stored_ids) == 2 and stored_ids[0] > stored_ids[1]
    for attempt, headers in zip(shown["attempts"], stored_headers, strict=True):
        assert set(attempt) == ATTEMPT_KEYS
        assert attempt["succeeded"] is False
        assert attempt["status_code"] == 500
        assert attempt["url"].endswith("/broken")
        assert attempt["response_body"] == '{"oops": true}'
        assert attempt["request_headers"] == headers
        assert attempt["request_headers"]["webhook-id"] == found["msg_id"]
        assert attempt["request_headers"]["webhook-signature"].startswith("v1,")
        assert isinstance(attempt["response_headers"], dict)
        assert attempt["response_headers"]["Content-Type"] == "application/json"
        assert attempt["created_at"].endswith("Z")
        assert isinstance(attempt["duration_ms"], int)


def test_a_test_send_is_read_with_its_attempt(client, token, log):
    shown = get(client, token, f"/deliveries/{log.test_send}").get_json()
    assert shown["is_test"] is True and shown["event_id"] is None
    [attempt] = shown["attempts"]
    assert attempt["succeeded"] is True and attempt["status_code"] == 200
    assert attempt["response_body"] == "thanks"


def test_a_pending_delivery_has_no_attempts(app, client, token, log):
    pending = ids_of(app, webhook_id=log.people, status="pending")[0]
    shown = get(client, token, f"/deliveries/{pending}").get_json()
    assert shown["attempts"] == [] and shown["attempt_count"] == 0
    assert shown["next_attempt_at"].endswith("Z")


@pytest.mark.parametrize(
    "path", ["424242", "0", "-1", "abc", "9223372036854775808", "9" * 400, "1.0", "1e3"]
)
def test_a_missing_delivery_is_404_not_found(client, token, log, path):
    response = get(client, token, f"/deliveries/{path}")
    assert_api_error(response, 404, "not_found")
    response = post(client, token, f"/deliveries/{path}/redeliver")
    assert_api_error(response, 404, "not_found")


# ---------------------------------------------------------------- redeliver


@pytest.mark.embedded_engine
def test_redeliver_sends_the_same_message_again(app, client, token, receiver, log):
    delivered = ids_of(app, webhook_id=log.shop, status="succeeded")[-1]
    before = row(app, delivered)
    sent_before = [request.headers["webhook-id"] for request, _ in receiver.log]
    assert sent_before.count(before["msg_id"]) == 1
    with app.app_context():
        flag = wake_flag(app)
    started = datetime.now(UTC)

    response = post(client, token, f"/deliveries/{delivered}/redeliver")

    assert response.status_code == 202
    shown = response.get_json()
    assert set(shown) == DELIVERY_KEYS
    assert shown["id"] == delivered and shown["msg_id"] == before["msg_id"]
    assert shown["status"] == "pending"
    queued = row(app, delivered)
    assert queued["status"] == "pending"
    assert queued["msg_id"] == before["msg_id"] and queued["body"] == before["body"]
    assert queued["round_failures"] == 0 and queued["lease_token"] is None
    assert started <= queued["next_attempt_at"] <= datetime.now(UTC)
    assert moment(shown["next_attempt_at"]) == to_ms(queued["next_attempt_at"])
    assert flag.is_set()

    also_due = [msg_id for msg_id in pending_msg_ids(app) if msg_id != before["msg_id"]]
    assert run_worker(app) == 1 + len(also_due)
    sent = [request.headers["webhook-id"] for request, _ in receiver.log]
    assert sorted(sent[len(sent_before) :]) == sorted([before["msg_id"], *also_due])
    after = row(app, delivered)
    assert after["status"] == "succeeded" and after["attempt_count"] == 2


def test_redeliver_refuses_a_test_send(app, client, token, log):
    before = rows(app)
    response = post(client, token, f"/deliveries/{log.test_send}/redeliver")
    message = assert_api_error(response, 409, "conflict")
    assert f"/webhooks/{log.shop}/test" in message
    assert rows(app) == before


@pytest.mark.parametrize("state", ["inactive", "disabled"])
def test_redeliver_refuses_a_webhook_that_is_not_active(app, client, token, log, state):
    update_webhook(app, log.broken, active=False)
    if state == "disabled":
        update_webhook(app, log.broken, disabled_at=datetime.now(UTC), disabled_reason="410 Gone")
    failed = ids_of(app, webhook_id=log.broken, status="failed")[0]
    before = rows(app)

    response = post(client, token, f"/deliveries/{failed}/redeliver")

    message = assert_api_error(response, 409, "conflict")
    assert state in message
    assert rows(app) == before


# ---------------------------------------------------------------- retry failed since


@pytest.mark.embedded_engine
def test_retry_failed_requeues_only_that_webhooks_failed_deliveries_since_then(
    app, client, token, receiver, log
):
    failed = ids_of(app, webhook_id=log.broken, status="failed")
    assert len(failed) == 3
    since = row(app, failed[1])["created_at"]  # at or after: the second and third
    with app.app_context():  # a test send is never retried, even one marked failed
        send_test_event(db.session.get(Webhook, log.broken))
        test_send = db.session.scalar(select(func.max(Delivery.id)))
    update_delivery(app, test_send, status="failed")
    before = {found["id"]: found for found in rows(app)}
    with app.app_context():
        flag = wake_flag(app)

    response = post(
        client,
        token,
        "/deliveries/retry-failed",
        {"webhook_id": log.broken, "since": since.isoformat().replace("+00:00", "Z")},
    )

    assert response.status_code == 202
    assert response.get_json() == {"queued": 2, "retried_now": 0}
    assert flag.is_set()
    after = {found["id"]: found for found in rows(app)}
    for delivery_id, found in after.items():
        if delivery_id in failed[1:]:
            assert found["status"] == "pending"
            assert found["msg_id"] == before[delivery_id]["msg_id"]
            assert found["round_failures"] == 0 and found["next_attempt_at"] is not None
        else:
            assert found == before[delivery_id]  # older, another webhook's, or not failed
    assert any(f["status"] == "failed" and f["webhook_id"] == log.flaky for f in after.values())

    retried = [before[delivery_id]["msg_id"] for delivery_id in failed[1:]]
    also_due = [found["msg_id"] for found in before.values() if found["status"] == "pending"]
    sent_before = len(receiver.log)
    assert run_worker(app) == len(retried) + len(also_due)
    resent = [request.headers["webhook-id"] for request, _ in receiver.log[sent_before:]]
    assert sorted(resent) == sorted(retried + also_due)


@pytest.mark.parametrize(
    ("since", "queued"),
    [
        ("2026-03-01T12:00:00Z", 3),  # the broken webhook's: Mar 1 12:00, Mar 2 18:00, Mar 4 00:00
        ("2026-03-01T12:00:01Z", 2),
        ("2026-03-02T18:00:00Z", 2),
        ("2026-03-02T18:00:00", 2),  # no zone: UTC
        ("2026-03-02T19:00:00+01:00", 2),
        ("2026-03-02T18:00:00.250Z", 2),  # to the second, as the admin form: that second counts
        ("2026-03-02 18:00:01", 1),
        ("2026-03-04", 1),
        ("2026-03-04T00:00:01Z", 0),
    ],
)
def test_retry_failed_reads_since_as_an_iso_moment(app, client, token, log, since, queued):
    failed = ids_of(app, webhook_id=log.broken, status="failed")
    for delivery_id, created in zip(
        failed,
        (BASE_TIME, datetime(2026, 3, 2, 18, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC)),
        strict=True,
    ):
        update_delivery(app, delivery_id, created_at=created, failed_at=created)

    response = post(
        client, token, "/deliveries/retry-failed", {"webhook_id": log.broken, "since": since}
    )

    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {"queued": queued, "retried_now": 0}
    assert len(ids_of(app, webhook_id=log.broken, status="pending")) == queued


def test_retry_failed_retries_the_failing_deliveries_now_and_counts_them_apart(
    app, client, token, log
):
    failed = ids_of(app, webhook_id=log.broken, status="failed")
    later = datetime.now(UTC) + timedelta(hours=3)
    update_delivery(app, failed[0], status="failing", round_failures=2, next_attempt_at=later)
    # One a worker is sending right now stays with it.
    update_delivery(app, failed[1], status="failing", lease_token="held", next_attempt_at=later)
    response = post(
        client, token, "/deliveries/retry-failed", {"webhook_id": log.broken, "since": "2000-01-01"}
    )
    assert response.status_code == 202
    assert response.get_json() == {"queued": 1, "retried_now": 1}
    retried, held = row(app, failed[0]), row(app, failed[1])
    assert retried["status"] == "failing" and retried["round_failures"] == 2
    assert retried["next_attempt_at"] <= datetime.now(UTC) and retried["lease_token"] is None
    assert held["lease_token"] == "held" and held["next_attempt_at"] == later
    assert row(app, failed[2])["status"] == "pending"


def test_retry_failed_with_nothing_failed_queues_none(app, client, token, log):
    before = rows(app)
    response = post(
        client, token, "/deliveries/retry-failed", {"webhook_id": log.shop, "since": "2000-01-01"}
    )
    assert response.status_code == 202
    assert response.get_json() == {"queued": 0, "retried_now": 0}
    assert rows(app) == before


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"webhook_id", "since"}),
        ({"since": "2026-03-01T00:00:00Z"}, {"webhook_id"}),
        ({"webhook_id": "{broken}"}, {"since"}),
        ({"webhook_id": "1", "since": "2026-03-01T00:00:00Z"}, {"webhook_id"}),
        ({"webhook_id": True, "since": "2026-03-01T00:00:00Z"}, {"webhook_id"}),
        ({"webhook_id": 1.5, "since": "2026-03-01T00:00:00Z"}, {"webhook_id"}),
        ({"webhook_id": None, "since": "2026-03-01T00:00:00Z"}, {"webhook_id"}),
        ({"webhook_id": 0, "since": "2026-03-01T00:00:00Z"}, {"webhook_id"}),
        ({"webhook_id": -4, "since": "2026-03-01T00:00:00Z"}, {"webhook_id"}),
        ({"webhook_id": 10**30, "since": "2026-03-01T00:00:00Z"}, {"webhook_id"}),
        ({"webhook_id": "{broken}", "since": "yesterday"}, {"since"}),
        ({"webhook_id": "{broken}", "since": ""}, {"since"}),
        ({"webhook_id": "{broken}", "since": 1772323200}, {"since"}),
        ({"webhook_id": "{broken}", "since": ["2026-03-01"]}, {"since"}),
        ({"webhook_id": "{broken}", "since": "2026-02-30T00:00:00Z"}, {"since"}),
        ({"webhook_id": "{broken}", "since": "0001-01-01T00:00:00+01:00"}, {"since"}),
        ({"webhook_id": "{broken}", "since": "２０２６-03-01"}, {"since"}),
        ({"webhook_id": "{broken}", "since": "2026-03-01", "status": "failed"}, {"status"}),
        ({"webhook_id": "x", "since": "never", "force": True}, {"webhook_id", "since", "force"}),
    ],
    ids=case_id,
)
def test_retry_failed_refuses_a_body_the_form_refuses(app, client, token, log, payload, fields):
    payload = {
        name: log.broken if value == "{broken}" else value for name, value in payload.items()
    }
    before = rows(app)
    assert_invalid(post(client, token, "/deliveries/retry-failed", payload), *fields)
    assert rows(app) == before


def test_retry_failed_takes_a_json_object_only(app, client, token, log):
    before = rows(app)
    path = "/deliveries/retry-failed"
    response = post(client, token, path, [{"webhook_id": log.broken, "since": "2026-01-01"}])
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_failed"
    assert_api_error(
        post(client, token, path, data="{not json", content_type="application/json"),
        400,
        "invalid_json",
    )
    assert_api_error(
        post(client, token, path, data="webhook_id=1&since=2026-01-01"),
        415,
        "unsupported_media_type",
    )
    assert_api_error(client.get(f"/api/v1{path}", headers=bearer(token)), 405, "method_not_allowed")
    assert rows(app) == before


def test_retry_failed_for_a_missing_webhook_is_404(app, client, token, log):
    for webhook_id in (424242, 2**31 - 1):
        response = post(
            client,
            token,
            "/deliveries/retry-failed",
            {"webhook_id": webhook_id, "since": "2026-01-01T00:00:00Z"},
        )
        assert_api_error(response, 404, "not_found")


def test_retry_failed_refuses_an_inactive_webhook(app, client, token, log):
    update_webhook(app, log.broken, active=False)
    before = rows(app)
    response = post(
        client,
        token,
        "/deliveries/retry-failed",
        {"webhook_id": log.broken, "since": "2026-01-01T00:00:00Z"},
    )
    assert "inactive" in assert_api_error(response, 409, "conflict")
    assert rows(app) == before


# ---------------------------------------------------------------- tokens


def test_a_read_only_token_reads_but_cannot_requeue(app, client, reader, log):
    failed = ids_of(app, webhook_id=log.broken, status="failed")
    assert len(listed(get(client, reader, "/deliveries"))) == 11
    assert get(client, reader, f"/deliveries/{failed[0]}").status_code == 200
    before = rows(app)

    response = post(client, reader, f"/deliveries/{failed[0]}/redeliver")
    assert_api_error(response, 403, "read_only_token")
    response = post(
        client,
        reader,
        "/deliveries/retry-failed",
        {"webhook_id": log.broken, "since": "2026-01-01T00:00:00Z"},
    )
    assert_api_error(response, 403, "read_only_token")
    assert rows(app) == before


def test_the_deliveries_need_a_valid_token(app, client, log):
    failed = ids_of(app, webhook_id=log.broken, status="failed")[0]
    before = rows(app)
    for headers, code in (({}, "unauthorized"), (bearer("whk_wrong"), "invalid_token")):
        assert_api_error(client.get("/api/v1/deliveries", headers=headers), 401, code)
        assert_api_error(client.get(f"/api/v1/deliveries/{failed}", headers=headers), 401, code)
        response = client.post(f"/api/v1/deliveries/{failed}/redeliver", headers=headers)
        assert_api_error(response, 401, code)
        response = client.post(
            "/api/v1/deliveries/retry-failed",
            headers=headers,
            json={"webhook_id": log.broken, "since": "2026-01-01T00:00:00Z"},
        )
        assert_api_error(response, 401, code)
    assert rows(app) == before


@pytest.mark.parametrize("query", ["before=", "webhook_id=", "status=", "limit=", "from=&to="])
def test_an_empty_parameter_is_the_same_as_leaving_it_out(app, client, token, log, query):
    headers = bearer(token)

    plain = client.get("/api/v1/deliveries", headers=headers)
    empty = client.get(f"/api/v1/deliveries?{query}", headers=headers)

    assert empty.status_code == 200, empty.get_json()
    listed = [d["id"] for d in empty.get_json()["data"]]
    assert listed == [d["id"] for d in plain.get_json()["data"]]
    assert len(listed) == 11

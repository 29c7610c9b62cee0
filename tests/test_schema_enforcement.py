"""Payloads checked against the catalogue: each event type's JSON Schema is enforced where
events are stored (the API, the CLI and ``dispatch``) as "off", "warn" (the default) or
"reject"; warned events are flagged on their pages and counted on the dashboard, and operators
set the mode on the catalogue page and through the API."""

import json
import re
from datetime import UTC, datetime, timedelta

import jsonschema_rs
import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import select

from tests.conftest import csrf_token, post_form, sqlite_only
from tests.engine_helpers import (
    api_token,
    assert_api_error,
    bearer,
    expand,
    post_event,
    stored,
)
from webhooks import EventError, create_app, dispatch
from webhooks.catalogue import get_event
from webhooks.delivery.messages import Message
from webhooks.event_writer import _store_batch
from webhooks.extensions import db
from webhooks.lifecycle import disable
from webhooks.models import Delivery, Event, EventTypeSetting, Webhook
from webhooks.outbox import SchemaRejected, checked, enqueue
from webhooks.schema_checks import (
    MAX_MESSAGE,
    MAX_PROBLEMS,
    find_problems,
    json_path,
    problems_of,
    set_schema_mode,
)
from webhooks.settings import SettingError
from webhooks.tokens import token_digest

NOTHING = {"events": 0, "deliveries": 0, "attempts": 0}
SAMPLE = get_event("payment_received").sample_data()
# A number where the schema wants a string, and a required field left out.
BAD = {k: v for k, v in SAMPLE.items() if k != "customer_user_email"} | {"payment_total": 29}
BAD_PATHS = {"data.payment_total", "data.customer_user_email"}


@pytest.fixture
def config(config):
    config["PROPAGATE_EXCEPTIONS"] = False
    return config


@pytest.fixture
def token(app):
    return api_token(app)


@pytest.fixture
def flask(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def set_mode(app, slug: str, mode: str) -> None:
    with app.app_context():
        set_schema_mode(slug, mode)
        db.session.commit()


def events(app) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(select(Event).order_by(Event.id)).all()
        return [
            {
                "uid": row.uid,
                "problems": json.loads(row.schema_problems) if row.schema_problems else None,
                "count": row.schema_problem_count,
            }
            for row in rows
        ]


def paths(problems) -> set[str]:
    return {problem["path"] for problem in problems}


def shown(page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


# ---------------------------------------------------------------- what is checked


def test_problems_name_each_field_by_its_json_path():
    found = find_problems("payment_received", BAD)

    assert {problem.path for problem in found} == BAD_PATHS
    messages = {problem.path: problem.message for problem in found}
    assert messages["data.payment_total"] == '29 is not of type "string"'
    assert "customer_user_email" in messages["data.customer_user_email"]
    assert find_problems("payment_received", SAMPLE) == ()


def test_nested_members_array_items_and_odd_names_are_named_by_their_paths():
    validator = jsonschema_rs.validator_for(
        {
            "type": "object",
            "properties": {
                "customer": {"type": "object", "properties": {"email": {"type": "string"}}},
                "items": {
                    "type": "array",
                    "items": {"type": "object", "required": ["sku"]},
                },
                "odd/~key": {"type": "integer"},
            },
            "required": ['quo"te'],
        }
    )
    data = {"customer": {"email": 5}, "items": [{"sku": "a"}, {}], "odd/~key": "x"}

    assert {problem.path for problem in problems_of(validator, data)} == {
        "data.customer.email",
        "data.items[1].sku",
        'data["odd/~key"]',
        'data["quo\\"te"]',
    }
    # A member named like an index is a member, not an array item.
    digits = jsonschema_rs.validator_for(
        {"properties": {"a": {"properties": {"0": {"type": "string"}}}}}
    )
    (problem,) = problems_of(digits, {"a": {"0": 1}})
    assert problem.path == 'data.a["0"]'


def test_json_paths_of_nested_members_array_items_and_odd_names():
    assert json_path(["customer", "email"]) == "data.customer.email"
    assert json_path(["items", 0, "sku"]) == "data.items[0].sku"
    assert json_path(["odd key", 'quo"te']) == 'data["odd key"]["quo\\"te"]'
    assert json_path([]) == "data"


def test_problems_are_capped_in_number_and_length():
    everything_wrong = {name: [1] for name in SAMPLE}  # an array where each wants a scalar
    assert len(SAMPLE) > MAX_PROBLEMS
    assert len(find_problems("payment_received", everything_wrong)) == MAX_PROBLEMS

    (problem,) = find_problems("payment_received", {**SAMPLE, "payment_total": ["x" * 5000]})
    assert len(problem.message) == MAX_MESSAGE and problem.message.endswith("…")


def test_extra_fields_and_left_out_optional_fields_are_no_problem():
    sample = get_event("customer_created").sample_data()
    optional = get_event("customer_created").optional
    assert optional
    data = {k: v for k, v in sample.items() if k not in optional} | {"wu_version": "2.3"}
    assert find_problems("customer_created", data) == ()


def test_the_services_own_webhook_disabled_event_matches_its_schema(app, make_webhook):
    hook = make_webhook()
    with app.app_context():
        set_schema_mode("webhook_disabled", "reject")
        reason = Message(
            "disabled.failing",
            {"days": 5.0, "last": Message("connection.refused", {"host": "127.0.0.1:9"})},
        )
        disable(db.session.get(Webhook, hook), reason, datetime.now(UTC))
        db.session.commit()
    [event] = events(app)
    assert event["problems"] is None


def test_the_services_own_events_are_never_refused(app):
    set_mode(app, "webhook_disabled", "reject")
    with app.app_context():
        enqueue("webhook_disabled", {"webhook_id": "not a number"}, source="system")
        db.session.commit()
    [event] = events(app)
    assert "data.webhook_id" in paths(event["problems"])


# ---------------------------------------------------------------- the API


def test_api_warn_is_the_default_and_keeps_the_problems_with_the_event(app, client, token):
    response = post_event(client, token, {"type": "payment_received", "data": BAD})

    assert response.status_code == 202
    answered = response.get_json()["schema_problems"]
    assert paths(answered) == BAD_PATHS
    [event] = events(app)
    assert event["problems"] == answered and event["count"] == 2
    read = client.get(f"/api/v1/events/{event['uid']}", headers=bearer(token)).get_json()
    assert read["schema_problems"] == answered


def test_api_off_stores_the_event_without_looking(app, client, token):
    set_mode(app, "payment_received", "off")

    response = post_event(client, token, {"type": "payment_received", "data": BAD})

    assert response.status_code == 202
    assert response.get_json()["schema_problems"] == []
    assert events(app)[0]["problems"] is None and events(app)[0]["count"] is None


def test_api_reject_answers_422_naming_each_path_and_stores_nothing(app, client, token):
    set_mode(app, "payment_received", "reject")

    response = post_event(client, token, {"type": "payment_received", "data": BAD, "id": "k-1"})

    message = assert_api_error(response, 422, "schema_mismatch")
    fields = response.get_json()["error"]["fields"]
    assert set(fields) == BAD_PATHS
    assert fields["data.payment_total"] == ['29 is not of type "string"']
    assert "data.payment_total" in message and "not stored" in message
    assert stored(app) == NOTHING
    # A payload that matches is accepted, and the same id may be used for it.
    good = post_event(client, token, {"type": "payment_received", "data": SAMPLE, "id": "k-1"})
    assert good.status_code == 202 and good.get_json()["schema_problems"] == []


def test_reject_applies_per_event_type(app, client, token):
    set_mode(app, "payment_received", "reject")

    other = post_event(client, token, {"type": "payment_failed", "data": {"payment_id": 1}})

    assert other.status_code == 202
    assert other.get_json()["schema_problems"]


def test_a_rejected_event_in_a_batch_fails_alone(app, token):
    set_mode(app, "payment_received", "reject")
    with app.app_context():
        reports = [
            checked("payment_received", SAMPLE, "a", source="api"),
            checked("payment_received", BAD, "b", source="api"),
            checked("payment_received", BAD, "a", source="api"),  # the first's key: that one
            checked("site_published", {"site_id": "x"}, None, source="api"),
            checked("payment_received", BAD, "c", source="api"),
            checked("payment_received", SAMPLE, "c", source="api"),  # "c" is still free
        ]
        with db.engine.begin() as connection:
            outcomes, new = _store_batch(connection, reports, [token_digest(token)] * 6)

    assert new == 3
    assert outcomes[0].created and outcomes[3].created and outcomes[5].created
    assert isinstance(outcomes[1], SchemaRejected) and isinstance(outcomes[4], SchemaRejected)
    assert outcomes[2].event.uid == outcomes[0].event.uid and not outcomes[2].created
    assert len(events(app)) == 3


@pytest.fixture
def rejecting_by_default(config):
    """The app under test made with SCHEMA_ENFORCEMENT=reject (asked for before ``app``)."""
    config["SCHEMA_ENFORCEMENT"] = "reject"


def test_the_setting_is_the_mode_of_event_types_without_their_own(rejecting_by_default, app):
    # The ``app`` fixture empties the database afterwards, as for every test that writes.
    with app.app_context():
        with pytest.raises(SchemaRejected):
            dispatch("payment_received", BAD)
        set_schema_mode("payment_received", "warn")
        db.session.commit()
        assert dispatch("payment_received", BAD).event.schema_problem_count == 2


@pytest.mark.parametrize("value", ["strict", "", "WARN", None, 1])
def test_a_bad_setting_stops_the_app_with_a_one_line_message(config, value):
    config["SCHEMA_ENFORCEMENT"] = value
    with pytest.raises(SettingError) as raised:
        create_app(config)
    message = str(raised.value)
    assert message == (
        f"WEBHOOKS_SCHEMA_ENFORCEMENT: {value!r} is not one of off, warn, reject; "
        "expected off, warn or reject"
    )
    assert "\n" not in message


# ---------------------------------------------------------------- the CLI


def test_cli_warn_stores_the_event_and_prints_its_problems(app, flask):
    result = flask("events", "send", "payment_received", json.dumps(BAD))

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Stored: event evt_")
    assert "does not match the JSON Schema of payment_received" in result.stderr
    assert "data.payment_total: 29 is not of type" in result.stderr
    assert "data.customer_user_email:" in result.stderr
    assert events(app)[0]["count"] == 2


def test_cli_reject_prints_the_paths_exits_non_zero_and_stores_nothing(app, flask):
    set_mode(app, "payment_received", "reject")

    result = flask("events", "send", "payment_received", json.dumps(BAD), "--id", "cli-1")

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "Error: `data` does not match the JSON Schema of payment_received" in result.output
    assert "data.payment_total" in result.output and "data.customer_user_email" in result.output
    assert stored(app) == NOTHING


def test_cli_off_prints_no_warning(app, flask):
    set_mode(app, "payment_received", "off")

    result = flask("events", "send", "payment_received", json.dumps(BAD))

    assert result.exit_code == 0 and result.stderr == ""
    assert events(app)[0]["problems"] is None


# ---------------------------------------------------------------- the Python call


def test_dispatch_warn_off_and_reject(app):
    with app.app_context():
        warned = dispatch("payment_received", BAD).event
        assert paths(json.loads(warned.schema_problems)) == BAD_PATHS

        set_schema_mode("payment_received", "off")
        db.session.commit()
        assert dispatch("payment_received", BAD).event.schema_problems is None

        set_schema_mode("payment_received", "reject")
        db.session.commit()
        with pytest.raises(EventError) as raised:
            dispatch("payment_received", BAD, idempotency_key="py-1")
        assert isinstance(raised.value, SchemaRejected)
        assert raised.value.code == "schema_mismatch"
        assert {problem.path for problem in raised.value.problems} == BAD_PATHS
        # Nothing was written, and the session is usable.
        assert dispatch("payment_received", SAMPLE, idempotency_key="py-1").created
    assert len(events(app)) == 3


def test_a_payload_with_problems_costs_one_read_of_the_modes_more(app):
    log = []
    with app.app_context():
        engine = db.engine

        def statement(_conn, _cursor, sql, *_args):
            log.append(sql.lstrip().split()[0].upper())

        sqlalchemy_event.listen(engine, "before_cursor_execute", statement)
        try:
            dispatch("payment_received", BAD)
        finally:
            sqlalchemy_event.remove(engine, "before_cursor_execute", statement)
    assert log == ["SELECT", "INSERT"]


# ---------------------------------------------------------------- the catalogue page


def mode_form_action(slug: str) -> str:
    return f"/events/types/{slug}/schema-mode"


def test_catalogue_shows_each_events_payload_check_with_its_mode_selected(app, admin):
    set_mode(app, "payment_failed", "reject")

    page = admin.get("/events/").get_data(as_text=True)

    forms = re.findall(r'<form method="post" action="/events/types/([a-z_]+)/schema-mode"', page)
    assert len(forms) == len(set(forms)) > 10
    select_of = re.search(r'<select id="schema-mode-payment_failed".*?</select>', page, re.S)
    assert '<option value="reject" selected>Reject: refuse</option>' in select_of.group(0)
    select_of = re.search(r'<select id="schema-mode-payment_received".*?</select>', page, re.S)
    assert '<option value="warn" selected>' in select_of.group(0)
    # The webhook list shows the catalogue without the forms.
    assert "schema-mode" not in admin.get("/webhooks/").get_data(as_text=True)


def test_catalogue_form_sets_the_mode(app, admin):
    response = post_form(
        admin, mode_form_action("payment_received"), {"schema_mode": "reject"}, "/events/"
    )

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/events/#event-payment_received")
    page = admin.get("/events/").get_data(as_text=True)
    assert "Payload check of “Payment Received” set to “Reject: refuse”." in page
    with app.app_context():
        assert db.session.get(EventTypeSetting, "payment_received").schema_mode == "reject"

    post_form(admin, mode_form_action("payment_received"), {"schema_mode": "off"}, "/events/")
    with app.app_context():
        assert db.session.get(EventTypeSetting, "payment_received").schema_mode == "off"


@pytest.mark.parametrize("mode", ["strict", "", "REJECT"])
def test_catalogue_form_refuses_a_bad_mode_with_a_message(app, admin, mode):
    response = post_form(
        admin, mode_form_action("payment_received"), {"schema_mode": mode}, "/events/"
    )

    assert response.status_code == 302
    page = admin.get("/events/").get_data(as_text=True)
    assert "Choose a payload check: Off: not checked or Warn: accept and flag or Reject" in page
    with app.app_context():
        assert db.session.scalars(select(EventTypeSetting)).all() == []


def test_catalogue_form_needs_its_csrf_token(app, admin):
    response = admin.post(mode_form_action("payment_received"), data={"schema_mode": "reject"})

    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalars(select(EventTypeSetting)).all() == []


def test_catalogue_form_of_an_unknown_event_type_is_not_found(admin):
    response = post_form(
        admin, mode_form_action("no_such_event"), {"schema_mode": "off"}, "/events/"
    )
    assert response.status_code == 404


def test_catalogue_form_needs_a_login(app, client):
    token = csrf_token(client, "/login")
    response = client.post(
        mode_form_action("payment_received"), data={"csrf_token": token, "schema_mode": "off"}
    )
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    with app.app_context():
        assert db.session.scalars(select(EventTypeSetting)).all() == []


# ---------------------------------------------------------------- the pages that flag it


def test_event_page_shows_the_payload_problems_and_deliveries(app, admin, make_webhook):
    hook = make_webhook(name="Billing")
    with app.app_context():
        uid = dispatch("payment_received", BAD).event.uid
    expand(app)

    page = admin.get(f"/events/{uid}").get_data(as_text=True)

    assert "The payload does not match its schema" in page
    for path in BAD_PATHS:
        assert f"<code>{path}</code>" in page
    assert "29 is not of type &#34;string&#34;" in page or '29 is not of type "string"' in page
    assert "payment_total" in page and "2 problems" in shown(page)
    with app.app_context():
        delivery = db.session.scalar(select(Delivery).where(Delivery.webhook_id == hook))
    assert f'href="/deliveries/{delivery.id}"' in page and "Billing" in page


def test_event_page_of_a_clean_event_has_no_warning(app, admin):
    with app.app_context():
        uid = dispatch("payment_received", SAMPLE).event.uid

    page = admin.get(f"/events/{uid}").get_data(as_text=True)

    assert "does not match its schema" not in page
    assert "No webhook was subscribed" not in page  # not expanded yet
    assert "Not expanded yet" in page


def test_event_page_of_an_unknown_event_is_not_found_and_needs_a_login(app, client, admin):
    assert admin.get("/events/evt_nope").status_code == 404
    assert admin.get("/events/" + "x" * 5000).status_code == 404
    admin.post("/logout", data={"csrf_token": csrf_token(admin, "/webhooks/")})
    with app.app_context():
        uid = dispatch("payment_received", BAD).event.uid
    response = client.get(f"/events/{uid}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_delivery_page_warns_of_a_warned_event_and_links_to_it(app, admin, make_webhook):
    make_webhook()
    with app.app_context():
        warned = dispatch("payment_received", BAD).event.uid
        clean = dispatch("payment_received", SAMPLE).event.uid
    expand(app)
    with app.app_context():
        by_event = {
            uid: delivery_id
            for uid, delivery_id in db.session.execute(
                select(Event.uid, Delivery.id).join(Delivery, Delivery.event_id == Event.id)
            )
        }

    page = admin.get(f"/deliveries/{by_event[warned]}").get_data(as_text=True)
    warning = re.search(r'<section class="card warning schema-warning".*?</section>', page, re.S)
    assert warning and f'href="/events/{warned}"' in warning.group(0)

    page = admin.get(f"/deliveries/{by_event[clean]}").get_data(as_text=True)
    assert "schema-warning" not in page
    assert f'href="/events/{clean}"' in page  # the event id links to its page all the same


def test_warned_events_are_listed_newest_first(app, admin):
    with app.app_context():
        first = dispatch("payment_received", BAD).event.uid
        dispatch("payment_received", SAMPLE)
        second = dispatch("site_published", {"site_id": "seven"}).event.uid

    page = admin.get("/events/warned").get_data(as_text=True)

    linked = re.findall(r'href="/events/(evt_[^"]+)"', page)
    assert linked == [second, first]


# ---------------------------------------------------------------- the dashboard


def stat(page: str, label: str) -> int:
    for tile in re.findall(r'<li class="stat [a-z]+">(.*?)</li>', page, re.S):
        if label in tile:
            return int(re.search(r'<span class="stat-value">([\d,]+)</span>', tile).group(1))
    raise AssertionError(f"no tile {label!r}")


def test_dashboard_counts_the_last_days_warned_events(app, admin, make_webhook):
    make_webhook()
    now = datetime.now(UTC)
    with app.app_context():
        for _ in range(3):
            dispatch("payment_received", BAD)
        dispatch("payment_received", SAMPLE)
        enqueue("payment_received", BAD, source="python", now=now - timedelta(days=2))
        db.session.commit()

    page = admin.get("/").get_data(as_text=True)

    assert stat(page, "Events with payload warnings in 24 hours") == 3
    assert '<a href="/events/warned">' in page


@sqlite_only
def test_dashboard_counts_warned_events_from_their_index_alone(app, admin, make_webhook):
    make_webhook()
    seen = []

    def record(_conn, _cursor, statement, parameters, *_args):
        seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    sqlalchemy_event.listen(engine, "before_cursor_execute", record)
    try:
        admin.get("/")
    finally:
        sqlalchemy_event.remove(engine, "before_cursor_execute", record)
    [(statement, parameters)] = [read for read in seen if "schema_problem_count" in read[0]]
    with app.app_context():
        plan = [
            row[-1]
            for row in db.session.connection()
            .exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            .all()
            if "events" in row[-1]
        ]
    assert plan == ["SEARCH events USING COVERING INDEX ix_events_schema_warned (created_at>?)"]


# ---------------------------------------------------------------- the API's event types


def patch_type(client, token, slug: str, body, **kwargs):
    headers = bearer(token) if token else {}
    if "data" not in kwargs:
        kwargs["json"] = body
    return client.patch(f"/api/v1/event-types/{slug}", headers=headers, **kwargs)


def own_modes(app) -> dict[str, str]:
    with app.app_context():
        return {row.slug: row.schema_mode for row in db.session.scalars(select(EventTypeSetting))}


def test_api_patch_sets_the_mode_and_the_next_event_follows_it(app, client, token):
    response = patch_type(client, token, "payment_received", {"schema_mode": "reject"})

    assert response.status_code == 200
    assert response.get_json()["schema_mode"] == "reject"
    assert response.get_json()["slug"] == "payment_received"
    assert own_modes(app) == {"payment_received": "reject"}
    read = client.get("/api/v1/event-types/payment_received", headers=bearer(token))
    assert read.get_json()["schema_mode"] == "reject"
    listed = client.get("/api/v1/event-types", headers=bearer(token)).get_json()["data"]
    assert {item["slug"]: item["schema_mode"] for item in listed}["payment_failed"] == "warn"
    refused = post_event(client, token, {"type": "payment_received", "data": BAD})
    assert_api_error(refused, 422, "schema_mismatch")

    assert patch_type(client, token, "payment_received", {"schema_mode": "off"}).status_code == 200
    assert post_event(client, token, {"type": "payment_received", "data": BAD}).status_code == 202


def test_api_patch_with_nothing_to_change_changes_nothing(app, client, token):
    response = patch_type(client, token, "payment_received", {})

    assert response.status_code == 200 and response.get_json()["schema_mode"] == "warn"
    assert own_modes(app) == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schema_mode": "strict"}, "schema_mode"),
        ({"schema_mode": "REJECT"}, "schema_mode"),
        ({"schema_mode": 1}, "schema_mode"),
        ({"schema_mode": None}, "schema_mode"),
        ({"schema_mode": ["warn"]}, "schema_mode"),
        ({"schema_mode": "off", "name": "Renamed"}, "name"),
    ],
)
def test_api_patch_refuses_bad_input_naming_the_field(app, client, token, body, field):
    response = patch_type(client, token, "payment_received", body)

    assert_api_error(response, 422, "validation_failed")
    assert field in response.get_json()["error"]["fields"]
    assert own_modes(app) == {}


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400),
        ({"data": "schema_mode=off", "content_type": "application/x-www-form-urlencoded"}, 415),
        ({"data": "[]", "content_type": "application/json"}, 422),
    ],
)
def test_api_patch_refuses_a_body_that_is_not_a_json_object(app, client, token, kwargs, status):
    response = patch_type(client, token, "payment_received", None, **kwargs)

    assert_api_error(response, status)
    assert own_modes(app) == {}


def test_api_patch_of_an_unknown_event_type_is_not_found(app, client, token):
    response = patch_type(client, token, "no_such_event", {"schema_mode": "off"})

    assert_api_error(response, 404, "not_found")
    assert own_modes(app) == {}


def test_api_patch_needs_a_full_access_token(app, client):
    assert_api_error(patch_type(client, None, "payment_received", {"schema_mode": "off"}), 401)
    assert_api_error(
        patch_type(client, "whk_unknown", "payment_received", {"schema_mode": "off"}), 401
    )
    read_only = api_token(app, "reader", scope="read")
    response = patch_type(client, read_only, "payment_received", {"schema_mode": "off"})
    assert_api_error(response, 403, "read_only_token")
    assert own_modes(app) == {}

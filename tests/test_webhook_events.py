"""A webhook receives several events, or all events (those added to the catalogue later
included): the model, the form (one event stays one click), fan-out to a real receiver, the
list and its event filter, save warnings, Zapier and the API."""

import html
import re
from types import MappingProxyType

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests.conftest import post_form, sqlite_only
from tests.engine_helpers import api_token, bearer, expand, run_worker, verify
from webhooks import catalogue, dispatch
from webhooks.catalogue import EventType, all_events
from webhooks.extensions import db
from webhooks.models import Delivery, Webhook, WebhookEvent
from webhooks.subscriptions import receivable_events, receives
from webhooks.worker import fanout

HOOK = "https://example.com/hook"
SLUGS = [event.slug for event in all_events()]


def stored(app, webhook_id: int) -> tuple[bool, list[str], str]:
    """(all events, the events listed, the one-event view) of a stored webhook."""
    with app.app_context():
        webhook = db.session.get(Webhook, webhook_id)
        return webhook.all_events, webhook.events, webhook.event


def webhook_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Webhook))


def row_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(WebhookEvent))


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


# ---------------------------------------------------------------- the model


def test_events_are_kept_in_the_order_given_and_event_is_the_first(app, make_webhook):
    webhook_id = make_webhook(events=["invoice_sent", "payment_received"])
    assert stored(app, webhook_id) == (False, ["invoice_sent", "payment_received"], "invoice_sent")
    with app.app_context():
        webhook = db.session.get(Webhook, webhook_id)
        assert receivable_events(webhook) == ["invoice_sent", "payment_received"]
        assert receives(webhook, "payment_received")
        assert not receives(webhook, "customer_created")


def test_all_events_webhook_lists_none_says_star_and_receives_the_whole_catalogue(
    app, make_webhook
):
    webhook_id = make_webhook(events=[], all_events=True)
    assert stored(app, webhook_id) == (True, [], "*")
    with app.app_context():
        webhook = db.session.get(Webhook, webhook_id)
        assert receivable_events(webhook) == SLUGS
        assert all(receives(webhook, slug) for slug in [*SLUGS, "added_later"])


def test_changing_the_events_keeps_the_rows_of_events_still_listed(app, make_webhook):
    webhook_id = make_webhook(events=["payment_received", "invoice_sent"])
    with app.app_context():
        webhook = db.session.get(Webhook, webhook_id)
        kept_id = webhook.event_rows[0].id
        webhook.events = ["payment_received", "customer_created", "payment_received"]
        db.session.commit()
        rows = db.session.execute(
            select(WebhookEvent.id, WebhookEvent.event).order_by(WebhookEvent.id)
        ).all()
    assert [tuple(row) for row in rows][0] == (kept_id, "payment_received")
    assert [row.event for row in rows] == ["payment_received", "customer_created"]


def test_a_webhook_lists_an_event_once_and_its_rows_go_with_it(app, make_webhook):
    webhook_id = make_webhook(events=["payment_received"])
    with app.app_context():
        db.session.add(WebhookEvent(webhook_id=webhook_id, event="payment_received"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        db.session.delete(db.session.get(Webhook, webhook_id))
        db.session.commit()
    assert row_count(app) == 0


# ---------------------------------------------------------------- the form


def add(admin, **fields):
    data = {"name": "CRM", "url": HOOK, "event": "payment_received", "active": "y"}
    return post_form(admin, "/webhooks/new", {**data, **fields}, "/webhooks/new")


def new_form(admin, query: str = "") -> str:
    response = admin.get(f"/webhooks/new{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def selected_event(page: str) -> str:
    """The event the Event select shows: the option marked selected, else the first."""
    select_html = re.search(r'<select[^>]* id="event"[^>]*>.*?</select>', page, re.S).group(0)
    options = re.findall(r"<option( selected)? value=\"([^\"]*)\"", select_html)
    return next((value for chosen, value in options if chosen), options[0][1])


def ticked(page: str, slug: str) -> bool:
    box = re.search(rf'<input[^>]*name="more_events" type="checkbox" value="{slug}">', page)
    return "checked" in box.group(0)


def test_one_event_is_still_one_pick_of_the_event_select(app, admin):
    page = new_form(admin)
    # The select starts on the first event; the ticks for more events are folded away.
    assert selected_event(page) == SLUGS[0]
    assert '<details class="advanced" id="more-events" data-more-events-of="event">' in page
    assert not ticked(page, "invoice_sent")

    response = add(admin, event="invoice_sent")

    assert response.status_code == 302
    [webhook_id] = [int(response.headers["Location"].split("/")[-2])]
    assert stored(app, webhook_id) == (False, ["invoice_sent"], "invoice_sent")


def test_ticking_more_events_adds_them_after_the_selected_one(app, admin):
    response = add(
        admin, event="payment_received", more_events=["invoice_sent", "payment_received"]
    )
    webhook_id = int(response.headers["Location"].split("/")[-2])
    assert stored(app, webhook_id) == (
        False,
        ["payment_received", "invoice_sent"],
        "payment_received",
    )
    page = admin.get(f"/webhooks/{webhook_id}/edit").get_data(as_text=True)
    assert "Payment Received, Invoice Sent" in text_of(page)
    # The edit form shows the first in the select and the other ticked, unfolded.
    assert selected_event(page) == "payment_received"
    assert ticked(page, "invoice_sent") and not ticked(page, "customer_created")
    assert 'id="more-events" data-more-events-of="event" open' in page


def test_all_events_is_the_last_choice_of_the_select(app, admin):
    page = new_form(admin)
    assert '<option value="*">All events (including future ones)</option>' in page

    response = add(admin, event="*", more_events=["invoice_sent"])

    webhook_id = int(response.headers["Location"].split("/")[-2])
    assert stored(app, webhook_id) == (True, [], "*")
    edit = admin.get(f"/webhooks/{webhook_id}/edit").get_data(as_text=True)
    assert selected_event(edit) == "*"
    # Send Test Event sends the first event of the catalogue.
    assert f"POSTs the sample payload of {all_events()[0].name} to" in text_of(edit)


def test_editing_moves_between_listed_events_and_all_events(app, admin, make_webhook):
    webhook_id = make_webhook(events=["payment_received", "invoice_sent", "customer_created"])
    path = f"/webhooks/{webhook_id}/edit"
    data = {"name": "CRM", "url": HOOK, "active": "y"}

    post_form(admin, path, {**data, "event": "invoice_sent"}, path)
    assert stored(app, webhook_id) == (False, ["invoice_sent"], "invoice_sent")

    post_form(admin, path, {**data, "event": "*"}, path)
    assert stored(app, webhook_id) == (True, [], "*")

    post_form(
        admin, path, {**data, "event": "site_published", "more_events": ["invoice_sent"]}, path
    )
    assert stored(app, webhook_id) == (False, ["site_published", "invoice_sent"], "site_published")
    assert row_count(app) == 2


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"more_events": ["no_such_event"]}, "Tick only events of the list."),
        ({"more_events": ["invoice_sent", "*"]}, "Tick only events of the list."),
        ({"event": "no_such_event"}, "Choose one of the events in the list."),
    ],
)
def test_an_event_not_in_the_catalogue_is_refused_and_nothing_saved(app, admin, fields, message):
    response = add(admin, **fields)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert webhook_count(app) == 0
    assert row_count(app) == 0


def test_new_webhook_form_starts_on_the_event_of_the_link(admin):
    assert selected_event(new_form(admin, "?event=invoice_sent")) == "invoice_sent"
    assert selected_event(new_form(admin, "?event=*")) == "*"
    assert selected_event(new_form(admin, "?event=nope")) == SLUGS[0]


# ---------------------------------------------------------------- fan-out to a real receiver


@pytest.mark.embedded_engine
def test_a_webhook_receives_its_listed_events_and_no_other(app, receiver, make_webhook):
    receiver.expect_request("/crm", method="POST").respond_with_data("ok")
    webhook_id = make_webhook(
        url=receiver.url_for("/crm"), events=["payment_received", "invoice_sent"]
    )
    with app.app_context():
        dispatch("payment_received", {"payment_id": 1})
        dispatch("customer_created", {"customer_id": 2})
        dispatch("invoice_sent", {"invoice_id": 3})
    assert expand(app) == 2
    assert run_worker(app) == 2

    with app.app_context():
        secret = db.session.get(Webhook, webhook_id).secret
    received = [verify(secret, request) for request, _ in receiver.log]
    assert sorted((body["type"], body["data"]) for body in received) == [
        ("invoice_sent", {"invoice_id": 3}),
        ("payment_received", {"payment_id": 1}),
    ]


@pytest.mark.embedded_engine
def test_an_all_events_webhook_receives_an_event_added_to_the_catalogue_later(
    app, receiver, make_webhook, monkeypatch
):
    receiver.expect_request("/all", method="POST").respond_with_data("ok")
    everything = make_webhook(url=receiver.url_for("/all"), events=[], all_events=True)
    listing = make_webhook(url=receiver.url_for("/all"), events=list(SLUGS))
    inactive = make_webhook(url=receiver.url_for("/all"), events=[], all_events=True, active=False)
    added = EventType(
        "domain_verified", "Domain Verified", "A new event.", MappingProxyType({"domain": "x.test"})
    )
    monkeypatch.setitem(catalogue._BY_SLUG, added.slug, added)
    with app.app_context():
        dispatch("domain_verified", {"domain": "shop.example.com"})
    expand(app)
    run_worker(app)

    with app.app_context():
        by_webhook = dict(
            db.session.execute(
                select(Delivery.webhook_id, Delivery.status).where(
                    Delivery.event_type == "domain_verified"
                )
            ).all()
        )
        secret = db.session.get(Webhook, everything).secret
    assert by_webhook == {everything: "succeeded"}
    assert listing not in by_webhook and inactive not in by_webhook
    [(request, _)] = receiver.log
    assert verify(secret, request)["data"] == {"domain": "shop.example.com"}


@sqlite_only
def test_fan_out_finds_the_webhooks_of_an_event_by_the_indexes(app):
    with app.app_context(), db.engine.connect() as connection:
        sql = "EXPLAIN QUERY PLAN " + str(fanout._SUBSCRIBERS.compile(connection))
        plan = [row[3] for row in connection.exec_driver_sql(sql, ("payment_received",))]
    assert any(
        "COVERING INDEX ix_webhook_events_event_webhook_id (event=?)" in step for step in plan
    )
    assert any(
        "INDEX ix_webhooks_all_events_active (all_events=? AND active=?)" in step for step in plan
    )
    assert not any(step.startswith("SCAN") for step in plan), plan


# ---------------------------------------------------------------- the list and its filter


def list_names(admin, query: str = "") -> list[str]:
    page = admin.get(f"/webhooks/{query}").get_data(as_text=True)
    return re.findall(r'<td><a href="/webhooks/\d+/edit">([^<]+)</a></td>', page)


def test_the_list_shows_each_webhooks_events_and_filters_by_event(app, admin, make_webhook):
    make_webhook(name="Payments", events=["payment_received"])
    make_webhook(name="Billing", events=["payment_received", "invoice_sent", "customer_created"])
    make_webhook(name="Books", events=["invoice_sent", "payment_received", "site_published", "x"])
    make_webhook(name="Everything", events=[], all_events=True)

    page = admin.get("/webhooks/").get_data(as_text=True)
    rows = {
        name: text_of(row)
        for name, row in re.findall(r'edit">([^<]+)</a></td>(.*?)</tr>', page, re.S)
    }
    assert "Payment Received" in rows["Payments"]
    assert "Payment Received, Invoice Sent, Customer Created" in rows["Billing"]
    assert "Invoice Sent, Payment Received, Site Published and 1 more" in rows["Books"]
    assert "All events" in rows["Everything"]

    assert sorted(list_names(admin, "?event=invoice_sent")) == ["Billing", "Books", "Everything"]
    assert sorted(list_names(admin, "?event=domain_created")) == ["Everything"]
    filtered = admin.get("/webhooks/?event=invoice_sent").get_data(as_text=True)
    assert "those that receive all events included" in filtered
    assert '<option value="invoice_sent" selected>' in filtered
    # An event the catalogue does not have is no filter.
    assert len(list_names(admin, "?event=nope")) == 4


def catalogue_line(page: str, slug: str) -> str:
    entry = re.search(rf'<details class="event" id="event-{slug}">.*?</details>', page, re.S)
    return re.search(r'<p class="event-webhooks">.*?</p>', entry.group(0), re.S).group(0)


@pytest.mark.parametrize("path", ["/events/", "/webhooks/"])
def test_the_catalogue_counts_and_links_the_webhooks_of_each_event(admin, make_webhook, path):
    make_webhook(name="Billing", events=["payment_received", "invoice_sent"])
    make_webhook(name="Payments", events=["payment_received"], active=False)
    make_webhook(name="Everything", events=[], all_events=True)
    page = admin.get(path).get_data(as_text=True)

    payments = catalogue_line(page, "payment_received")
    assert '<a href="/webhooks/?event=payment_received">3 webhooks receive it</a>' in payments
    assert '<a href="/webhooks/new?event=payment_received">' in payments
    assert "1 webhook receives it" in catalogue_line(page, "site_published")
    # The count is what the list filtered by the event shows.
    assert len(list_names(admin, "?event=payment_received")) == 3


def test_the_catalogue_says_when_no_webhook_receives_an_event(admin, make_webhook):
    make_webhook(events=["payment_received"])
    line = catalogue_line(admin.get("/events/").get_data(as_text=True), "site_published")
    assert "No webhook receives it yet." in line
    assert '<a href="/webhooks/new?event=site_published">Add a webhook for this event</a>' in line


# ---------------------------------------------------------------- save warnings


def warnings_after(admin, response) -> list[str]:
    assert response.status_code == 302, response.get_data(as_text=True)
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    warnings = re.findall(r'<div class="flash flash-warning"[^>]*>(.*?)</div>', page, re.S)
    # Only the duplicate warnings: whether example.com resolves here is not the point.
    return [
        " ".join(html.unescape(re.sub(r"<[^>]+>", "", warning)).split())
        for warning in warnings
        if "to the same URL" in warning
    ]


def test_the_same_url_and_events_in_another_order_warn(admin, make_webhook):
    make_webhook(name="First", url=HOOK, events=["invoice_sent", "payment_received"])
    make_webhook(name="Overlapping", url=HOOK, events=["invoice_sent"])

    [warning] = warnings_after(
        admin, add(admin, event="payment_received", more_events=["invoice_sent"])
    )
    assert "1 other webhook already sends these events to the same URL (“First”)" in warning


def test_two_all_events_webhooks_at_one_url_warn(admin, make_webhook):
    make_webhook(name="Everything", url=HOOK, events=[], all_events=True)
    make_webhook(name="Listing all", url=HOOK, events=list(SLUGS))

    [warning] = warnings_after(admin, add(admin, event="*"))
    assert "already sends these events to the same URL (“Everything”)" in warning
    assert warnings_after(admin, add(admin, event="payment_received")) == []


# ---------------------------------------------------------------- Zapier


@pytest.fixture
def token(app):
    return api_token(app)


def subscribe(client, token, payload):
    return client.post("/api/v1/zapier/subscribe", json=payload, headers=bearer(token))


def test_zapier_subscribes_one_event_and_finds_the_same_subscription_again(
    app, client, token, make_webhook
):
    make_webhook(name="Person's", url=HOOK, events=["payment_received", "invoice_sent"])
    first = subscribe(client, token, {"target_url": HOOK, "event": "payment_received"})
    assert first.status_code == 201
    body = first.get_json()
    assert (body["event"], body["events"]) == ("payment_received", ["payment_received"])
    again = subscribe(client, token, {"target_url": HOOK, "event": "payment_received"})
    assert (again.status_code, again.get_json()["id"]) == (200, body["id"])
    other = subscribe(client, token, {"target_url": HOOK, "event": "invoice_sent"})
    assert other.status_code == 201
    assert stored(app, other.get_json()["id"]) == (False, ["invoice_sent"], "invoice_sent")


def test_zapier_cannot_subscribe_all_events(app, client, token):
    response = subscribe(client, token, {"target_url": HOOK, "event": "*"})
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"event"}
    assert webhook_count(app) == 0


# ---------------------------------------------------------------- the API


def assert_nothing_saved(app) -> None:
    assert webhook_count(app) == 0
    assert row_count(app) == 0


def api(client, token, method, path, body=None):
    return client.open(f"/api/v1{path}", method=method, json=body, headers=bearer(token))


def create(client, token, **members):
    return api(client, token, "POST", "/webhooks", {"name": "CRM", "url": HOOK, **members})


@pytest.mark.parametrize(
    "members, answered, kept",
    [
        (
            {"events": ["invoice_sent", "payment_received"]},
            ("invoice_sent", ["invoice_sent", "payment_received"]),
            (False, ["invoice_sent", "payment_received"]),
        ),
        ({"events": ["*"]}, ("*", ["*"]), (True, [])),
        ({"event": "invoice_sent"}, ("invoice_sent", ["invoice_sent"]), (False, ["invoice_sent"])),
        ({"event": "*"}, ("*", ["*"]), (True, [])),
        (
            {"event": "site_published", "events": ["site_published", "invoice_sent"]},
            ("site_published", ["site_published", "invoice_sent"]),
            (False, ["site_published", "invoice_sent"]),
        ),
        ({"event": "*", "events": ["*"]}, ("*", ["*"]), (True, [])),
    ],
)
def test_api_creates_a_webhook_from_events_or_event(app, client, token, members, answered, kept):
    response = create(client, token, **members)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["event"], body["events"]) == answered
    assert stored(app, body["id"])[:2] == kept
    again = api(client, token, "GET", f"/webhooks/{body['id']}").get_json()
    assert (again["event"], again["events"]) == answered


@pytest.mark.parametrize(
    "members, field, message",
    [
        ({"events": []}, "events", "Give at least one event slug"),
        ({"events": ["nope"]}, "events", "nope is not an event of the catalogue."),
        (
            {"events": ["invoice_sent", "invoice_sent"]},
            "events",
            "Each event once: invoice_sent is listed twice.",
        ),
        ({"events": ["*", "invoice_sent"]}, "events", "comes alone"),
        ({"events": "invoice_sent"}, "events", "Give a list of event slugs"),
        ({"events": [7]}, "events", "Give a list of event slugs"),
        ({"events": None}, "events", "Give a list of event slugs"),
        (
            {"event": "invoice_sent", "events": ["payment_received", "invoice_sent"]},
            "event",
            "Disagrees with `events`",
        ),
        ({"event": "*", "events": ["invoice_sent"]}, "event", "Disagrees with `events`"),
        ({"event": ["invoice_sent"]}, "event", "Must be a string."),
        ({"event": "nope"}, "event", "Choose one of the events in the list."),
        ({}, "event", "Choose one of the events in the list."),
    ],
)
def test_api_refuses_bad_events_naming_the_member_and_saves_nothing(
    app, client, token, members, field, message
):
    response = create(client, token, **members)
    assert response.status_code == 422, response.get_json()
    fields = response.get_json()["error"]["fields"]
    assert set(fields) == {field}
    assert message in fields[field][0]
    assert_nothing_saved(app)


def test_api_names_bad_events_beside_the_other_members_at_fault(app, client, token):
    response = create(client, token, events=[], url="ftp://example.com/")
    assert set(response.get_json()["error"]["fields"]) == {"events", "url"}
    assert_nothing_saved(app)


def test_api_changes_the_events_and_keeps_them_when_left_out(app, client, token, make_webhook):
    webhook_id = make_webhook(events=["payment_received", "invoice_sent"])
    path = f"/webhooks/{webhook_id}"

    renamed = api(client, token, "PATCH", path, {"name": "Renamed"}).get_json()
    assert renamed["events"] == ["payment_received", "invoice_sent"]

    # A webhook read and sent back as it is changes nothing.
    answered = api(client, token, "GET", path).get_json()
    echo = {name: answered[name] for name in ("name", "url", "event", "events", "active")}
    assert api(client, token, "PATCH", path, echo).status_code == 200
    assert stored(app, webhook_id)[:2] == (False, ["payment_received", "invoice_sent"])

    # `event` alone, as an older client sends it: the webhook receives that one event.
    assert api(client, token, "PATCH", path, {"event": "site_published"}).get_json()["events"] == [
        "site_published"
    ]
    assert api(client, token, "PATCH", path, {"events": ["*"]}).get_json()["event"] == "*"
    assert stored(app, webhook_id) == (True, [], "*")

    refused = api(
        client, token, "PATCH", path, {"events": ["invoice_sent", "nope"], "name": "Xavier"}
    )
    assert set(refused.get_json()["error"]["fields"]) == {"events"}
    with app.app_context():
        webhook = db.session.get(Webhook, webhook_id)
        assert (webhook.name, webhook.all_events) == ("Renamed", True)


def test_api_list_filtered_by_event_includes_all_events_webhooks(client, token, make_webhook):
    listing = make_webhook(events=["payment_received", "invoice_sent"])
    everything = make_webhook(events=[], all_events=True)
    make_webhook(events=["payment_received"])
    body = api(client, token, "GET", "/webhooks?event=invoice_sent").get_json()
    assert sorted(hook["id"] for hook in body["data"]) == [listing, everything]
    assert body["total"] == 2

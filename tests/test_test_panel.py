"""The test panel of a webhook's page, against a real HTTP receiver on 127.0.0.1: the POST
answers at once with the test send's id, the send runs in the background through the same
pipeline and record as Send Test Event, and the result endpoint says how it went."""

import html
import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as SWWebhook
from werkzeug import Response

from tests.conftest import csrf_token
from webhooks import custom_headers
from webhooks.catalogue import all_events, get_event
from webhooks.extensions import db
from webhooks.models import Delivery, DeliveryStatus, Webhook
from webhooks.test_panel.forms import panel_events

JSON = {"Accept": "application/json"}
EVENT = "payment_received"


# ---------------------------------------------------------------- helpers


def send(admin, webhook_id: int, payload, *, event: str = EVENT, headers=JSON, token=None):
    """Post the panel's form as its script does (``headers=None``: as the browser does without
    the script), with the CSRF token of the webhook's page."""
    if token is None:
        token = csrf_token(admin, f"/webhooks/{webhook_id}/edit")
    text = payload if isinstance(payload, str) else json.dumps(payload)
    data = {"event": event, "payload": text}
    if token:
        data["csrf_token"] = token
    return admin.post(f"/webhooks/{webhook_id}/test-panel", data=data, headers=headers or {})


def result_of(admin, url: str, seconds: float = 10.0) -> dict:
    """Poll the result endpoint, as the page does, until the send is over."""
    deadline = time.monotonic() + seconds
    while True:
        answer = admin.get(url, headers=JSON)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert answer.headers["Cache-Control"] == "no-store"
        body = answer.get_json()
        if body["state"] != "sending" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def started(response) -> dict:
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()


def deliveries(app, webhook_id: int) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(
            select(Delivery).where(Delivery.webhook_id == webhook_id).order_by(Delivery.id)
        ).all()
        return [
            {
                "id": row.id,
                "is_test": row.is_test,
                "status": row.status,
                "event_type": row.event_type,
                "msg_id": row.msg_id,
                "body": row.body,
                "attempt_count": row.attempt_count,
                "attempts": [
                    (attempt.response_status, attempt.succeeded, attempt.summary)
                    for attempt in row.attempts
                ],
            }
            for row in rows
        ]


def webhook_row(app, webhook_id: int) -> Webhook:
    with app.app_context():
        webhook = db.session.get(Webhook, webhook_id)
        webhook.events  # noqa: B018  (loaded before the row is detached)
        db.session.expunge(webhook)
        return webhook


def answering(receiver, status: int = 200, body: str = '{"received": true}', path="/hook"):
    receiver.expect_request(path, method="POST").respond_with_data(
        body, status=status, content_type="application/json"
    )
    return receiver.url_for(path)


def visible_text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


# ---------------------------------------------------------------- what the receiver gets


def test_edited_data_reaches_the_receiver_signed_with_the_custom_headers(
    app, admin, receiver, make_webhook
):
    url = answering(receiver, body='{"thanks": "got it"}')
    webhook_id = make_webhook(
        url=url, custom_headers=custom_headers.dump({"Authorization": "Bearer crm-7"})
    )
    data = {"payment_id": 9001, "payment_total": "$1.00", "note": "şğü edited"}

    answer = started(send(admin, webhook_id, data))
    result = result_of(admin, answer["result_url"])

    assert result["state"] == "done"
    assert result["ok"] is True
    assert result["status"] == "HTTP 200 OK"
    assert isinstance(result["duration_ms"], int)
    assert result["response"] == '{"thanks": "got it"}'
    assert result["message"].startswith(f"Test event delivered to {url}: HTTP 200 OK in ")
    assert "Sending" not in result["html"] and "got it" in html.unescape(result["html"])

    [(request, _response)] = receiver.log
    secret = webhook_row(app, webhook_id).secret
    envelope = SWWebhook(secret).verify(request.get_data(), dict(request.headers))
    assert envelope["type"] == EVENT
    assert envelope["data"] == data
    assert request.headers["Authorization"] == "Bearer crm-7"

    [delivery] = deliveries(app, webhook_id)
    assert delivery["id"] == answer["id"]
    assert (delivery["is_test"], delivery["status"]) == (True, DeliveryStatus.TEST)
    assert delivery["msg_id"] == request.headers["webhook-id"]
    assert delivery["attempt_count"] == 1
    assert [status for status, _ok, _summary in delivery["attempts"]] == [200]
    webhook = webhook_row(app, webhook_id)
    assert webhook.sent_count == 0
    assert webhook.last_delivery_ok is True
    assert webhook.last_delivery_summary.startswith("Test: HTTP 200 OK")


def test_a_flat_webhook_receives_the_edited_data_alone(app, admin, receiver, make_webhook):
    webhook_id = make_webhook(url=answering(receiver), payload_format="flat")
    result_of(admin, started(send(admin, webhook_id, {"only": "this"}))["result_url"])
    [(request, _response)] = receiver.log
    assert json.loads(request.get_data()) == {"only": "this"}


@pytest.mark.parametrize(
    ("status", "body", "summary"),
    [
        (404, "no such hook", "HTTP 404 Not Found"),
        (422, '{"error": "missing field"}', "HTTP 422 Unprocessable"),
        (500, "database down", "HTTP 500 Internal Server Error"),
        (503, "", "HTTP 503 Service Unavailable"),
    ],
)
def test_an_error_answer_is_shown_as_a_failure_with_its_status_and_response(
    app, admin, receiver, make_webhook, status, body, summary
):
    webhook_id = make_webhook(url=answering(receiver, status=status, body=body))
    result = result_of(admin, started(send(admin, webhook_id, {"a": 1}))["result_url"])

    assert result["state"] == "done"
    assert result["ok"] is False
    assert result["status"].startswith(summary)
    assert result["message"].startswith(f"Test event failed: {summary}")
    assert result["response"] == (body or None)
    assert 'class="test-outcome fail"' in result["html"]
    [delivery] = deliveries(app, webhook_id)
    assert delivery["attempts"][0][:2] == (status, False)
    assert webhook_row(app, webhook_id).last_delivery_ok is False


def test_a_refused_connection_is_shown_with_its_reason(app, admin, make_webhook):
    webhook_id = make_webhook(url="http://127.0.0.1:9/hook")
    result = result_of(admin, started(send(admin, webhook_id, {"a": 1}))["result_url"])
    assert result["ok"] is False
    assert result["status"] is None
    assert "connection" in result["message"].lower()


def test_the_recipient_guard_refuses_a_blocked_address_before_sending(
    config, receiver, make_webhook, app, admin
):
    # The app under test allows 127.0.0.0/8; ::1 is loopback too and not allowed.
    webhook_id = make_webhook(url="http://[::1]:9/hook")
    result = result_of(admin, started(send(admin, webhook_id, {"a": 1}))["result_url"])
    assert result["ok"] is False
    assert result["message"].startswith("Test event failed: blocked address: ::1 is a loopback")


# ---------------------------------------------------------------- a receiver that hangs


def hanging(receiver, release: threading.Event, path: str = "/hang", arrived=None) -> str:
    def hang(_request):
        if arrived is not None:
            arrived.set()
        release.wait(10)
        return Response("late but fine", status=200)

    receiver.expect_request(path, method="POST").respond_with_handler(hang)
    return receiver.url_for(path)


def test_a_hanging_receiver_does_not_hold_the_post_and_the_result_arrives_later(
    app, admin, receiver, make_webhook
):
    release = threading.Event()
    webhook_id = make_webhook(url=hanging(receiver, release))
    token = csrf_token(admin, f"/webhooks/{webhook_id}/edit")
    try:
        began = time.monotonic()
        answer = started(send(admin, webhook_id, {"a": 1}, token=token))
        assert time.monotonic() - began < 1.0

        # While the receiver holds the request, the page and the result answer at once.
        for _ in range(3):
            began = time.monotonic()
            waiting = admin.get(answer["result_url"], headers=JSON).get_json()
            assert waiting["state"] == "sending"
            assert "Sending…" in waiting["html"]
            assert admin.get(f"/webhooks/{webhook_id}/edit").status_code == 200
            assert time.monotonic() - began < 1.0
            time.sleep(0.1)
        # A second send while the first hangs is not held either.
        began = time.monotonic()
        second = started(send(admin, webhook_id, {"b": 2}, token=token))
        assert time.monotonic() - began < 1.0
    finally:
        release.set()

    first = result_of(admin, answer["result_url"])
    assert (first["state"], first["ok"], first["response"]) == ("done", True, "late but fine")
    assert result_of(admin, second["result_url"])["ok"] is True


def test_a_receiver_that_hangs_past_the_timeout_is_reported_as_a_timeout(
    app, admin, receiver, make_webhook
):
    release = threading.Event()
    webhook_id = make_webhook(url=hanging(receiver, release))
    try:
        answer = started(send(admin, webhook_id, {"a": 1}))
        result = result_of(admin, answer["result_url"])
    finally:
        release.set()
    assert result["ok"] is False
    assert result["message"].startswith("Test event failed: timeout")
    assert "within 2 s" in result["message"]


def test_a_send_whose_result_never_came_is_reported_lost(app, admin, make_webhook):
    webhook_id = make_webhook()
    with app.app_context():
        delivery = Delivery(
            webhook_id=webhook_id,
            event_type=EVENT,
            body="{}",
            is_test=True,
            status=DeliveryStatus.TEST,
            created_at=datetime.now(UTC) - timedelta(minutes=5),
        )
        db.session.add(delivery)
        db.session.commit()
        delivery_id = delivery.id
    result = admin.get(f"/webhooks/{webhook_id}/test-sends/{delivery_id}", headers=JSON)
    body = result.get_json()
    assert body["state"] == "lost"
    assert body["ok"] is False
    assert "Send it again" in body["message"]


# ---------------------------------------------------------------- bad input: nothing sent

TOO_LARGE = json.dumps({"blob": "x" * (256 * 1024)})


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "The event data is not valid JSON: Expecting property name"),
        ('{"a": 1,}', "The event data is not valid JSON"),
        ("[1, 2, 3]", "The event data must be a JSON object"),
        ('"just text"', "The event data must be a JSON object"),
        ("42", "The event data must be a JSON object"),
        ("null", "The event data must be a JSON object"),
        ("", "Enter the event data: a JSON object."),
        ("   ", "Enter the event data: a JSON object."),
        ('{"a": NaN}', "The event data cannot be sent"),
        ("[" * 100_000 + "]" * 100_000, "The event data is not valid JSON"),
        ('{"a":' * 70 + "1" + "}" * 70, "The event data cannot be sent"),
        (TOO_LARGE, "The event data is too large: events may have at most 262,144 bytes"),
    ],
    ids=[
        "invalid",
        "trailing-comma",
        "array",
        "string",
        "number",
        "null",
        "empty",
        "blank",
        "nan",
        "too-deep-to-parse",
        "too-deep",
        "too-large",
    ],
)
def test_bad_event_data_is_refused_with_a_clear_message_and_nothing_is_sent(
    app, admin, receiver, make_webhook, payload, message
):
    webhook_id = make_webhook(url=answering(receiver))
    response = send(admin, webhook_id, payload)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert list(errors) == ["payload"]
    assert errors["payload"][0].startswith(message)
    assert receiver.log == []
    assert deliveries(app, webhook_id) == []


def test_data_just_within_the_limit_is_sent(app, admin, receiver, make_webhook):
    webhook_id = make_webhook(url=answering(receiver))
    data = {"blob": ""}
    data["blob"] = "x" * (256 * 1024 - len(json.dumps(data, separators=(",", ":"))))
    result = result_of(admin, started(send(admin, webhook_id, data))["result_url"])
    assert result["ok"] is True
    [(request, _response)] = receiver.log
    assert json.loads(request.get_data())["data"] == data


def test_an_event_the_webhook_does_not_receive_is_refused(app, admin, receiver, make_webhook):
    webhook_id = make_webhook(url=answering(receiver), event=EVENT)
    for event in ("site_published", "no_such_event", ""):
        response = send(admin, webhook_id, {"a": 1}, event=event)
        assert response.status_code == 422
        assert response.get_json()["errors"] == {
            "event": ["This webhook does not receive that event; choose one of its events."]
        }
    assert receiver.log == []
    assert deliveries(app, webhook_id) == []


def test_a_body_over_the_form_limit_is_refused_without_sending(app, admin, receiver, make_webhook):
    webhook_id = make_webhook(url=answering(receiver))
    response = send(admin, webhook_id, json.dumps({"blob": "x" * (2 * 1024 * 1024)}))
    assert response.status_code == 413
    assert receiver.log == []
    assert deliveries(app, webhook_id) == []


def test_an_unknown_webhook_is_not_found(app, admin, receiver):
    token = csrf_token(admin, "/webhooks/")
    for path in ("/webhooks/999/test-panel", "/webhooks/99999999999/test-panel"):
        response = admin.post(
            path, data={"csrf_token": token, "event": EVENT, "payload": "{}"}, headers=JSON
        )
        assert response.status_code == 404
    assert receiver.log == []


def test_without_the_csrf_token_nothing_is_sent(app, admin, receiver, make_webhook):
    webhook_id = make_webhook(url=answering(receiver))
    for token in ("", "not-the-token"):
        response = send(admin, webhook_id, {"a": 1}, token=token)
        assert response.status_code == 400
    assert receiver.log == []
    assert deliveries(app, webhook_id) == []


def test_a_visitor_who_is_not_logged_in_is_sent_to_log_in_and_nothing_is_sent(
    app, client, receiver, make_webhook
):
    webhook_id = make_webhook(url=answering(receiver))
    token = csrf_token(client, "/login")
    response = client.post(
        f"/webhooks/{webhook_id}/test-panel",
        data={"csrf_token": token, "event": EVENT, "payload": "{}"},
        headers=JSON,
    )
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert receiver.log == []
    assert deliveries(app, webhook_id) == []


# ---------------------------------------------------------------- the result endpoint


def test_the_result_needs_a_login(app, admin, auth, receiver, make_webhook):
    webhook_id = make_webhook(url=answering(receiver))
    url = started(send(admin, webhook_id, {"a": 1}))["result_url"]
    assert result_of(admin, url)["ok"] is True
    auth.logout()
    response = admin.get(url, headers=JSON)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_the_result_is_only_that_of_a_test_send_of_that_webhook(app, admin, receiver, make_webhook):
    webhook_id = make_webhook(url=answering(receiver))
    other_id = make_webhook(name="Other", url=answering(receiver))
    answer = started(send(admin, webhook_id, {"a": 1}))
    result_of(admin, answer["result_url"])
    with app.app_context():
        real = Delivery(
            webhook_id=webhook_id, event_type=EVENT, body="{}", status=DeliveryStatus.SUCCEEDED
        )
        db.session.add(real)
        db.session.commit()
        real_id = real.id

    for path in (
        f"/webhooks/{other_id}/test-sends/{answer['id']}",  # another webhook's
        f"/webhooks/{webhook_id}/test-sends/{real_id}",  # a real delivery
        f"/webhooks/{webhook_id}/test-sends/{real_id + 100}",  # none
        f"/webhooks/{webhook_id + 100}/test-sends/{answer['id']}",  # no such webhook
    ):
        assert admin.get(path, headers=JSON).status_code == 404, path
    assert admin.post(answer["result_url"], data={}).status_code in (400, 405)


# ---------------------------------------------------------------- without the page's script


def test_without_the_script_the_form_posts_and_the_page_shows_the_result(
    app, admin, receiver, make_webhook
):
    release, arrived = threading.Event(), threading.Event()
    webhook_id = make_webhook(url=hanging(receiver, release, arrived=arrived))
    try:
        response = send(admin, webhook_id, {"a": 1}, headers=None)
        assert response.status_code == 303
        location = response.headers["Location"]
        [delivery] = deliveries(app, webhook_id)
        assert location.endswith(
            f"/webhooks/{webhook_id}/edit?test_send={delivery['id']}#test-panel"
        )
        assert arrived.wait(5)

        # While the receiver holds it, the page says so and looks again in 2 s.
        page = admin.get(location).get_data(as_text=True)
        assert "Sending…" in visible_text(page.split('id="test-panel"')[1])
        again = f"/webhooks/{webhook_id}/edit?test_send={delivery['id']}&amp;looked=1#test-panel"
        assert f'<noscript><meta http-equiv="refresh" content="2; url={again}"></noscript>' in page
        page = admin.get(location.replace("#", "&looked=1#")).get_data(as_text=True)
        assert "looked=2#test-panel" in page
    finally:
        release.set()

    deadline = time.monotonic() + 10
    while "Sending…" in visible_text(page.split('id="test-panel"')[1]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
        page = admin.get(location).get_data(as_text=True)
    panel = visible_text(page.split('id="test-panel"')[1].split("</section>")[0])
    assert "Test event delivered to" in panel
    assert "HTTP 200 OK" in panel
    assert "late but fine" in panel
    assert 'http-equiv="refresh"' not in page


def test_without_the_script_bad_data_comes_back_with_the_message_and_the_text(
    app, admin, receiver, make_webhook
):
    webhook_id = make_webhook(url=answering(receiver))
    response = send(admin, webhook_id, '{"kept": tru', headers=None)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "The event data is not valid JSON" in visible_text(page)
    assert "{&#34;kept&#34;: tru</textarea>" in page or '{"kept": tru</textarea>' in page
    assert receiver.log == []


def test_a_test_send_of_another_webhook_is_not_shown_on_the_page(
    app, admin, receiver, make_webhook
):
    webhook_id = make_webhook(url=answering(receiver))
    other_id = make_webhook(name="Other")
    answer = started(send(admin, webhook_id, {"a": 1}))
    result_of(admin, answer["result_url"])
    for value in (answer["id"], "abc", "99999999999999999999", "-1"):
        page = admin.get(f"/webhooks/{other_id}/edit?test_send={value}")
        assert page.status_code == 200
        assert "Test event delivered" not in page.get_data(as_text=True)


# ---------------------------------------------------------------- the page


def test_the_page_offers_the_webhooks_events_with_their_sample_data(app, admin, make_webhook):
    webhook_id = make_webhook(event="site_published")
    page = admin.get(f"/webhooks/{webhook_id}/edit").get_data(as_text=True)
    panel = page.split('id="test-panel"')[1].split("</section>")[0]
    assert re.search(r'<option selected value="site_published">', panel)
    assert panel.count("<option") == len(panel_events(webhook_row(app, webhook_id)))
    samples = json.loads(re.search(r'id="test-panel-samples">(.*?)</script>', panel, re.S).group(1))
    expected = get_event("site_published").sample_data()
    assert json.loads(samples["site_published"]) == expected
    textarea = re.search(r'<textarea[^>]*id="test-payload"[^>]*>(.*?)</textarea>', panel, re.S)
    assert json.loads(html.unescape(textarea.group(1))) == expected
    assert '<script src="/static/js/test-panel.js" defer></script>' in page
    assert "<script>" not in page  # no inline script


def test_panel_events_are_the_events_the_webhook_receives(app, make_webhook):
    one = make_webhook(event="site_published")
    two = make_webhook(events=["payment_received", "site_published"])
    every = make_webhook(events=[], all_events=True)

    assert panel_events(webhook_row(app, one)) == ["site_published"]
    assert panel_events(webhook_row(app, two)) == ["payment_received", "site_published"]
    assert panel_events(webhook_row(app, every)) == [event.slug for event in all_events()]


# ---------------------------------------------------------------- the catalogue's link


def test_the_catalogue_links_each_event_to_a_new_webhook_for_it(admin):
    page = admin.get("/events/").get_data(as_text=True)
    for event in all_events():
        assert f'href="/webhooks/new?event={event.slug}"' in page
    assert page.count("Add a webhook for this event") == len(all_events())


def test_the_new_webhook_form_starts_with_the_event_from_the_link(admin):
    page = admin.get("/webhooks/new?event=site_published").get_data(as_text=True)
    assert '<option selected value="site_published">' in page
    preview = re.search(r'<pre id="payload-preview"[^>]*>(.*?)</pre>', page, re.S).group(1)
    assert "site_published" in visible_text(preview)


@pytest.mark.parametrize("value", ["no_such_event", "", "<script>", "x" * 5000])
def test_an_unknown_event_in_the_link_leaves_the_form_as_usual(admin, value):
    response = admin.get("/webhooks/new", query_string={"event": value})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<option selected" not in page.split('id="event"')[1].split("</select>")[0]


def test_the_event_from_the_link_is_saved_with_the_webhook(app, admin, receiver):
    token = csrf_token(admin, "/webhooks/new?event=site_published")
    response = admin.post(
        "/webhooks/new?event=site_published",
        data={
            "csrf_token": token,
            "name": "Sites",
            "url": "https://example.com/hook",
            "event": "site_published",
            "payload_format": "standard",
            "active": "y",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalars(select(Webhook)).one().events == ["site_published"]


def test_the_panels_address_asked_for_by_get_leads_to_the_page_and_sends_nothing(
    app, admin, receiver, make_webhook
):
    webhook_id = make_webhook(url=answering(receiver))
    response = admin.get(f"/webhooks/{webhook_id}/test-panel")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/webhooks/{webhook_id}/edit#test-panel")
    assert admin.get("/webhooks/999/test-panel").status_code == 404
    assert receiver.log == []
    assert deliveries(app, webhook_id) == []


def test_a_webhook_deleted_while_its_test_send_hangs_is_deleted_and_the_result_dropped(
    app, admin, receiver, make_webhook, caplog
):
    release, arrived = threading.Event(), threading.Event()
    webhook_id = make_webhook(url=hanging(receiver, release, arrived=arrived))
    token = csrf_token(admin, f"/webhooks/{webhook_id}/edit")
    answer = started(send(admin, webhook_id, {"a": 1}, token=token))
    assert arrived.wait(5)  # the request is at the receiver, which holds it
    deleted = admin.post(f"/webhooks/{webhook_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 302
    assert admin.get(answer["result_url"], headers=JSON).status_code == 404
    release.set()
    time.sleep(0.5)  # the answer arrives and its recording finds the delivery gone
    assert admin.get(answer["result_url"], headers=JSON).status_code == 404
    with app.app_context():
        assert db.session.scalars(select(Delivery)).all() == []
    assert [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []


def test_any_event_the_panel_offers_is_sent_as_that_event(app, admin, receiver, make_webhook):
    webhook_id = make_webhook(url=answering(receiver), events=[EVENT, "site_published"])
    page = admin.get(f"/webhooks/{webhook_id}/edit").get_data(as_text=True)
    samples = re.search(r'id="test-panel-samples">(.*?)</script>', page, re.S).group(1)
    assert set(json.loads(samples)) == {EVENT, "site_published"}

    result = result_of(
        admin,
        started(send(admin, webhook_id, {"site_id": 1}, event="site_published"))["result_url"],
    )
    assert result["ok"] is True
    [(request, _response)] = receiver.log
    assert json.loads(request.get_data())["type"] == "site_published"
    [delivery] = deliveries(app, webhook_id)
    assert delivery["event_type"] == "site_published"


@pytest.mark.parametrize(
    ("fields", "refused"),
    [({"event": EVENT}, "payload"), ({"payload": "{}"}, "event"), ({}, "event")],
)
def test_a_post_missing_a_field_is_refused_not_filled_in(
    app, admin, receiver, make_webhook, fields, refused
):
    webhook_id = make_webhook(url=answering(receiver))
    token = csrf_token(admin, f"/webhooks/{webhook_id}/edit")
    response = admin.post(
        f"/webhooks/{webhook_id}/test-panel", data={"csrf_token": token, **fields}, headers=JSON
    )
    assert response.status_code == 422
    assert refused in response.get_json()["errors"]
    assert receiver.log == []
    assert deliveries(app, webhook_id) == []

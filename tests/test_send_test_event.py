"""Send Test Event through the admin screens, against a real HTTP receiver on 127.0.0.1.

Each test checks what the admin sees (the flash on the page the redirect leads to) and what
was recorded (the Delivery and its Attempt, and the webhook's counters).
"""

import base64
import html
import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as SWWebhook
from standardwebhooks.webhooks import WebhookVerificationError
from werkzeug import Response

from tests.conftest import csrf_token, post_form, unused_port
from webhooks.catalogue import all_events, get_event
from webhooks.extensions import db
from webhooks.models import Delivery, Webhook

FLASH_RE = re.compile(
    r'<div class="flash flash-(\w+)"[^>]*>\s*<strong>[^<]*</strong>(.*?)</div>', re.S
)
ISO_UTC_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
BODY_LIMIT = 20 * 1024
EVENT_SLUGS = [event.slug for event in all_events()]


# ---------------------------------------------------------------- helpers


def click_send_test_event(admin, webhook_id: int, **form):
    """Press "Send Test Event" on the webhook's edit page (a POST with the page's CSRF token)."""
    return post_form(admin, f"/webhooks/{webhook_id}/test", form, f"/webhooks/{webhook_id}/edit")


def flashes_on(admin, response) -> list[tuple[str, str]]:
    """Follow the redirect and read the flashed messages as the admin sees them."""
    assert response.status_code == 302, response.get_data(as_text=True)
    page = admin.get(response.headers["Location"])
    assert page.status_code == 200
    return [
        (category, " ".join(html.unescape(message).split()))
        for category, message in FLASH_RE.findall(page.get_data(as_text=True))
    ]


def the_flash(admin, response) -> tuple[str, str]:
    flashes = flashes_on(admin, response)
    assert len(flashes) == 1, flashes
    return flashes[0]


def recorded(app, webhook_id: int) -> dict:
    """The webhook, its deliveries and their attempts, as plain values."""
    with app.app_context():
        webhook = db.session.get(Webhook, webhook_id)
        deliveries = db.session.scalars(
            select(Delivery).where(Delivery.webhook_id == webhook_id).order_by(Delivery.id)
        ).all()
        return {
            "webhook": {
                "sent_count": webhook.sent_count,
                "last_delivery_at": webhook.last_delivery_at,
                "last_delivery_ok": webhook.last_delivery_ok,
                "last_delivery_summary": webhook.last_delivery_summary,
                "secret": webhook.secret,
            },
            "deliveries": [
                {
                    "msg_id": delivery.msg_id,
                    "event_type": delivery.event_type,
                    "body": delivery.body,
                    "is_test": delivery.is_test,
                    "status": delivery.status,
                    "attempt_count": delivery.attempt_count,
                    "attempts": [
                        {
                            "url": attempt.url,
                            "request_headers": json.loads(attempt.request_headers),
                            "succeeded": attempt.succeeded,
                            "response_status": attempt.response_status,
                            "response_body": attempt.response_body,
                            "duration_ms": attempt.duration_ms,
                            "error": attempt.error,
                            "summary": attempt.summary,
                        }
                        for attempt in delivery.attempts
                    ],
                }
                for delivery in deliveries
            ],
        }


def the_attempt(app, webhook_id: int) -> tuple[dict, dict, dict]:
    """(webhook, delivery, attempt) after exactly one test send."""
    state = recorded(app, webhook_id)
    assert len(state["deliveries"]) == 1, state["deliveries"]
    delivery = state["deliveries"][0]
    assert delivery["is_test"] is True
    assert delivery["status"] == "test"
    assert delivery["attempt_count"] == 1
    assert len(delivery["attempts"]) == 1
    return state["webhook"], delivery, delivery["attempts"][0]


def assert_recorded_failure(app, webhook_id: int, words: str, sent_count: int = 0) -> dict:
    webhook, _delivery, attempt = the_attempt(app, webhook_id)
    assert attempt["succeeded"] is False
    assert words.lower() in attempt["error"].lower()
    assert words.lower() in attempt["summary"].lower()
    assert webhook["last_delivery_ok"] is False
    assert webhook["last_delivery_summary"].startswith("Test: ")
    assert words.lower() in webhook["last_delivery_summary"].lower()
    assert webhook["last_delivery_at"] is not None
    assert webhook["sent_count"] == sent_count
    return attempt


def wait_for_log(receiver, count: int, seconds: float = 5.0) -> None:
    """Wait until the receiver has logged ``count`` requests (a handler may still be running)."""
    deadline = time.monotonic() + seconds
    while len(receiver.log) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(receiver.log) == count


# ---------------------------------------------------------------- 2xx


@pytest.mark.parametrize(
    ("status", "phrase", "body"),
    [
        (200, "OK", "thanks"),
        (201, "Created", '{"received": true}'),
        (204, "No Content", ""),
    ],
)
def test_send_test_event_shows_success_with_status_time_and_response(
    app, admin, receiver, make_webhook, status, phrase, body
):
    receiver.expect_request("/hook", method="POST").respond_with_data(body, status=status)
    url = receiver.url_for("/hook")
    webhook_id = make_webhook(url=url, sent_count=7)

    category, text = the_flash(admin, click_send_test_event(admin, webhook_id))

    assert category == "success"
    assert text.startswith(f"Test event delivered to {url}: HTTP {status} {phrase} in ")
    assert re.search(rf"HTTP {status} {phrase} in \d+ ms", text), text
    if body:
        assert f"Response: {body}" in text
    else:
        assert "Response:" not in text
    assert len(receiver.log) == 1

    webhook, _delivery, attempt = the_attempt(app, webhook_id)
    assert attempt["succeeded"] is True
    assert attempt["response_status"] == status
    assert attempt["response_body"] == body
    assert attempt["error"] is None
    assert attempt["url"] == url
    assert attempt["duration_ms"] is not None and attempt["duration_ms"] >= 0
    assert webhook["last_delivery_ok"] is True
    assert webhook["last_delivery_summary"].startswith(f"Test: HTTP {status} {phrase} in ")
    assert webhook["sent_count"] == 7  # a test send is not a sent event


def test_send_test_event_shows_only_the_start_of_a_long_response(admin, receiver, make_webhook):
    receiver.expect_request("/hook").respond_with_data("a" * 150 + "b" * 150)
    webhook_id = make_webhook(url=receiver.url_for("/hook"))

    category, text = the_flash(admin, click_send_test_event(admin, webhook_id))

    assert category == "success"
    assert "Response: " + "a" * 150 + "b" * 50 + "…" in text
    assert "b" * 51 not in text


# ---------------------------------------------------------------- non-2xx answers


@pytest.mark.parametrize(
    ("status", "phrase"),
    [(404, "Not Found"), (500, "Internal Server Error")],
)
def test_send_test_event_shows_failure_for_http_error_status(
    app, admin, receiver, make_webhook, status, phrase
):
    receiver.expect_request("/hook").respond_with_data("receiver says no", status=status)
    webhook_id = make_webhook(url=receiver.url_for("/hook"), sent_count=3)

    category, text = the_flash(admin, click_send_test_event(admin, webhook_id))

    assert category == "error"
    assert "delivered" not in text
    assert text.startswith(f"Test event failed: HTTP {status} {phrase} in ")
    assert "Response: receiver says no" in text
    attempt = assert_recorded_failure(app, webhook_id, f"HTTP {status} {phrase}", sent_count=3)
    assert attempt["response_status"] == status
    assert attempt["response_body"] == "receiver says no"


@pytest.fixture
def redirecting_receiver(receiver):
    receiver.expect_request("/elsewhere").respond_with_data("should never be reached")
    return receiver


def _redirect(receiver, status: int) -> str:
    target = receiver.url_for("/elsewhere")
    receiver.expect_request("/hook").respond_with_response(
        Response("moved", status=status, headers={"Location": target})
    )
    return target


@pytest.mark.parametrize("status", [302, 307])
def test_send_test_event_does_not_follow_a_redirect(
    app, admin, redirecting_receiver, make_webhook, status
):
    _redirect(redirecting_receiver, status)
    webhook_id = make_webhook(url=redirecting_receiver.url_for("/hook"))

    category, text = the_flash(admin, click_send_test_event(admin, webhook_id))

    assert category == "error"
    assert text.startswith("Test event failed: ")
    assert [request.path for request, _ in redirecting_receiver.log] == ["/hook"]
    _webhook, _delivery, attempt = the_attempt(app, webhook_id)
    assert attempt["succeeded"] is False


@pytest.mark.parametrize("status", [302, 307])
def test_send_test_event_names_the_redirect_location(
    app, admin, redirecting_receiver, make_webhook, status
):
    target = _redirect(redirecting_receiver, status)
    webhook_id = make_webhook(url=redirecting_receiver.url_for("/hook"))

    category, text = the_flash(admin, click_send_test_event(admin, webhook_id))

    assert category == "error"
    assert text.startswith(f"Test event failed: HTTP {status} ")
    assert f"a redirect to {target} (redirects are not followed)" in text
    assert [request.path for request, _ in redirecting_receiver.log] == ["/hook"]
    attempt = assert_recorded_failure(app, webhook_id, f"redirect to {target}")
    assert attempt["response_status"] == status


# ---------------------------------------------------------------- network failures


@pytest.fixture
def short_timeout(config):
    config["DELIVERY_TIMEOUT"] = 1
    return config


def test_send_test_event_shows_timeout_when_receiver_is_too_slow(
    short_timeout, app, admin, receiver, make_webhook
):
    release = threading.Event()

    def slow(request):
        release.wait(5)  # longer than the 1 s timeout, unless the test lets it go
        return Response("too late")

    receiver.expect_request("/slow").respond_with_handler(slow)
    webhook_id = make_webhook(url=receiver.url_for("/slow"))

    started = time.monotonic()
    response = click_send_test_event(admin, webhook_id)
    waited = time.monotonic() - started
    release.set()
    wait_for_log(receiver, 1)

    category, text = the_flash(admin, response)
    assert category == "error"
    assert text.startswith("Test event failed: timeout")
    assert "did not answer within 1 s" in text
    assert 0.9 <= waited < 4
    attempt = assert_recorded_failure(app, webhook_id, "timeout")
    assert attempt["response_status"] is None
    assert attempt["duration_ms"] >= 900


def test_send_test_event_shows_failure_when_connection_is_refused(app, admin, make_webhook):
    port = unused_port()
    webhook_id = make_webhook(url=f"http://127.0.0.1:{port}/hook")

    category, text = the_flash(admin, click_send_test_event(admin, webhook_id))

    assert category == "error"
    assert text.startswith("Test event failed: ")
    assert "connection refused" in text.lower()
    webhook, _delivery, attempt = the_attempt(app, webhook_id)
    assert attempt["succeeded"] is False
    assert attempt["response_status"] is None
    assert "connection refused" in attempt["error"].lower()
    assert webhook["last_delivery_ok"] is False
    assert webhook["last_delivery_summary"].startswith("Test: ")


def test_send_test_event_says_connection_refused_in_plain_words(app, admin, make_webhook):
    port = unused_port()
    webhook_id = make_webhook(url=f"http://127.0.0.1:{port}/hook")

    _category, text = the_flash(admin, click_send_test_event(admin, webhook_id))

    assert text == f"Test event failed: connection refused by 127.0.0.1:{port}."
    webhook, _delivery, attempt = the_attempt(app, webhook_id)
    assert attempt["summary"] == f"connection refused by 127.0.0.1:{port}"
    # today the 255-character summary is cut before the words "Connection refused"
    assert "connection refused" in webhook["last_delivery_summary"]


def test_send_test_event_shows_dns_failure_for_unknown_host(app, admin, make_webhook):
    webhook_id = make_webhook(url="http://nonexistent.invalid/hook")

    category, text = the_flash(admin, click_send_test_event(admin, webhook_id))

    assert category == "error"
    assert text.startswith("Test event failed: DNS failure")
    assert "nonexistent.invalid" in text
    attempt = assert_recorded_failure(app, webhook_id, "DNS failure")
    assert attempt["response_status"] is None


@pytest.fixture
def no_allow_list(config):
    config["ALLOWED_NETWORKS"] = ""
    return config


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_send_test_event_is_blocked_for_loopback_without_allow_list(
    no_allow_list, app, admin, receiver, make_webhook, host
):
    receiver.expect_request("/hook").respond_with_data("should never be reached")
    url = receiver.url_for("/hook").replace("127.0.0.1", host)
    webhook_id = make_webhook(url=url)

    category, text = the_flash(admin, click_send_test_event(admin, webhook_id))

    assert category == "error"
    assert text.startswith("Test event failed: blocked address")
    assert "loopback" in text
    assert "WEBHOOKS_ALLOWED_NETWORKS" in text
    assert receiver.log == []
    attempt = assert_recorded_failure(app, webhook_id, "blocked address")
    assert attempt["response_status"] is None


# ---------------------------------------------------------------- what the receiver gets


def received_headers(request) -> dict[str, str]:
    return {name: request.headers[name] for name in request.headers.keys()}


@pytest.mark.parametrize("slug", ["payment_received", "customer_created"])
def test_receiver_gets_signed_standard_webhooks_post(app, admin, receiver, make_webhook, slug):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"), event=slug)
    before = datetime.now(UTC)

    category, _text = the_flash(admin, click_send_test_event(admin, webhook_id))

    assert category == "success"
    assert len(receiver.log) == 1
    request, _ = receiver.log[0]
    assert request.method == "POST"
    assert request.mimetype == "application/json"
    assert "Webhooks/" in request.headers["User-Agent"]
    assert request.headers["webhook-id"].startswith("msg_")
    timestamp = int(request.headers["webhook-timestamp"])
    assert abs(timestamp - time.time()) < 60

    body_text = request.get_data(as_text=True)
    payload = json.loads(body_text)
    assert set(payload) == {"type", "timestamp", "data"}
    assert payload["type"] == slug
    assert ISO_UTC_RE.match(payload["timestamp"]), payload["timestamp"]
    sent_at = datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= sent_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert payload["data"] == get_event(slug).sample_data()

    secret = recorded(app, webhook_id)["webhook"]["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert SWWebhook(secret).verify(body_text, received_headers(request)) == payload

    other = "whsec_" + base64.b64encode(b"another secret of 32 bytes......").decode()
    with pytest.raises(WebhookVerificationError):
        SWWebhook(other).verify(body_text, received_headers(request))


def test_receiver_gets_the_sample_payload_of_every_event(app, admin, receiver, make_webhook):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    secrets = {}
    for slug in EVENT_SLUGS:
        webhook_id = make_webhook(url=receiver.url_for("/hook"), event=slug)
        secrets[slug] = recorded(app, webhook_id)["webhook"]["secret"]
        category, text = the_flash(admin, click_send_test_event(admin, webhook_id))
        assert category == "success", (slug, text)

    assert len(receiver.log) == len(EVENT_SLUGS)
    for slug, (request, _) in zip(EVENT_SLUGS, receiver.log, strict=True):
        payload = SWWebhook(secrets[slug]).verify(
            request.get_data(as_text=True), received_headers(request)
        )
        assert payload["type"] == slug
        assert payload["data"] == get_event(slug).sample_data()
        assert payload["data"], f"{slug} has an empty sample payload"


def test_test_send_is_recorded_with_the_exact_request_the_receiver_got(
    app, admin, receiver, make_webhook
):
    receiver.expect_request("/hook").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))

    click_send_test_event(admin, webhook_id)

    request, _ = receiver.log[0]
    _webhook, delivery, attempt = the_attempt(app, webhook_id)
    assert delivery["event_type"] == "payment_received"
    assert delivery["body"] == request.get_data(as_text=True)
    assert delivery["msg_id"] == request.headers["webhook-id"]
    assert attempt["request_headers"]["webhook-id"] == delivery["msg_id"]
    assert attempt["request_headers"]["webhook-signature"] == request.headers["webhook-signature"]


# ---------------------------------------------------------------- what is recorded


@pytest.mark.parametrize(("status", "ok"), [(200, True), (500, False)])
def test_test_send_is_a_test_delivery_and_leaves_sent_count_alone(
    app, admin, receiver, make_webhook, status, ok
):
    receiver.expect_request("/hook").respond_with_data("answer", status=status)
    webhook_id = make_webhook(url=receiver.url_for("/hook"), sent_count=12)
    before = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)

    click_send_test_event(admin, webhook_id)
    click_send_test_event(admin, webhook_id)

    state = recorded(app, webhook_id)
    assert len(state["deliveries"]) == 2  # each press is its own delivery
    for delivery in state["deliveries"]:
        assert delivery["is_test"] is True
        assert delivery["status"] == "test"
        assert delivery["attempt_count"] == 1
        assert len(delivery["attempts"]) == 1
        assert delivery["attempts"][0]["succeeded"] is ok
    assert state["deliveries"][0]["msg_id"] != state["deliveries"][1]["msg_id"]
    webhook = state["webhook"]
    assert webhook["sent_count"] == 12
    assert webhook["last_delivery_ok"] is ok
    last = webhook["last_delivery_at"].replace(tzinfo=None)
    assert before <= last <= datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)


def test_test_send_appears_in_recent_deliveries_on_the_edit_page(admin, receiver, make_webhook):
    receiver.expect_request("/hook").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))

    click_send_test_event(admin, webhook_id)

    page = admin.get(f"/webhooks/{webhook_id}/edit").get_data(as_text=True)
    assert re.search(r"<td>\s*Test\s*</td>", page), page


def test_kept_response_body_is_capped_at_the_limit(app, admin, receiver, make_webhook):
    receiver.expect_request("/hook").respond_with_data("x" * 100 * 1024)
    webhook_id = make_webhook(url=receiver.url_for("/hook"))

    category, text = the_flash(admin, click_send_test_event(admin, webhook_id))

    assert category == "success"
    assert len(text) < 1000  # the flash shows only the start
    _webhook, _delivery, attempt = the_attempt(app, webhook_id)
    kept = attempt["response_body"]
    assert kept.startswith("x" * BODY_LIMIT)
    assert BODY_LIMIT < len(kept) <= BODY_LIMIT + 100  # the body plus a short note
    assert "cut at" in kept[BODY_LIMIT:]


@pytest.fixture
def small_body_limit(config):
    config["RESPONSE_BODY_LIMIT"] = 1000
    return config


def test_kept_response_body_follows_the_configured_limit(
    small_body_limit, app, admin, receiver, make_webhook
):
    receiver.expect_request("/hook").respond_with_data("y" * 5000)
    webhook_id = make_webhook(url=receiver.url_for("/hook"))

    click_send_test_event(admin, webhook_id)

    _webhook, _delivery, attempt = the_attempt(app, webhook_id)
    assert attempt["response_body"].startswith("y" * 1000)
    assert "y" * 1001 not in attempt["response_body"]
    assert len(attempt["response_body"]) <= 1100


def test_response_exactly_at_the_limit_is_kept_whole(app, admin, receiver, make_webhook):
    size = BODY_LIMIT
    receiver.expect_request("/hook").respond_with_data("z" * size)
    webhook_id = make_webhook(url=receiver.url_for("/hook"))

    click_send_test_event(admin, webhook_id)

    _webhook, _delivery, attempt = the_attempt(app, webhook_id)
    assert attempt["response_body"] == "z" * size


# ---------------------------------------------------------------- the form itself


def test_send_test_event_is_not_available_by_get(app, admin, receiver, make_webhook):
    receiver.expect_request("/hook").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))

    response = admin.get(f"/webhooks/{webhook_id}/test")

    assert response.status_code == 405
    assert receiver.log == []
    assert recorded(app, webhook_id)["deliveries"] == []


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_send_test_event_without_valid_csrf_token_is_rejected_and_sends_nothing(
    app, admin, receiver, make_webhook, token
):
    receiver.expect_request("/hook").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))
    admin.get(f"/webhooks/{webhook_id}/edit")  # the session holds a real token

    data = {} if token is None else {"csrf_token": token}
    response = admin.post(f"/webhooks/{webhook_id}/test", data=data)

    assert response.status_code == 400
    assert receiver.log == []
    state = recorded(app, webhook_id)
    assert state["deliveries"] == []
    assert state["webhook"]["last_delivery_at"] is None


def test_send_test_event_for_missing_webhook_is_not_found(admin, receiver):
    response = post_form(admin, "/webhooks/999999/test", {})

    assert response.status_code == 404
    assert receiver.log == []


def test_send_test_event_requires_login(app, client, receiver, make_webhook):
    receiver.expect_request("/hook").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))
    token = csrf_token(client, "/login")

    response = client.post(f"/webhooks/{webhook_id}/test", data={"csrf_token": token})

    assert response.status_code in (302, 401)
    if response.status_code == 302:
        assert urlsplit(response.headers["Location"]).path == "/login"
    assert receiver.log == []
    assert recorded(app, webhook_id)["deliveries"] == []


@pytest.mark.parametrize("next_path", ["/webhooks/", "/webhooks/?q=Receiver&sort=name&dir=asc"])
def test_send_test_event_from_the_list_returns_to_the_list(
    admin, receiver, make_webhook, next_path
):
    receiver.expect_request("/hook").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))

    response = click_send_test_event(admin, webhook_id, next=next_path)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.path + ("?" + location.query if location.query else "")) == next_path
    assert [category for category, _ in flashes_on(admin, response)] == ["success"]


def test_list_page_send_test_event_button_carries_the_list_as_next(admin, receiver, make_webhook):
    receiver.expect_request("/hook").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))
    page = admin.get("/webhooks/?q=Receiver").get_data(as_text=True)
    form = re.search(
        rf'<form method="post" action="/webhooks/{webhook_id}/test"[^>]*>(.*?)</form>', page, re.S
    )
    assert form, page
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.group(1)).group(1)
    next_path = html.unescape(re.search(r'name="next" value="([^"]+)"', form.group(1)).group(1))

    response = admin.post(
        f"/webhooks/{webhook_id}/test", data={"csrf_token": token, "next": next_path}
    )

    location = urlsplit(response.headers["Location"])
    assert location.path == "/webhooks/"
    assert "q=Receiver" in location.query
    assert len(receiver.log) == 1


@pytest.mark.parametrize(
    "next_value",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "/\\evil.example",
        "javascript:alert(1)",
    ],
)
def test_send_test_event_ignores_next_pointing_off_site(admin, receiver, make_webhook, next_value):
    receiver.expect_request("/hook").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))

    response = click_send_test_event(admin, webhook_id, next=next_value)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost")
    assert location.path == f"/webhooks/{webhook_id}/edit"
    assert len(receiver.log) == 1  # the test event itself was still sent

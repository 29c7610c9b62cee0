"""Delivery results and disable reasons are stored as a code with params: English, word for
word as before, for the API and the stored text; in the reader's language on pages. Rows from
before the codes show their stored text. Against a real receiver on 127.0.0.1."""

import html
import re
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import gettext
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Response

from tests.certificates import self_signed_certificate
from tests.conftest import post_form, unused_port
from tests.engine_helpers import (
    FakeClock,
    Script,
    api_token,
    bearer,
    expand,
    update_webhook,
    webhook_values,
    work,
)
from webhooks import dispatch
from webhooks.delivery import network_details
from webhooks.delivery.guard import RecipientBlocked, RecipientGuard
from webhooks.delivery.messages import CATALOGUE, PHRASES, Message, english, result_text
from webhooks.extensions import db
from webhooks.models import Attempt, Delivery, Webhook

FLASH_RE = re.compile(
    r'<div class="flash flash-(\w+)"[^>]*>\s*<strong>[^<]*</strong>(.*?)</div>', re.S
)
TIMEOUT = 1


@pytest.fixture
def config(config):
    """A short deadline, so the timeout case waits one second."""
    return {**config, "DELIVERY_TIMEOUT": TIMEOUT}


def speaking(client, language: str):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    return client


def text_of(response) -> str:
    return " ".join(html.unescape(response.get_data(as_text=True)).split())


def send_test_event(admin, webhook_id: int) -> str:
    """Press Send Test Event and read the flash the admin sees."""
    response = post_form(admin, f"/webhooks/{webhook_id}/test", {}, f"/webhooks/{webhook_id}/edit")
    assert response.status_code == 302
    page = admin.get(response.headers["Location"])
    (flash,) = FLASH_RE.findall(page.get_data(as_text=True))
    return " ".join(html.unescape(flash[1]).split())


def last_attempt(app) -> Attempt:
    with app.app_context():
        attempt = db.session.scalar(select(Attempt).order_by(Attempt.id.desc()))
        db.session.expunge(attempt)
        return attempt


def english_words(code: str) -> set[str]:
    """The words of a code's English template: not its placeholders, nor names written in
    capitals (HTTP, DNS, WEBHOOKS_ALLOWED_NETWORKS), nor words Turkish writes alike: "ms",
    "Test", "webhook" (docs/translations.md), the schemes "http" and "https" and the reason
    phrase "Gone"."""
    words = re.findall(r"[A-Za-z]+", re.sub(r"\{[^}]*\}", " ", CATALOGUE[code].english))
    return {word.lower() for word in words if not word.isupper()} - {
        "ms",
        "gone",
        "test",
        "webhook",
        "http",
        "https",
    }


def assert_no_english(code: str, shown: str, params: dict) -> None:
    for value in params.values():  # the params are shown as they are (hosts, reason phrases)
        if isinstance(value, str):
            shown = shown.replace(value, " ")
    left = {word.lower() for word in re.findall(r"[^\W\d_]+", shown) if not word.isupper()}
    assert not left & english_words(code), shown


def turkish(app, stored: dict | None, text: str | None) -> str:
    with app.test_request_context(headers={"Accept-Language": "tr"}):
        return result_text(stored, text)


# ---------------------------------------------------------------- each kind of result


def answering(status: int):
    def setup(receiver, request) -> str:
        receiver.expect_request("/hook", method="POST").respond_with_data("x", status=status)
        return receiver.url_for("/hook")

    return setup


def refusing(receiver, request) -> str:
    return f"http://127.0.0.1:{unused_port()}/hook"


def silent(receiver, request) -> str:
    def slow(request):
        time.sleep(TIMEOUT + 0.5)
        return Response("late")

    receiver.expect_request("/slow", method="POST").respond_with_handler(slow)
    return receiver.url_for("/slow")


def private(receiver, request) -> str:
    return "http://10.1.2.3/hook"


def plain_http_as_https(receiver, request) -> str:
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    return receiver.url_for("/hook").replace("http://", "https://")


def self_signed(receiver, request) -> str:
    return request.getfixturevalue("tls_receiver").url_for("/hook")


def cutting_off(receiver, request) -> str:
    return f"http://127.0.0.1:{request.getfixturevalue('cutting_receiver')}/hook"


def stalling(receiver, request) -> str:
    def stall(request):
        def body():
            yield b"first"
            time.sleep(TIMEOUT + 0.5)
            yield b" and the rest"

        return Response(body())

    receiver.expect_request("/stall", method="POST").respond_with_handler(stall)
    return receiver.url_for("/stall")


CASES = {
    "http 500": (
        answering(500),
        "answered",
        r"HTTP 500 Internal Server Error in (\d+) ms",
        r"HTTP 500 Internal Server Error, (\d+) ms içinde",
    ),
    "http 200": (
        answering(200),
        "answered",
        r"HTTP 200 OK in (\d+) ms",
        r"HTTP 200 OK, (\d+) ms içinde",
    ),
    "refused": (
        refusing,
        "connection.refused",
        r"connection refused by 127\.0\.0\.1:\d+",
        r"bağlantı reddedildi: 127\.0\.0\.1:\d+",
    ),
    "timeout": (
        silent,
        "timeout.no_answer",
        r"timeout: 127\.0\.0\.1:\d+ did not answer within 1 s",
        r"zaman aşımı: 127\.0\.0\.1:\d+ adresinden 1 sn içinde yanıt gelmedi",
    ),
    "blocked": (
        private,
        "blocked.address",
        r"blocked address: 10\.1\.2\.3 is a private address; webhooks may only reach public "
        r"addresses unless WEBHOOKS_ALLOWED_NETWORKS allows its range",
        r"engellenen adres: 10\.1\.2\.3 \(özel ağ adresi\); webhook'lar, "
        r"WEBHOOKS_ALLOWED_NETWORKS aralığına izin vermedikçe yalnızca genel adreslere ulaşabilir",
    ),
    "not tls": (
        plain_http_as_https,
        "connection.tls",
        r"TLS error while connecting to 127\.0\.0\.1:\d+: the receiver does not speak TLS on "
        r"this port \(is the URL meant to be http://\?\)",
        r"127\.0\.0\.1:\d+ ile bağlantı kurulurken TLS hatası: alıcı bu bağlantı noktasında TLS "
        r"kullanmıyor \(URL http:// ile mi başlamalıydı\?\)",
    ),
    "self-signed": (
        self_signed,
        "connection.tls",
        r"TLS error while connecting to 127\.0\.0\.1:\d+: the certificate is self-signed",
        r"127\.0\.0\.1:\d+ ile bağlantı kurulurken TLS hatası: sertifika kendinden imzalı",
    ),
    "body cut off": (
        cutting_off,
        "answered.unreadable",
        r"HTTP 200 OK in \d+ ms; the response body could not be read: the receiver closed the "
        r"connection before the body ended",
        r"HTTP 200 OK, \d+ ms içinde; yanıtın gövdesi okunamadı: alıcı, gövde bitmeden "
        r"bağlantıyı kapattı",
    ),
    "body unfinished": (
        stalling,
        "answered.unfinished",
        r"HTTP 200 OK in \d+ ms; the response did not finish within 1 s",
        r"HTTP 200 OK, [\d.]+ ms içinde; yanıt 1 sn içinde tamamlanmadı",
    ),
}


@pytest.fixture
def tls_receiver(tmp_path):
    """A real HTTPS receiver on 127.0.0.1 with a self-signed certificate."""
    cert, key = self_signed_certificate(tmp_path, "receiver.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cutting_receiver():
    """A receiver that reads each request whole, answers 200 with a Content-Length of 100,
    sends 3 bytes of the body and closes the connection. Its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            with connection:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += connection.recv(65536)
                head, _, body = request.partition(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                while len(body) < length:
                    body += connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(5)


@pytest.mark.parametrize("case", CASES)
def test_send_test_event_result_is_english_as_before_and_turkish_on_turkish_pages(
    app, admin, receiver, make_webhook, case, request
):
    setup, code, english_re, turkish_re = CASES[case]
    webhook_id = make_webhook(url=setup(receiver, request))

    flash = send_test_event(speaking(admin, "en"), webhook_id)
    attempt = last_attempt(app)
    assert re.fullmatch(english_re, attempt.summary), attempt.summary
    assert attempt.message["code"] == code
    assert english(attempt.message) == attempt.summary
    assert attempt.summary in flash or re.search(english_re, flash), flash

    flash = send_test_event(speaking(admin, "tr"), webhook_id)
    attempt = last_attempt(app)
    shown = turkish(app, attempt.message, attempt.summary)
    assert re.fullmatch(turkish_re, shown), shown
    assert_no_english(code, shown, attempt.message["params"])
    detail = attempt.message["params"].get("detail")
    if detail is not None:  # a phrase of the network library's reason, in Turkish too
        assert detail in PHRASES and detail not in shown, shown
    assert shown in flash, flash
    assert flash.startswith("Test olayı")

    # The delivery page and the webhook list say it in Turkish too.
    page = text_of(admin.get(f"/deliveries/{attempt.delivery_id}"))
    assert re.search(turkish_re, page)
    assert attempt.summary not in page
    listing = text_of(admin.get("/webhooks/"))
    assert re.search("Test: " + turkish_re, listing)


def test_api_still_answers_the_english_text(app, admin, receiver, make_webhook):
    webhook_id = make_webhook(url=answering(500)(receiver, None))
    send_test_event(speaking(admin, "tr"), webhook_id)
    attempt = last_attempt(app)
    token = api_token(app)

    delivery = admin.get(f"/api/v1/deliveries/{attempt.delivery_id}", headers=bearer(token))
    webhooks = admin.get("/api/v1/webhooks", headers=bearer(token))

    assert delivery.status_code == 200
    assert re.fullmatch(r"HTTP 500 Internal Server Error in \d+ ms", delivery.json["last_summary"])
    (listed,) = webhooks.json["data"]
    assert listed["last_delivery_summary"] == "Test: " + delivery.json["last_summary"]


# ---------------------------------------------------------------- disable reasons


def report(app) -> None:
    with app.app_context():
        dispatch("payment_received", {"payment_id": 7, "payment_total": "$9.00"})
    expand(app)


def disabled_page_texts(admin, webhook_id: int) -> tuple[str, str, str]:
    return (
        text_of(admin.get("/webhooks/")),
        text_of(admin.get(f"/webhooks/{webhook_id}/edit")),
        text_of(admin.get("/")),
    )


@pytest.mark.embedded_engine
def test_webhook_disabled_by_410_gives_its_reason_in_english_and_turkish(
    app, admin, receiver, make_webhook
):
    receiver.expect_request("/gone", method="POST").respond_with_handler(Script(410))
    webhook_id = make_webhook(url=receiver.url_for("/gone"), name="Old CRM")
    report(app)

    work(app, FakeClock())

    hook = webhook_values(app, webhook_id)
    assert hook["active"] is False
    old_text = "The receiver answered 410 Gone: it wants no more deliveries."
    assert hook["disabled_reason"] == old_text
    with app.app_context():
        stored = db.session.get(Webhook, webhook_id).disabled_message
    assert stored == {"code": "disabled.gone", "params": {}}
    shown = turkish(app, stored, old_text)
    assert shown == "Alıcı 410 Gone yanıtı verdi: artık teslimat istemiyor."
    assert_no_english("disabled.gone", shown, {})

    for page in disabled_page_texts(speaking(admin, "tr"), webhook_id):
        assert shown in page
        assert old_text not in page
    for page in disabled_page_texts(speaking(admin, "en"), webhook_id):
        assert old_text in page


@pytest.mark.embedded_engine
def test_webhook_disabled_after_days_gives_its_reason_and_last_result_in_turkish(
    app, admin, receiver, make_webhook
):
    receiver.expect_request("/down", method="POST").respond_with_handler(Script(500))
    webhook_id = make_webhook(url=receiver.url_for("/down"))
    report(app)
    clock = FakeClock()
    update_webhook(app, webhook_id, failing_since=clock.now - timedelta(days=6))

    work(app, clock)

    reason = webhook_values(app, webhook_id)["disabled_reason"]
    assert re.fullmatch(
        r"Every attempt failed for 5 days; the last: HTTP 500 Internal Server Error in \d+ ms",
        reason,
    )
    with app.app_context():
        stored = db.session.get(Webhook, webhook_id).disabled_message
    assert stored["code"] == "disabled.failing"
    assert stored["params"]["last"]["code"] == "answered"
    assert english(stored) == reason
    shown = turkish(app, stored, reason)
    assert re.fullmatch(
        r"5 gün boyunca her deneme başarısız oldu; sonuncusu: "
        r"HTTP 500 Internal Server Error, \d+ ms içinde",
        shown,
    )
    assert_no_english("disabled.failing", shown, {})
    assert_no_english("answered", shown, {"status": "HTTP 500 Internal Server Error"})

    listing, edit, dashboard = disabled_page_texts(speaking(admin, "tr"), webhook_id)
    assert shown in listing and shown in edit and shown in dashboard
    listing, _edit, _dashboard = disabled_page_texts(speaking(admin, "en"), webhook_id)
    assert reason in listing

    # Its deliveries show the Turkish result, and the re-enable clears the reason's code.
    with app.app_context():
        delivery_id = db.session.scalar(
            select(Delivery.id).where(Delivery.webhook_id == webhook_id)
        )
    page = text_of(speaking(admin, "tr").get(f"/deliveries/{delivery_id}"))
    assert re.search(r"HTTP 500 Internal Server Error, \d+ ms içinde", page)
    response = post_form(
        admin, f"/webhooks/{webhook_id}/enable", {}, f"/webhooks/{webhook_id}/edit"
    )
    assert response.status_code == 302
    with app.app_context():
        webhook = db.session.get(Webhook, webhook_id)
        assert (webhook.disabled_reason, webhook.disabled_message) == (None, None)


# ---------------------------------------------------------------- older rows


def test_rows_from_before_the_codes_show_their_stored_text_on_turkish_pages(
    app, admin, make_webhook
):
    old_reason = "Every attempt failed for 5 days; the last: HTTP 500 in 31 ms"
    webhook_id = make_webhook(
        active=False,
        disabled_at=datetime.now(UTC),
        disabled_reason=old_reason,
        last_delivery_at=datetime.now(UTC),
        last_delivery_ok=False,
        last_delivery_summary="HTTP 502 Bad Gateway in 12 ms",
    )

    listing, edit, dashboard = disabled_page_texts(speaking(admin, "tr"), webhook_id)

    for page in (listing, edit, dashboard):
        assert old_reason in page
    assert "HTTP 502 Bad Gateway in 12 ms" in listing


@pytest.mark.parametrize(
    "stored",
    [
        None,
        {"code": "from.a.newer.version", "params": {}},
        {"code": "answered", "params": {"status": "HTTP 500"}},  # a param missing
        {"code": "disabled.failing", "params": {"days": 5, "last": {"code": "unknown"}}},
        "not a message",
    ],
)
def test_a_message_a_page_cannot_render_shows_the_stored_text(app, stored):
    assert turkish(app, stored, "HTTP 500 in 3 ms") == "HTTP 500 in 3 ms"


def test_every_code_has_a_turkish_page_text_and_an_english_text(app):
    params = {
        "status": "HTTP 503 Service Unavailable",
        "duration_ms": 1234,
        "location": "https://example.com/new",
        "host": "hooks.example.com:8443",
        "timeout": 2.5,
        "address": "10.0.0.7",
        "kind": "a private address",
        "detail": "Connection reset by peer",
        "days": 5.0,
        "last": Message("connection.refused", {"host": "127.0.0.1:8095"}).stored(),
        "result": Message("answered", {"status": "HTTP 200 OK", "duration_ms": 5}).stored(),
        "answer": Message("answered", {"status": "HTTP 200 OK", "duration_ms": 7}).stored(),
    }
    nested = {name: english(params[name]) for name in ("last", "result", "answer")}
    for code, template in CATALOGUE.items():
        stored = {"code": code, "params": params}
        assert english(stored) == template.english.format(**{**params, **nested})
        shown = turkish(app, stored, "stored")
        assert shown != "stored"
        assert_no_english(code, shown, params)
        # An English page says it word for word as the API does (no "1,234 ms").
        with app.test_request_context(headers={"Accept-Language": "en"}):
            assert result_text(stored, "stored") == english(stored)
    # Numbers in the Turkish locale's form.
    assert "1.234 ms içinde" in turkish(app, {"code": "answered", "params": params}, None)
    assert "2,5 sn" in turkish(app, {"code": "timeout.no_answer", "params": params}, None)


# ---------------------------------------------------------------- the network library's reasons


def handshake_error(cert, key, cafile, server_hostname: str) -> ssl.SSLError:
    """The error of a real TLS handshake with a server on 127.0.0.1 showing ``cert``, by a
    client that trusts ``cafile`` and asks for ``server_hostname``."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        try:
            server_context.wrap_socket(connection, server_side=True).close()
        except (ssl.SSLError, OSError):
            connection.close()  # the client gave up on the certificate

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    try:
        with socket.create_connection(listener.getsockname()) as sock:
            with pytest.raises(ssl.SSLError) as raised:
                client_context.wrap_socket(sock, server_hostname=server_hostname)
    finally:
        thread.join(5)
        listener.close()
    return raised.value


@pytest.mark.parametrize(
    ("trusted", "server_hostname", "phrase"),
    [
        (False, "receiver.example", "the certificate is self-signed"),
        (True, "other.example", "the certificate is not valid for this host name"),
        (True, "127.0.0.2", "the certificate is not valid for this IP address"),
    ],
)
def test_a_certificate_problem_is_named_in_a_phrase_pages_translate(
    app, tmp_path, trusted, server_hostname, phrase
):
    cert, key = self_signed_certificate(tmp_path, "receiver.example")

    error = handshake_error(cert, key, cert if trusted else None, server_hostname)

    assert network_details.tls_detail(error) == phrase
    stored = Message("connection.tls", {"host": "receiver.example", "detail": phrase}).stored()
    shown = turkish(app, stored, None)
    assert phrase not in shown and shown.startswith("receiver.example ile bağlantı kurulurken")


def test_a_reason_no_phrase_fits_keeps_the_network_librarys_words(app):
    unknown = ssl.SSLError(1, "[SSL: SOMETHING_NEW] something new (_ssl.c:1000)")
    assert network_details.tls_detail(unknown) == str(unknown)
    assert network_details.connection_detail(OSError(99, "odd")) == "[Errno 99] odd"
    stored = Message("connection.failed", {"host": "h", "detail": "[Errno 99] odd"}).stored()
    assert turkish(app, stored, None) == "h bağlantısı başarısız: [Errno 99] odd"


@pytest.mark.parametrize("phrase", sorted(PHRASES))
def test_every_phrase_reads_in_turkish(app, phrase):
    with app.test_request_context(headers={"Accept-Language": "tr"}):
        shown = gettext(phrase)
    assert shown != phrase
    words = {word for word in re.findall(r"[a-z]{3,}", phrase) if word != "http"}
    assert not words & {word.lower() for word in re.findall(r"[^\W\d_]+", shown)}, shown


def test_a_receiver_that_resets_the_connection_is_named_so(app, admin, make_webhook):
    listener = socket.create_server(("127.0.0.1", 0))

    def reset() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        connection.close()  # linger 0: a reset, not a close

    thread = threading.Thread(target=reset, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    webhook_id = make_webhook(url=f"http://127.0.0.1:{port}/hook")

    flash = send_test_event(speaking(admin, "tr"), webhook_id)
    thread.join(5)
    listener.close()

    attempt = last_attempt(app)
    assert attempt.summary == (
        f"connection to 127.0.0.1:{port} failed: the receiver reset the connection"
    )
    assert f"127.0.0.1:{port} bağlantısı başarısız: alıcı bağlantıyı sıfırladı" in flash


@pytest.mark.parametrize(
    ("url", "code", "english_text", "turkish_text"),
    [
        (
            "ftp://example.com/hook",
            "blocked.url",
            "blocked URL: only absolute http and https URLs can be reached",
            "engellenen URL: yalnızca tam http ve https URL'lerine ulaşılabilir",
        ),
        (
            "http://example.com:99999/hook",
            "blocked.port",
            "blocked URL: its port is not a number from 0 to 65535",
            "engellenen URL: bağlantı noktası 0 ile 65535 arasında bir sayı değil",
        ),
    ],
)
def test_a_url_refused_before_any_lookup_has_a_code(app, url, code, english_text, turkish_text):
    with pytest.raises(RecipientBlocked) as raised:
        RecipientGuard().check_url(url)
    assert raised.value.message.code == code
    assert str(raised.value) == english_text
    assert turkish(app, raised.value.message.stored(), None) == turkish_text

"""Large payloads do not exhaust memory: a receiver answering 100 MB, and an event of the
largest size the API takes.

The 100 MB answer comes from a receiver of the test's own on 127.0.0.1 that writes it in 64 KiB
pieces as it goes (with Content-Length, or chunked) and notes how much it managed to write. The
sender keeps RESPONSE_BODY_LIMIT bytes and closes the connection instead of draining the rest,
so the site's Send Test Event and a `flask worker` process stay within a few MB. Memory is
measured as Python's allocations (tracemalloc) in this process, and as the peak resident size
(VmHWM) of the worker process.
"""

import json
import secrets
import string
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as SW

from tests.conftest import csrf_token
from tests.engine_helpers import (
    api_token,
    assert_api_error,
    post_event,
    run_worker,
    stored,
    wait_until,
    webhook_values,
)
from tests.worker_processes import deployment
from webhooks import dispatch
from webhooks.extensions import db
from webhooks.models import Attempt, Delivery

MB = 1024 * 1024
HUGE = 100 * MB
PIECE = ((string.ascii_letters + string.digits) * 1100).encode()[: 64 * 1024]
BODY_LIMIT = 20 * 1024  # RESPONSE_BODY_LIMIT's default
# Bounds, with room above what was measured (see the figures printed with -s).
SEND_PEAK = 4 * MB  # Send Test Event of a 100 MB answer, Python's allocations
WORKER_GROWTH = 16 * MB  # a worker process's peak resident size, two 100 MB answers at once
RECEIVER_WROTE = 16 * MB  # what the receiver could write before the sender hung up
EVENT_PEAK_PER_BYTE = 16  # ingesting and delivering an event, per byte of the event


class HugeAnswer(BaseHTTPRequestHandler):
    """Answers every POST with 100 MB (``/chunked``: in chunks; ``/length``: with
    Content-Length; ``/small``: "ok" instead), written piece by piece — never held whole —
    and notes how many bytes it wrote before the client hung up. ``/keep`` answers "ok" and
    keeps the request's headers and body."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 (the name http.server calls)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/keep":
            self.server.kept.append((dict(self.headers.items()), body))
            self.path = "/small"
        self.connection.settimeout(10)  # a client that stops reading cannot hold the thread
        chunked = self.path == "/chunked"
        size = 2 if self.path == "/small" else HUGE
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(size))
        self.end_headers()
        started, written, finished = time.monotonic(), 0, False
        piece = PIECE if size == HUGE else b"ok"
        try:
            while written < size:
                if chunked:
                    self.wfile.write(b"%x\r\n" % len(piece))
                self.wfile.write(piece)
                if chunked:
                    self.wfile.write(b"\r\n")
                written += len(piece)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
            finished = True
        except OSError:  # the client closed the connection
            pass
        self.close_connection = True
        self.server.answers.append(
            {
                "path": self.path,
                "written": written,
                "finished": finished,
                "seconds": time.monotonic() - started,
            }
        )

    def log_message(self, format, *args):  # noqa: A002 (http.server's signature)
        pass


@pytest.fixture
def huge_receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), HugeAnswer)
    server.daemon_threads = True
    server.answers = []
    server.kept = []
    thread = threading.Thread(target=server.serve_forever, name="huge-receiver", daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join(10)
    server.server_close()


def url_of(server: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_port}{path}"


@contextmanager
def python_peak() -> Iterator[dict]:
    """The most memory Python had allocated at once during the block, beyond what it held at
    its start, in all threads of this process (``figures["peak"]``, bytes)."""
    figures: dict = {}
    tracemalloc.start()
    try:
        start, _peak = tracemalloc.get_traced_memory()
        yield figures
        _current, peak = tracemalloc.get_traced_memory()
        figures["peak"] = peak - start
    finally:
        tracemalloc.stop()


def peak_resident(pid: int) -> int:
    """The peak resident set size of a running process, in bytes (Linux: VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def assert_cut_at_the_limit(attempt: Attempt) -> None:
    """The attempt succeeded and kept the first RESPONSE_BODY_LIMIT bytes and a note."""
    assert attempt.succeeded is True, attempt.summary
    assert attempt.response_status == 200
    kept = attempt.response_body
    assert kept.startswith(PIECE[:BODY_LIMIT].decode())
    assert kept[BODY_LIMIT:] == f"\n… (cut at {BODY_LIMIT} bytes)"
    assert "did not arrive" not in attempt.summary
    assert attempt.duration_ms < 1000, attempt.summary


def assert_hung_up_early(answer: dict) -> None:
    """The sender closed the connection after the kept part: the receiver could not write
    the 100 MB (only what the kernel's buffers took), and learned so at once."""
    assert answer["finished"] is False, answer
    assert answer["written"] < RECEIVER_WROTE, answer
    assert answer["seconds"] < 2, answer


# ---------------------------------------------------------------- a 100 MB answer


@pytest.mark.parametrize("path", ["/length", "/chunked"], ids=["content-length", "chunked"])
def test_send_test_event_keeps_only_the_start_of_a_100_mb_answer(
    app, admin, huge_receiver, make_webhook, path
):
    webhook_id = make_webhook(url=url_of(huge_receiver, path))
    token = csrf_token(admin, f"/webhooks/{webhook_id}/edit")

    started = time.monotonic()
    with python_peak() as memory:
        response = admin.post(f"/webhooks/{webhook_id}/test", data={"csrf_token": token})
    seconds = time.monotonic() - started

    assert response.status_code == 302
    assert seconds < 2
    assert memory["peak"] < SEND_PEAK, memory
    wait_until(lambda: huge_receiver.answers, 5)
    [answer] = huge_receiver.answers
    assert_hung_up_early(answer)
    with app.app_context():
        [delivery] = db.session.scalars(select(Delivery)).all()
        assert delivery.status == "test" and delivery.attempt_count == 1
        [attempt] = delivery.attempts
        assert_cut_at_the_limit(attempt)
    print(f"Send Test Event {path}: {seconds:.2f} s, Python peak {memory['peak']} B, {answer}")


@pytest.fixture
def instance(tmp_path, monkeypatch):
    with deployment(tmp_path, monkeypatch) as made:
        yield made


def test_worker_keeps_only_the_start_of_two_100_mb_answers(instance, huge_receiver):
    instance.webhook(url_of(huge_receiver, "/small"), name="Small")
    process, log = instance.start_worker()  # two requests at once
    instance.report({"n": 1})  # warms the worker up: sessions, imports, connections
    wait_until(lambda: [row["status"] for row in instance.deliveries()] == ["succeeded"], 15)
    before = peak_resident(process.pid)
    huge = {
        path: instance.webhook(url_of(huge_receiver, path), name=path)
        for path in ("/length", "/chunked")
    }
    with instance.app.app_context():
        dispatch("payment_received", {"n": 2})  # to the two huge receivers (and the small one)

    wait_until(
        lambda: [row["status"] for row in instance.deliveries()] == ["succeeded"] * 4, 15, 0.05
    )
    growth = peak_resident(process.pid) - before

    assert growth < WORKER_GROWTH, growth
    wait_until(lambda: len(huge_receiver.answers) == 4, 5)
    answers = {a["path"]: a for a in huge_receiver.answers if a["path"] != "/small"}
    assert set(answers) == {"/length", "/chunked"}
    for answer in answers.values():
        assert_hung_up_early(answer)
    with instance.app.app_context():
        for webhook_id in huge.values():
            [attempt] = db.session.scalars(
                select(Attempt).join(Delivery).where(Delivery.webhook_id == webhook_id)
            ).all()
            assert_cut_at_the_limit(attempt)
    assert "Traceback" not in log.read_text()
    print(f"worker: peak resident {before} B before, growth {growth} B; {answers}")


# ---------------------------------------------------------------- the largest event


def event_body(size: int) -> tuple[dict, str]:
    """An event's data and a POST /api/v1/events body of exactly ``size`` bytes."""
    data = {"payment_id": "pay_123", "amount": 4200, "note": ""}
    empty = json.dumps({"type": "payment_received", "data": data})
    data["note"] = secrets.token_hex(size)[: size - len(empty)]
    body = json.dumps({"type": "payment_received", "data": data})
    assert len(body.encode()) == size
    return data, body


@pytest.mark.embedded_engine
def test_an_event_of_the_largest_size_is_accepted_and_arrives_intact(
    app, client, huge_receiver, make_webhook
):
    limit = app.config["MAX_EVENT_BYTES"]
    webhook_id = make_webhook(url=url_of(huge_receiver, "/keep"))
    token = api_token(app)
    data, body = event_body(limit)

    with python_peak() as memory:
        response = post_event(client, token, raw=body)
        sent = run_worker(app)

    assert response.status_code == 202, response.get_data(as_text=True)[:500]
    assert sent == 1
    [(headers, received)] = huge_receiver.kept
    payload = SW(webhook_values(app, webhook_id)["secret"]).verify(received.decode(), headers)
    assert payload["type"] == "payment_received"
    assert payload["data"] == data
    # Ingesting and delivering it (the receiver's copy included: it runs in this process)
    # costs a small multiple of its size, not more.
    assert memory["peak"] < EVENT_PEAK_PER_BYTE * limit, memory
    print(f"largest event: {limit} B, Python peak {memory['peak']} B")


def test_an_event_one_byte_over_the_largest_size_is_refused_and_nothing_stored(
    app, client, make_webhook
):
    make_webhook()
    token = api_token(app)
    before = stored(app)
    _data, body = event_body(app.config["MAX_EVENT_BYTES"] + 1)

    response = post_event(client, token, raw=body)

    message = assert_api_error(response, 413, "payload_too_large")
    assert f"limit of {app.config['MAX_EVENT_BYTES']} bytes" in message
    assert stored(app) == before

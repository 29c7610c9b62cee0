"""One deadline covers a whole attempt, the lookup of the receiver's host name included: a DNS
server that takes its time cannot hold an attempt past WEBHOOKS_DELIVERY_TIMEOUT. The DNS answer
is the one thing faked here (no name server to slow down on this machine)."""

import socket
import threading
import time

import pytest

from tests.conftest import post_form
from tests.engine_helpers import FakeClock, deliveries_of, work
from webhooks import dispatch

pytestmark = pytest.mark.embedded_engine

SLOW_NAME = "slow-dns.example.com"


@pytest.fixture
def config(config):
    config["DELIVERY_TIMEOUT"] = 1
    return config


@pytest.fixture
def slow_dns(monkeypatch):
    """The system's resolver, but a lookup of SLOW_NAME takes 3 s (then finds 127.0.0.1)."""
    real = socket.getaddrinfo
    released = threading.Event()

    def getaddrinfo(host, port, *args, **kwargs):
        if host == SLOW_NAME:
            released.wait(3)
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    released.set()


def test_a_slow_dns_lookup_ends_the_attempt_at_the_deadline(app, make_webhook, slow_dns):
    webhook_id = make_webhook(url=f"http://{SLOW_NAME}:9/hook")
    with app.app_context():
        dispatch("payment_received", {"payment_id": 1})

    started = time.monotonic()
    [result] = work(app, FakeClock())
    took = time.monotonic() - started

    assert result.ok is False
    assert result.summary == f"timeout: the host name {SLOW_NAME} was not resolved within 1 s"
    assert took < 2.5, took
    [row] = deliveries_of(app, webhook_id)
    assert row["status"] == "failing"


def test_send_test_event_ends_a_slow_dns_lookup_at_the_deadline(app, admin, make_webhook, slow_dns):
    webhook_id = make_webhook(url=f"http://{SLOW_NAME}/hook")
    edit = f"/webhooks/{webhook_id}/edit"

    started = time.monotonic()
    response = post_form(admin, f"/webhooks/{webhook_id}/test", {}, edit)
    took = time.monotonic() - started

    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Test event failed: timeout: the host name {SLOW_NAME} was not resolved" in page
    assert took < 2.5, took

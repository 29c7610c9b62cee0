"""A bug while sending must not lose a delivery: whatever raises inside an attempt is recorded
as a failed attempt ("internal error: …"), by the worker and by Send Test Event alike, and the
delivery is retried on its schedule."""

import html
import logging

import pytest

from tests.conftest import post_form
from tests.engine_helpers import deliveries_of, run_worker, webhook_values
from webhooks import dispatch
from webhooks.delivery.sender import Sender

pytestmark = pytest.mark.embedded_engine


@pytest.fixture
def broken_sender(monkeypatch):
    async def send(self, *args, **kwargs):
        raise RuntimeError("the sender broke")

    monkeypatch.setattr(Sender, "send", send)


def test_an_error_while_sending_is_a_failed_attempt_the_worker_retries(
    app, receiver, make_webhook, broken_sender, caplog
):
    webhook_id = make_webhook(url=receiver.url_for("/hook"))
    with app.app_context():
        dispatch("payment_received", {"payment_id": 1})

    with caplog.at_level(logging.ERROR, logger="webhooks.delivery.pipeline"):
        assert run_worker(app) == 1

    [row] = deliveries_of(app, webhook_id)
    assert row["status"] == "failing"  # retried on its schedule
    assert row["attempt_count"] == 1
    assert row["attempts"][0]["summary"] == "internal error: the sender broke"
    assert row["lease_token"] is None
    assert "sending to 127.0.0.1" in caplog.text and "RuntimeError" in caplog.text
    assert webhook_values(app, webhook_id)["last_delivery_ok"] is False


def test_an_error_while_sending_a_test_event_is_recorded_and_shown(
    app, admin, receiver, make_webhook, broken_sender
):
    webhook_id = make_webhook(url=receiver.url_for("/hook"))
    edit = f"/webhooks/{webhook_id}/edit"

    response = post_form(admin, f"/webhooks/{webhook_id}/test", {}, edit)

    assert response.status_code == 302
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Test event failed: internal error: the sender broke." in page
    [row] = deliveries_of(app, webhook_id)
    assert row["status"] == "test" and row["attempt_count"] == 1
    assert row["attempts"][0]["succeeded"] is False
    assert receiver.log == []


def test_an_internal_error_reads_in_turkish_on_a_turkish_page(
    app, admin, receiver, make_webhook, broken_sender
):
    webhook_id = make_webhook(url=receiver.url_for("/hook"))
    edit = f"/webhooks/{webhook_id}/edit"
    admin.environ_base["HTTP_ACCEPT_LANGUAGE"] = "tr"

    response = post_form(admin, f"/webhooks/{webhook_id}/test", {}, edit)

    page = html.unescape(admin.get(response.headers["Location"]).get_data(as_text=True))
    assert "iç hata: the sender broke" in page  # the error's own words stay as they are
    assert "internal error" not in page
    [row] = deliveries_of(app, webhook_id)
    assert row["attempts"][0]["summary"] == "internal error: the sender broke"

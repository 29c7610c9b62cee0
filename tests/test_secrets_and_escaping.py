"""Secrets stay out of the logs, and what a receiver answers is shown as text, never run."""

import logging

import pytest
from sqlalchemy import select

from tests.engine_helpers import api_token, bearer, post_event, run_worker
from webhooks.extensions import db
from webhooks.models import Attempt, Delivery, Webhook

HOSTILE = '<script>alert("owned")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def hostile_receiver(receiver):
    receiver.expect_request("/hook").respond_with_data(
        HOSTILE, status=500, headers={"X-Evil": HOSTILE}, content_type="text/html"
    )
    return receiver


def test_a_receivers_html_and_script_are_shown_escaped(
    app, admin, client, hostile_receiver, make_webhook
):
    make_webhook(name="Shop", url=hostile_receiver.url_for("/hook"))
    assert (
        post_event(client, api_token(app), {"type": "payment_received", "data": {}}).status_code
        == 202
    )
    assert run_worker(app) == 1
    with app.app_context():
        delivery_id = db.session.scalar(select(Delivery.id))
        stored = db.session.scalar(select(Attempt.response_body))
    assert stored == HOSTILE  # kept as received

    page = admin.get(f"/deliveries/{delivery_id}").get_data(as_text=True)

    assert HOSTILE not in page
    assert "<script>alert" not in page
    assert "<img src=x onerror" not in page
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in page


def test_secrets_and_tokens_never_reach_the_logs(
    app, admin, client, receiver, make_webhook, caplog
):
    caplog.set_level(logging.DEBUG)
    receiver.expect_request("/hook").respond_with_data("ok")
    webhook_id = make_webhook(name="Shop", url=receiver.url_for("/hook"))
    token = api_token(app)

    assert post_event(client, token, {"type": "payment_received", "data": {}}).status_code == 202
    assert run_worker(app) == 1
    assert (
        client.post(f"/api/v1/webhooks/{webhook_id}/test", headers=bearer(token)).status_code == 200
    )
    assert (
        client.post(
            f"/api/v1/webhooks/{webhook_id}/rotate-secret", headers=bearer(token)
        ).status_code
        == 200
    )
    assert (
        post_event(client, "whk_" + "y" * 43, {"type": "payment_received", "data": {}}).status_code
        == 401
    )
    assert post_event(client, token, {"type": "payment_received", "data": {}}).status_code == 202
    assert run_worker(app) == 1
    with app.app_context():
        webhook = db.session.get(Webhook, webhook_id)
        secrets = [webhook.secret, webhook.previous_secret]
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)

    assert len(receiver.log) == 3  # the logs did see real work
    assert caplog.records, "something was logged"
    for secret in [token, "whk_" + "y" * 43, *secrets]:
        assert secret not in logged
        assert secret.split("_", 1)[1] not in logged  # nor the part after the prefix

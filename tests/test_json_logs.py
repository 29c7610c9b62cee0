"""WEBHOOKS_LOG_FORMAT=json: a real worker process writes one JSON line per attempt, naming the
delivery and never carrying its payload, headers or secrets."""

import json

import pytest
from werkzeug import Response

from tests.engine_helpers import wait_until
from tests.worker_processes import Instance, engine_under_test, own_database
from webhooks import create_app
from webhooks.extensions import db
from webhooks.models import Delivery, Webhook
from webhooks.settings import SettingError

CARD = "4242-4242-secret-card"
HEADER_VALUE = "Bearer crm-secret-value"


@pytest.fixture
def instance(tmp_path, monkeypatch):
    with own_database(tmp_path) as url:
        # A retry 0.3 s after a failure, so a delivery's two attempts happen within the test.
        settings = {"LOG_FORMAT": "json", "RETRY_SCHEDULE": "0.3", "RETRY_JITTER": "0"}
        instance = Instance(tmp_path, monkeypatch, url, {**engine_under_test(), **settings})
        yield instance
        instance.kill_all()


def json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_worker_writes_one_json_line_per_attempt_without_the_payload(instance, receiver):
    answers = iter([500, 200])
    receiver.expect_request("/hook", method="POST").respond_with_handler(
        lambda _request: Response("answer", status=next(answers))
    )
    webhook_id = instance.webhook(
        receiver.url_for("/hook"), custom_headers=json.dumps({"Authorization": HEADER_VALUE})
    )
    with instance.app.app_context():
        secret = db.session.get(Webhook, webhook_id).secret
    process, log = instance.start_worker()

    instance.report({"payment_id": 7, "card": CARD})

    def attempts() -> list[dict]:
        return [line for line in json_lines(log.read_text()) if "attempt" in line]

    lines = wait_until(lambda: len(attempts()) >= 2 and attempts(), 20)
    with instance.app.app_context():
        delivery = db.session.scalars(db.select(Delivery)).one()
    assert [line["attempt"] for line in lines] == [1, 2]
    assert [line["status"] for line in lines] == ["failing", "succeeded"]
    assert [line["http_status"] for line in lines] == [500, 200]
    for line in lines:
        assert line["delivery"] == delivery.id
        assert line["webhook"] == webhook_id
        assert line["msg_id"] == delivery.msg_id
        assert line["event_type"] == "payment_received"
        assert line["level"] == "INFO"
        assert line["timestamp"].endswith("+00:00")
        assert isinstance(line["duration_ms"], int) and line["duration_ms"] >= 0
    text = log.read_text()
    for leaked in (CARD, HEADER_VALUE, "crm-secret-value", secret, "payment_id"):
        assert leaked not in text
    # Everything the worker logs is JSON, the start-up line included.
    assert any(
        line["message"].startswith("delivery worker started") for line in json_lines(text)
    ), text
    assert process.poll() is None


def test_text_format_keeps_plain_lines(config):
    app = create_app({**config, "LOG_FORMAT": "text"})

    assert app.config["LOG_FORMAT"] == "text"


@pytest.mark.parametrize("value", ["xml", "JSONL", "", "plain text"])
def test_an_unknown_log_format_stops_the_app_with_a_one_line_message(config, value):
    with pytest.raises(SettingError) as raised:
        create_app({**config, "LOG_FORMAT": value})

    message = str(raised.value)
    assert "\n" not in message
    assert "WEBHOOKS_LOG_FORMAT" in message
    assert "text or json" in message

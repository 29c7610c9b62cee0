"""The README's REST API walkthrough, run as written against a live server: a person with only
`requests` and the README can add a webhook, list the event types, send a test event, report an
event, wait for the worker to expand it, read its delivery, and subscribe and unsubscribe as
Zapier would."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.engine_helpers import api_token
from webhooks.extensions import db
from webhooks.models import Delivery, Event, Webhook
from webhooks.worker.engine import start_embedded, stop_embedded

README = Path(__file__).resolve().parent.parent / "README.md"


def walkthrough() -> str:
    """The Python block of the README's "REST API" section."""
    section = README.read_text().split("\n## REST API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the REST API section has one Python example"
    return blocks[0]


@pytest.fixture
def config(config):
    config["EMBEDDED_WORKER"] = True
    return config


@pytest.mark.embedded_engine
def test_the_readme_walkthrough_runs_against_a_live_server(app, live_server, receiver):
    receiver.expect_request("/hook").respond_with_data("thanks")
    start_embedded(app)
    try:
        result = subprocess.run(
            [sys.executable, "-c", walkthrough()],
            env={
                **os.environ,
                "WEBHOOKS_TOKEN": api_token(app),
                "WEBHOOKS_URL": live_server,
                "RECEIVER_URL": receiver.url_for("/hook"),
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        stop_embedded(app)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^\d+ event types, e\.g\. \w+ - .+$", out, re.M), out
    assert "test event: HTTP 200 OK" in out
    stored_line = re.search(r"^event (evt_[\w-]+) stored$", out, re.M)
    assert stored_line, out
    event_id = stored_line.group(1)
    # Read back with GET /events/{id} until the embedded worker had expanded it.
    assert re.search(rf"^event {event_id} expanded into 1 delivery$", out, re.M), out
    assert re.search(r"^delivery msg_[\w-]+ succeeded after 1 attempt$", out, re.M), out
    assert re.search(r"^zapier webhook \d+ fields: ", out, re.M), out
    assert "unsubscribed: True" in out
    # What the receiver got: the test event and the real one, both to the webhook's URL.
    assert len(receiver.log) == 2
    with app.app_context():
        names = db.session.scalars(select(Webhook.name)).all()
        statuses = db.session.scalars(select(Delivery.status).order_by(Delivery.id)).all()
        event = db.session.scalar(select(Event))
    assert names == ["Billing"]  # the Zapier subscription is gone again
    assert statuses == ["test", "succeeded"]
    assert event.uid == event_id
    assert event.expanded_at is not None and event.delivery_count == 1

"""GET /metrics: the token that guards it, and the figures a Prometheus scraper reads, after
real deliveries to a real receiver on 127.0.0.1."""

import os
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event

from tests.conftest import post_form, sqlite_only, unused_port
from tests.engine_helpers import (
    FakeClock,
    Script,
    api_token,
    bearer,
    claim,
    expand,
    post_event,
    update_webhook,
    wait_until,
    work,
)
from webhooks import create_app, dispatch
from webhooks.extensions import db
from webhooks.models import Delivery, DeliveryStatus, Webhook
from webhooks.telemetry.metrics import event_label

METRICS_TOKEN = "metrics-token-7f3a9c"  # noqa: S105
PAYMENT = {"payment_id": 7, "payment_total": "$9.00"}

pytestmark = pytest.mark.embedded_engine  # the worker is driven by hand here


@pytest.fixture
def config(config):
    config["METRICS_TOKEN"] = METRICS_TOKEN
    return config


def scrape(client, token: str = METRICS_TOKEN) -> str:
    response = client.get("/metrics", headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def samples(text: str) -> dict[tuple, float]:
    """Every sample of a scrape, keyed by its name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(figures: dict, name: str, **labels) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


def grew(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def hooked(receiver, make_webhook, script: Script, path: str, **fields) -> int:
    receiver.expect_request(path, method="POST").respond_with_handler(script)
    return make_webhook(url=receiver.url_for(path), **fields)


# ---------------------------------------------------------------- the guard


@pytest.mark.parametrize("token", [None, ""])
def test_metrics_answer_404_while_no_token_is_set(config, token):
    config["METRICS_TOKEN"] = token
    client = create_app(config).test_client()

    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=bearer("anything")).status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Basic {METRICS_TOKEN}",
        f"Bearer {METRICS_TOKEN[:-1]}",
        f"Bearer {METRICS_TOKEN}x",
        "Bearer whk_not-the-metrics-token",
    ],
)
def test_metrics_without_the_right_token_are_unauthorized(client, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["Cache-Control"] == "no-store"
    assert "webhooks_" not in response.get_data(as_text=True)


def test_metrics_with_the_token_need_no_login_and_are_never_cached(client):
    response = client.get("/metrics", headers=bearer(METRICS_TOKEN))

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"
    figures = samples(response.get_data(as_text=True))
    assert value(figures, "webhooks_database_up") == 1


def test_an_admin_session_is_not_enough(admin):
    assert admin.get("/metrics").status_code == 401


# ---------------------------------------------------------------- deliveries and attempts


def test_deliveries_by_status_and_event_type_and_the_attempt_histogram(
    app, client, receiver, make_webhook
):
    ok = Script(200)
    down = Script(503)
    hooked(receiver, make_webhook, ok, "/ok")
    hooked(receiver, make_webhook, down, "/down", event="customer_created")
    before = samples(scrape(client))
    with app.app_context():
        dispatch("payment_received", PAYMENT)
        dispatch("customer_created", {"customer_id": 3})

    results = work(app, FakeClock())

    assert sorted(result.ok for result in results) == [False, True]
    assert ok.count() == 1 and down.count() == 1
    after = samples(scrape(client))
    succeeded = {"status": "succeeded", "event_type": "payment_received"}
    failing = {"status": "failing", "event_type": "customer_created"}
    assert grew(before, after, "webhooks_deliveries_total", **succeeded) == 1
    assert grew(before, after, "webhooks_deliveries_total", **failing) == 1
    assert (
        grew(
            before,
            after,
            "webhooks_deliveries_total",
            status="failing",
            **{"event_type": "payment_received"},
        )
        == 0
    )
    for outcome in ("success", "failure"):
        assert grew(before, after, "webhooks_attempt_duration_seconds_count", outcome=outcome) == 1
        assert (
            grew(
                before,
                after,
                "webhooks_attempt_duration_seconds_bucket",
                outcome=outcome,
                le="+Inf",
            )
            == 1
        )
        assert grew(before, after, "webhooks_attempt_duration_seconds_sum", outcome=outcome) > 0


def test_send_test_event_counts_as_a_test_attempt(app, admin, client, receiver, make_webhook):
    webhook_id = hooked(receiver, make_webhook, Script(200), "/test")
    before = samples(scrape(client))

    post_form(admin, f"/webhooks/{webhook_id}/test", {})

    after = samples(scrape(client))
    labels = {"status": "test", "event_type": "payment_received"}
    assert grew(before, after, "webhooks_deliveries_total", **labels) == 1
    assert grew(before, after, "webhooks_attempt_duration_seconds_count", outcome="success") == 1


def test_an_event_type_outside_the_catalogue_is_counted_as_other(
    app, client, receiver, make_webhook
):
    webhook_id = hooked(receiver, make_webhook, Script(200), "/legacy")
    with app.app_context():
        db.session.add(
            Delivery(
                webhook_id=webhook_id,
                event_type="legacy_event_from_an_old_release",
                body="{}",
                status=DeliveryStatus.PENDING,
                next_attempt_at=FakeClock().now - timedelta(seconds=1),
            )
        )
        db.session.commit()
    before = samples(scrape(client))

    work(app, FakeClock())

    text = scrape(client)
    after = samples(text)
    labels = {"status": "succeeded", "event_type": "other"}
    assert grew(before, after, "webhooks_deliveries_total", **labels) == 1
    assert "legacy_event_from_an_old_release" not in text
    assert event_label("payment_received") == "payment_received"
    assert event_label("") == "other"


# ---------------------------------------------------------------- the queue's gauges


def test_gauges_count_due_in_flight_and_paused_from_the_database(app, client, make_webhook):
    first = make_webhook(url="https://example.com/one")
    make_webhook(url="https://example.com/two")
    make_webhook(url="https://example.com/three", event="customer_created")
    clock = FakeClock()
    with app.app_context():
        dispatch("payment_received", PAYMENT)
    expand(app, clock.now)

    figures = samples(scrape(client))
    assert value(figures, "webhooks_deliveries_due") == 2
    assert value(figures, "webhooks_deliveries_in_flight") == 0
    assert value(figures, "webhooks_webhooks_paused") == 0

    claimed = claim(app, clock.now, limit=1)
    update_webhook(app, first, down_since=clock.now, next_probe_at=clock.now)

    figures = samples(scrape(client))
    assert len(claimed) == 1
    assert value(figures, "webhooks_deliveries_due") == 1
    assert value(figures, "webhooks_deliveries_in_flight") == 1
    assert value(figures, "webhooks_webhooks_paused") == 1


@sqlite_only
def test_each_gauge_is_one_count_read_from_an_index(app, client, make_webhook):
    make_webhook()
    statements = []

    def note(_conn, _cursor, statement, parameters, _context, _many):
        statements.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        scrape(client)
    finally:
        event.remove(engine, "before_cursor_execute", note)

    counts = [read for read in statements if "FROM deliveries" in read[0]]
    assert len(counts) == 2
    with app.app_context():
        plans = [
            " ".join(
                row[-1]
                for row in db.session.connection()
                .exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
                .all()
            )
            for statement, parameters in counts
        ]
    # Only the entries due now: a range of the partial index.
    due = r"SEARCH deliveries USING (COVERING )?INDEX ix_deliveries_due \(next_attempt_at<\?\)"
    assert re.fullmatch(due, plans[0]), plans
    assert "USING INDEX ix_deliveries_leased" in plans[1], plans


def test_a_database_that_does_not_answer_leaves_the_gauges_out_without_failing(config, tmp_path):
    config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'missing' / 'webhooks.db'}"
    client = create_app(config).test_client()

    figures = samples(scrape(client))

    assert value(figures, "webhooks_database_up") == 0
    assert ("webhooks_deliveries_due", ()) not in figures
    assert ("webhooks_deliveries_in_flight", ()) not in figures


# ---------------------------------------------------------------- ingestion


def test_events_accepted_duplicate_and_rejected_by_source(app, client, runner):
    token = api_token(app)
    before = samples(scrape(client))

    keyed = {"type": "payment_received", "data": PAYMENT, "id": "pay-7"}
    assert post_event(client, token, keyed).status_code == 202
    assert post_event(client, token, keyed).status_code == 200
    assert post_event(client, token, {"type": "no_such_event", "data": {}}).status_code == 422
    assert post_event(client, token, raw="{not json").status_code == 400
    with app.app_context():
        dispatch("payment_received", PAYMENT)
        dispatch("payment_received", PAYMENT, idempotency_key="py-1")
        dispatch("payment_received", PAYMENT, idempotency_key="py-1")
        with pytest.raises(ValueError):
            dispatch("payment_received", ["not", "an", "object"])
    sent = runner.invoke(args=["events", "send", "payment_received", '{"payment_id": 1}'])
    assert sent.exit_code == 0, sent.output
    refused = runner.invoke(args=["events", "send", "no_such_event", "{}"])
    assert refused.exit_code != 0

    after = samples(scrape(client))
    expected = {
        ("api", "accepted"): 1,
        ("api", "duplicate"): 1,
        ("api", "rejected"): 2,
        ("python", "accepted"): 2,
        ("python", "duplicate"): 1,
        ("python", "rejected"): 1,
        ("cli", "accepted"): 1,
        ("cli", "rejected"): 1,
    }
    for (source, result), count in expected.items():
        assert grew(before, after, "webhooks_events_total", source=source, result=result) == count


def test_a_refused_token_is_not_counted_as_an_event(app, client):
    before = samples(scrape(client))

    response = post_event(client, "whk_unknown", {"type": "payment_received", "data": PAYMENT})

    assert response.status_code == 401
    after = samples(scrape(client))
    for result in ("accepted", "rejected", "duplicate"):
        assert grew(before, after, "webhooks_events_total", source="api", result=result) == 0


# ---------------------------------------------------------------- secrets


def test_the_scrape_carries_no_secret_url_or_payload(app, client, receiver, make_webhook):
    token = api_token(app)
    webhook_id = hooked(
        receiver,
        make_webhook,
        Script(200),
        "/private-path",
        custom_headers='{"Authorization": "Bearer crm-secret-value"}',
    )
    with app.app_context():
        secret = db.session.get(Webhook, webhook_id).secret
    assert (
        post_event(
            client, token, {"type": "payment_received", "data": {"card": "4242-secret-card"}}
        ).status_code
        == 202
    )
    work(app, FakeClock())

    text = scrape(client)

    for leaked in (
        METRICS_TOKEN,
        token,
        secret,
        "crm-secret-value",
        "4242-secret-card",
        "private-path",
        "127.0.0.1",
    ):
        assert leaked not in text


# ---------------------------------------------------------------- several processes


def test_a_scrape_adds_up_the_processes_that_share_a_metrics_directory(tmp_path, receiver):
    """`webhooks run`, `webhooks worker` and `webhooks events send` are three processes: with
    PROMETHEUS_MULTIPROC_DIR the site's /metrics shows the worker's attempts and the CLI's
    event too."""
    webhooks = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "webhooks")
    port = unused_port()
    (tmp_path / "metrics").mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "WEBHOOKS_INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.0/8",
        "WEBHOOKS_QUEUE": "embedded",
        "WEBHOOKS_METRICS_TOKEN": METRICS_TOKEN,
        "WEBHOOKS_WORKER_POLL_INTERVAL": "0.2",
    }

    def webhooks_command(*args: str) -> str:
        done = subprocess.run(
            [webhooks, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    webhooks_command("db", "upgrade")
    script = Script(200)
    receiver.expect_request("/multi", method="POST").respond_with_handler(script)
    app = create_app({"SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"], "SECRET_KEY": "x"})
    with app.app_context():
        db.session.add(
            Webhook(name="R", url=receiver.url_for("/multi"), events=["payment_received"])
        )
        db.session.commit()
    processes = []
    try:
        for args in (["run", "--port", str(port)], ["worker"]):
            log = (tmp_path / f"{args[0]}.log").open("w")
            processes.append(
                subprocess.Popen([webhooks, *args], env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        webhooks_command("events", "send", "payment_received", '{"payment_id": 1}')
        wait_until(script.count, 20)

        def scraped() -> dict:
            try:
                answer = requests.get(
                    f"http://127.0.0.1:{port}/metrics", headers=bearer(METRICS_TOKEN), timeout=5
                )
            except requests.ConnectionError:
                return {}
            figures = samples(answer.text)
            labels = {"status": "succeeded", "event_type": "payment_received"}
            return figures if value(figures, "webhooks_deliveries_total", **labels) else {}

        figures = wait_until(scraped, 20, 0.2)
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)
    assert value(figures, "webhooks_events_total", source="cli", result="accepted") == 1
    assert value(figures, "webhooks_attempt_duration_seconds_count", outcome="success") == 1
    assert value(figures, "webhooks_deliveries_due") == 0

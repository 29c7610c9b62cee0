"""The dashboard at ``/``: webhook counts, the last day's deliveries by status and by hour, the
webhooks in trouble first, and the welcome of a new install."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, insert, select

from tests.conftest import post_form, sqlite_only
from tests.engine_helpers import FakeClock, Script, expand, webhook_values, work
from webhooks import dispatch
from webhooks.dashboard.queries import activity
from webhooks.extensions import db
from webhooks.models import Delivery, Webhook, WebhookEvent


def dashboard(client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def shown(fragment: str) -> str:
    """Markup as the user reads it: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def add_deliveries(app, webhook_id: int, count: int = 1, *, ago: timedelta, status: str) -> None:
    with app.app_context():
        created = datetime.now(UTC) - ago
        db.session.add_all(
            Delivery(
                webhook_id=webhook_id,
                event_type="payment_received",
                body="{}",
                status=status,
                is_test=status == "test",
                created_at=created,
            )
            for _ in range(count)
        )
        db.session.commit()


def stat_tiles(page: str) -> dict[str, int]:
    """The figures at the top of the page, by the words under them."""
    tiles = re.findall(r'<li class="stat [a-z]+">(.*?)</li>', page, re.S)
    figures = {}
    for tile in tiles:
        number, _, label = shown(tile).partition(" ")
        figures[label.lstrip("✓○✗ ")] = int(number.replace(",", ""))
    return figures


def status_counts(page: str) -> dict[str, int]:
    listing = re.search(r'<ul class="status-list".*?</ul>', page, re.S).group(0)
    found = re.findall(
        r'status-([a-z]+)">.*?</a>\s*<span class="count">([\d,]+)</span>', listing, re.S
    )
    return {status: int(count.replace(",", "")) for status, count in found}


def attention_rows(page: str) -> list[str]:
    table = re.search(r'<table class="list attention">.*?</table>', page, re.S).group(0)
    return re.findall(r"<tr class=\"health-[a-z]+\">.*?</tr>", table, re.S)


def chart_bars(page: str) -> list[str]:
    svg = re.search(r'<figure class="chart">.*?</figure>', page, re.S).group(0)
    return re.findall(r'<g class="bar">.*?</g>', svg, re.S)


# ---------------------------------------------------------------- access, new install


def test_dashboard_needs_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_dashboard_is_the_first_link_of_the_menu(admin):
    page = dashboard(admin)
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', page, re.S).group(1)
    assert re.findall(r'<a href="([^"]+)"', nav)[0] == "/"
    assert '<a href="/" aria-current="page">Dashboard</a>' in nav


def test_a_new_install_is_welcomed_and_pointed_to_add_new_webhook(admin):
    page = dashboard(admin)
    assert "No webhooks yet" in page
    assert re.search(
        r'<section class="card empty".*?<a class="button primary" href="/webhooks/new">'
        r"Add New Webhook</a>",
        page,
        re.S,
    )
    assert 'href="/events/"' in page and 'href="/tokens/"' in page
    # Nothing to count or draw yet.
    assert 'class="stats"' not in page and 'class="chart"' not in page


# ---------------------------------------------------------------- counts


def test_counts_webhooks_active_inactive_and_disabled_by_the_system(admin, make_webhook):
    now = datetime.now(UTC)
    for number in range(3):
        make_webhook(name=f"On {number}")
    for number in range(2):
        make_webhook(name=f"Off {number}", active=False)
    make_webhook(name="Gone", active=False, disabled_at=now, disabled_reason="410 Gone")

    figures = stat_tiles(dashboard(admin))

    assert figures["Active webhooks"] == 3
    assert figures["Inactive webhooks"] == 2
    assert figures["Disabled by the system"] == 1
    assert figures["Deliveries in 24 hours"] == 0


def test_stat_tiles_link_to_the_webhooks_in_that_state(admin, make_webhook):
    make_webhook()
    page = dashboard(admin)
    for state in ("active", "inactive", "disabled"):
        assert f'<a href="/webhooks/?state={state}">' in page


def test_counts_the_last_24_hours_of_deliveries_by_status(app, admin, make_webhook):
    shop = make_webhook(name="Shop")
    hour = timedelta(hours=1)
    add_deliveries(app, shop, 3, ago=hour, status="succeeded")
    add_deliveries(app, shop, 1, ago=5 * hour, status="failed")
    add_deliveries(app, shop, 2, ago=hour, status="failing")
    add_deliveries(app, shop, 1, ago=timedelta(minutes=1), status="pending")
    add_deliveries(app, shop, 1, ago=timedelta(minutes=2), status="test")
    add_deliveries(app, shop, 5, ago=30 * hour, status="succeeded")  # older than a day
    add_deliveries(app, shop, 4, ago=3 * 24 * hour, status="failed")

    page = dashboard(admin)

    assert status_counts(page) == {
        "pending": 1,
        "succeeded": 3,
        "failing": 2,
        "failed": 1,
        "test": 1,
    }
    assert stat_tiles(page)["Deliveries in 24 hours"] == 8
    assert '<a href="/deliveries/?status=failed">' in page


# ---------------------------------------------------------------- chart


def test_chart_draws_one_bar_per_hour_with_its_figures(app, admin, make_webhook):
    shop = make_webhook(name="Shop")
    add_deliveries(app, shop, 4, ago=timedelta(hours=2), status="succeeded")
    add_deliveries(app, shop, 1, ago=timedelta(hours=2), status="failed")
    add_deliveries(app, shop, 1, ago=timedelta(hours=2), status="failing")
    add_deliveries(app, shop, 2, ago=timedelta(hours=2), status="test")  # not in the chart
    add_deliveries(app, shop, 9, ago=timedelta(hours=40), status="succeeded")  # before it

    page = dashboard(admin)
    bars = chart_bars(page)

    assert len(bars) == 24
    titles = [shown(re.search(r"<title>(.*?)</title>", bar, re.S).group(1)) for bar in bars]
    busy = [title for title in titles if not title.endswith(": 0 succeeded, 0 failed")]
    assert len(busy) == 1 and busy[0].endswith(": 4 succeeded, 2 failed")
    drawn = bars[titles.index(busy[0])]
    ok = float(re.search(r'<rect class="ok" [^>]*height="([\d.]+)"', drawn).group(1))
    failed = float(re.search(r'<rect class="fail" [^>]*height="([\d.]+)"', drawn).group(1))
    assert ok == pytest.approx(2 * failed)
    # Empty hours draw no bar, only the area that shows their figures on hover.
    empty = bars[0] if bars[0] != drawn else bars[1]
    assert 'class="ok"' not in empty and 'class="fail"' not in empty


def test_chart_is_described_for_screen_readers_and_has_a_table(app, admin, make_webhook):
    shop = make_webhook(name="Shop")
    now = datetime.now(UTC)
    into_this_hour = now - now.replace(minute=0, second=0, microsecond=0)
    add_deliveries(app, shop, 3, ago=into_this_hour / 2, status="succeeded")  # the last bar

    page = dashboard(admin)

    svg = re.search(r"<svg [^>]*>", page).group(0)
    assert 'role="img"' in svg and 'aria-labelledby="chart-title chart-desc"' in svg
    assert '<title id="chart-title">Deliveries per hour, last 24 hours</title>' in page
    desc = shown(re.search(r'<desc id="chart-desc">(.*?)</desc>', page, re.S).group(1))
    assert "3 succeeded and 0 failed" in desc
    table = re.search(r'<details class="data-table">.*?</details>', page, re.S).group(0)
    rows = re.findall(r"<tr><th scope=\"row\">.*?</tr>", table, re.S)
    assert len(rows) == 24
    assert [cell for cell in re.findall(r'<td class="num">(\d+)</td>', rows[0])] == ["3", "0"]


def test_hours_are_counted_in_utc_by_the_database(app):
    """Each delivery lands in the hour of its UTC time, to the microsecond, whatever the
    dialect writes; those created after the current hour count by status only."""
    start = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)
    created = (
        (timedelta(0), "succeeded"),
        (timedelta(minutes=59, seconds=59, microseconds=999999), "failed"),
        (timedelta(hours=1), "succeeded"),
        (timedelta(hours=1, minutes=1), "test"),
        (timedelta(hours=1, minutes=2), "failing"),
        (timedelta(hours=2), "succeeded"),  # after the current hour: a clock ahead of this one
        (-timedelta(hours=22, microseconds=1), "succeeded"),  # before the first hour of the day
    )
    with app.app_context():
        webhook = Webhook(name="Shop", url="https://example.com/hook", events=["payment_received"])
        db.session.add(webhook)
        db.session.flush()
        for after, status in created:
            db.session.add(
                Delivery(
                    webhook_id=webhook.id,
                    event_type="payment_received",
                    body="{}",
                    status=status,
                    created_at=start + after,
                )
            )
        db.session.commit()
        day = activity(start + timedelta(hours=1, minutes=30))
    hours = {hour.start: (hour.succeeded, hour.failed) for hour in day.hours}
    assert day.since == start - timedelta(hours=22)
    assert hours[start] == (1, 1)
    assert hours[start + timedelta(hours=1)] == (1, 1)
    assert sum(hour.total for hour in day.hours) == 4
    assert {status: count for status, count in day.by_status.items() if count} == {
        "succeeded": 3,
        "failed": 1,
        "failing": 1,
        "test": 1,
    }


# ---------------------------------------------------------------- failing first


def test_webhooks_in_trouble_are_listed_first_with_links(app, admin, make_webhook):
    now = datetime.now(UTC)
    healthy = make_webhook(
        name="Healthy",
        last_delivery_ok=True,
        last_delivery_at=now - timedelta(minutes=1),
        last_delivery_summary="HTTP 200 OK in 9 ms",
    )
    recovered = make_webhook(
        name="Recovered",
        last_delivery_ok=True,
        last_delivery_at=now - timedelta(minutes=5),
        last_delivery_summary="HTTP 200 OK in 9 ms",
    )
    add_deliveries(app, recovered, 2, ago=timedelta(hours=3), status="failed")
    failing = make_webhook(
        name="Failing <shop>",
        failing_since=now - timedelta(hours=2),
        last_delivery_ok=False,
        last_delivery_at=now - timedelta(minutes=10),
        last_delivery_summary="HTTP 500 Internal Server Error in 12 ms",
    )
    add_deliveries(app, failing, 3, ago=timedelta(hours=1), status="failing")
    gone = make_webhook(
        name="Gone",
        active=False,
        disabled_at=now - timedelta(hours=1),
        disabled_reason="The receiver answered 410 Gone: it wants no more deliveries.",
    )
    make_webhook(name="Quiet")

    rows = attention_rows(dashboard(admin))

    names = [shown(re.search(r"<a [^>]*>(.*?)</a>", row).group(1)) for row in rows]
    assert names == ["Gone", "Failing <shop>", "Recovered", "Healthy", "Quiet"]
    gone_row, failing_row, recovered_row, healthy_row, _ = rows
    assert f'<a href="/webhooks/{gone}/edit">Gone</a>' in gone_row
    assert "Disabled" in shown(gone_row) and "410 Gone" in shown(gone_row)
    assert f'<a href="/webhooks/{failing}/edit">Failing &lt;shop&gt;</a>' in failing_row
    assert "Failing since 2 hours ago" in shown(failing_row)
    assert "HTTP 500 Internal Server Error" in shown(failing_row)
    assert re.search(
        rf'<a href="/deliveries/\?webhook={failing}&amp;status=failed"[^>]*>3</a>', failing_row
    )
    assert re.search(
        rf'<a href="/deliveries/\?webhook={recovered}&amp;status=failed"[^>]*>2</a>', recovered_row
    )
    assert "Active" in shown(recovered_row) and "Active" in shown(healthy_row)
    assert f'<a href="/webhooks/{healthy}/edit">Healthy</a>' in healthy_row


def row_named(page: str, name: str) -> str:
    rows = [row for row in attention_rows(page) if f">{name}</a>" in row]
    assert len(rows) == 1, name
    return rows[0]


def names_listed(page: str) -> list[str]:
    return [shown(re.search(r"<a [^>]*>(.*?)</a>", row).group(1)) for row in attention_rows(page)]


@pytest.mark.embedded_engine
def test_a_webhook_whose_deliveries_fail_is_failing_on_the_dashboard(
    app, admin, receiver, make_webhook
):
    receiver.expect_request("/broken", method="POST").respond_with_handler(Script(500))
    receiver.expect_request("/fine", method="POST").respond_with_handler(Script(200))
    broken = make_webhook(name="Broken", url=receiver.url_for("/broken"))
    make_webhook(name="Fine", url=receiver.url_for("/fine"))
    with app.app_context():
        dispatch("payment_received", {"payment_id": 7})
    expand(app)

    results = work(app, FakeClock())

    assert sorted(result.ok for result in results) == [False, True]
    assert webhook_values(app, broken)["failing_since"] is not None
    page = dashboard(admin)
    assert names_listed(page) == ["Broken", "Fine"]
    row = row_named(page, "Broken")
    assert 'class="health-failing"' in row
    assert "Failing since" in shown(row) and "HTTP 500" in shown(row)
    assert re.search(rf'<a href="/deliveries/\?webhook={broken}&amp;status=failed"[^>]*>1</a>', row)
    assert 'class="health-active"' in row_named(page, "Fine")


def test_a_failed_test_send_does_not_make_a_webhook_failing_on_the_dashboard(
    app, admin, receiver, make_webhook
):
    receiver.expect_request("/hook", method="POST").respond_with_data("down", status=500)
    tested = make_webhook(name="Tested", url=receiver.url_for("/hook"))
    earlier = make_webhook(
        name="Failed earlier",
        last_delivery_ok=True,
        last_delivery_at=datetime.now(UTC) - timedelta(hours=1),
        last_delivery_summary="HTTP 200 OK in 9 ms",
    )
    add_deliveries(app, earlier, 2, ago=timedelta(hours=3), status="failed")

    response = post_form(admin, f"/webhooks/{tested}/test", {}, f"/webhooks/{tested}/edit")

    assert response.status_code == 302
    assert len(receiver.log) == 1
    values = webhook_values(app, tested)
    assert values["last_delivery_ok"] is False and values["failing_since"] is None
    page = dashboard(admin)
    # Real failures first; the failed test is its webhook's last result, not a failure.
    assert names_listed(page) == ["Failed earlier", "Tested"]
    row = row_named(page, "Tested")
    assert 'class="health-active"' in row and "Failing" not in shown(row)
    assert "Test: HTTP 500" in shown(row)
    assert 'class="health-failing"' not in page
    # The list still says what the last send was: a test, and that it failed.
    listing = admin.get("/webhooks/").get_data(as_text=True)
    assert re.search(
        r'<span class="badge fail result"><span aria-hidden="true">✗</span> Test: HTTP 500', listing
    )


def test_an_inactive_webhook_is_not_failing_on_the_dashboard(app, admin, make_webhook):
    now = datetime.now(UTC)
    switched_off = make_webhook(
        name="Switched off",
        active=False,
        failing_since=now - timedelta(hours=5),
        last_delivery_ok=False,
        last_delivery_at=now - timedelta(minutes=5),
        last_delivery_summary="HTTP 500 Internal Server Error in 12 ms",
    )
    make_webhook(
        name="Failing",
        failing_since=now - timedelta(hours=2),
        last_delivery_ok=False,
        last_delivery_at=now - timedelta(hours=1),
        last_delivery_summary="HTTP 500 Internal Server Error in 12 ms",
    )
    add_deliveries(app, switched_off, 3, ago=timedelta(hours=4), status="failed")

    page = dashboard(admin)

    assert names_listed(page) == ["Failing", "Switched off"]
    row = row_named(page, "Switched off")
    assert 'class="health-inactive"' in row and "Inactive" in shown(row)
    assert "Failing" not in shown(row)
    # Its failed deliveries are still counted.
    assert re.search(
        rf'<a href="/deliveries/\?webhook={switched_off}&amp;status=failed"[^>]*>3</a>', row
    )
    assert 'class="health-failing"' in row_named(page, "Failing")


def test_the_list_is_short_and_says_how_many_webhooks_there_are(admin, make_webhook):
    for number in range(12):
        make_webhook(name=f"Hook {number:02}")
    page = dashboard(admin)
    assert len(attention_rows(page)) == 8
    assert "The 8 webhooks that need attention most, of 12." in shown(page)


# ---------------------------------------------------------------- cost


def statements_run(app, client) -> list[tuple[str, tuple]]:
    """The SQL statements (and their parameters) that showing the dashboard runs."""
    seen = []

    def record(_conn, _cursor, statement, parameters, *_args):
        seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        dashboard(client)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def test_the_dashboard_asks_the_same_few_queries_however_many_deliveries(app, admin, make_webhook):
    shop = make_webhook(name="Shop")
    add_deliveries(app, shop, 1, ago=timedelta(hours=1), status="succeeded")
    few = statements_run(app, admin)
    for hours in range(24):
        add_deliveries(app, shop, 20, ago=timedelta(hours=hours), status="failed")
    many = statements_run(app, admin)

    assert len(many) == len(few) <= 8
    # Deliveries are counted, never loaded.
    assert not any(
        re.search(r"SELECT\s+deliveries\.id", statement, re.I) or "deliveries.body" in statement
        for statement, _ in many
    )


@sqlite_only
def test_delivery_figures_read_only_the_days_index_entries(app, admin, make_webhook):
    make_webhook()
    reads = [
        (statement, parameters)
        for statement, parameters in statements_run(app, admin)
        if "FROM deliveries" in statement
    ]
    # The page's live version (webhooks.live) reads the log's newest rows and its queue by key;
    # tests/test_live.py checks its cost. The figures are the other two reads.
    live = [read for read in reads if "expanded_at IS NULL" in read[0]]
    figures = [read for read in reads if read not in live]
    assert len(live) == 1
    assert len(figures) == 2  # by hour and status; failures by webhook
    with app.app_context():
        for statement, parameters in figures:
            plan = [
                row[-1]
                for row in db.session.connection()
                .exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
                .all()
                if "deliveries" in row[-1]
            ]
            assert plan, statement
            for step in plan:
                assert step.startswith(
                    "SEARCH deliveries USING COVERING INDEX ix_deliveries_status_created_at "
                    "(status=? AND created_at>?"
                ), plan


def vm_steps(app, client) -> int:
    """How much work SQLite does to show the dashboard: its virtual machine's steps, in
    thousands (a progress handler called every 1,000 steps), over every statement."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    def watch(conn, *_args):
        conn.connection.driver_connection.set_progress_handler(count, 1000)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", watch)
    try:
        dashboard(client)
    finally:
        event.remove(engine, "before_cursor_execute", watch)
        with app.app_context():
            engine.dispose()
    return steps


def add_webhooks_with_failures(app, count: int) -> None:
    """``count`` more webhooks, each with one delivery that failed an hour ago."""
    now = datetime.now(UTC)
    with app.app_context():
        first = (db.session.scalar(select(func.max(Webhook.id))) or 0) + 1
        ids = range(first, first + count)
        db.session.execute(
            insert(Webhook),
            [
                {
                    "id": id_,
                    "name": f"Hook {id_}",
                    "url": "https://example.com/hook",
                }
                for id_ in ids
            ],
        )
        db.session.execute(
            insert(WebhookEvent),
            [{"webhook_id": id_, "event": "payment_received"} for id_ in ids],
        )
        db.session.execute(
            insert(Delivery),
            [
                {
                    "webhook_id": id_,
                    "event_type": "payment_received",
                    "body": "{}",
                    "status": "failed",
                    "created_at": now - timedelta(hours=1),
                }
                for id_ in ids
            ],
        )
        db.session.commit()


@sqlite_only
def test_webhooks_with_failures_cost_the_dashboard_in_proportion_to_their_number(app, admin):
    """Each webhook's failures are joined to it once: twice the webhooks with failures cost
    about twice the work, not four times (every webhook reading every webhook's count)."""
    add_webhooks_with_failures(app, 300)
    few = vm_steps(app, admin)
    add_webhooks_with_failures(app, 300)
    many = vm_steps(app, admin)

    assert many < 2.5 * few, (few, many)

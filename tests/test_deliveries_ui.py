"""The delivery log: the list with its filters and keyset pages, one delivery with its attempts,
redelivery and "retry all failed since".

Rows are written with the models, then each test checks the page the admin sees and, for the
actions, what the database holds afterwards.
"""

import html
import json
import random
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, event, insert, select

from tests.conftest import csrf_token, post_form, sqlite_only
from tests.engine_helpers import Script, deliveries_of, run_worker, wake_flag
from webhooks import dispatch
from webhooks.deliveries.forms import Filters
from webhooks.deliveries.views import Order, conditions, list_order, page_statement
from webhooks.extensions import db
from webhooks.models import Attempt, Delivery, Webhook, as_utc

ROW_RE = re.compile(r'<tr>\s*<td><a href="/deliveries/(\d+)">')
NOTES_RE = re.compile(r'<div class="filter-notes" role="status">(.*?)</div>', re.S)
FLASH_RE = re.compile(
    r'<div class="flash flash-(\w+)"[^>]*>\s*<strong>[^<]*</strong>(.*?)</div>', re.S
)
BASE_TIME = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
BODY = '{"type":"payment_received","timestamp":"2026-03-10T12:00:00.000Z","data":{"id":1}}'
SIGNED_HEADERS = {
    "content-type": "application/json",
    "webhook-id": "msg_fixed",
    "webhook-timestamp": "1773144000",
    "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
}


# ---------------------------------------------------------------- helpers


def add_webhook(app, name: str = "Shop", **fields) -> int:
    if "event" in fields:  # the one event the webhook receives
        fields["events"] = [fields.pop("event")]
    values = {"url": "https://example.com/hook", "events": ["payment_received"], **fields}
    with app.app_context():
        webhook = Webhook(name=name, **values)
        db.session.add(webhook)
        db.session.commit()
        return webhook.id


def add_delivery(app, webhook_id: int, *, attempts: tuple[dict, ...] = (), **fields) -> int:
    """One delivery, with an Attempt row for each dict in ``attempts``."""
    values = {
        "event_type": "payment_received",
        "body": BODY,
        "status": "succeeded",
        "created_at": BASE_TIME,
        **fields,
    }
    with app.app_context():
        delivery = Delivery(webhook_id=webhook_id, **values)
        db.session.add(delivery)
        for number, attempt in enumerate(attempts):
            db.session.add(
                Attempt(
                    delivery=delivery,
                    **{
                        "created_at": values["created_at"] + timedelta(minutes=number),
                        "url": "https://example.com/hook",
                        "request_headers": json.dumps(SIGNED_HEADERS),
                        "succeeded": False,
                        "summary": "attempt",
                        **attempt,
                    },
                )
            )
        delivery.attempt_count = len(attempts)
        db.session.commit()
        return delivery.id


def add_many(app, webhook_id: int, count: int, **fields) -> list[int]:
    """``count`` deliveries a minute apart, oldest first; returns their ids."""
    with app.app_context():
        start = db.session.scalar(select(db.func.max(Delivery.id))) or 0
        rows = [
            {
                "webhook_id": webhook_id,
                "msg_id": f"msg_bulk_{webhook_id}_{start + number}",
                "event_type": "payment_received",
                "body": BODY,
                "status": "succeeded",
                "created_at": BASE_TIME + timedelta(minutes=number),
                **fields,
            }
            for number in range(count)
        ]
        db.session.execute(insert(Delivery), rows)
        db.session.commit()
        return list(
            db.session.scalars(select(Delivery.id).where(Delivery.id > start).order_by(Delivery.id))
        )


def stored(app, delivery_id: int) -> dict:
    with app.app_context():
        delivery = db.session.get(Delivery, delivery_id)
        return {
            "status": delivery.status,
            "msg_id": delivery.msg_id,
            "next_attempt_at": delivery.next_attempt_at,
            "round_failures": delivery.round_failures,
            "lease_token": delivery.lease_token,
            "body": delivery.body,
        }


def page(client, path: str = "/deliveries/", **params) -> str:
    response = client.get(path, query_string=params or None)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def row_ids(text_: str) -> list[int]:
    """Delivery ids of the table's rows, top to bottom."""
    return [int(found) for found in ROW_RE.findall(text_)]


def notes(text_: str) -> str:
    found = NOTES_RE.search(text_)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split()) if found else ""


def link(text_: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', text_)
    return html.unescape(found.group(1)) if found else None


def flashes_after(client, response) -> list[tuple[str, str]]:
    assert response.status_code == 302, response.get_data(as_text=True)
    shown = client.get(response.headers["Location"])
    assert shown.status_code == 200
    return [
        (category, " ".join(html.unescape(re.sub(r"<[^>]+>", "", message)).split()))
        for category, message in FLASH_RE.findall(shown.get_data(as_text=True))
    ]


def redeliver(client, delivery_id: int):
    return post_form(
        client, f"/deliveries/{delivery_id}/redeliver", {}, f"/deliveries/{delivery_id}"
    )


def recover(client, data: dict):
    return post_form(client, "/deliveries/recover", data, "/deliveries/")


def retry_now(client, delivery_id: int, **data):
    return post_form(
        client, f"/deliveries/{delivery_id}/retry-now", data, f"/deliveries/{delivery_id}"
    )


# ---------------------------------------------------------------- access and navigation


def test_anonymous_users_are_sent_to_login(app, client):
    webhook_id = add_webhook(app)
    delivery_id = add_delivery(app, webhook_id, status="failed")
    for path in ("/deliveries/", f"/deliveries/{delivery_id}", "/deliveries/?status=failed"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")
    token = csrf_token(client, "/login")
    before = stored(app, delivery_id)
    response = client.post(f"/deliveries/{delivery_id}/redeliver", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    response = client.post(
        "/deliveries/recover",
        data={"csrf_token": token, "webhook_id": webhook_id, "since": "2000-01-01T00:00"},
    )
    assert response.headers["Location"].startswith("/login")
    assert stored(app, delivery_id) == before


def test_nav_link_marks_the_deliveries_page(admin):
    text_ = page(admin)
    assert '<a href="/deliveries/" aria-current="page">Deliveries</a>' in text_
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', page(admin, "/webhooks/"), re.S)
    labels = re.findall(r">([\w ]+)</a>", nav.group(1))
    assert labels.index("Webhooks") + 1 == labels.index("Deliveries") == labels.index("Events") - 1
    assert '<a href="/deliveries/">Deliveries</a>' in nav.group(1)


def test_empty_log_explains_where_deliveries_come_from(admin):
    text_ = page(admin)
    assert "No deliveries yet" in text_
    assert "Deliveries appear here when events are reported" in text_
    assert row_ids(text_) == []


# ---------------------------------------------------------------- the list


def test_list_shows_each_delivery_newest_first(app, admin):
    shop = add_webhook(app, "Shop <main>")
    crm = add_webhook(app, "CRM", event="customer_created")
    ok = add_delivery(
        app, shop, status="succeeded", last_summary="HTTP 200 OK in 12 ms", attempts=({},)
    )
    retry_at = BASE_TIME + timedelta(hours=2)
    failing = add_delivery(
        app,
        crm,
        event_type="customer_created",
        status="failing",
        next_attempt_at=retry_at,
        last_summary="HTTP 500 Internal Server Error in 8 ms",
        created_at=BASE_TIME + timedelta(minutes=5),
        attempts=({}, {}),
    )
    pending = add_delivery(app, shop, status="pending", next_attempt_at=BASE_TIME)
    failed = add_delivery(app, shop, status="failed", next_attempt_at=retry_at)
    test = add_delivery(app, shop, status="test", is_test=True)

    text_ = page(admin)
    assert row_ids(text_) == [test, failed, pending, failing, ok]
    rows = dict(zip(row_ids(text_), re.findall(r"<tr>\s*<td><a.*?</tr>", text_, re.S), strict=True))
    assert f'<a href="/webhooks/{shop}/edit">Shop &lt;main&gt;</a>' in rows[ok]
    assert "Payment Received" in rows[ok]
    assert "Customer Created" in rows[failing]
    assert 'class="badge status status-succeeded"' in rows[ok] and "Succeeded" in rows[ok]
    assert 'class="badge status status-failing"' in rows[failing] and "Failing" in rows[failing]
    assert "Pending" in rows[pending] and "Failed" in rows[failed] and "Test" in rows[test]
    assert '<td class="num">2</td>' in rows[failing]
    assert "HTTP 500 Internal Server Error in 8 ms" in rows[failing]
    assert "not attempted yet" in rows[pending]
    # Next retry: only for deliveries that will be tried again.
    assert '<time datetime="2026-03-10T14:00:00Z"' in rows[failing]
    assert '<time datetime="2026-03-10T12:00:00Z"' in rows[pending].split("</td>")[5]
    assert '<time datetime="2026-03-10T14:00:00Z"' not in rows[failed]
    assert "—" in rows[failed].split("</td>")[5] and "—" in rows[ok].split("</td>")[5]


def test_filters_narrow_the_list(app, admin):
    shop = add_webhook(app, "Shop")
    crm = add_webhook(app, "CRM")
    ok = add_delivery(app, shop, status="succeeded")
    failed = add_delivery(app, shop, status="failed")
    crm_failed = add_delivery(app, crm, status="failed", event_type="customer_created")
    everything = page(admin)
    assert sorted(row_ids(everything)) == [ok, failed, crm_failed]

    assert row_ids(page(admin, status="failed")) == [crm_failed, failed]
    assert row_ids(page(admin, status="succeeded")) == [ok]
    assert row_ids(page(admin, event="customer_created")) == [crm_failed]
    assert row_ids(page(admin, webhook=shop)) == [failed, ok]
    assert row_ids(page(admin, webhook=shop, status="failed")) == [failed]
    assert row_ids(page(admin, webhook=crm, event="payment_received")) == []
    # The form shows what is applied.
    filtered = page(admin, status="failed", event="customer_created")
    assert '<option selected value="failed">Failed</option>' in filtered
    assert '<option selected value="customer_created">Customer Created</option>' in filtered
    assert "No deliveries match these filters" in page(admin, status="pending")


def test_webhook_filter_names_the_webhook_and_offers_recovery(app, admin):
    shop = add_webhook(app, "Shop & Co")
    add_delivery(app, shop)
    text_ = page(admin, webhook=shop)
    assert f'<h1>Deliveries to <a href="/webhooks/{shop}/edit">Shop &amp; Co</a></h1>' in text_
    assert "<title>Deliveries to Shop &amp; Co" in text_
    field = re.search(r'<input [^>]*name="webhook"[^>]*>', text_).group(0)
    assert f'type="text" value="Shop &amp; Co (#{shop})"' in field
    assert 'action="/deliveries/recover"' in text_
    assert "Retry all failed since" in text_
    assert 'action="/deliveries/recover"' not in page(admin)


def test_date_range_is_whole_utc_days_with_to_included(app, admin):
    webhook_id = add_webhook(app)
    day = datetime(2026, 3, 10, tzinfo=UTC)
    before = add_delivery(app, webhook_id, created_at=day - timedelta(microseconds=1))
    first = add_delivery(app, webhook_id, created_at=day)
    last = add_delivery(app, webhook_id, created_at=day + timedelta(hours=23, minutes=59))
    after = add_delivery(app, webhook_id, created_at=day + timedelta(days=1))
    assert row_ids(page(admin, **{"from": "2026-03-10", "to": "2026-03-10"})) == [last, first]
    assert row_ids(page(admin, **{"from": "2026-03-10"})) == [after, last, first]
    assert row_ids(page(admin, to="2026-03-09")) == [before]
    assert row_ids(page(admin, **{"from": "2026-03-09", "to": "2026-03-11"})) == [
        after,
        last,
        first,
        before,
    ]
    text_ = page(admin, **{"from": "2026-03-11", "to": "2026-03-10"})
    assert row_ids(text_) == []
    assert "before the “from” date" in notes(text_)
    # Empty date inputs, as a browser sends them, are no filter and no note.
    text_ = page(admin, status="", event="", webhook="", **{"from": "", "to": ""})
    assert len(row_ids(text_)) == 4 and notes(text_) == ""


@pytest.mark.parametrize(
    ("params", "note"),
    [
        ({"status": "zzz"}, "Ignored the status “zzz”"),
        ({"event": "<script>"}, "Ignored the event “<script>”"),
        ({"webhook": "abc"}, "Ignored the webhook “abc”: no webhook's name contains it"),
        ({"webhook": "#0"}, "Ignored the webhook “#0”: it is not a webhook id"),
        ({"webhook": "0"}, "Ignored the webhook “0”"),
        ({"webhook": "99999999999999999999999"}, "not a webhook id"),
        ({"webhook": "424242"}, "no webhook with that id"),
        ({"from": "2026-99-99"}, "Ignored the “from” date “2026-99-99”"),
        ({"to": "yesterday"}, "Ignored the “to” date “yesterday”"),
        ({"to": "9999-12-31"}, ""),
        ({"before": "-5"}, "Ignored “before=-5”"),
        ({"before": "0"}, "Ignored “before=0”"),
        ({"after": "x1"}, "Ignored “after=x1”"),
        ({"before": "9" * 40}, "not a delivery id"),
        ({"before": str(2**63)}, "not a delivery id"),
    ],
)
def test_odd_filter_values_are_ignored_with_a_note(app, admin, params, note):
    webhook_id = add_webhook(app)
    ids = add_many(app, webhook_id, 3)
    response = admin.get("/deliveries/", query_string=params)
    assert response.status_code == 200
    text_ = response.get_data(as_text=True)
    assert row_ids(text_) == ids[::-1]
    assert note in notes(text_)
    assert "<script>" not in text_.split('<div class="filter-notes"')[-1].split("</div>")[0]


def test_bad_values_do_not_undo_good_ones(app, admin):
    webhook_id = add_webhook(app)
    ok = add_delivery(app, webhook_id, status="succeeded")
    add_delivery(app, webhook_id, status="failed")
    text_ = page(admin, status="succeeded", webhook="abc", before="-5", **{"from": "2026-99-99"})
    assert row_ids(text_) == [ok]
    assert notes(text_).count("Ignored") == 3


# ---------------------------------------------------------------- keyset paging


def test_keyset_pages_walk_older_and_back_newer(app, admin):
    webhook_id = add_webhook(app)
    ids = add_many(app, webhook_id, 120)
    newest_first = ids[::-1]
    assert app.config["DELIVERIES_PER_PAGE"] == 50

    first = page(admin)
    assert row_ids(first) == newest_first[:50]
    assert link(first, "prev") is None
    older = link(first, "next")
    assert older == f"/deliveries/?before={newest_first[49]}"

    second = page(admin, older)
    assert row_ids(second) == newest_first[50:100]
    third = page(admin, link(second, "next"))
    assert row_ids(third) == newest_first[100:]
    assert link(third, "next") is None

    back = page(admin, link(third, "prev"))
    assert link(third, "prev") == f"/deliveries/?after={newest_first[100]}"
    assert row_ids(back) == newest_first[50:100]
    back_to_first = page(admin, link(back, "prev"))
    assert row_ids(back_to_first) == newest_first[:50]
    assert link(back_to_first, "prev") is None
    # Past the end: a clear message, and a way back.
    text_ = page(admin, before=ids[0])
    assert row_ids(text_) == [] and "No older deliveries" in text_
    assert '<a href="/deliveries/">Back to the newest</a>' in text_


def test_after_near_the_top_shows_a_full_newest_page(app, admin):
    webhook_id = add_webhook(app)
    ids = add_many(app, webhook_id, 60)
    text_ = page(admin, after=ids[-5])
    assert row_ids(text_) == ids[::-1][:50]
    assert link(text_, "prev") is None


def test_page_links_keep_the_filters(app, admin):
    shop = add_webhook(app, "Shop")
    other = add_webhook(app, "Other")
    failed = add_many(app, shop, 70, status="failed")
    add_many(app, shop, 30, status="succeeded")
    add_many(app, other, 30, status="failed")
    first = page(admin, webhook=shop, status="failed", **{"from": "2026-03-10"})
    assert row_ids(first) == failed[::-1][:50]
    older = link(first, "next")
    assert "status=failed" in older and f"webhook={shop}" in older and "from=2026-03-10" in older
    second = page(admin, older)
    assert row_ids(second) == failed[::-1][50:]
    assert link(second, "next") is None
    newer = link(second, "prev")
    assert "status=failed" in newer and f"webhook={shop}" in newer
    assert row_ids(page(admin, newer)) == failed[::-1][:50]


def test_list_never_counts_or_offsets(app, admin):
    webhook_id = add_webhook(app)
    ids = add_many(app, webhook_id, 120)
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        for params in ({}, {"before": ids[60]}, {"after": ids[10]}, {"status": "succeeded"}):
            page(admin, **params)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    on_deliveries = [(sql, args) for sql, args in statements if "FROM deliveries" in sql]
    assert on_deliveries
    for sql, args in on_deliveries:
        assert "count(" not in sql.lower(), sql
        if "OFFSET" in sql:  # SQLite writes LIMIT ? OFFSET ?; the offset is always 0
            assert args[-1] == 0, (sql, args)


def plan_steps(order: Order, filters: Filters) -> list[str]:
    """SQLite's plan of a page older than a place in the middle."""
    place = (datetime(2026, 3, 3, tzinfo=UTC), 1000) if order.by_time else (1000,)
    where = conditions(filters, order, place, older=True)
    compiled = page_statement(where, order, True, 51).compile(db.engine)
    parameters = tuple(
        str(value) if isinstance(value, datetime) else value
        for value in (compiled.params[name] for name in compiled.positiontup)
    )
    return [
        row[-1]
        for row in db.session.connection().exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}", parameters
        )
    ]


WEEK = {"date_from": date(2026, 3, 1), "date_to": date(2026, 3, 7)}


@pytest.mark.parametrize(
    ("filters", "order", "index"),
    [
        (Filters(status="failed"), Order(), "ix_deliveries_status_id"),
        (Filters(event="customer_created"), Order(), "ix_deliveries_event_type_id"),
        (Filters(webhook_id=1), Order(), "ix_deliveries_webhook_id"),
        (Filters(**WEEK), Order(by_time=True, hinted=True), "ix_deliveries_created_at"),
        (Filters(date_to=date(2026, 3, 5)), Order(by_time=True), "ix_deliveries_created_at"),
        (Filters(date_from=date(2026, 3, 1)), Order(by_time=True), "ix_deliveries_created_at"),
        (
            Filters(status="failed", webhook_id=1, **WEEK),
            Order(by_time=True, hinted=True),
            "ix_deliveries_created_at",
        ),
        (
            Filters(event="customer_created", date_to=date(2026, 3, 5)),
            Order(by_time=True, hinted=True),
            "ix_deliveries_created_at",
        ),
    ],
)
@sqlite_only
def test_list_pages_read_an_index_in_the_order_of_the_list(app, filters, order, index):
    """No page sorts: id order comes from a (column, id) index; time order from the index on
    created_at, which holds the id too, with the other filters written +column."""
    with app.app_context():
        steps = plan_steps(order, filters)
    assert any(index in step for step in steps), steps
    assert not any("TEMP B-TREE" in step for step in steps), steps


@sqlite_only
def test_date_range_with_filters_reads_the_fewer_rows_on_sqlite(app):
    """A filter with few rows is read through its index and sorted; one with many rows is
    skipped along created_at, so that neither sorts a big share of the table."""
    busy, quiet = add_webhook(app, "Busy"), add_webhook(app, "Quiet")
    add_many(app, busy, 1100, status="succeeded")
    add_many(app, busy, 20, status="failed")
    add_many(app, quiet, 30, status="succeeded")
    cases = [
        (Filters(webhook_id=busy, **WEEK), None, "ix_deliveries_created_at"),
        (Filters(webhook_id=quiet, **WEEK), "webhook_id", "ix_deliveries_webhook_id"),
        (Filters(status="succeeded", **WEEK), None, "ix_deliveries_created_at"),
        # The status's rows of the range only, in time order (ids of equal times sorted).
        (
            Filters(status="failed", webhook_id=busy, **WEEK),
            "status",
            "ix_deliveries_status_created_at (status=? AND created_at>? AND created_at<?)",
        ),
        (Filters(status="succeeded", webhook_id=quiet, **WEEK), "webhook_id", "webhook_id"),
    ]
    with app.app_context():
        for filters, indexed, index in cases:
            order = list_order(filters)
            assert order == Order(by_time=True, hinted=True, indexed=indexed), filters
            steps = plan_steps(order, filters)
            assert any(index in step for step in steps), (filters, steps)


def walk(client, first_url: str) -> tuple[list[list[int]], list[list[int]]]:
    """Every page from ``first_url`` following “Older ›”, then back following “‹ Newer”."""
    pages, url = [], first_url
    while url:
        text_ = page(client, url)
        pages.append(row_ids(text_))
        url = link(text_, "next")
    back, url = [], link(text_, "prev")
    while url:
        text_ = page(client, url)
        back.append(row_ids(text_))
        url = link(text_, "prev")
    return pages, back


def test_date_range_pages_show_every_row_once_in_time_order(app, admin):
    """With a date range the list is in time order, then id order for equal times; whatever
    the order of times and ids, the pages hold every row of the range exactly once."""
    app.config["DELIVERIES_PER_PAGE"] = 7
    webhook_id = add_webhook(app)
    ids = add_many(app, webhook_id, 60)
    rng = random.Random(7)
    with app.app_context():  # times out of id order, some equal, some outside the range
        for delivery_id in ids:
            delivery = db.session.get(Delivery, delivery_id)
            delivery.created_at = datetime(2026, 3, 9, tzinfo=UTC) + timedelta(
                hours=rng.randrange(72) // 3 * 3
            )
            delivery.status = rng.choice(["succeeded", "failed"])
        db.session.commit()
        rows = db.session.execute(select(Delivery.id, Delivery.created_at, Delivery.status)).all()
    day = datetime(2026, 3, 10)

    def expected(status=None, start=day, end=day + timedelta(days=1)):
        chosen = [
            (as_utc(at), row_id)
            for row_id, at, row_status in rows
            if (start is None or as_utc(at) >= as_utc(start))
            and as_utc(at) < as_utc(end)
            and status in (None, row_status)
        ]
        return [row_id for _, row_id in sorted(chosen, reverse=True)]

    for params, wanted in (
        ("from=2026-03-10&to=2026-03-10", expected()),
        ("to=2026-03-10", expected(start=None)),
        ("from=2026-03-10&to=2026-03-10&status=failed", expected(status="failed")),
    ):
        assert 7 < len(wanted) < 60, params
        pages, back = walk(admin, f"/deliveries/?{params}")
        assert [row_id for one in pages for row_id in one] == wanted, params
        assert all(len(one) == 7 for one in pages[:-1])
        assert back == pages[-2::-1], params


def test_date_range_page_whose_cursor_was_deleted_goes_on_from_its_neighbour(app, admin):
    app.config["DELIVERIES_PER_PAGE"] = 5
    webhook_id = add_webhook(app)
    ids = add_many(app, webhook_id, 12)
    first = page(admin, **{"from": "2026-03-10"})
    older = link(first, "next")
    assert older == f"/deliveries/?before={ids[-5]}&from=2026-03-10"
    with app.app_context():
        db.session.execute(delete(Delivery).where(Delivery.id == ids[-5]))
        db.session.commit()
    assert row_ids(page(admin, older)) == ids[::-1][5:10]
    assert row_ids(page(admin, before=ids[0], **{"from": "2026-03-10"})) == []


@sqlite_only
def test_a_cursor_replaces_the_range_bound_on_its_side(app, admin):
    """SQLite reads an index range from one bound per side: the cursor's, when it is tighter."""
    filters = Filters(date_from=date(2026, 3, 10), date_to=date(2026, 3, 10))
    inside = datetime(2026, 3, 10, 12, tzinfo=UTC)
    with app.app_context():
        order = list_order(filters)
        clauses = {
            older: [
                str(c.compile(db.engine)) for c in conditions(filters, order, (inside, 7), older)
            ]
            for older in (True, False)
        }
    assert clauses[True] == [
        "deliveries.created_at <= ?",
        "deliveries.created_at < ? OR deliveries.id < ?",
        "deliveries.created_at >= ?",
    ]
    assert clauses[False] == [
        "deliveries.created_at >= ?",
        "deliveries.created_at > ? OR deliveries.id > ?",
        "deliveries.created_at < ?",
    ]
    # A cursor outside the range: the whole range lies beyond it.
    webhook_id = add_webhook(app)
    ids = add_many(app, webhook_id, 3)
    later = add_delivery(app, webhook_id, created_at=BASE_TIME + timedelta(days=2))
    earlier = add_delivery(app, webhook_id, created_at=BASE_TIME - timedelta(days=2))
    day = {"from": "2026-03-10", "to": "2026-03-10"}
    assert row_ids(page(admin, before=later, **day)) == ids[::-1]
    assert row_ids(page(admin, after=earlier, **day)) == ids[::-1]
    assert row_ids(page(admin, before=earlier, **day)) == []


def test_list_order_is_by_time_only_with_a_date_range(app):
    with app.app_context():
        assert list_order(Filters()) == Order(by_time=False)
        assert list_order(Filters(status="failed", webhook_id=3)) == Order(by_time=False)
        assert list_order(Filters(date_to=date(2026, 3, 10))).by_time
        assert list_order(Filters(status="failed", date_to=date(2026, 3, 10))).by_time


# ---------------------------------------------------------------- the webhook filter


def test_webhook_filter_is_a_text_field_not_a_list_of_every_webhook(app, admin):
    shop = add_webhook(app, "Shop")
    for number in range(30):
        add_webhook(app, f"Quiet {number:02d}")
    add_delivery(app, shop)
    text_ = page(admin)
    assert '<select id="webhook"' not in text_ and 'name="webhook"' in text_
    assert "Quiet 07" not in text_
    assert 'list="webhook-options"' in text_
    assert 'data-webhook-options="/deliveries/webhook-options"' in text_


@pytest.mark.parametrize(
    "typed",
    [
        "Shop & Co",
        "shop & co",
        "  Shop   & Co ",
        "Co",
        "{label}",
        "#{id}",
        "{id}",
        "Renamed (#{id})",
    ],
)
def test_webhook_filter_takes_a_name_or_an_id(app, admin, typed):
    shop = add_webhook(app, "Shop & Co")
    crm = add_webhook(app, "CRM")
    mine = add_many(app, shop, 60)
    add_delivery(app, crm)
    typed = typed.format(id=shop, label=f"Shop & Co (#{shop})")
    text_ = page(admin, webhook=typed)
    assert row_ids(text_) == mine[::-1][:50]
    assert notes(text_) == ""
    assert f'value="Shop &amp; Co (#{shop})"' in text_
    assert link(text_, "next") == f"/deliveries/?before={mine[10]}&webhook={shop}"


def test_webhook_filter_with_a_name_of_several_webhooks_offers_them(app, admin):
    billing = add_webhook(app, "Billing sync")
    add_webhook(app, "Billing alerts")
    add_webhook(app, "CRM")
    everything = [add_delivery(app, billing), add_delivery(app, billing, status="failed")]
    text_ = page(admin, webhook="billing", status="failed")
    assert "2 webhooks' names contain it. Choose one below." in notes(text_)
    matches = re.findall(r'<li><a href="([^"]+)">([^<]+)</a></li>', text_)
    assert [label for _, label in matches] == [
        f"Billing alerts (#{billing + 1})",
        f"Billing sync (#{billing})",
    ]
    assert html.unescape(matches[1][0]) == f"/deliveries/?webhook={billing}&status=failed"
    assert row_ids(text_) == [everything[1]]  # the other filters still apply
    assert "<h1>Deliveries</h1>" in text_ and "Retry all failed since" not in text_


def test_webhook_filter_offers_at_most_twenty_and_points_to_the_webhook_list(app, admin):
    with app.app_context():
        db.session.add_all(
            Webhook(
                name=f"Hook {number:02d}", url="https://example.com/", events=["payment_received"]
            )
            for number in range(25)
        )
        db.session.commit()
    text_ = page(admin, webhook="hook")
    assert "more than 20 webhooks' names contain it" in notes(text_)
    assert text_.count('<li><a href="/deliveries/?webhook=') == 20
    assert '<a href="/webhooks/?q=hook">More in the webhook list…</a>' in text_


def test_webhook_options_suggest_matching_names_and_the_id(app, admin):
    shop = add_webhook(app, "Shop")
    add_webhook(app, "Workshop 100%")
    add_webhook(app, "CRM")
    response = admin.get("/deliveries/webhook-options", query_string={"q": "SHOP"})
    assert response.status_code == 200
    assert [item["label"] for item in response.get_json()["webhooks"]] == [
        f"Shop (#{shop})",
        f"Workshop 100% (#{shop + 1})",
    ]
    found = admin.get("/deliveries/webhook-options", query_string={"q": "0%"}).get_json()
    assert [item["name"] for item in found["webhooks"]] == ["Workshop 100%"]
    found = admin.get("/deliveries/webhook-options", query_string={"q": f"#{shop + 2}"}).get_json()
    assert found["webhooks"] == [{"id": shop + 2, "name": "CRM", "label": f"CRM (#{shop + 2})"}]
    assert admin.get("/deliveries/webhook-options").get_json() == {"webhooks": []}
    anonymous = app.test_client()
    response = anonymous.get("/deliveries/webhook-options", query_string={"q": "shop"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# ---------------------------------------------------------------- one delivery


def test_detail_shows_the_delivery_and_every_attempt_newest_first(app, admin):
    webhook_id = add_webhook(app, "Shop")
    delivery_id = add_delivery(
        app,
        webhook_id,
        status="failing",
        msg_id="msg_fixed",
        next_attempt_at=BASE_TIME + timedelta(hours=1),
        attempts=(
            {
                "error": "connection refused by example.com",
                "summary": "connection refused by example.com",
                "duration_ms": 3,
            },
            {
                "response_status": 500,
                "response_headers": json.dumps({"X-Receiver": "<b>bold</b>"}),
                "response_body": "<script>alert('pwned')</script>",
                "duration_ms": 41,
                "error": "HTTP 500 Internal Server Error in 41 ms",
                "summary": "HTTP 500 Internal Server Error in 41 ms",
            },
        ),
    )
    response = admin.get(f"/deliveries/{delivery_id}")
    assert response.status_code == 200
    text_ = response.get_data(as_text=True)
    assert "<code>msg_fixed</code>" in text_
    assert f'<a href="/webhooks/{webhook_id}/edit">Shop</a>' in text_
    assert "Payment Received" in text_ and "Failing" in text_
    assert '<time datetime="2026-03-10T13:00:00Z"' in text_  # next retry
    # The body, pretty-printed and highlighted.
    assert (
        '<span class="j-key">&#34;type&#34;</span>: <span class="j-str">&#34;payment_received&#34;'
        "</span>," in text_
    )
    # Request headers with the signature.
    assert '<th scope="row">webhook-signature</th>' in text_
    assert SIGNED_HEADERS["webhook-signature"] in text_
    # Response: status, duration, headers and body escaped.
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in text_
    assert "<script>alert" not in text_
    assert "&lt;b&gt;bold&lt;/b&gt;" in text_
    assert ">500<" in text_ and "41 ms" in text_
    # The failed connection: its error, and no response.
    assert "connection refused by example.com" in text_
    assert "No response was received." in text_
    # Newest attempt first.
    assert text_.index("HTTP 500 Internal Server Error in 41 ms") < text_.index(
        "connection refused by example.com"
    )
    assert f'action="/deliveries/{delivery_id}/redeliver"' in text_


def test_detail_shows_a_body_that_is_not_json_as_it_is(app, admin):
    webhook_id = add_webhook(app)
    delivery_id = add_delivery(app, webhook_id, body="not json <at all>", status="pending")
    text_ = page(admin, f"/deliveries/{delivery_id}")
    assert "not json &lt;at all&gt;" in text_
    assert "Not attempted yet" in text_


def test_detail_of_a_missing_delivery_is_404(admin):
    response = admin.get("/deliveries/424242")
    assert response.status_code == 404
    assert "no delivery with that id" in response.get_data(as_text=True)
    assert admin.get("/deliveries/0").status_code == 404
    assert admin.get("/deliveries/abc").status_code == 404


def test_detail_of_a_test_send_points_to_send_test_event(app, admin):
    webhook_id = add_webhook(app)
    delivery_id = add_delivery(app, webhook_id, status="test", is_test=True)
    text_ = page(admin, f"/deliveries/{delivery_id}")
    assert '/redeliver"' not in text_
    assert "Send Test Event" in text_


# ---------------------------------------------------------------- redeliver


@pytest.mark.embedded_engine
def test_redeliver_queues_the_same_message_again(app, admin):
    webhook_id = add_webhook(app)
    delivery_id = add_delivery(
        app, webhook_id, status="failed", round_failures=9, lease_token="abc", msg_id="msg_same"
    )
    with app.app_context():
        flag = wake_flag(app)
    started = datetime.now(UTC)
    response = redeliver(admin, delivery_id)
    assert response.headers["Location"] == f"/deliveries/{delivery_id}"
    after = stored(app, delivery_id)
    assert after["status"] == "pending"
    assert after["msg_id"] == "msg_same"
    assert after["round_failures"] == 0
    assert after["lease_token"] is None
    assert after["body"] == BODY
    assert started <= as_utc(after["next_attempt_at"]) <= datetime.now(UTC)
    assert flag.is_set()
    [(category, message)] = flashes_after(admin, response)
    assert category == "success"
    assert message.startswith("Redelivery queued")
    assert "msg_same" in message


def test_redeliver_refuses_a_test_send(app, admin):
    webhook_id = add_webhook(app)
    delivery_id = add_delivery(app, webhook_id, status="test", is_test=True)
    before = stored(app, delivery_id)
    response = redeliver(admin, delivery_id)
    assert stored(app, delivery_id) == before
    [(category, message)] = flashes_after(admin, response)
    assert category == "error"
    assert "Send Test Event" in message


def test_redeliver_refuses_an_inactive_webhook(app, admin):
    webhook_id = add_webhook(app, active=False)
    delivery_id = add_delivery(app, webhook_id, status="failed")
    before = stored(app, delivery_id)
    response = redeliver(admin, delivery_id)
    assert stored(app, delivery_id) == before
    [(category, message)] = flashes_after(admin, response)
    assert category == "error" and "inactive" in message


def test_redeliver_needs_a_csrf_token_and_a_post(app, admin):
    webhook_id = add_webhook(app)
    delivery_id = add_delivery(app, webhook_id, status="failed")
    before = stored(app, delivery_id)
    response = admin.post(f"/deliveries/{delivery_id}/redeliver")
    assert response.status_code == 400
    response = admin.post(f"/deliveries/{delivery_id}/redeliver", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert admin.get(f"/deliveries/{delivery_id}/redeliver").status_code == 405
    assert stored(app, delivery_id) == before


def test_redeliver_of_a_missing_delivery_is_404(admin):
    response = post_form(admin, "/deliveries/424242/redeliver", {})
    assert response.status_code == 404


# ---------------------------------------------------------------- retry all failed since


@pytest.mark.embedded_engine
def test_recover_requeues_failed_and_retries_failing_deliveries_of_that_webhook_since_the_time(
    app, admin
):
    shop = add_webhook(app, "Shop")
    other = add_webhook(app, "Other")
    since = BASE_TIME
    later = datetime.now(UTC) + timedelta(hours=3)
    old_failed = add_delivery(app, shop, status="failed", created_at=since - timedelta(minutes=1))
    new_failed = [
        add_delivery(app, shop, status="failed", created_at=since, round_failures=9),
        add_delivery(app, shop, status="failed", created_at=since + timedelta(days=1)),
    ]
    failing = add_delivery(
        app,
        shop,
        status="failing",
        created_at=since + timedelta(hours=1),
        failed_at=since + timedelta(hours=2),
        round_failures=4,
        next_attempt_at=later,
    )
    untouched = [
        old_failed,
        add_delivery(app, shop, status="succeeded", created_at=since + timedelta(hours=1)),
        add_delivery(
            app,
            shop,
            status="failing",
            created_at=since - timedelta(hours=1),
            failed_at=since - timedelta(minutes=1),
            next_attempt_at=later,
        ),
        add_delivery(app, shop, status="test", is_test=True, created_at=since),
        add_delivery(app, other, status="failed", created_at=since + timedelta(hours=1)),
    ]
    before = {delivery_id: stored(app, delivery_id) for delivery_id in untouched}
    msg_ids = {delivery_id: stored(app, delivery_id)["msg_id"] for delivery_id in new_failed}
    with app.app_context():
        flag = wake_flag(app)

    failing_msg_id = stored(app, failing)["msg_id"]
    started = datetime.now(UTC)
    response = recover(admin, {"webhook_id": shop, "since": "2026-03-10T12:00"})
    assert response.headers["Location"] == f"/deliveries/?webhook={shop}"
    for delivery_id in new_failed:
        after = stored(app, delivery_id)
        assert after["status"] == "pending"
        assert after["next_attempt_at"] is not None
        assert after["round_failures"] == 0 and after["lease_token"] is None
        assert after["msg_id"] == msg_ids[delivery_id]
    # The failing one is due now, where it was in its retry schedule, with its webhook-id.
    after = stored(app, failing)
    assert after["status"] == "failing" and after["round_failures"] == 4
    assert after["msg_id"] == failing_msg_id
    assert started <= as_utc(after["next_attempt_at"]) <= datetime.now(UTC)
    assert {delivery_id: stored(app, delivery_id) for delivery_id in untouched} == before
    assert flag.is_set()
    [(category, message)] = flashes_after(admin, response)
    assert category == "success"
    assert message == (
        "2 failed deliveries of “Shop” since 2026-03-10 12:00 UTC queued for redelivery. "
        "1 delivery of “Shop” that was waiting for its next retry is retried now."
    )


def test_recover_with_nothing_to_retry_says_so(app, admin):
    webhook_id = add_webhook(app)
    add_delivery(app, webhook_id, status="succeeded")
    response = recover(admin, {"webhook_id": webhook_id, "since": "2026-01-01T00:00"})
    [(category, message)] = flashes_after(admin, response)
    assert category == "info"
    assert message == (
        "No failed or failing deliveries of “Shop” since 2026-01-01 00:00 UTC; nothing was queued."
    )


def test_recover_with_only_failing_deliveries_retries_them_and_never_says_nothing_was_queued(
    app, admin
):
    webhook_id = add_webhook(app)
    later = datetime.now(UTC) + timedelta(hours=5)
    failing = [
        add_delivery(app, webhook_id, status="failing", round_failures=3, next_attempt_at=later)
        for _ in range(3)
    ]
    response = recover(admin, {"webhook_id": webhook_id, "since": "2026-03-10T12:00"})
    [(category, message)] = flashes_after(admin, response)
    assert category == "success"
    assert message == (
        "3 deliveries of “Shop” that were waiting for their next retry are retried now."
    )
    assert "nothing was queued" not in message
    for delivery_id in failing:
        after = stored(app, delivery_id)
        assert after["status"] == "failing" and as_utc(after["next_attempt_at"]) < later

    # Asked again at once: they are due already, and still counted, not "nothing".
    response = recover(admin, {"webhook_id": webhook_id, "since": "2026-03-10T12:00"})
    [(category, message)] = flashes_after(admin, response)
    assert "nothing was queued" not in message
    assert message.startswith("3 deliveries of “Shop” that were waiting")


def test_recover_leaves_a_failing_delivery_that_is_being_sent_to_its_worker(app, admin):
    webhook_id = add_webhook(app)
    lease_end = datetime.now(UTC) + timedelta(minutes=1)
    held = add_delivery(
        app, webhook_id, status="failing", lease_token="held", next_attempt_at=lease_end
    )
    before = stored(app, held)
    response = recover(admin, {"webhook_id": webhook_id, "since": "2026-03-10T12:00"})
    assert stored(app, held) == before
    [(category, message)] = flashes_after(admin, response)
    assert category == "info"
    assert message == "1 failing delivery of “Shop” is being sent right now."


def test_recover_counts_from_when_a_delivery_failed_not_when_it_was_made(app, admin):
    webhook_id = add_webhook(app)
    since = BASE_TIME
    # Made a day before "since", failed (given up) after it: retried.
    late_failure = add_delivery(
        app,
        webhook_id,
        status="failed",
        created_at=since - timedelta(days=1),
        failed_at=since + timedelta(minutes=5),
    )
    # Made and failed before "since": left.
    early_failure = add_delivery(
        app,
        webhook_id,
        status="failed",
        created_at=since - timedelta(days=1),
        failed_at=since - timedelta(minutes=5),
    )
    response = recover(admin, {"webhook_id": webhook_id, "since": "2026-03-10T12:00"})
    assert stored(app, late_failure)["status"] == "pending"
    assert stored(app, early_failure)["status"] == "failed"
    [(_category, message)] = flashes_after(admin, response)
    assert message.startswith("1 failed delivery of “Shop” since 2026-03-10 12:00 UTC")


def test_recover_form_on_the_page_posts_what_it_shows(app, admin):
    webhook_id = add_webhook(app)
    delivery_id = add_delivery(app, webhook_id, status="failed", created_at=datetime.now(UTC))
    text_ = page(admin, webhook=webhook_id)
    form = re.search(r'<form method="post" action="/deliveries/recover".*?</form>', text_, re.S)
    fields = dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', form.group(0)))
    assert fields["webhook_id"] == str(webhook_id)
    since = datetime.strptime(fields["since"], "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
    assert timedelta(hours=23) < datetime.now(UTC) - since < timedelta(hours=25)  # a day ago
    response = admin.post("/deliveries/recover", data=fields)
    assert response.status_code == 302
    assert stored(app, delivery_id)["status"] == "pending"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"since": "2026-03-10T12:00"}, "Choose the webhook"),
        ({"webhook_id": "abc", "since": "2026-03-10T12:00"}, "not a webhook id"),
        ({"webhook_id": "-3", "since": "2026-03-10T12:00"}, "not a webhook id"),
        ({"webhook_id": "424242", "since": "2026-03-10T12:00"}, "no webhook with that id"),
        ({"webhook_id": "{shop}", "since": ""}, "Enter the date and time"),
        ({"webhook_id": "{shop}", "since": "yesterday"}, "YYYY-MM-DD HH:MM"),
        ({"webhook_id": "{shop}", "since": "2026-13-45T99:00"}, "YYYY-MM-DD HH:MM"),
        ({"webhook_id": "{inactive}", "since": "2026-03-10T12:00"}, "inactive"),
    ],
)
def test_recover_refuses_invalid_input_and_changes_nothing(app, admin, data, message):
    shop = add_webhook(app, "Shop")
    inactive = add_webhook(app, "Off", active=False)
    ids = [add_delivery(app, shop, status="failed"), add_delivery(app, inactive, status="failed")]
    before = [stored(app, delivery_id) for delivery_id in ids]
    data = {key: value.format(shop=shop, inactive=inactive) for key, value in data.items()}
    response = recover(admin, data)
    flashes = flashes_after(admin, response)
    assert [stored(app, delivery_id) for delivery_id in ids] == before
    assert any(category == "error" and message in text_ for category, text_ in flashes), flashes


def test_recover_needs_a_csrf_token(app, admin):
    webhook_id = add_webhook(app)
    delivery_id = add_delivery(app, webhook_id, status="failed")
    response = admin.post(
        "/deliveries/recover", data={"webhook_id": webhook_id, "since": "2000-01-01T00:00"}
    )
    assert response.status_code == 400
    assert stored(app, delivery_id)["status"] == "failed"
    assert admin.get("/deliveries/recover").status_code == 405


# ---------------------------------------------------------------- retry now


@pytest.mark.embedded_engine
def test_retry_now_makes_a_failing_delivery_due_at_once_with_the_same_message(app, admin):
    webhook_id = add_webhook(app, url="https://receiver.example/hook")
    later = datetime.now(UTC) + timedelta(hours=2)
    delivery_id = add_delivery(
        app,
        webhook_id,
        status="failing",
        round_failures=3,
        next_attempt_at=later,
        msg_id="msg_waiting",
    )
    with app.app_context():
        flag = wake_flag(app)
    started = datetime.now(UTC)
    response = retry_now(admin, delivery_id)
    assert response.headers["Location"] == f"/deliveries/{delivery_id}"
    after = stored(app, delivery_id)
    assert after["status"] == "failing"
    assert after["msg_id"] == "msg_waiting" and after["body"] == BODY
    assert after["round_failures"] == 3  # its retry schedule goes on from where it was
    assert after["lease_token"] is None
    assert started <= as_utc(after["next_attempt_at"]) <= datetime.now(UTC)
    assert flag.is_set()
    [(category, message)] = flashes_after(admin, response)
    assert category == "success"
    assert message == (
        "Retrying now: message msg_waiting is sent to https://receiver.example/hook at once, "
        "with the same webhook-id. Reload the page to see the result."
    )


def test_retry_now_brings_the_probe_forward_while_the_receiver_is_counted_down(app, admin):
    probe_at = datetime.now(UTC) + timedelta(hours=1)
    webhook_id = add_webhook(
        app, down_since=BASE_TIME, next_probe_at=probe_at, consecutive_failures=5
    )
    delivery_id = add_delivery(app, webhook_id, status="failing", next_attempt_at=probe_at)
    started = datetime.now(UTC)
    retry_now(admin, delivery_id)
    with app.app_context():
        webhook = db.session.get(Webhook, webhook_id)
        assert started <= as_utc(webhook.next_probe_at) <= datetime.now(UTC)
        assert webhook.down_since is not None  # still down until the probe gets through
    assert as_utc(stored(app, delivery_id)["next_attempt_at"]) <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": "succeeded"}, "was delivered already, so there is nothing to retry"),
        ({"status": "failed"}, "its retries were given up. Use Redeliver"),
        ({"status": "pending"}, "has not failed: it is queued"),
        ({"status": "test", "is_test": True}, "Test sends are not retried"),
        (
            {"status": "failing", "lease_token": "held", "next_attempt_at": "in a minute"},
            "is being sent right now",
        ),
        ({"status": "failing", "webhook_active": False}, "is inactive, so nothing would be sent"),
    ],
)
def test_retry_now_is_refused_with_a_reason_when_it_makes_no_sense(app, admin, fields, expected):
    fields = dict(fields)
    webhook_id = add_webhook(app, active=fields.pop("webhook_active", True))
    if fields.get("next_attempt_at") == "in a minute":
        fields["next_attempt_at"] = datetime.now(UTC) + timedelta(minutes=1)
    delivery_id = add_delivery(app, webhook_id, **fields)
    before = stored(app, delivery_id)
    response = retry_now(admin, delivery_id)
    assert response.headers["Location"] == f"/deliveries/{delivery_id}"
    assert stored(app, delivery_id) == before
    [(category, message)] = flashes_after(admin, response)
    assert category == "error"
    assert expected in message


def test_retry_now_of_a_delivery_deleted_with_its_webhook_says_so(app, admin):
    webhook_id = add_webhook(app)
    delivery_id = add_delivery(app, webhook_id, status="failing")
    token = csrf_token(admin, f"/deliveries/{delivery_id}")
    with app.app_context():
        db.session.execute(delete(Webhook).where(Webhook.id == webhook_id))
        db.session.commit()
        assert db.session.get(Delivery, delivery_id) is None
    response = admin.post(f"/deliveries/{delivery_id}/retry-now", data={"csrf_token": token})
    assert response.headers["Location"] == "/deliveries/"
    [(category, message)] = flashes_after(admin, response)
    assert category == "error"
    assert "no delivery with that id; it may have been deleted with its webhook" in message


def test_retry_now_needs_a_csrf_token_and_a_post(app, admin):
    webhook_id = add_webhook(app)
    delivery_id = add_delivery(
        app, webhook_id, status="failing", next_attempt_at=datetime.now(UTC) + timedelta(hours=1)
    )
    before = stored(app, delivery_id)
    assert admin.post(f"/deliveries/{delivery_id}/retry-now").status_code == 400
    response = admin.post(f"/deliveries/{delivery_id}/retry-now", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert admin.get(f"/deliveries/{delivery_id}/retry-now").status_code == 405
    assert stored(app, delivery_id) == before


def test_retry_now_is_offered_on_a_failing_delivery_page_only(app, admin):
    webhook_id = add_webhook(app)
    later = datetime.now(UTC) + timedelta(hours=2)
    failing = add_delivery(app, webhook_id, status="failing", next_attempt_at=later)
    held = add_delivery(
        app,
        webhook_id,
        status="failing",
        lease_token="held",
        next_attempt_at=datetime.now(UTC) + timedelta(minutes=1),
    )
    succeeded = add_delivery(app, webhook_id, status="succeeded")
    text_ = page(admin, f"/deliveries/{failing}")
    assert f'action="/deliveries/{failing}/retry-now"' in text_
    assert "It failed and waits for its next retry" in text_
    text_ = page(admin, f"/deliveries/{held}")
    assert "/retry-now" not in text_
    assert "It is being sent right now" in text_
    assert "/retry-now" not in page(admin, f"/deliveries/{succeeded}")


def test_retry_now_in_a_list_row_returns_to_the_same_list(app, admin):
    webhook_id = add_webhook(app)
    later = datetime.now(UTC) + timedelta(hours=2)
    failing = add_delivery(app, webhook_id, status="failing", next_attempt_at=later)
    failed = add_delivery(app, webhook_id, status="failed")
    succeeded = add_delivery(app, webhook_id, status="succeeded")
    text_ = page(admin, status="failing")
    assert row_ids(text_) == [failing]
    text_ = page(admin)
    assert f'action="/deliveries/{failing}/retry-now"' in text_
    for other in (failed, succeeded):
        assert f'action="/deliveries/{other}/retry-now"' not in text_
    form = re.search(
        rf'<form method="post" action="/deliveries/{failing}/retry-now".*?</form>', text_, re.S
    ).group(0)
    fields = dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', form))
    assert html.unescape(fields["next"]) == "/deliveries/?"
    fields["next"] = "/deliveries/?status=failing"
    response = admin.post(f"/deliveries/{failing}/retry-now", data=fields)
    assert response.headers["Location"] == "/deliveries/?status=failing"
    assert as_utc(stored(app, failing)["next_attempt_at"]) <= datetime.now(UTC)
    [(category, _message)] = flashes_after(admin, response)
    assert category == "success"


# ---------------------------------------------------------------- end to end


def test_reported_event_is_delivered_and_logged_then_redelivered_with_the_same_id(
    app, admin, receiver, make_webhook
):
    from webhooks.worker.dispatcher import Dispatcher

    receiver.expect_request("/hook", method="POST").respond_with_data(
        '{"thanks": "<b>got it</b>"}', status=200, content_type="application/json"
    )
    webhook_id = make_webhook(name="Local receiver", url=receiver.url_for("/hook"))
    with app.app_context():
        dispatch("payment_received", {"payment_id": 1})
        assert Dispatcher(app, concurrency=1).run_once() == 1
        delivery_id, msg_id = db.session.execute(select(Delivery.id, Delivery.msg_id)).one()

    text_ = page(admin)
    assert row_ids(text_) == [delivery_id]
    assert "status-succeeded" in text_ and "HTTP 200 OK" in text_
    assert f'<a href="/webhooks/{webhook_id}/edit">Local receiver</a>' in text_

    detail = page(admin, f"/deliveries/{delivery_id}")
    assert "&lt;b&gt;got it&lt;/b&gt;" in detail
    assert '<th scope="row">webhook-signature</th>' in detail
    assert f"<code>{msg_id}</code>" in detail
    assert '<span class="j-key">&#34;payment_id&#34;</span>: <span class="j-num">1</span>' in detail
    [(request, _)] = receiver.log
    assert request.headers["webhook-id"] == msg_id

    redeliver(admin, delivery_id)
    with app.app_context():
        assert Dispatcher(app, concurrency=1).run_once() == 1
    assert [request.headers["webhook-id"] for request, _ in receiver.log] == [msg_id, msg_id]
    detail = page(admin, f"/deliveries/{delivery_id}")
    assert detail.count('class="attempt ok"') == 2
    assert stored(app, delivery_id)["status"] == "succeeded"


@pytest.fixture
def one_retry_an_hour_later(config):
    """A failed attempt is retried an hour later, once; the next failure is final."""
    config.update(RETRY_SCHEDULE="3600", RETRY_JITTER=0)


@pytest.mark.embedded_engine
def test_failing_delivery_retried_now_reaches_the_recovered_receiver_with_the_same_id(
    one_retry_an_hour_later, app, admin, receiver, make_webhook
):
    script = Script(500, 200)  # down, then back
    receiver.expect_request("/flaky", method="POST").respond_with_handler(script)
    webhook_id = make_webhook(name="Flaky", url=receiver.url_for("/flaky"))
    with app.app_context():
        dispatch("payment_received", {"payment_id": 1})
    assert run_worker(app) == 1
    [waiting] = deliveries_of(app, webhook_id)
    assert waiting["status"] == "failing"
    assert waiting["next_attempt_at"] > datetime.now(UTC) + timedelta(minutes=59)
    assert run_worker(app) == 0  # nothing is due for an hour
    with app.app_context():  # when it failed, which "Retry all failed since" reads
        assert db.session.get(Delivery, waiting["id"]).failed_at is not None

    retry_now(admin, waiting["id"])
    assert run_worker(app) == 1

    [done] = deliveries_of(app, webhook_id)
    assert done["status"] == "succeeded" and done["attempt_count"] == 2
    with app.app_context():
        assert db.session.get(Delivery, done["id"]).failed_at is None
    assert script.ids() == [waiting["msg_id"]] * 2
    detail = page(admin, f"/deliveries/{done['id']}")
    assert detail.count('class="attempt ok"') == 1 and detail.count('class="attempt fail"') == 1
    assert "/retry-now" not in detail


@pytest.mark.embedded_engine
def test_retry_all_failed_since_sends_the_failed_and_the_failing_to_the_recovered_receiver(
    one_retry_an_hour_later, app, admin, receiver, make_webhook
):
    script = Script(500, 500, 500, 200)
    receiver.expect_request("/flaky", method="POST").respond_with_handler(script)
    webhook_id = make_webhook(name="Flaky", url=receiver.url_for("/flaky"))
    with app.app_context():
        dispatch("payment_received", {"payment_id": 1})
    run_worker(app)
    [first] = deliveries_of(app, webhook_id)
    retry_now(admin, first["id"])
    run_worker(app)  # its one retry fails too: given up
    with app.app_context():
        dispatch("payment_received", {"payment_id": 2})
    run_worker(app)
    assert [d["status"] for d in deliveries_of(app, webhook_id)] == ["failed", "failing"]

    # The form as the page fills it: since when the webhook began failing.
    text_ = page(admin, webhook=webhook_id)
    form = re.search(r'<form method="post" action="/deliveries/recover".*?</form>', text_, re.S)
    fields = dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', form.group(0)))
    response = admin.post("/deliveries/recover", data=fields)
    [(category, message)] = flashes_after(admin, response)
    assert category == "success"
    assert "1 failed delivery of “Flaky”" in message
    assert "1 delivery of “Flaky” that was waiting for its next retry is retried now." in message

    assert run_worker(app) == 2
    after = deliveries_of(app, webhook_id)
    assert [d["status"] for d in after] == ["succeeded", "succeeded"]
    assert sorted(script.ids()[-2:]) == sorted(d["msg_id"] for d in after)

"""The webhook list: empty state, columns, search, sorting, paging, bulk actions, deleting."""

import html
import re

import pytest
from sqlalchemy import event, func, select
from werkzeug.datastructures import MultiDict

from tests.conftest import csrf_token, post_form, sqlite_only
from webhooks.extensions import db
from webhooks.models import Attempt, Delivery, Webhook

ROW_NAME_RE = re.compile(r'<td><a href="/webhooks/\d+/edit">([^<]*)</a></td>')
ROW_ID_RE = re.compile(r'<td><a href="/webhooks/(\d+)/edit">[^<]*</a></td>')


def row_names(page: str) -> list[str]:
    """Names of the webhooks in the table, top to bottom."""
    return [html.unescape(name) for name in ROW_NAME_RE.findall(page)]


def list_page(client, **params) -> str:
    response = client.get("/webhooks/", query_string=params)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def active_by_id(app) -> dict[int, bool]:
    with app.app_context():
        return dict(db.session.execute(select(Webhook.id, Webhook.active)).all())


def form_fields(page: str, action: str) -> MultiDict:
    """The hidden inputs of the form that posts to ``action``, as a browser would send them."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}">(.*?)</form>', page, re.S)
    assert form, f"no form posting to {action}"
    fields = MultiDict()
    for tag in re.findall(r'<input[^>]*type="hidden"[^>]*>', form.group(1)):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        fields.add(name.group(1), html.unescape(value.group(1)) if value else "")
    return fields


def table_row(page: str, name: str) -> str:
    """The ``<tr>`` of the webhook called ``name``."""
    row = re.search(
        rf'<tr>\s*<td><input[^>]*aria-label="Select {re.escape(name)}".*?</tr>', page, re.S
    )
    assert row, f"no row for {name!r}"
    return row.group(0)


def flash_text(page: str) -> str:
    return " ".join(
        re.sub(r"<[^>]+>", "", m) for m in re.findall(r'<div class="flash.*?</div>', page, re.S)
    )


def test_root_is_the_dashboard_linking_to_the_webhook_list(admin):
    response = admin.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<h1>Dashboard</h1>" in page
    assert '<a href="/webhooks/">Webhooks</a>' in page


def test_empty_list_explains_webhooks_and_offers_add_button(admin):
    page = list_page(admin)
    assert "No webhooks yet" in page
    assert "A webhook sends data to another application" in page
    assert "signed JSON payload" in page
    assert re.search(r'<a class="button primary" href="/webhooks/new">Add New Webhook</a>', page)
    assert "<table" not in page


def test_list_shows_name_short_url_event_sent_count_and_state(admin, make_webhook):
    long_url = "https://hooks.example.com/" + "very-long-path/" * 6
    assert len(long_url) > 50
    make_webhook(name="Books", url=long_url, event="invoice_sent", sent_count=7)
    make_webhook(name="Mailer", url="https://mail.example.com/", active=False)
    page = list_page(admin)
    assert "No webhooks yet" not in page
    for header in ("Name", "URL", "Sent", "Active"):
        assert re.search(rf"<th[^>]*>\s*<a [^>]*>{header}( [▲▼])?</a>", page), header
    # A webhook may receive several events: the column lists them and the list is filtered
    # by event instead of sorted by it.
    assert '<th scope="col">Events</th>' in page

    row = table_row(page, "Books")
    shown = long_url[:49] + "…"
    assert f'<td class="url" title="{long_url}">{shown}</td>' in row
    assert len(shown) == 50
    assert "Invoice Sent" in row
    assert '<td class="num">7</td>' in row
    assert '<span class="badge ok">Active</span>' in row

    row = table_row(page, "Mailer")
    assert '<td class="url" title="https://mail.example.com/">https://mail.example.com/</td>' in row
    assert "Payment Received" in row
    assert '<td class="num">0</td>' in row
    assert '<span class="badge off">Inactive</span>' in row
    assert "2 webhooks." in page


def test_webhook_names_are_escaped_in_the_list(admin, make_webhook):
    make_webhook(name="<script>alert(1)</script>")
    page = list_page(admin)
    assert "<script>alert(1)</script>" not in page
    assert row_names(page) == ["<script>alert(1)</script>"]


@pytest.fixture
def searchable(make_webhook):
    make_webhook(name="Zapier orders", url="https://hooks.zapier.com/abc")
    make_webhook(name="Accounting", url="https://books.example.com/in")
    make_webhook(name="Discount 100% off", url="https://shop.example.com/a")
    make_webhook(name="Discount 1000 off", url="https://shop.example.com/b")
    make_webhook(name="snake_case", url="https://code.example.com/x")
    make_webhook(name="snakeXcase", url="https://code.example.com/y")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("zapier", {"Zapier orders"}, id="by-name-any-case"),
        pytest.param("books.example", {"Accounting"}, id="by-url"),
        pytest.param("100%", {"Discount 100% off"}, id="percent-literal"),
        pytest.param("%", {"Discount 100% off"}, id="only-percent"),
        pytest.param("snake_case", {"snake_case"}, id="underscore-literal"),
        pytest.param("_", {"snake_case"}, id="only-underscore"),
        pytest.param("  accounting  ", {"Accounting"}, id="spaces-trimmed"),
    ],
)
def test_search_finds_by_name_or_url_and_takes_wildcards_literally(
    admin, searchable, query, expected
):
    page = list_page(admin, q=query)
    assert set(row_names(page)) == expected
    assert f'value="{html.escape(query.strip())}"' in page


def test_search_without_matches_says_so(admin, searchable):
    page = list_page(admin, q="nothing-like-this")
    assert row_names(page) == []
    assert "No webhooks match “nothing-like-this”." in page
    assert "No webhooks yet" not in page


@pytest.fixture
def sortable(make_webhook):
    make_webhook(name="Charlie", sent_count=5)
    make_webhook(name="Alpha", sent_count=0)
    make_webhook(name="Bravo", sent_count=12)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"sort": "name"}, ["Alpha", "Bravo", "Charlie"], id="name-asc"),
        pytest.param(
            {"sort": "name", "dir": "desc"}, ["Charlie", "Bravo", "Alpha"], id="name-desc"
        ),
        pytest.param({"sort": "sent"}, ["Bravo", "Charlie", "Alpha"], id="sent-most-first"),
        pytest.param({"sort": "sent", "dir": "asc"}, ["Alpha", "Charlie", "Bravo"], id="sent-asc"),
        pytest.param({}, ["Bravo", "Alpha", "Charlie"], id="default-newest-first"),
        pytest.param({"sort": "bogus", "dir": "sideways"}, ["Bravo", "Alpha", "Charlie"], id="bad"),
    ],
)
def test_list_sorts_by_chosen_column(admin, sortable, params, expected):
    assert row_names(list_page(admin, **params)) == expected


def test_sort_link_toggles_direction(admin, sortable):
    page = list_page(admin, sort="name", dir="asc")
    assert (
        '<th scope="col" aria-sort="ascending"><a href="/webhooks/?sort=name&amp;dir=desc">'
        'Name <span aria-hidden="true">▲</span></a></th>'
    ) in page


def test_sort_by_name_ignores_letter_case(admin, make_webhook):
    make_webhook(name="bravo")
    make_webhook(name="Alpha")
    make_webhook(name="Charlie")
    assert row_names(list_page(admin, sort="name")) == ["Alpha", "bravo", "Charlie"]


def test_pages_sorted_by_name_hold_every_webhook_once_equal_names_by_id(admin, make_webhook):
    names = {}
    for number in range(30):
        name = ("same" if number % 3 else "Same") if number % 2 else f"Hook {number:02d}"
        names[make_webhook(name=name)] = name
    for direction in ("asc", "desc"):
        shown = [
            int(found)
            for number in (1, 2)
            for found in ROW_ID_RE.findall(
                list_page(admin, sort="name", dir=direction, page=number)
            )
        ]
        expected = sorted(names, key=lambda found: (names[found].lower(), found))
        assert shown == (expected if direction == "asc" else expected[::-1])


@sqlite_only
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_list_sorted_by_name_reads_its_index_without_sorting(app, admin, make_webhook, direction):
    """ORDER BY lower(name), id is served by ix_webhooks_lower_name_id (PostgreSQL's plan is
    in bench/results-pages-postgresql.md)."""
    make_webhook(name="Alpha")
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "ORDER BY lower(webhooks.name)" in statement:
            statements.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        list_page(admin, sort="name", dir=direction, page=2)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [(statement, parameters)] = statements
    with app.app_context():
        steps = [
            row[-1]
            for row in db.session.connection().exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", parameters
            )
        ]
    assert any("ix_webhooks_lower_name_id" in step for step in steps), steps
    assert not any("TEMP B-TREE" in step for step in steps), steps


@pytest.fixture
def many(make_webhook):
    for number in range(1, 46):
        make_webhook(name=f"Hook {number:02d}")


def test_list_pages_by_twenty(admin, many):
    first = list_page(admin, sort="name")
    assert len(row_names(first)) == 20
    assert row_names(first)[0] == "Hook 01"
    assert "45 webhooks." in first
    assert 'rel="next"' in first
    second = list_page(admin, sort="name", page=2)
    assert row_names(second)[0] == "Hook 21"
    third = list_page(admin, sort="name", page=3)
    assert row_names(third) == [f"Hook {n}" for n in range(41, 46)]
    assert 'rel="next"' not in third
    assert '<span aria-current="page">3</span>' in third


def test_page_links_keep_search_and_sort(admin, many):
    page = list_page(admin, q="Hook", sort="name", dir="desc")
    assert 'href="/webhooks/?q=Hook&amp;sort=name&amp;dir=desc&amp;page=2"' in page


@pytest.mark.parametrize("number", ["999", "abc", "0", "-1", ""])
def test_odd_page_numbers_do_not_break_the_list(admin, many, number):
    response = admin.get("/webhooks/", query_string={"page": number})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert len(row_names(page)) in (0, 20)
    assert "Something went wrong" not in page


def test_huge_page_number_does_not_break_the_list(admin, make_webhook):
    make_webhook()
    response = admin.get("/webhooks/", query_string={"page": "99999999999999999999"})
    assert response.status_code == 200
    assert row_names(response.get_data(as_text=True)) == []


# --- Bulk actions -----------------------------------------------------------------------------


def bulk(client, data):
    return post_form(client, "/webhooks/bulk", data)


def test_bulk_deactivate_and_activate_change_only_selected(app, admin, make_webhook):
    first, second, third = (make_webhook(name=f"Hook {n}") for n in range(3))
    response = bulk(admin, {"action": "deactivate", "ids": [first, second]})
    assert response.status_code == 302
    assert response.headers["Location"] == "/webhooks/"
    assert active_by_id(app) == {first: False, second: False, third: True}
    page = admin.get("/webhooks/").get_data(as_text=True)
    assert "2 webhooks deactivated." in flash_text(page)
    assert page.count('<span class="badge off">Inactive</span>') == 2

    bulk(admin, {"action": "activate", "ids": [second]})
    assert active_by_id(app) == {first: False, second: True, third: True}
    assert "1 webhook activated." in flash_text(admin.get("/webhooks/").get_data(as_text=True))


def test_bulk_delete_asks_for_confirmation_first(app, admin, make_webhook):
    keep = make_webhook(name="Keep me")
    doomed = [make_webhook(name="Old one"), make_webhook(name="Old two")]
    response = bulk(admin, {"action": "delete", "ids": doomed})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Delete 2 webhooks?" in page
    assert "Old one" in page and "Old two" in page and "Keep me" not in page
    assert "This cannot be undone." in page
    assert count(app, Webhook) == 3

    fields = form_fields(page, "/webhooks/bulk")
    assert fields.get("confirmed") == "yes"
    assert sorted(fields.getlist("ids")) == sorted(str(i) for i in doomed)
    confirmed = admin.post("/webhooks/bulk", data=fields)
    assert confirmed.status_code == 302
    assert set(active_by_id(app)) == {keep}
    assert "2 webhooks deleted." in flash_text(admin.get("/webhooks/").get_data(as_text=True))


def test_bulk_delete_without_confirmed_yes_deletes_nothing(app, admin, make_webhook):
    webhook_id = make_webhook()
    bulk(admin, {"action": "delete", "ids": [webhook_id], "confirmed": "no"})
    assert count(app, Webhook) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"action": "activate"}, "Select at least one webhook first.", id="no-ids"),
        pytest.param(
            {"action": "activate", "ids": ["x", ""]},
            "Select at least one webhook first.",
            id="junk-ids",
        ),
        pytest.param({"action": "explode", "ids": ["1"]}, "Choose a bulk action.", id="unknown"),
        pytest.param({"action": "", "ids": ["1"]}, "Choose a bulk action.", id="no-action"),
    ],
)
def test_bulk_without_ids_or_with_unknown_action_explains_why(
    app, admin, make_webhook, data, message
):
    webhook_id = make_webhook()
    data = {**data, "ids": [str(webhook_id) if i == "1" else i for i in data.get("ids", [])]}
    response = bulk(admin, data)
    assert response.status_code == 302
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert message in flash_text(page)
    assert 'class="flash flash-error"' in page
    assert active_by_id(app) == {webhook_id: True}


def test_bulk_by_get_is_not_allowed(admin):
    assert admin.get("/webhooks/bulk").status_code == 405


def test_bulk_without_csrf_token_is_refused(app, admin, make_webhook):
    webhook_id = make_webhook()
    response = admin.post(
        "/webhooks/bulk", data={"action": "delete", "ids": [webhook_id], "confirmed": "yes"}
    )
    assert response.status_code == 400
    assert count(app, Webhook) == 1


# --- Deleting one webhook ---------------------------------------------------------------------


def test_delete_link_shows_confirmation_and_deletes_nothing(app, admin, make_webhook):
    webhook_id = make_webhook(name="Precious")
    response = admin.get(f"/webhooks/{webhook_id}/delete")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Delete 1 webhook?" in page
    assert "Precious" in page
    assert '<button type="submit" class="danger">Delete</button>' in page
    assert f'href="/webhooks/{webhook_id}/edit">Cancel</a>' in page
    assert count(app, Webhook) == 1


def test_confirmed_delete_removes_webhook_and_flashes(app, admin, make_webhook):
    webhook_id = make_webhook(name="Old receiver")
    other = make_webhook(name="Other")
    path = f"/webhooks/{webhook_id}/delete"
    response = post_form(admin, path, {}, path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/webhooks/"
    assert set(active_by_id(app)) == {other}
    page = admin.get("/webhooks/").get_data(as_text=True)
    assert "Webhook “Old receiver” deleted." in flash_text(page)
    assert row_names(page) == ["Other"]
    assert admin.get(f"/webhooks/{webhook_id}/edit").status_code == 404


def test_delete_without_csrf_token_is_refused_and_keeps_row(app, admin, make_webhook):
    webhook_id = make_webhook()
    response = admin.post(f"/webhooks/{webhook_id}/delete")
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)
    assert count(app, Webhook) == 1


def add_delivery_with_attempt(app, webhook_id: int) -> None:
    with app.app_context():
        delivery = Delivery(
            webhook_id=webhook_id,
            event_type="payment_received",
            body='{"type":"payment_received"}',
            status="succeeded",
            attempt_count=1,
        )
        delivery.attempts.append(
            Attempt(
                url="https://example.com/hook",
                request_headers="{}",
                succeeded=True,
                response_status=200,
                summary="HTTP 200 OK",
            )
        )
        db.session.add(delivery)
        db.session.commit()


def test_deleting_a_webhook_deletes_its_delivery_history(app, admin, make_webhook):
    webhook_id = make_webhook()
    add_delivery_with_attempt(app, webhook_id)
    assert (count(app, Delivery), count(app, Attempt)) == (1, 1)
    path = f"/webhooks/{webhook_id}/delete"
    assert post_form(admin, path, {}, path).status_code == 302
    assert (count(app, Webhook), count(app, Delivery), count(app, Attempt)) == (0, 0, 0)


def test_bulk_deleting_webhooks_deletes_their_delivery_history(app, admin, make_webhook):
    doomed = make_webhook(name="Doomed")
    kept = make_webhook(name="Kept")
    add_delivery_with_attempt(app, doomed)
    add_delivery_with_attempt(app, kept)
    token = csrf_token(admin, "/webhooks/")
    response = admin.post(
        "/webhooks/bulk",
        data={"csrf_token": token, "action": "delete", "ids": [doomed], "confirmed": "yes"},
    )
    assert response.status_code == 302
    assert (count(app, Webhook), count(app, Delivery), count(app, Attempt)) == (1, 1, 1)
    with app.app_context():
        assert db.session.scalars(select(Delivery.webhook_id)).one() == kept

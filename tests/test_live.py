"""The answers behind the live pages (GET /live/…): for a logged-in admin only, a version that
changes when what the page shows changes and not otherwise, "busy" while deliveries are under
way, the same version the page was rendered with, bad input answered 4xx, and cheap to ask.

The browser side (the page updating itself) is in tests/browser/test_live.py.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from tests.conftest import post_form
from tests.engine_helpers import api_token, bearer, update_delivery, update_webhook
from webhooks.dashboard import views as dashboard_views
from webhooks.extensions import db
from webhooks.models import Attempt, Delivery

VERSION_RE = re.compile(
    r'data-live="([^"]+)" data-live-version="([0-9a-f]+)" data-live-poll="(\d+)"'
)


def add_delivery(app, webhook_id: int, **fields) -> int:
    values = {"event_type": "payment_received", "body": '{"id": 1}', "status": "succeeded"}
    values.update(fields)
    with app.app_context():
        row = Delivery(webhook_id=webhook_id, **values)
        db.session.add(row)
        db.session.commit()
        return row.id


def add_attempt(app, delivery_id: int) -> None:
    with app.app_context():
        db.session.add(
            Attempt(
                delivery_id=delivery_id,
                url="https://example.com/hook",
                request_headers="{}",
                succeeded=False,
                response_status=500,
                summary="HTTP 500 Internal Server Error in 3 ms",
            )
        )
        db.session.commit()


def look(client, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.headers["Cache-Control"] == "no-store"
    answer = response.get_json()
    assert set(answer) == {"version", "busy", "poll"}
    return answer


def version(client, url: str) -> str:
    return look(client, url)["version"]


def rendered(client, page: str) -> tuple[str, str, int]:
    """(the URL the page's script asks, the version the page carries, its first poll)."""
    html = client.get(page).get_data(as_text=True)
    match = VERSION_RE.search(html)
    assert match, f"{page} is not a live page"
    return match.group(1).replace("&amp;", "&"), match.group(2), int(match.group(3))


@pytest.fixture
def hook(make_webhook) -> int:
    return make_webhook(name="Billing")


# ---------------------------------------------------------------- who may ask


def live_urls(delivery_id: int, webhook_id: int) -> list[str]:
    return [
        f"/live/deliveries/{delivery_id}",
        "/live/deliveries/",
        f"/live/webhooks/{webhook_id}",
        "/live/dashboard",
    ]


def test_anonymous_visitors_are_sent_to_log_in_and_learn_nothing(app, client, hook):
    delivery_id = add_delivery(app, hook)
    for url in live_urls(delivery_id, hook):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login" in response.headers["Location"]
        assert b"version" not in response.data


def test_an_api_token_does_not_open_the_live_answers_of_the_admin_pages(app, client, hook):
    """Like the admin's other JSON (the webhook suggestions): a logged-in admin's session."""
    delivery_id = add_delivery(app, hook)
    headers = bearer(api_token(app))
    for url in live_urls(delivery_id, hook):
        response = client.get(url, headers=headers)
        assert response.status_code == 302, url
        assert "/login" in response.headers["Location"]


def test_a_logged_out_admin_is_sent_to_log_in(app, admin, auth, hook):
    delivery_id = add_delivery(app, hook)
    look(admin, f"/live/deliveries/{delivery_id}")
    auth.logout()
    assert admin.get(f"/live/deliveries/{delivery_id}").status_code == 302


# ---------------------------------------------------------------- a delivery


def test_a_delivery_version_changes_when_its_status_changes_and_not_otherwise(app, admin, hook):
    delivery_id = add_delivery(app, hook, status="failed", attempt_count=1)
    other = add_delivery(app, hook, status="failed")
    url = f"/live/deliveries/{delivery_id}"
    before = version(admin, url)
    assert version(admin, url) == before

    # Another delivery, the webhook's name, the delivery list: not on this page's data.
    update_delivery(app, other, status="succeeded", attempt_count=3)
    add_delivery(app, hook)
    update_webhook(app, hook, name="Billing v2")
    assert version(admin, url) == before

    # Redelivered (failed → pending): the page must change.
    response = post_form(
        admin, f"/deliveries/{delivery_id}/redeliver", {}, f"/deliveries/{delivery_id}"
    )
    assert response.status_code == 302
    queued = version(admin, url)
    assert queued != before
    with app.app_context():
        assert db.session.get(Delivery, delivery_id).status == "pending"

    # Sent: a new attempt, then succeeded.
    update_delivery(app, delivery_id, attempt_count=2, lease_token="held")
    sending = version(admin, url)
    assert sending != queued
    update_delivery(app, delivery_id, status="succeeded", lease_token=None, next_attempt_at=None)
    done = version(admin, url)
    assert done not in (before, queued, sending)
    assert version(admin, url) == done


def test_a_delivery_is_busy_while_pending_in_flight_or_retrying_soon(app, admin, hook):
    now = datetime.now(UTC)
    cases = {
        "pending": ({"status": "pending", "next_attempt_at": now}, True),
        "in flight": (
            {
                "status": "pending",
                "lease_token": "held",
                "next_attempt_at": now + timedelta(seconds=30),
            },
            True,
        ),
        "retrying in 5 s": (
            {"status": "failing", "next_attempt_at": now + timedelta(seconds=5)},
            True,
        ),
        "retrying in an hour": (
            {"status": "failing", "next_attempt_at": now + timedelta(hours=1)},
            False,
        ),
        "succeeded": ({"status": "succeeded"}, False),
        "failed": ({"status": "failed"}, False),
        "test": ({"status": "test", "is_test": True}, False),
    }
    for name, (fields, busy) in cases.items():
        delivery_id = add_delivery(app, hook, **fields)
        answer = look(admin, f"/live/deliveries/{delivery_id}")
        assert answer["busy"] is busy, name
        assert answer["poll"] == (2 if busy else 15), name


def test_the_poll_intervals_are_settings(app, admin, hook):
    app.config.update(LIVE_POLL_SECONDS=1, LIVE_IDLE_POLL_SECONDS=0)
    pending = add_delivery(app, hook, status="pending", next_attempt_at=datetime.now(UTC))
    done = add_delivery(app, hook)
    assert look(admin, f"/live/deliveries/{pending}")["poll"] == 1
    assert look(admin, f"/live/deliveries/{done}")["poll"] == 0


# ---------------------------------------------------------------- the list


def test_the_list_version_follows_the_rows_it_shows(app, admin, make_webhook, hook):
    shop = make_webhook(name="Shop")
    first = add_delivery(app, hook, status="failing", attempt_count=1)
    url = f"/live/deliveries/?webhook={hook}"
    before = version(admin, url)
    assert version(admin, url) == before

    add_delivery(app, shop)  # not in the filtered list
    update_webhook(app, shop, name="Shop 2")
    assert version(admin, url) == before

    update_delivery(app, first, status="succeeded", attempt_count=2)
    changed = version(admin, url)
    assert changed != before

    add_delivery(app, hook)  # arrives at the top of the list
    assert version(admin, url) not in (before, changed)


def test_an_older_page_does_not_change_when_a_new_delivery_arrives(app, admin, hook):
    app.config["DELIVERIES_PER_PAGE"] = 2
    ids = [add_delivery(app, hook) for _ in range(5)]
    url = f"/live/deliveries/?before={ids[3]}"
    before = version(admin, url)
    add_delivery(app, hook)
    assert version(admin, url) == before
    update_delivery(app, ids[1], status="failed")  # shown on that page
    assert version(admin, url) != before


def test_the_list_is_busy_while_a_row_it_shows_is_under_way(app, admin, make_webhook, hook):
    shop = make_webhook(name="Shop")
    add_delivery(app, hook)
    pending = add_delivery(app, shop, status="pending", next_attempt_at=datetime.now(UTC))
    assert look(admin, "/live/deliveries/")["busy"] is True
    assert look(admin, f"/live/deliveries/?webhook={hook}")["busy"] is False
    assert look(admin, "/live/deliveries/?status=succeeded")["busy"] is False
    update_delivery(app, pending, status="succeeded", next_attempt_at=None)
    assert look(admin, "/live/deliveries/")["busy"] is False


# ---------------------------------------------------------------- a webhook, the dashboard


def test_the_webhook_version_follows_its_state_and_recent_deliveries(
    app, admin, make_webhook, hook
):
    shop = make_webhook(name="Shop")
    mine = add_delivery(app, hook, status="pending", next_attempt_at=datetime.now(UTC))
    url = f"/live/webhooks/{hook}"
    answer = look(admin, url)
    assert answer["busy"] is True

    add_delivery(app, shop)  # another webhook's
    assert version(admin, url) == answer["version"]

    update_delivery(app, mine, status="succeeded", attempt_count=1, next_attempt_at=None)
    done = look(admin, url)
    assert done["version"] != answer["version"] and done["busy"] is False

    update_webhook(
        app, hook, disabled_at=datetime.now(UTC), active=False, disabled_reason="410 Gone"
    )
    assert version(admin, url) != done["version"]


def test_the_dashboard_version_follows_deliveries_attempts_the_queue_and_webhooks(
    app, admin, make_webhook, hook
):
    url = "/live/dashboard"
    seen = [version(admin, url)]
    assert version(admin, url) == seen[0]

    delivery_id = add_delivery(app, hook, status="failed", attempt_count=1)
    seen.append(version(admin, url))
    add_attempt(app, delivery_id)
    seen.append(version(admin, url))
    post_form(admin, f"/deliveries/{delivery_id}/redeliver", {}, f"/deliveries/{delivery_id}")
    seen.append(version(admin, url))  # failed → pending, with no new row
    make_webhook(name="Shop")
    seen.append(version(admin, url))
    assert len(set(seen)) == len(seen), seen
    assert look(admin, url)["busy"] is True  # the redelivery is pending

    update_delivery(app, delivery_id, status="succeeded", next_attempt_at=None)
    assert look(admin, url)["busy"] is False


def test_a_retry_soon_makes_the_dashboard_busy_and_one_hours_away_does_not(app, admin, hook):
    later = datetime.now(UTC) + timedelta(hours=2)
    retrying = add_delivery(app, hook, status="failing", next_attempt_at=later)
    assert look(admin, "/live/dashboard")["busy"] is False
    update_delivery(app, retrying, next_attempt_at=datetime.now(UTC) + timedelta(seconds=10))
    assert look(admin, "/live/dashboard")["busy"] is True


# ---------------------------------------------------------------- the pages carry their version


def test_each_live_page_carries_the_version_its_answer_gives(app, admin, hook):
    delivery_id = add_delivery(app, hook, status="pending", next_attempt_at=datetime.now(UTC))
    add_delivery(app, hook, status="failed", attempt_count=2)
    pages = [
        f"/deliveries/{delivery_id}",
        "/deliveries/",
        f"/deliveries/?webhook={hook}&status=pending",
        "/deliveries/?webhook=Billing",
        f"/webhooks/{hook}/edit",
        "/",
    ]
    for page in pages:
        url, carried, poll = rendered(admin, page)
        answer = look(admin, url)
        assert answer["version"] == carried, page
        assert answer["poll"] == poll, page
        assert answer["busy"] is True, page  # each shows the pending delivery


def test_a_change_made_while_the_dashboard_renders_is_seen_at_the_next_look(
    app, admin, hook, monkeypatch
):
    """The version a page carries is read before what the page shows: a delivery that
    succeeds while the dashboard reads its figures may be missing from them, and the page's
    next look must then differ from what it carries, or it would keep them."""
    delivery_id = add_delivery(app, hook, status="failing", attempt_count=1)
    read_figures = dashboard_views.activity

    def figures_then_a_success(now):
        figures = read_figures(now)
        add_attempt(app, delivery_id)  # another connection's commit, after the figures
        update_delivery(app, delivery_id, status="succeeded", next_attempt_at=None)
        return figures

    monkeypatch.setattr(dashboard_views, "activity", figures_then_a_success)
    url, carried, _poll = rendered(admin, "/")
    assert version(admin, url) != carried


def test_the_live_parts_and_status_of_a_page_are_marked(app, admin, hook):
    delivery_id = add_delivery(app, hook)
    html = admin.get(f"/deliveries/{delivery_id}").get_data(as_text=True)
    assert 'data-live-region="delivery"' in html and 'data-live-region="attempts"' in html
    assert re.search(r'role="status" aria-live="polite" data-live="/live/deliveries/\d+"', html)
    assert 'data-live-message="Delivery updated: Succeeded, 0 attempts."' in html
    turkish = admin.get(f"/deliveries/{delivery_id}", headers={"Accept-Language": "tr"})
    assert "Teslimat güncellendi:" in turkish.get_data(as_text=True)


def test_a_page_fetched_again_by_its_script_leaves_the_flashed_message_for_the_next_page(
    app, admin, hook
):
    delivery_id = add_delivery(app, hook, status="failed")
    post_form(admin, f"/deliveries/{delivery_id}/redeliver", {}, f"/deliveries/{delivery_id}")
    refreshed = admin.get(f"/deliveries/{delivery_id}", headers={"X-Live-Refresh": "1"})
    assert "Redelivery queued" not in refreshed.get_data(as_text=True)
    assert 'data-live-region="attempts"' in refreshed.get_data(as_text=True)
    shown = admin.get(f"/deliveries/{delivery_id}")
    assert "Redelivery queued" in shown.get_data(as_text=True)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "url",
    [
        "/live/deliveries/987654",
        "/live/deliveries/0",
        "/live/deliveries/99999999999999999999999999",
        "/live/deliveries/9223372036854775808",
        "/live/deliveries/１２",
        "/live/deliveries/-1",
        "/live/deliveries/abc",
        "/live/webhooks/987654",
        "/live/webhooks/2147483648",
        "/live/webhooks/٣",
        "/live/dashboard/1",
    ],
)
def test_unknown_huge_or_non_ascii_ids_answer_not_found(admin, hook, url):
    assert admin.get(url).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "before=abc",
        "before=99999999999999999999999999",
        "after=１２&before=３",
        "webhook=987654",
        "webhook=１",
        "webhook=" + "x" * 5000,
        "status=nonsense&event=nonsense",
        "from=2026-13-45&to=yesterday",
        "from=9999-12-31&to=0001-01-01",
        "before=1&after=2",
    ],
)
def test_bad_list_arguments_are_ignored_as_the_list_page_ignores_them(app, admin, hook, query):
    add_delivery(app, hook)
    answer = look(admin, f"/live/deliveries/?{query}")
    assert answer["busy"] is False
    assert admin.get(f"/deliveries/?{query}").status_code == 200


# ---------------------------------------------------------------- cost


def statements(app, client, url: str) -> list[str]:
    seen = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        look(client, url)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return [statement for statement in seen if "FROM users" not in statement]


def test_the_answers_are_a_few_statements_that_read_no_bodies(app, admin, hook):
    ids = [add_delivery(app, hook, status="failed", attempt_count=1) for _ in range(30)]
    for delivery_id in ids[:5]:
        add_attempt(app, delivery_id)
    costs = {
        f"/live/deliveries/{ids[0]}": 2,  # the delivery, its webhook's active flag
        "/live/deliveries/": 2,  # the page's ids, their states
        f"/live/webhooks/{hook}": 2,  # the webhook, its recent deliveries' states
        "/live/dashboard": 1,
    }
    for url, most in costs.items():
        run = statements(app, admin, url)
        assert len(run) <= most, (url, run)
        assert not any("body" in statement for statement in run), (url, run)
        assert not any("FROM attempts" in statement and "max" not in statement for statement in run)

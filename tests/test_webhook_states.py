"""Payload format, disabled webhooks (state filter, re-enable), secret rotation and the edit
page's links to the delivery log: what the admin sees, and what the database holds."""

import base64
import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.dates import format_datetime
from sqlalchemy import delete, func, select
from sqlalchemy.orm import selectinload
from standardwebhooks.webhooks import Webhook as SW
from standardwebhooks.webhooks import WebhookVerificationError

from tests.conftest import post_form
from tests.engine_helpers import DELIVERER_KEY, Script, api_token, bearer, expand, policy_of
from webhooks import dispatch, lifecycle
from webhooks.catalogue import all_events, get_event
from webhooks.extensions import db
from webhooks.models import Attempt, Delivery, Event, Webhook, as_utc
from webhooks.worker.outcome import GONE_REASON

VALID = {
    "name": "Zapier Integration",
    "url": "https://hooks.example.com/receiver",
    "event": "payment_received",
    "active": "y",
}
REASON = "HTTP 410 Gone: the receiver asked to stop receiving events"
ROW_NAME_RE = re.compile(r'<td><a href="/webhooks/\d+/edit">([^<]*)</a></td>')
FLASH_RE = re.compile(
    r'<div class="flash flash-(\w+)"[^>]*>\s*<strong>[^<]*</strong>(.*?)</div>', re.S
)
BANNER = "1 webhook was disabled"


# ---------------------------------------------------------------- helpers


def text(page: str) -> str:
    """The page as the user reads it: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def exact(moment: datetime) -> str:
    """A moment as the English pages write it exactly (and ``text`` reads it)."""
    return " ".join(format_datetime(as_utc(moment), "long", tzinfo=UTC, locale="en").split())


def page_of(client, path: str, **params) -> str:
    response = client.get(path, query_string=params)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def flashes(client, response) -> list[tuple[str, str]]:
    assert response.status_code == 302, response.get_data(as_text=True)
    page = page_of(client, response.headers["Location"])
    return [(cat, " ".join(html.unescape(msg).split())) for cat, msg in FLASH_RE.findall(page)]


def field_block(page: str, field_id: str) -> str:
    for block in re.findall(r'<div class="field[^"]*">.*?</div>', page, re.S):
        if f'id="{field_id}"' in block:
            return block
    raise AssertionError(f"no field {field_id!r} on the page")


def selected_option(page: str, select_id: str) -> str | None:
    tag = re.search(rf'<select[^>]*id="{select_id}".*?</select>', page, re.S)
    assert tag, f"no select {select_id!r}"
    option = re.search(
        r'<option (?:selected value="([^"]*)"|value="([^"]*)" selected)', tag.group(0)
    )
    return (option.group(1) or option.group(2)) if option else None


def row_names(page: str) -> list[str]:
    return [html.unescape(name) for name in ROW_NAME_RE.findall(page)]


def table_row(page: str, name: str) -> str:
    row = re.search(
        rf'<tr>\s*<td><input[^>]*aria-label="Select {re.escape(name)}".*?</tr>', page, re.S
    )
    assert row, f"no row for {name!r}"
    return row.group(0)


def stored(app, webhook_id: int) -> Webhook:
    with app.app_context():
        # With its events: read after the session is gone.
        webhook = db.session.get(Webhook, webhook_id, options=[selectinload(Webhook.event_rows)])
        db.session.expunge(webhook)
        return webhook


def webhook_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Webhook))


def preview_samples(page: str) -> dict:
    script = re.search(
        r'<script type="application/json" id="event-samples">(.*?)</script>', page, re.S
    )
    assert script
    return json.loads(script.group(1))


def preview_text(page: str) -> str:
    pre = re.search(r'<pre id="payload-preview"[^>]*>(.*?)</pre>', page, re.S)
    assert pre
    return html.unescape(re.sub(r"<[^>]+>", "", pre.group(1)))  # highlighted JSON's text


def received_headers(request) -> dict[str, str]:
    return {name: request.headers[name] for name in request.headers.keys()}


def click_send_test_event(admin, webhook_id: int):
    path = f"/webhooks/{webhook_id}/edit"
    return post_form(admin, f"/webhooks/{webhook_id}/test", {}, path)


@pytest.fixture
def disabled(make_webhook):
    """A webhook the system disabled five minutes ago, after failing for days."""
    now = datetime.now(UTC)
    return make_webhook(
        name="Broken receiver",
        active=False,
        disabled_at=now - timedelta(minutes=5),
        disabled_reason=REASON,
        failing_since=now - timedelta(days=5),
    )


# ---------------------------------------------------------------- payload format


def test_add_page_offers_standard_and_flat_with_standard_chosen(admin):
    page = page_of(admin, "/webhooks/new")
    block = field_block(page, "payload_format")
    assert '<label for="payload_format">Payload format</label>' in block
    assert re.search(r'<option (selected )?value="standard">Standard</option>', block)
    assert '<option value="flat">Flat</option>' in block
    assert selected_option(page, "payload_format") == "standard"
    help_text = text(block)
    assert '{"type", "timestamp", "data"}' in help_text
    assert "data object alone" in help_text and "Ultimate Multisite" in help_text
    assert "Both are signed" in help_text


@pytest.mark.parametrize("payload_format", ["standard", "flat"])
def test_chosen_payload_format_is_saved_and_shown_again(app, admin, payload_format):
    response = post_form(
        admin, "/webhooks/new", {**VALID, "payload_format": payload_format}, "/webhooks/new"
    )
    assert response.status_code == 302
    webhook_id = int(re.fullmatch(r"/webhooks/(\d+)/edit", response.headers["Location"])[1])
    assert stored(app, webhook_id).payload_format == payload_format
    page = page_of(admin, f"/webhooks/{webhook_id}/edit")
    assert selected_option(page, "payload_format") == payload_format


def test_without_a_payload_format_a_new_webhook_is_standard(app, admin):
    response = post_form(admin, "/webhooks/new", VALID, "/webhooks/new")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalars(select(Webhook.payload_format)).one() == "standard"


def test_editing_changes_the_payload_format(app, admin, make_webhook):
    webhook_id = make_webhook()
    path = f"/webhooks/{webhook_id}/edit"
    response = post_form(admin, path, {**VALID, "payload_format": "flat"}, path)
    assert response.status_code == 302
    assert stored(app, webhook_id).payload_format == "flat"


@pytest.mark.parametrize("value", ["xml", "", "Flat", "standard "])
def test_unknown_payload_format_is_refused_with_an_error_and_saves_nothing(app, admin, value):
    response = post_form(
        admin, "/webhooks/new", {**VALID, "payload_format": value}, "/webhooks/new"
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    block = field_block(page, "payload_format")
    assert "has-error" in block
    assert "Choose a payload format: Standard or Flat." in block
    for other in ("name", "url", "event"):
        assert "has-error" not in field_block(page, other)
    assert webhook_count(app) == 0


def test_unknown_payload_format_on_edit_keeps_the_row(app, admin, make_webhook):
    webhook_id = make_webhook(name="Original", payload_format="flat")
    path = f"/webhooks/{webhook_id}/edit"
    response = post_form(admin, path, {**VALID, "name": "Changed", "payload_format": "xml"}, path)
    assert response.status_code == 200
    assert "Choose a payload format" in field_block(
        response.get_data(as_text=True), "payload_format"
    )
    webhook = stored(app, webhook_id)
    assert (webhook.name, webhook.payload_format) == ("Original", "flat")


@pytest.mark.parametrize("path", ["/webhooks/new", "edit"])
def test_preview_data_holds_both_formats_of_every_event(admin, make_webhook, path):
    if path == "edit":
        path = f"/webhooks/{make_webhook()}/edit"
    page = page_of(admin, path)
    samples = preview_samples(page)
    slugs = {event.slug for event in all_events()}
    assert set(samples) == {"standard", "flat"}
    assert set(samples["standard"]) == slugs
    assert set(samples["flat"]) == slugs
    for slug in slugs:
        standard = json.loads(samples["standard"][slug])
        assert set(standard) == {"type", "timestamp", "data"}
        assert standard["type"] == slug
        assert standard["data"] == get_event(slug).sample_data()
        assert json.loads(samples["flat"][slug]) == get_event(slug).sample_data()
    assert 'data-preview-for="event"' in page
    assert 'data-preview-format="payload_format"' in page


def test_preview_of_a_flat_webhook_shows_the_data_alone(admin, make_webhook):
    webhook_id = make_webhook(event="domain_created", payload_format="flat")
    page = page_of(admin, f"/webhooks/{webhook_id}/edit")
    assert json.loads(preview_text(page)) == get_event("domain_created").sample_data()
    assert "in the Flat payload format" in text(page)


def test_preview_of_a_payment_created_webhook_shows_membership_and_billing_fields(
    admin, make_webhook
):
    webhook_id = make_webhook(event="payment_created", payload_format="flat")
    page = page_of(admin, f"/webhooks/{webhook_id}/edit")
    shown = json.loads(preview_text(page))
    assert shown["membership_reference_code"] == "MEMB-7F3A9C"
    assert shown["billing_city"] == "Mocktown"
    assert shown["company_name"] == "McMocked Ltd"
    assert '<option value="renewal_payment_created">New Renewal Payment Created</option>' in page


def test_preview_of_a_rejected_form_follows_the_chosen_format(admin):
    response = post_form(
        admin,
        "/webhooks/new",
        {**VALID, "name": "", "event": "invoice_sent", "payload_format": "flat"},
        "/webhooks/new",
    )
    page = response.get_data(as_text=True)
    assert selected_option(page, "payload_format") == "flat"
    assert json.loads(preview_text(page)) == get_event("invoice_sent").sample_data()


def test_script_switches_the_preview_on_both_selects(app):
    source = (Path(app.static_folder) / "js" / "app.js").read_text(encoding="utf-8")
    assert "data-preview-format" in source
    assert "samples[format]" in source


# ---------------------------------------------------------------- disabled webhooks


def test_disabled_webhook_is_shown_with_its_reason_and_a_re_enable_button(admin, disabled):
    page = page_of(admin, "/webhooks/")
    row = table_row(page, "Broken receiver")
    badge = re.search(r'<span class="badge fail" title="([^"]*)">Disabled</span>', row)
    assert badge, row
    assert REASON in html.unescape(badge.group(1))
    assert re.search(r"Disabled \w+ \d{1,2}, \d{4}, .+ UTC: ", badge.group(1))
    assert "HTTP 410 Gone" in text(row)  # visible, not only in the tooltip
    assert "Inactive" not in row and ">Active<" not in row
    assert re.search(
        rf'<form method="post" action="/webhooks/{disabled}/enable" class="inline">\s*'
        r'<input type="hidden" name="csrf_token" value="[^"]+">.*?Re-enable</button>',
        row,
        re.S,
    )


def test_a_long_reason_is_shown_whole_in_the_list_without_hovering(admin, make_webhook):
    reason = "Every attempt failed for 5 days; the last: " + "connection refused " * 10
    make_webhook(
        name="Long", active=False, disabled_at=datetime.now(UTC), disabled_reason=reason.strip()
    )
    row = table_row(page_of(admin, "/webhooks/"), "Long")
    assert f'<small class="disabled-reason">{reason.strip()}</small>' in html.unescape(row)
    assert f"{reason.strip()[:59]}…" not in row


@pytest.mark.parametrize("path", ["/webhooks/", "edit", "/webhooks/new", "/events/", "/tokens/"])
def test_banner_about_disabled_webhooks_is_on_every_admin_page(admin, disabled, path):
    if path == "edit":
        path = f"/webhooks/{disabled}/edit"
    page = page_of(admin, path)
    assert BANNER in page
    assert '<a href="/webhooks/?state=disabled">Review and re-enable</a>' in page


def test_edit_page_of_a_disabled_webhook_warns_with_reason_time_and_button(app, admin, disabled):
    page = page_of(admin, f"/webhooks/{disabled}/edit")
    box = re.search(r'<section class="card warning" role="alert".*?</section>', page, re.S)
    assert box
    box_text = text(box.group(0))
    assert "This webhook is disabled" in box_text
    assert REASON in box_text
    disabled_at = stored(app, disabled).disabled_at
    assert exact(disabled_at) in box_text
    assert as_utc(disabled_at).strftime('datetime="%Y-%m-%dT%H:%M:%SZ"') in box.group(0)
    assert "5 minutes ago" in box_text
    assert f'action="/webhooks/{disabled}/enable"' in box.group(0)
    assert "Re-enable</button>" in box.group(0)


def test_edit_page_of_an_enabled_webhook_has_no_warning(admin, make_webhook):
    page = page_of(admin, f"/webhooks/{make_webhook()}/edit")
    assert "This webhook is disabled" not in page
    assert "/enable" not in page
    assert BANNER not in page


def test_re_enable_clears_the_disabled_state_and_flashes(app, admin, disabled):
    path = f"/webhooks/{disabled}/edit"
    response = post_form(admin, f"/webhooks/{disabled}/enable", {}, path)
    assert response.headers["Location"] == path
    assert flashes(admin, response) == [
        ("success", "Webhook “Broken receiver” re-enabled: new events are delivered to it again.")
    ]
    webhook = stored(app, disabled)
    assert webhook.active is True
    assert webhook.disabled_at is None
    assert webhook.disabled_reason is None
    assert webhook.failing_since is None
    page = page_of(admin, "/webhooks/")
    assert BANNER not in page
    assert '<span class="badge ok">Active</span>' in table_row(page, "Broken receiver")


def add_deliveries(app, webhook_id: int, *statuses: str, created_at: datetime) -> list[int]:
    with app.app_context():
        rows = [
            Delivery(
                webhook_id=webhook_id,
                event_type="payment_received",
                body="{}",
                status=status,
                created_at=created_at,
                next_attempt_at=created_at if status in ("pending", "failing") else None,
            )
            for status in statuses
        ]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


def statuses_of(app, ids: list[int]) -> list[str]:
    with app.app_context():
        return [db.session.get(Delivery, delivery_id).status for delivery_id in ids]


def location_page(client, response) -> str:
    """The page a redirect leads to (its query string included)."""
    shown = client.get(response.headers["Location"])
    assert shown.status_code == 200
    return shown.get_data(as_text=True)


def offer_of(page: str) -> str | None:
    found = re.search(r'<section class="card notice retry-offer".*?</section>', page, re.S)
    return found.group(0) if found else None


def test_re_enable_offers_to_retry_what_the_disabling_failed_and_the_offer_retries_them(
    app, admin, make_webhook
):
    webhook_id = make_webhook(name="Shop")
    made = datetime.now(UTC) - timedelta(days=2)
    # Queued when the webhook is disabled: disabling fails them.
    queued = add_deliveries(app, webhook_id, "pending", "failing", "failing", created_at=made)
    # Given up a day before it was disabled, and delivered: not part of the offer.
    [given_up] = add_deliveries(app, webhook_id, "failed", created_at=made)
    with app.app_context():
        db.session.get(Delivery, given_up).failed_at = made + timedelta(hours=1)
        db.session.commit()
    [delivered] = add_deliveries(app, webhook_id, "succeeded", created_at=made)
    with app.app_context():
        lifecycle.disable(db.session.get(Webhook, webhook_id), GONE_REASON, datetime.now(UTC))
        db.session.commit()
    assert statuses_of(app, queued) == ["failed"] * 3

    path = f"/webhooks/{webhook_id}/edit"
    assert offer_of(page_of(admin, path)) is None  # disabled: nothing is offered yet
    response = post_form(admin, f"/webhooks/{webhook_id}/enable", {}, path)
    assert response.headers["Location"].startswith(f"{path}?retry_since=")
    page = location_page(admin, response)
    offer = offer_of(page)
    assert offer is not None
    assert "Retry what failed while it was disabled?" in text(offer)
    assert "3 deliveries of this webhook failed since it was disabled" in text(offer)
    assert "Retry 3 deliveries</button>" in offer
    assert 'action="/deliveries/recover"' in offer and 'name="csrf_token"' in offer
    fields = dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', offer))
    assert fields["webhook_id"] == str(webhook_id)

    response = admin.post("/deliveries/recover", data=fields)
    assert response.headers["Location"] == f"/deliveries/?webhook={webhook_id}"
    assert statuses_of(app, queued) == ["pending"] * 3
    assert statuses_of(app, [given_up, delivered]) == ["failed", "succeeded"]
    [(category, message)] = FLASH_RE.findall(location_page(admin, response))
    assert category == "success"
    assert html.unescape(message).strip().startswith("3 failed deliveries of “Shop” since ")
    # Once retried, the page offers nothing more.
    assert offer_of(page_of(admin, path, retry_since=fields["since"])) is None


def test_re_enable_with_nothing_failed_meanwhile_offers_nothing(app, admin, disabled):
    path = f"/webhooks/{disabled}/edit"
    response = post_form(admin, f"/webhooks/{disabled}/enable", {}, path)
    assert response.headers["Location"] == path
    assert offer_of(page_of(admin, path)) is None


def test_re_enable_from_the_list_leads_to_the_offer_when_deliveries_failed(
    app, admin, make_webhook
):
    webhook_id = make_webhook(name="Shop")
    [queued] = add_deliveries(app, webhook_id, "failing", created_at=datetime.now(UTC))
    with app.app_context():
        lifecycle.disable(db.session.get(Webhook, webhook_id), GONE_REASON, datetime.now(UTC))
        db.session.commit()
    response = post_form(
        admin, f"/webhooks/{webhook_id}/enable", {"next": "/webhooks/?state=disabled"}
    )
    assert response.headers["Location"].startswith(f"/webhooks/{webhook_id}/edit?retry_since=")
    offer = offer_of(location_page(admin, response))
    assert "1 delivery of this webhook failed since it was disabled" in text(offer)
    assert "Retry 1 delivery</button>" in offer
    assert statuses_of(app, [queued]) == ["failed"]  # nothing is retried until asked


@pytest.mark.parametrize("since", ["yesterday", "2026-13-01T00:00", "9" * 40, "2999-01-01T00:00"])
def test_a_bad_retry_since_on_the_webhook_page_offers_nothing(app, admin, make_webhook, since):
    webhook_id = make_webhook(name="Shop")
    add_deliveries(app, webhook_id, "failed", created_at=datetime.now(UTC))
    assert offer_of(page_of(admin, f"/webhooks/{webhook_id}/edit", retry_since=since)) is None


def test_re_enable_from_the_filtered_list_returns_to_it(app, admin, disabled):
    page = page_of(admin, "/webhooks/", state="disabled")
    next_value = re.search(
        rf'action="/webhooks/{disabled}/enable".*?name="next" value="([^"]*)"', page, re.S
    )
    assert next_value
    target = html.unescape(next_value.group(1))
    response = post_form(admin, f"/webhooks/{disabled}/enable", {"next": target})
    assert response.headers["Location"] == "/webhooks/?state=disabled"
    assert row_names(page_of(admin, "/webhooks/", state="disabled")) == []


def test_re_enable_without_csrf_token_changes_nothing(app, admin, disabled):
    response = admin.post(f"/webhooks/{disabled}/enable")
    assert response.status_code == 400
    assert stored(app, disabled).disabled_at is not None
    assert admin.get(f"/webhooks/{disabled}/enable").status_code == 405
    assert stored(app, disabled).disabled_reason == REASON


def test_re_enable_ignores_a_next_that_leaves_the_site(admin, disabled):
    response = post_form(admin, f"/webhooks/{disabled}/enable", {"next": "//evil.example/"})
    assert response.headers["Location"] == f"/webhooks/{disabled}/edit"


def test_re_enable_missing_webhook_is_not_found(admin):
    assert post_form(admin, "/webhooks/999/enable", {}).status_code == 404


def test_ticking_active_on_the_edit_form_re_enables(app, admin, disabled):
    path = f"/webhooks/{disabled}/edit"
    response = post_form(admin, path, {**VALID, "name": "Broken receiver"}, path)
    assert response.status_code == 302
    webhook = stored(app, disabled)
    assert (webhook.active, webhook.disabled_at, webhook.failing_since) == (True, None, None)


def test_saving_a_disabled_webhook_unticked_keeps_it_disabled(app, admin, disabled):
    path = f"/webhooks/{disabled}/edit"
    data = {key: value for key, value in VALID.items() if key != "active"}
    response = post_form(admin, path, {**data, "name": "Renamed"}, path)
    assert response.status_code == 302
    webhook = stored(app, disabled)
    assert webhook.name == "Renamed"
    assert webhook.active is False
    assert webhook.disabled_reason == REASON


def test_bulk_activate_clears_the_disabled_state(app, admin, disabled, make_webhook):
    failing = make_webhook(name="Failing", failing_since=datetime.now(UTC) - timedelta(days=1))
    response = post_form(
        admin, "/webhooks/bulk", {"action": "activate", "ids": [disabled, failing]}
    )
    assert flashes(admin, response) == [("success", "2 webhooks activated.")]
    webhook = stored(app, disabled)
    assert (webhook.active, webhook.disabled_at, webhook.disabled_reason) == (True, None, None)
    assert webhook.failing_since is None
    # A webhook that was active already keeps its failure clock, so it can still be disabled.
    assert stored(app, failing).failing_since is not None
    assert BANNER not in page_of(admin, "/webhooks/")


def test_bulk_deactivate_leaves_the_disabled_reason(app, admin, disabled):
    post_form(admin, "/webhooks/bulk", {"action": "deactivate", "ids": [disabled]})
    assert stored(app, disabled).disabled_reason == REASON


# ---------------------------------------------------------------- ?state= filter


@pytest.fixture
def three_states(make_webhook, disabled):
    make_webhook(name="On")
    make_webhook(name="Off", active=False)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        pytest.param("active", {"On"}, id="active"),
        pytest.param("inactive", {"Off"}, id="inactive"),
        pytest.param("disabled", {"Broken receiver"}, id="disabled"),
        pytest.param("", {"On", "Off", "Broken receiver"}, id="all"),
        pytest.param("bogus", {"On", "Off", "Broken receiver"}, id="unknown-means-all"),
    ],
)
def test_state_filter_shows_only_webhooks_in_that_state(admin, three_states, state, expected):
    page = page_of(admin, "/webhooks/", state=state)
    assert set(row_names(page)) == expected
    assert selected_option(page, "state") == (
        state if state in ("active", "inactive", "disabled") else ""
    )


def test_state_filter_combines_with_search_and_says_what_it_shows(admin, three_states):
    page = page_of(admin, "/webhooks/", state="disabled", q="broken")
    assert row_names(page) == ["Broken receiver"]
    assert "1 disabled webhook matching “broken”." in text(page)
    empty = page_of(admin, "/webhooks/", state="disabled", q="nothing")
    assert row_names(empty) == []
    assert "No disabled webhooks match “nothing”." in text(empty)
    assert "No webhooks yet" not in empty


def test_state_filter_with_nothing_in_that_state_is_not_the_empty_start_page(admin, make_webhook):
    make_webhook(name="On")
    page = page_of(admin, "/webhooks/", state="disabled")
    assert "No webhooks yet" not in page
    assert "No disabled webhooks." in text(page)
    assert '<a href="/webhooks/">Clear</a>' in page


def test_sort_links_keep_the_state_filter(admin, three_states):
    page = page_of(admin, "/webhooks/", state="inactive", sort="name")
    assert 'href="/webhooks/?state=inactive&amp;sort=name&amp;dir=desc"' in page
    assert 'href="/webhooks/?state=inactive&amp;sort=sent&amp;dir=asc"' in page
    # Without a filter the links are as before.
    assert 'href="/webhooks/?sort=name&amp;dir=desc"' in page_of(admin, "/webhooks/", sort="name")


def test_page_links_keep_the_state_filter(admin, make_webhook):
    for number in range(25):
        make_webhook(name=f"Off {number:02d}", active=False)
    make_webhook(name="On")
    page = page_of(admin, "/webhooks/", state="inactive", sort="name")
    assert len(row_names(page)) == 20
    assert 'href="/webhooks/?state=inactive&amp;sort=name&amp;page=2" rel="next"' in page
    second = page_of(admin, "/webhooks/", state="inactive", sort="name", page=2)
    assert row_names(second) == [f"Off {n}" for n in range(20, 25)]


def test_search_form_keeps_the_state(admin, three_states):
    page = page_of(admin, "/webhooks/", state="active")
    form = re.search(r'<form method="get" action="/webhooks/".*?</form>', page, re.S).group(0)
    assert '<select name="state" id="state">' in form
    assert '<option value="disabled">Disabled</option>' in form


# ---------------------------------------------------------------- rotating the secret


def test_edit_page_links_to_rotation_and_hides_previous_secret_before_any(app, admin, make_webhook):
    webhook_id = make_webhook()
    page = page_of(admin, f"/webhooks/{webhook_id}/edit")
    assert f'<a href="/webhooks/{webhook_id}/rotate">Rotate secret</a>' in page
    assert "Previous secret" not in page


def test_rotate_link_shows_a_confirmation_and_changes_nothing(app, admin, make_webhook):
    webhook_id = make_webhook(name="Books")
    before = stored(app, webhook_id)
    response = admin.get(f"/webhooks/{webhook_id}/rotate")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Rotate the signing secret?" in page
    assert "Books" in page
    assert "both the old and the new secret sign every request" in text(page)
    assert "24 hours" in text(page)
    assert re.search(
        rf'<form method="post" action="/webhooks/{webhook_id}/rotate">\s*'
        r'<input id="csrf_token" name="csrf_token" type="hidden" value="[^"]+">',
        page,
    )
    assert f'href="/webhooks/{webhook_id}/edit">Cancel</a>' in page
    after = stored(app, webhook_id)
    assert after.secret == before.secret
    assert after.previous_secret is None and after.previous_secret_expires_at is None


def test_rotating_keeps_the_old_secret_for_24_hours(app, admin, make_webhook):
    webhook_id = make_webhook(name="Books")
    old = stored(app, webhook_id).secret
    path = f"/webhooks/{webhook_id}/rotate"
    started = datetime.now(UTC)
    response = post_form(admin, path, {}, path)
    finished = datetime.now(UTC)
    assert response.headers["Location"] == f"/webhooks/{webhook_id}/edit"

    webhook = stored(app, webhook_id)
    assert webhook.secret != old
    assert webhook.secret.startswith("whsec_")
    assert len(base64.b64decode(webhook.secret.removeprefix("whsec_"))) == 32
    assert webhook.previous_secret == old
    expires = as_utc(webhook.previous_secret_expires_at)
    assert started + timedelta(hours=24) - timedelta(seconds=1) <= expires
    assert expires <= finished + timedelta(hours=24) + timedelta(seconds=1)

    [(category, message)] = flashes(admin, response)
    assert category == "success"
    assert "The signing secret of “Books” was rotated." in message
    assert "For 24 hours" in message
    assert "both the old and the new secret sign every request" in message
    assert "two space-separated signatures" in message
    assert exact(expires) in " ".join(message.split())


def test_after_rotation_the_edit_page_reveals_both_secrets(app, admin, make_webhook):
    webhook_id = make_webhook()
    path = f"/webhooks/{webhook_id}/rotate"
    post_form(admin, path, {}, path)
    webhook = stored(app, webhook_id)
    page = page_of(admin, f"/webhooks/{webhook_id}/edit")
    expires = exact(webhook.previous_secret_expires_at)
    assert f"Previous secret valid until {expires} ( in 1 day )" in text(page)  # ( <time> )
    details = re.findall(r'<details class="secret"[^>]*>(.*?)</details>', page, re.S)
    assert webhook.secret in details[0]
    assert webhook.previous_secret in details[1]
    assert page.count(webhook.secret) == 1
    assert page.count(webhook.previous_secret) == 1


def test_an_expired_previous_secret_is_no_longer_shown(app, admin, make_webhook):
    webhook_id = make_webhook(
        previous_secret="whsec_" + base64.b64encode(b"o" * 32).decode(),
        previous_secret_expires_at=datetime.now(UTC) - timedelta(minutes=1),
    )
    page = page_of(admin, f"/webhooks/{webhook_id}/edit")
    assert "Previous secret" not in page
    assert base64.b64encode(b"o" * 32).decode() not in page


def test_rotating_again_within_the_overlap_warns_first(app, admin, make_webhook):
    webhook_id = make_webhook()
    path = f"/webhooks/{webhook_id}/rotate"
    post_form(admin, path, {}, path)
    page = page_of(admin, path)
    assert "still valid until" in text(page)
    assert "Rotating now replaces it at once" in text(page)


def test_rotate_without_csrf_token_changes_nothing(app, admin, make_webhook):
    webhook_id = make_webhook()
    before = stored(app, webhook_id).secret
    response = admin.post(f"/webhooks/{webhook_id}/rotate")
    assert response.status_code == 400
    webhook = stored(app, webhook_id)
    assert webhook.secret == before and webhook.previous_secret is None


def test_rotating_a_missing_webhook_is_not_found(admin):
    assert admin.get("/webhooks/999/rotate").status_code == 404


def test_after_rotation_a_test_event_is_signed_with_both_secrets(
    app, admin, receiver, make_webhook
):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    webhook_id = make_webhook(url=receiver.url_for("/hook"))
    old = stored(app, webhook_id).secret
    path = f"/webhooks/{webhook_id}/rotate"
    post_form(admin, path, {}, path)
    new = stored(app, webhook_id).secret

    [(category, _)] = flashes(admin, click_send_test_event(admin, webhook_id))
    assert category == "success"
    [(request, _)] = receiver.log
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(signature.startswith("v1,") for signature in signatures)
    body = request.get_data(as_text=True)
    headers = received_headers(request)
    assert SW(new).verify(body, headers)["type"] == "payment_received"
    assert SW(old).verify(body, headers)["type"] == "payment_received"
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        SW(other).verify(body, headers)
    # Each signature belongs to one secret: the old one alone still verifies.
    only_old = {**headers, "webhook-signature": signatures[1]}
    assert SW(old).verify(body, only_old)
    with pytest.raises(WebhookVerificationError):
        SW(new).verify(body, only_old)


def test_once_the_overlap_ends_only_the_new_secret_signs(app, admin, receiver, make_webhook):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    old = "whsec_" + base64.b64encode(b"o" * 32).decode()
    webhook_id = make_webhook(
        url=receiver.url_for("/hook"),
        previous_secret=old,
        previous_secret_expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    click_send_test_event(admin, webhook_id)
    [(request, _)] = receiver.log
    assert " " not in request.headers["webhook-signature"]
    body, headers = request.get_data(as_text=True), received_headers(request)
    assert SW(stored(app, webhook_id).secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        SW(old).verify(body, headers)


def test_flat_webhook_test_event_is_the_sample_data_alone_and_signed(
    app, admin, receiver, make_webhook
):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    webhook_id = make_webhook(
        url=receiver.url_for("/hook"), event="customer_created", payload_format="flat"
    )
    [(category, _)] = flashes(admin, click_send_test_event(admin, webhook_id))
    assert category == "success"
    [(request, _)] = receiver.log
    body = request.get_data(as_text=True)
    payload = json.loads(body)
    assert payload == get_event("customer_created").sample_data()
    assert "type" not in payload and "data" not in payload and "timestamp" not in payload
    assert SW(stored(app, webhook_id).secret).verify(body, received_headers(request)) == payload
    with app.app_context():
        assert json.loads(db.session.scalars(select(Delivery.body)).one()) == payload


# ---------------------------------------------------------------- edit page: deliveries


def test_edit_page_counts_succeeded_deliveries_and_links_to_the_log(app, admin, make_webhook):
    webhook_id = make_webhook(sent_count=7)
    with app.app_context():
        delivery = Delivery(
            webhook_id=webhook_id, event_type="payment_received", body="{}", status="succeeded"
        )
        db.session.add(delivery)
        db.session.commit()
        delivery_id = delivery.id
    page = page_of(admin, f"/webhooks/{webhook_id}/edit")
    assert "Sent 7 real deliveries succeeded" in text(page)
    assert f'<a href="/deliveries/?webhook={webhook_id}">All deliveries of this webhook</a>' in page
    row = re.search(r"<tbody>.*?</tbody>", page, re.S).group(0)
    assert re.search(rf'<a href="/deliveries/{delivery_id}"><time datetime="[^"]+Z" ', row)


def test_edit_page_shows_one_succeeded_delivery_in_the_singular(admin, make_webhook):
    page = page_of(admin, f"/webhooks/{make_webhook(sent_count=1)}/edit")
    assert "Sent 1 real delivery succeeded" in text(page)


# ---------------------------------------------------------------- 410 Gone from a Zapier receiver


def one_batch(app, now: datetime) -> None:
    """Claim, send and record every due delivery in one batch, as the worker pool does."""
    with app.app_context():
        deliverer, policy = app.extensions[DELIVERER_KEY], policy_of(app)
        jobs = lifecycle.load(lifecycle.claim(now, 100, policy), deliverer, now)
        lifecycle.record([(job, deliverer.attempt_now(job.prepared)) for job in jobs], policy, now)


def report_payment(app, times: int = 1) -> None:
    """Report payments and expand them into deliveries, as a worker does at once."""
    with app.app_context():
        for _ in range(times):
            dispatch("payment_received", {"payment_id": 7})
    expand(app)


def table_counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            "webhook_disabled events": db.session.scalar(
                select(func.count()).select_from(Event).where(Event.type == "webhook_disabled")
            ),
            "attempts": db.session.scalar(select(func.count()).select_from(Attempt)),
        }


@pytest.fixture
def zap_and_bystander(receiver, make_webhook):
    """A Zapier webhook whose zap was turned off (410) and a person's webhook answering 200,
    both on payment_received."""
    zap, ok = Script(410), Script(200)
    receiver.expect_request("/zap", method="POST").respond_with_handler(zap)
    receiver.expect_request("/ok", method="POST").respond_with_handler(ok)
    zap_id = make_webhook(
        name="Zapier: Payment Received",
        url=receiver.url_for("/zap"),
        integration="zapier",
        payload_format="flat",
    )
    bystander_id = make_webhook(name="Bystander", url=receiver.url_for("/ok"))
    return zap_id, zap, bystander_id, ok


@pytest.mark.embedded_engine
def test_410_removes_a_zapier_webhook_mid_batch_and_records_the_rest(
    app, zap_and_bystander, caplog
):
    zap_id, zap, bystander_id, ok = zap_and_bystander
    report_payment(app, times=2)
    with app.app_context():  # a third delivery waits for later: it goes with the webhook too
        later = Delivery(
            webhook_id=zap_id,
            event_type="payment_received",
            body="{}",
            status="pending",
            next_attempt_at=datetime.now(UTC) + timedelta(hours=1),
        )
        db.session.add(later)
        db.session.commit()
    caplog.set_level("INFO", logger="webhooks.lifecycle")

    one_batch(app, datetime.now(UTC) + timedelta(seconds=1))

    assert zap.count() == 2 and ok.count() == 2  # both sent in the one batch
    assert webhook_count(app) == 1
    with app.app_context():
        assert db.session.get(Webhook, zap_id) is None
        left = db.session.scalars(select(Delivery).order_by(Delivery.id)).all()
        assert [(d.webhook_id, d.status, d.attempt_count) for d in left] == [
            (bystander_id, "succeeded", 1),
            (bystander_id, "succeeded", 1),
        ]
        assert db.session.get(Webhook, bystander_id).sent_count == 2
    # The bystander's attempts were recorded; the zap's went with it; nothing says "disabled".
    assert table_counts(app) == {"webhook_disabled events": 0, "attempts": 2}
    lines = [r for r in caplog.records if r.name == "webhooks.lifecycle"]
    assert [(r.levelname, "Zapier webhook" in r.getMessage()) for r in lines] == [("INFO", True)]
    assert "/zap" not in lines[0].getMessage()


@pytest.mark.embedded_engine
def test_zapier_webhook_failing_for_days_without_410_is_disabled_not_removed(
    app, receiver, make_webhook
):
    receiver.expect_request("/zap", method="POST").respond_with_handler(Script(500))
    zap_id = make_webhook(
        url=receiver.url_for("/zap"),
        integration="zapier",
        failing_since=datetime.now(UTC) - timedelta(days=6),
    )
    report_payment(app)

    one_batch(app, datetime.now(UTC) + timedelta(seconds=1))

    webhook = stored(app, zap_id)
    assert webhook.active is False
    assert "failed for 5 days" in webhook.disabled_reason


@pytest.mark.embedded_engine
def test_410_for_a_zapier_webhook_deleted_while_its_results_are_recorded_is_no_error(
    app, zap_and_bystander, monkeypatch
):
    """Zapier unsubscribed (or another worker removed) the webhook after this batch read it:
    the worker records the rest of the batch and goes on."""
    zap_id, zap, bystander_id, ok = zap_and_bystander
    report_payment(app)
    figures = lifecycle._update_webhook_figures

    def figures_then_gone(webhook_id, *args, **kwargs):
        figures(webhook_id, *args, **kwargs)
        if webhook_id == zap_id:
            db.session.execute(delete(Webhook).where(Webhook.id == zap_id))

    monkeypatch.setattr(lifecycle, "_update_webhook_figures", figures_then_gone)

    one_batch(app, datetime.now(UTC) + timedelta(seconds=1))

    assert zap.count() == 1
    assert webhook_count(app) == 1
    with app.app_context():
        bystander = db.session.scalars(select(Delivery)).one()
        assert (bystander.webhook_id, bystander.status) == (bystander_id, "succeeded")
    assert table_counts(app) == {"webhook_disabled events": 0, "attempts": 1}


@pytest.mark.embedded_engine
def test_result_of_a_zapier_webhook_unsubscribed_while_sending_is_dropped(
    app, zap_and_bystander, client
):
    zap_id, zap, _bystander_id, _ok = zap_and_bystander
    report_payment(app)
    now = datetime.now(UTC) + timedelta(seconds=1)
    with app.app_context():
        deliverer, policy = app.extensions[DELIVERER_KEY], policy_of(app)
        jobs = lifecycle.load(lifecycle.claim(now, 100, policy), deliverer, now)
        results = [(job, deliverer.attempt_now(job.prepared)) for job in jobs]
    response = client.delete(f"/api/v1/zapier/subscribe/{zap_id}", headers=bearer(api_token(app)))
    assert response.status_code == 200
    with app.app_context():
        lifecycle.record(results, policy, now)

    assert zap.count() == 1
    assert webhook_count(app) == 1
    assert table_counts(app) == {"webhook_disabled events": 0, "attempts": 1}

"""Warnings after saving a webhook: another webhook already sends the same event to the same
receiver, or the recipient guard would refuse the URL. The webhook is saved either way; the
warning is a flash on the page the save leads to, in the page's language."""

import html
import re
import time

import pytest
from sqlalchemy import select

from tests.conftest import post_form
from tests.test_deadline import SLOW_NAME, slow_dns  # noqa: F401 (a fixture)
from webhooks.extensions import db
from webhooks.models import Webhook
from webhooks.urls import receiver_key

FLASH_RE = re.compile(
    r'<div class="flash flash-(\w+)"[^>]*>\s*<strong>([^<]*)</strong>(.*?)</div>', re.S
)
HOOK = "http://127.0.0.1:8080/hook"
BLOCKED = (
    "The webhook is saved, but its deliveries would be blocked now: blocked address: "
    "127.0.0.1 is a loopback address; webhooks may only reach public addresses unless "
    "WEBHOOKS_ALLOWED_NETWORKS allows its range."
)


def flashes_after(admin, response) -> list[tuple[str, str, str]]:
    """Follow the save's redirect: (category, label, message markup) of each flash shown."""
    assert response.status_code == 302, response.get_data(as_text=True)
    page = admin.get(response.headers["Location"])
    assert page.status_code == 200
    return [
        (category, label, " ".join(message.split()))
        for category, label, message in FLASH_RE.findall(page.get_data(as_text=True))
    ]


def warnings_after(admin, response) -> list[str]:
    return [
        message for category, _, message in flashes_after(admin, response) if category == "warning"
    ]


def add(admin, **fields):
    data = {"name": "New receiver", "url": HOOK, "event": "payment_received", "active": "y"}
    return post_form(admin, "/webhooks/new", {**data, **fields}, "/webhooks/new")


def save(admin, webhook_id: int, **fields):
    data = {"name": "Edited", "url": HOOK, "event": "payment_received", "active": "y"}
    path = f"/webhooks/{webhook_id}/edit"
    return post_form(admin, path, {**data, **fields}, path)


def saved(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        webhooks = db.session.scalars(select(Webhook).order_by(Webhook.id))
        return [(webhook.name, webhook.url, webhook.event) for webhook in webhooks]


def link(webhook_id: int, name: str) -> str:
    return f'<a href="/webhooks/{webhook_id}/edit">“{name}”</a>'


# ---------------------------------------------------------------- the same URL and event


def test_adding_a_webhook_with_the_url_and_event_of_another_warns_with_a_link(
    app, admin, make_webhook
):
    billing = make_webhook(name="Billing", url=HOOK, event="payment_received")

    response = add(admin, name="Billing again")

    flashes = flashes_after(admin, response)
    assert flashes[0][0] == "success" and "Webhook “Billing again” added." in flashes[0][2]
    assert flashes[1:] == [
        (
            "warning",
            "Warning:",
            "1 other webhook already sends this event to the same URL "
            f"({link(billing, 'Billing')}): the receiver gets each event once from each webhook.",
        )
    ]
    assert saved(app) == [
        ("Billing", HOOK, "payment_received"),
        ("Billing again", HOOK, "payment_received"),
    ]


@pytest.mark.parametrize(
    ("existing", "typed"),
    [
        ("http://127.0.0.1:8080/hook", "HTTP://127.0.0.1:8080/hook"),
        ("http://127.0.0.1/hook", "http://127.0.0.1:80/hook"),
        ("https://127.0.0.1", "https://127.0.0.1:443/"),
        ("http://127.0.0.1:8080/hook?to=crm", "http://127.0.0.1:8080/hook?to=crm#section"),
    ],
)
def test_urls_that_reach_the_same_receiver_count_as_the_same(admin, make_webhook, existing, typed):
    other = make_webhook(name="First", url=existing)
    warnings = warnings_after(admin, add(admin, url=typed))
    assert len(warnings) == 1 and link(other, "First") in warnings[0]


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("https://bücher.example/in", "https://xn--bcher-kva.example/in", True),
        ("http://[::1]:8080/in", "http://[0:0:0:0:0:0:0:1]:8080/in", False),  # typed apart
        ("http://[::1]/in", "HTTP://[::1]:80/in", True),
        ("https://example.com/In", "https://example.com/in", False),  # paths are case-sensitive
        ("https://example.com/in/", "https://example.com/in", False),
    ],
)
def test_receiver_key_evens_out_only_what_does_not_change_the_request(first, second, same):
    assert (receiver_key(first) == receiver_key(second)) is same


@pytest.mark.parametrize(
    ("url", "event"),
    [
        ("http://127.0.0.1:8080/other", "payment_received"),  # another path
        ("http://127.0.0.1:8080/hook?to=crm", "payment_received"),  # another query
        ("http://127.0.0.1:8081/hook", "payment_received"),  # another port
        ("https://127.0.0.1:8080/hook", "payment_received"),  # another scheme
        (HOOK, "payment_failed"),  # another event
    ],
)
def test_no_warning_for_a_different_url_or_event(app, admin, make_webhook, url, event):
    make_webhook(name="First", url=HOOK, event="payment_received")
    flashes = flashes_after(admin, add(admin, url=url, event=event))
    assert [category for category, _, _ in flashes] == ["success"]
    assert len(saved(app)) == 2


def test_saving_a_webhook_unchanged_does_not_warn_about_itself(admin, make_webhook):
    webhook_id = make_webhook(name="Alone", url=HOOK)
    flashes = flashes_after(admin, save(admin, webhook_id, name="Alone"))
    assert flashes == [("success", "Success:", "Webhook “Alone” saved.")]


def test_editing_a_webhook_onto_anothers_url_and_event_warns(app, admin, make_webhook):
    first = make_webhook(name="First", url=HOOK, event="invoice_sent")
    second = make_webhook(name="Second", url="http://127.0.0.1:9000/x", event="payment_received")

    warnings = warnings_after(admin, save(admin, second, name="Second", event="invoice_sent"))

    assert len(warnings) == 1 and link(first, "First") in warnings[0]
    assert saved(app)[1] == ("Second", HOOK, "invoice_sent")


def test_several_duplicates_are_counted_and_named(admin, make_webhook):
    ids = [make_webhook(name=f"Copy {number}", url=HOOK) for number in range(7)]
    (warning,) = warnings_after(admin, add(admin))
    assert warning.startswith("7 other webhooks already send this event to the same URL (")
    assert all(link(webhook_id, f"Copy {n}") in warning for n, webhook_id in enumerate(ids[:5]))
    assert "Copy 5" not in warning and "…" in warning


def test_the_other_webhooks_name_is_escaped_in_the_warning(admin, make_webhook):
    make_webhook(name='<img src=x onerror="alert(1)">', url=HOOK)
    (warning,) = warnings_after(admin, add(admin))
    assert "<img" not in warning
    assert "“&lt;img src=x onerror=&#34;alert(1)&#34;&gt;”</a>" in warning


# ---------------------------------------------------------------- the recipient guard


@pytest.fixture
def no_allow_list(config):
    """The recipient guard's default: no range allowed. Asked for before the app is made."""
    config["ALLOWED_NETWORKS"] = ""
    return config


def test_a_url_the_guard_blocks_is_saved_with_the_guards_reason(no_allow_list, app, admin):
    response = add(admin, name="Local receiver")

    flashes = flashes_after(admin, response)
    assert [category for category, _, _ in flashes] == ["success", "warning"]
    assert html.unescape(flashes[1][2]) == BLOCKED
    assert saved(app) == [("Local receiver", HOOK, "payment_received")]


def test_editing_onto_a_blocked_url_warns(no_allow_list, app, admin, make_webhook):
    webhook_id = make_webhook(name="Moved", url="https://93.184.215.14/hook")
    warnings = warnings_after(admin, save(admin, webhook_id, name="Moved"))
    assert [html.unescape(warning) for warning in warnings] == [BLOCKED]
    assert saved(app) == [("Moved", HOOK, "payment_received")]


def test_a_url_the_allow_list_lets_through_gets_no_warning(app, admin):
    # The test settings allow 127.0.0.0/8, where the tests' receivers listen.
    assert app.config["ALLOWED_NETWORKS"] == "127.0.0.0/8"
    flashes = flashes_after(admin, add(admin))
    assert [category for category, _, _ in flashes] == ["success"]


def test_a_public_address_gets_no_warning(no_allow_list, admin):
    flashes = flashes_after(admin, add(admin, url="https://93.184.215.14/hook"))
    assert [category for category, _, _ in flashes] == ["success"]


def test_both_warnings_show_together(no_allow_list, admin, make_webhook):
    other = make_webhook(name="Billing", url=HOOK)
    warnings = warnings_after(admin, add(admin))
    assert len(warnings) == 2
    assert link(other, "Billing") in warnings[0]
    assert html.unescape(warnings[1]) == BLOCKED


def test_a_host_name_that_does_not_resolve_is_a_warning_not_an_error(app, admin):
    started = time.monotonic()
    response = add(admin, url="https://receiver.invalid/hook")
    took = time.monotonic() - started

    (warning,) = warnings_after(admin, response)
    warning = html.unescape(warning)
    assert warning in (
        "The webhook is saved, but its deliveries would fail now: DNS failure: the host name "
        "receiver.invalid could not be resolved.",
        "The webhook is saved, but the host name receiver.invalid did not resolve within 2 "
        "seconds, so whether the recipient guard lets its deliveries through was not checked.",
    )
    assert took < 5
    assert saved(app) == [("New receiver", "https://receiver.invalid/hook", "payment_received")]


@pytest.mark.usefixtures("slow_dns")
def test_a_lookup_that_outlasts_the_bound_is_reported_as_unchecked_without_holding_the_save(
    app, admin
):
    started = time.monotonic()
    response = add(admin, url=f"http://{SLOW_NAME}/hook")
    took = time.monotonic() - started

    (warning,) = warnings_after(admin, response)
    assert html.unescape(warning) == (
        f"The webhook is saved, but the host name {SLOW_NAME} did not resolve within 2 seconds, "
        "so whether the recipient guard lets its deliveries through was not checked."
    )
    assert took < 2.8, took  # the 3 s lookup is left behind at the 2 s bound
    assert saved(app) == [("New receiver", f"http://{SLOW_NAME}/hook", "payment_received")]


# ---------------------------------------------------------------- Turkish


def test_the_warnings_are_turkish_for_a_turkish_browser(no_allow_list, admin, make_webhook):
    other = make_webhook(name="Fatura", url=HOOK)
    admin.environ_base["HTTP_ACCEPT_LANGUAGE"] = "tr"

    flashes = flashes_after(admin, add(admin))

    warnings = [(label, message) for category, label, message in flashes if category == "warning"]
    assert [label for label, _ in warnings] == ["Uyarı:", "Uyarı:"]
    assert html.unescape(warnings[0][1]) == (
        f"1 başka webhook bu olayı zaten aynı URL'ye gönderiyor ({link(other, 'Fatura')}): "
        "alıcı her olayı her webhook'tan bir kez alır."
    )
    assert html.unescape(warnings[1][1]) == (
        "Webhook kaydedildi, ancak teslimatları şu anda engellenir: engellenen adres: 127.0.0.1 "
        "(geri döngü adresi); webhook'lar, WEBHOOKS_ALLOWED_NETWORKS aralığına izin vermedikçe "
        "yalnızca genel adreslere ulaşabilir."
    )

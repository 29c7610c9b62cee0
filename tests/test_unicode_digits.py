"""Digits that are not ASCII ("²", "①", full-width "１") where a number is read: a page number,
a bulk selection, an id, a receiver's Retry-After, a setting. Python's ``str.isdigit()`` takes
them and ``int()`` refuses some of them, which used to end in an HTTP 500."""

from datetime import UTC, datetime

import pytest

from tests.conftest import post_form
from webhooks.auth.sessions import trusted_proxies
from webhooks.extensions import db
from webhooks.models import Webhook
from webhooks.numbers import plain_digits
from webhooks.worker.retry import retry_after_seconds

NOT_ASCII = ["²", "①", "１", "٣", "1²", "߂"]


@pytest.mark.parametrize("text", NOT_ASCII)
def test_only_ascii_digits_are_plain_digits(text):
    assert text.isdigit()
    assert not plain_digits(text)


@pytest.mark.parametrize("text", ["0", "7", "0123456789"])
def test_ascii_digits_are_plain_digits(text):
    assert plain_digits(text)


@pytest.mark.parametrize("path", ["/webhooks/", "/tokens/", "/deliveries/"])
@pytest.mark.parametrize("page", NOT_ASCII)
def test_a_unicode_digit_as_page_number_is_read_as_no_page_number(admin, path, page):
    response = admin.get(path, query_string={"page": page})

    assert response.status_code == 200


@pytest.mark.parametrize("raw", ["²", "①", "１"])
def test_a_unicode_digit_in_a_bulk_selection_selects_nothing(app, admin, make_webhook, raw):
    kept = make_webhook(name="Kept")

    response = post_form(
        admin,
        "/webhooks/bulk",
        {"action": "delete", "ids": [raw], "confirmed": "1"},
    )

    assert response.status_code in (200, 302)
    with app.app_context():
        assert db.session.get(Webhook, kept) is not None


def test_a_unicode_digit_as_a_test_send_id_shows_the_page_without_it(admin, make_webhook):
    webhook = make_webhook()

    assert (
        admin.get(f"/webhooks/{webhook}/edit", query_string={"test_send": "²"}).status_code == 200
    )


@pytest.mark.parametrize("path", ["/webhooks/²", "/webhooks/①/edit", "/deliveries/１"])
def test_a_unicode_digit_as_an_id_is_not_found(admin, path):
    assert admin.get(path).status_code == 404


@pytest.mark.parametrize("value", ["²", "①", " ² "])
def test_a_receivers_retry_after_in_unicode_digits_is_ignored(value):
    assert retry_after_seconds(value, datetime.now(UTC)) is None


def test_a_setting_in_unicode_digits_is_refused_with_its_name(app):
    app.config["TRUSTED_PROXIES"] = "²"

    with pytest.raises(
        ValueError, match="WEBHOOKS_TRUSTED_PROXIES: .². is not a number of proxies"
    ):
        trusted_proxies(app)

"""The rules of a webhook's fields (webhooks/rules.py): each takes a value and gives it back
cleaned or refuses it with a message, and the admin form and the API, which both call them,
store the same cleaned value and show the same message."""

import html

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from tests.conftest import post_form
from tests.engine_helpers import api_token, bearer
from webhooks import custom_headers, rules
from webhooks.extensions import db
from webhooks.models import Webhook

NAME_REQUIRED = "Give the webhook a name."
NAME_LENGTH = "The name must be 2 to 191 characters long."
CONTROL = "Remove the control characters (such as tabs or line breaks)."
URL_REQUIRED = "Enter the URL that should receive the events."
URL_SCHEME = "The URL must start with http:// or https://."
URL_CREDENTIALS = (
    "Remove the user name and password from the URL; credentials in URLs leak into logs."
)
URL_PORT = "The port in the URL is not valid."
URL_LONG = "The URL can be at most 2048 characters long."
EVENT_CHOICE = "Choose one of the events in the list."
FORMAT_CHOICE = "Choose a payload format: Standard or Flat."
CAP_RANGE = "Enter a whole number from 1 to 1000."
RATE_RANGE = "Enter a whole number from 1 to 10000, or leave it empty."

GOOD = [
    (rules.name, "Shop", "Shop"),
    (rules.name, "  Shop  ", "Shop"),
    (rules.name, "N" * 191, "N" * 191),
    (rules.name, "Ödeme İşlemleri", "Ödeme İşlemleri"),
    (rules.url, "https://example.com/hook", "https://example.com/hook"),
    (rules.url, " http://example.com:8080/h?x=1 ", "http://example.com:8080/h?x=1"),
    (rules.event, "payment_received", "payment_received"),
    (rules.payload_format, "flat", "flat"),
    (rules.max_in_flight, 1, 1),
    (rules.max_in_flight, 1000, 1000),
    (rules.max_in_flight, None, 10),
    (rules.rate_limit, 10000, 10000),
    (rules.rate_limit, None, None),
]
BAD = [
    (rules.name, None, NAME_REQUIRED),
    (rules.name, "", NAME_REQUIRED),
    (rules.name, "   ", NAME_LENGTH),
    (rules.name, "A", NAME_LENGTH),
    (rules.name, "N" * 192, NAME_LENGTH),
    (rules.name, "Tab\there", CONTROL),
    (rules.name, "Half \ud800", "The text contains characters that cannot be stored."),
    (rules.url, "", URL_REQUIRED),
    (rules.url, "example.com/hook", URL_SCHEME),
    (rules.url, "https://user:pass@example.com/", URL_CREDENTIALS),
    (rules.url, "https://example.com:0/", URL_PORT),
    (rules.url, "https://exa mple.com/", "The URL must not contain spaces or control characters."),
    (rules.url, "https://example.com/" + "a" * 2048, URL_LONG),
    (rules.event, "no_such_event", EVENT_CHOICE),
    (rules.event, "", EVENT_CHOICE),
    (rules.event, None, EVENT_CHOICE),
    (rules.payload_format, "xml", FORMAT_CHOICE),
    (rules.max_in_flight, 0, CAP_RANGE),
    (rules.max_in_flight, 1001, CAP_RANGE),
    (rules.rate_limit, 0, RATE_RANGE),
    (rules.rate_limit, 10001, RATE_RANGE),
]


def case_id(value) -> str:
    """The same test id in every xdist worker: a rule by its name, a value by its repr."""
    return value.__name__ if callable(value) else repr(value)


@pytest.mark.parametrize(("rule", "value", "cleaned"), GOOD, ids=case_id)
def test_a_rule_gives_back_a_good_value_cleaned(app, rule, value, cleaned):
    with app.test_request_context("/"):
        assert rule(value) == cleaned


@pytest.mark.parametrize(("rule", "value", "message"), BAD, ids=case_id)
def test_a_rule_refuses_a_bad_value_with_its_message(app, rule, value, message):
    with app.test_request_context("/"), pytest.raises(rules.RuleError) as refused:
        rule(value)

    assert str(refused.value) == message


def test_the_headers_rule_keeps_stored_values_and_refuses_what_the_service_sets(app):
    with app.test_request_context("/"):
        kept = rules.headers([("authorization", None), ("X-New", "b")], {"Authorization": "a"})
        assert kept == {"authorization": "a", "X-New": "b"}
        with pytest.raises(rules.RuleError, match="is set by the service"):
            rules.headers([("Host", "x")], {})
        with pytest.raises(rules.RuleError, match="at most 20 headers"):
            rules.headers([(f"X-{n}", "v") for n in range(21)], {})


def test_a_rules_message_is_shown_in_the_pages_language(app):
    with app.test_request_context("/", headers={"Accept-Language": "tr"}):
        with pytest.raises(rules.RuleError) as refused:
            rules.name("")
        turkish = str(refused.value)
    with app.test_request_context("/api/v1/webhooks", headers={"Accept-Language": "tr"}):
        with pytest.raises(rules.RuleError) as refused:
            rules.name("")
        english = str(refused.value)

    assert english == NAME_REQUIRED
    assert turkish and turkish != NAME_REQUIRED


# ---------------------------------------------------------------- the form and the API agree

VALID_FORM = {
    "name": "Rules",
    "url": "https://example.com/in",
    "event": "invoice_sent",
    "payload_format": "standard",
    "active": "y",
}
VALID_API = {"name": "Rules", "url": "https://example.com/in", "event": "invoice_sent"}

# field: (what the form posts, what the API sends, what is stored)
SAME_GOOD = {
    "name": ({"name": "  Spaced out  "}, {"name": "  Spaced out  "}, "Spaced out"),
    "url": ({"url": " https://example.com/x "}, {"url": " https://example.com/x "}, None),
    "event": ({"event": "site_published"}, {"event": "site_published"}, "site_published"),
    "payload_format": ({"payload_format": "flat"}, {"payload_format": "flat"}, "flat"),
    "max_in_flight": ({"max_in_flight": "7"}, {"max_in_flight": 7}, 7),
    "rate_limit": ({"rate_limit": "25"}, {"rate_limit": 25}, 25),
    "custom_headers": (
        {"headers-0-name": "X-Token", "headers-0-value": "abc"},
        {"headers": {"X-Token": "abc"}},
        custom_headers.dump({"X-Token": "abc"}),
    ),
}
SAME_BAD = [
    ("name", {"name": ""}, {"name": ""}, NAME_REQUIRED),
    ("name", {"name": "   "}, {"name": "   "}, NAME_LENGTH),
    ("name", {"name": "Tab\there"}, {"name": "Tab\there"}, CONTROL),
    ("url", {"url": "ftp://example.com/"}, {"url": "ftp://example.com/"}, URL_SCHEME),
    ("url", {"url": "https://u:p@x.example/"}, {"url": "https://u:p@x.example/"}, URL_CREDENTIALS),
    ("event", {"event": "no_such_event"}, {"event": "no_such_event"}, EVENT_CHOICE),
    ("payload_format", {"payload_format": "xml"}, {"payload_format": "xml"}, FORMAT_CHOICE),
    ("max_in_flight", {"max_in_flight": "0"}, {"max_in_flight": 0}, CAP_RANGE),
    ("rate_limit", {"rate_limit": "10001"}, {"rate_limit": 10001}, RATE_RANGE),
    (
        "headers",
        {"headers-0-name": "Host", "headers-0-value": "x"},
        {"headers": {"Host": "x"}},
        "The header “Host” is set by the service for every request (signature, body or "
        "connection) and cannot be replaced.",
    ),
]  # fmt: skip


def stored(app) -> list[Webhook]:
    """Every webhook, oldest first."""
    with app.app_context():
        found = list(
            db.session.scalars(
                select(Webhook).options(selectinload(Webhook.event_rows)).order_by(Webhook.id)
            )
        )
        db.session.expunge_all()
        return found


def all_rows(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(Webhook.id)).all())


@pytest.mark.parametrize("field", list(SAME_GOOD))
def test_form_and_api_store_the_same_cleaned_value(app, admin, field):
    form_values, api_values, expected = SAME_GOOD[field]

    page = post_form(admin, "/webhooks/new", {**VALID_FORM, **form_values}, "/webhooks/new")
    response = admin.post(
        "/api/v1/webhooks", json={**VALID_API, **api_values}, headers=bearer(api_token(app))
    )

    assert page.status_code == 302, html.unescape(page.get_data(as_text=True))[-3000:]
    assert response.status_code == 201, response.get_json()
    by_form, by_api = stored(app)
    assert getattr(by_form, field) == getattr(by_api, field)
    assert getattr(by_api, field) == (expected or "https://example.com/x")


@pytest.mark.parametrize(("field", "form_values", "api_values", "message"), SAME_BAD)
def test_form_and_api_refuse_a_bad_value_with_the_same_message(
    app, admin, field, form_values, api_values, message
):
    page = post_form(admin, "/webhooks/new", {**VALID_FORM, **form_values}, "/webhooks/new")
    response = admin.post(
        "/api/v1/webhooks", json={**VALID_API, **api_values}, headers=bearer(api_token(app))
    )

    assert page.status_code == 200
    assert message in html.unescape(page.get_data(as_text=True))
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {field: [message]}
    assert all_rows(app) == 0

"""Custom headers per webhook: set on the form and through the API, sent with every attempt and
test to a real receiver on 127.0.0.1, masked everywhere they are shown or logged, and refused
with a clear message when the service sets them or they are not valid headers."""

import html
import json
import logging
import re

import pytest
from sqlalchemy import select
from werkzeug import Response

from tests.conftest import post_form
from tests.engine_helpers import api_token, bearer, expand, post_event, run_worker
from webhooks import custom_headers
from webhooks.extensions import db
from webhooks.models import Attempt, Webhook

SECRET_VALUE = "Bearer crm-7f3a9c1e-secret"
FORM = {
    "name": "CRM",
    "url": "https://crm.example.com/hook",
    "event": "payment_received",
    "active": "y",
}


def rows(*pairs: tuple[str, str]) -> dict[str, str]:
    """Header rows as the form posts them."""
    posted = {}
    for index, (name, value) in enumerate(pairs):
        posted[f"headers-{index}-name"] = name
        posted[f"headers-{index}-value"] = value
    return posted


def stored_headers(app, webhook_id: int) -> dict[str, str]:
    with app.app_context():
        return custom_headers.load(db.session.get(Webhook, webhook_id).custom_headers)


def only_webhook_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(Webhook.id))


def error_text(page: str) -> str:
    errors = re.findall(r'<p class="error" id="headers-error-\d+">(.*?)</p>', page, re.S)
    return " ".join(html.unescape(error) for error in errors)


def add_webhook(admin, *pairs, **fields):
    return post_form(admin, "/webhooks/new", {**FORM, **fields, **rows(*pairs)}, "/webhooks/new")


def edit_webhook(admin, webhook_id: int, *pairs, **fields):
    path = f"/webhooks/{webhook_id}/edit"
    return post_form(admin, path, {**FORM, **fields, **rows(*pairs)}, path)


# ---------------------------------------------------------------- the form


def test_added_header_is_stored_and_its_value_never_shown_again(app, admin):
    response = add_webhook(admin, ("Authorization", SECRET_VALUE), ("X-Tenant", "acme"))

    assert response.status_code == 302
    webhook_id = only_webhook_id(app)
    assert stored_headers(app, webhook_id) == {"Authorization": SECRET_VALUE, "X-Tenant": "acme"}
    page = admin.get(f"/webhooks/{webhook_id}/edit").get_data(as_text=True)
    assert SECRET_VALUE not in page and "acme" not in page
    assert re.search(r'<code class="custom-header">Authorization: •+</code>', page)
    assert 'value="Authorization"' in page  # the name stays editable
    assert "Saved (hidden); leave empty to keep" in page


def test_a_saved_value_left_empty_is_kept_and_a_new_one_replaces_it(app, admin, make_webhook):
    webhook_id = make_webhook(
        custom_headers=custom_headers.dump({"Authorization": "old", "X-Tenant": "acme"})
    )

    edit_webhook(admin, webhook_id, ("Authorization", ""), ("X-Tenant", "globex"))

    assert stored_headers(app, webhook_id) == {"Authorization": "old", "X-Tenant": "globex"}


def test_clearing_a_name_removes_the_header(app, admin, make_webhook):
    webhook_id = make_webhook(
        custom_headers=custom_headers.dump({"Authorization": "old", "X-Tenant": "acme"})
    )

    response = edit_webhook(admin, webhook_id, ("", ""), ("X-Tenant", ""))

    assert response.status_code == 302
    assert stored_headers(app, webhook_id) == {"X-Tenant": "acme"}


def test_saving_other_settings_keeps_the_headers(app, admin, make_webhook):
    webhook_id = make_webhook(custom_headers=custom_headers.dump({"Authorization": "kept"}))

    edit_webhook(admin, webhook_id, ("Authorization", ""), name="CRM renamed")

    assert stored_headers(app, webhook_id) == {"Authorization": "kept"}


@pytest.mark.parametrize(
    "name",
    [
        "webhook-signature",
        "Webhook-Id",
        "webhook-timestamp",
        "Content-Type",
        "content-length",
        "Host",
        "User-Agent",
        "Connection",
        "Transfer-Encoding",
        "Upgrade",
    ],
)
def test_a_header_the_service_sets_is_refused_and_nothing_is_saved(app, admin, name):
    response = add_webhook(admin, (name, "value"))

    assert response.status_code == 200
    message = error_text(response.get_data(as_text=True))
    assert f"The header “{name}” is set by the service" in message
    assert only_webhook_id(app) is None


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ((("X Tenant", "a"),), "“X Tenant” is not a valid header name"),
        ((("X-Tenant:", "a"),), "is not a valid header name"),
        ((("X-Tenant", "a\r\nX-Injected: 1"),), "printable ASCII characters only"),
        ((("X-Tenant", "çay"),), "printable ASCII characters only"),
        ((("X-Tenant", "a" * 4001),), "at most 4000 characters"),
        ((("X-" + "a" * 99, "a"),), "at most 100 characters"),
        ((("X-Tenant", "a"), ("x-tenant", "b")), "“x-tenant” is given twice"),
        ((("X-Tenant", ""),), "Enter a value for the header “X-Tenant”"),
        ((("", "orphan"),), "Give each header value a name"),
        (tuple((f"X-H{n}", "v") for n in range(21)), "at most 20 headers"),
    ],
)
def test_a_bad_header_gets_a_clear_message_and_nothing_is_saved(app, admin, pairs, expected):
    response = add_webhook(admin, *pairs)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert expected in error_text(page)
    assert 'aria-invalid="true"' in page
    assert only_webhook_id(app) is None


def test_a_refused_edit_keeps_the_stored_headers(app, admin, make_webhook):
    webhook_id = make_webhook(custom_headers=custom_headers.dump({"Authorization": "kept"}))

    response = edit_webhook(admin, webhook_id, ("Authorization", ""), ("Host", "evil"))

    assert response.status_code == 200
    assert stored_headers(app, webhook_id) == {"Authorization": "kept"}


def test_header_rows_need_the_forms_csrf_token(app, admin):
    response = admin.post("/webhooks/new", data={**FORM, **rows(("Authorization", "x"))})

    assert response.status_code == 400
    assert only_webhook_id(app) is None


def test_the_form_offers_empty_rows_and_a_turkish_page_names_them(app, client, auth):
    auth.login()
    english = client.get("/webhooks/new").get_data(as_text=True)
    assert 'name="headers-0-name"' in english and 'name="headers-1-value"' in english
    assert "Custom headers" in english

    turkish = client.get("/webhooks/new", headers={"Accept-Language": "tr"}).get_data(as_text=True)
    assert "Özel başlıklar" in turkish


# ---------------------------------------------------------------- sending


def test_send_test_event_carries_the_headers_and_the_log_masks_them(app, admin, receiver):
    receiver.expect_request("/crm", method="POST").respond_with_data("ok")
    add_webhook(admin, ("Authorization", SECRET_VALUE), url=receiver.url_for("/crm"))
    webhook_id = only_webhook_id(app)

    post_form(admin, f"/webhooks/{webhook_id}/test", {}, f"/webhooks/{webhook_id}/edit")

    request, _ = receiver.log[-1]
    assert request.headers["Authorization"] == SECRET_VALUE
    assert request.headers["webhook-signature"].startswith("v1,")
    with app.app_context():
        logged = json.loads(db.session.scalar(select(Attempt.request_headers)))
    assert logged["Authorization"] == custom_headers.MASK
    assert "webhook-signature" in logged
    delivery_page = admin.get(f"/webhooks/{webhook_id}/edit").get_data(as_text=True)
    assert SECRET_VALUE not in delivery_page


def test_real_deliveries_carry_the_headers_and_logs_never_hold_the_value(
    app, client, auth, receiver, make_webhook, caplog
):
    caplog.set_level(logging.DEBUG)
    receiver.expect_request("/crm").respond_with_response(Response("down", status=503))
    webhook_id = make_webhook(
        url=receiver.url_for("/crm"),
        custom_headers=custom_headers.dump({"Authorization": SECRET_VALUE, "X-Tenant": "acme"}),
    )
    token = api_token(app)

    response = post_event(client, token, {"type": "payment_received", "data": {"payment_id": 1}})
    assert response.status_code == 202, response.get_json()
    expand(app)
    assert run_worker(app) == 1

    request, _ = receiver.log[-1]
    assert request.headers["Authorization"] == SECRET_VALUE
    assert request.headers["X-Tenant"] == "acme"
    with app.app_context():
        logged = json.loads(db.session.scalar(select(Attempt.request_headers)))
        delivery_id = db.session.scalar(select(Attempt.delivery_id))
    assert logged["Authorization"] == logged["X-Tenant"] == custom_headers.MASK
    assert SECRET_VALUE not in caplog.text
    auth.login()
    page = client.get(f"/deliveries/{delivery_id}").get_data(as_text=True)
    assert SECRET_VALUE not in page and custom_headers.MASK in page
    assert webhook_values_headers(app, webhook_id) == ["Authorization", "X-Tenant"]


def webhook_values_headers(app, webhook_id: int) -> list[str]:
    return list(stored_headers(app, webhook_id))


# ---------------------------------------------------------------- the API


def api(client, app, method: str, path: str, payload=None):
    token = api_token(app)
    return client.open("/api/v1" + path, method=method, json=payload, headers=bearer(token))


def test_the_api_creates_headers_and_answers_their_names_only(app, client):
    response = api(
        client,
        app,
        "POST",
        "/webhooks",
        {
            **{k: v for k, v in FORM.items() if k != "active"},
            "headers": {"Authorization": SECRET_VALUE},
        },
    )

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["headers"] == {"Authorization": None}
    assert stored_headers(app, body["id"]) == {"Authorization": SECRET_VALUE}
    # A value that cannot turn up by chance in the answer's random signing secret.
    assert SECRET_VALUE not in response.get_data(as_text=True)


def test_a_webhook_read_and_sent_back_keeps_its_headers(app, client, make_webhook):
    webhook_id = make_webhook(custom_headers=custom_headers.dump({"Authorization": "kept"}))
    read = api(client, app, "GET", f"/webhooks/{webhook_id}").get_json()

    response = api(client, app, "PATCH", f"/webhooks/{webhook_id}", {"headers": read["headers"]})

    assert response.status_code == 200
    assert stored_headers(app, webhook_id) == {"Authorization": "kept"}


def test_patch_replaces_the_headers_and_leaving_them_out_keeps_them(app, client, make_webhook):
    webhook_id = make_webhook(
        custom_headers=custom_headers.dump({"Authorization": "a", "X-Old": "b"})
    )

    api(client, app, "PATCH", f"/webhooks/{webhook_id}", {"headers": {"X-New": "c"}})
    assert stored_headers(app, webhook_id) == {"X-New": "c"}

    api(client, app, "PATCH", f"/webhooks/{webhook_id}", {"name": "Renamed"})
    assert stored_headers(app, webhook_id) == {"X-New": "c"}

    api(client, app, "PATCH", f"/webhooks/{webhook_id}", {"headers": {}})
    assert stored_headers(app, webhook_id) == {}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ("Authorization: x", "Must be an object"),
        (["Authorization", "x"], "Must be an object"),
        ({"Authorization": 5}, "Must be an object"),
        ({"Authorization": None}, "Enter a value for the header “Authorization”"),
        ({"webhook-id": "x"}, "is set by the service"),
        ({"Bad Name": "x"}, "is not a valid header name"),
        ({"X-A": "line\nbreak"}, "printable ASCII characters only"),
    ],
)
def test_bad_headers_over_the_api_are_a_422_naming_the_field_and_save_nothing(
    app, client, make_webhook, headers, expected
):
    webhook_id = make_webhook(custom_headers=custom_headers.dump({"X-Kept": "k"}))

    response = api(
        client,
        app,
        "PATCH",
        f"/webhooks/{webhook_id}",
        {"headers": headers, "name": "Changed", "max_in_flight": 0},
    )

    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert expected in " ".join(fields["headers"])
    assert "max_in_flight" in fields  # every problem is named in one answer
    assert stored_headers(app, webhook_id) == {"X-Kept": "k"}
    with app.app_context():
        assert db.session.get(Webhook, webhook_id).name == "Receiver"


# ---------------------------------------------------------------- the rules


def test_names_compare_without_case_when_a_saved_value_is_kept():
    assert custom_headers.merge({"authorization": "v"}, [("Authorization", None)]) == {
        "Authorization": "v"
    }


def test_a_damaged_stored_value_sends_no_header():
    assert custom_headers.load("not json") == {}
    assert custom_headers.load('["a"]') == {}
    assert custom_headers.load('{"A": 1, "B": "b"}') == {"B": "b"}

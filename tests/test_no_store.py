"""No answer but a static file may be stored by a browser or a proxy: the answers that carry a
signing secret or a token, and every other page and API answer, send ``Cache-Control:
no-store``."""

import pytest

from tests.conftest import post_form
from tests.engine_helpers import api_token, bearer
from tests.test_route_matrix import route_cases


@pytest.fixture
def token(app):
    return api_token(app)


def created_webhook(client, token) -> dict:
    response = client.post(
        "/api/v1/webhooks",
        json={"name": "CRM", "url": "https://example.com/hook", "event": "payment_received"},
        headers=bearer(token),
    )
    assert response.status_code == 201
    return response.get_json()


def test_a_new_webhooks_secret_is_not_stored(client, token):
    response = client.post(
        "/api/v1/webhooks",
        json={"name": "CRM", "url": "https://example.com/hook", "event": "payment_received"},
        headers=bearer(token),
    )

    assert response.status_code == 201
    assert response.get_json()["secret"].startswith("whsec_")
    assert response.headers["Cache-Control"] == "no-store"


def test_reading_and_rotating_a_secret_are_not_stored(client, token):
    webhook = created_webhook(client, token)

    read = client.get(f"/api/v1/webhooks/{webhook['id']}/secret", headers=bearer(token))
    rotated = client.post(f"/api/v1/webhooks/{webhook['id']}/rotate-secret", headers=bearer(token))

    assert read.status_code == 200 and "secret" in read.get_json()
    assert rotated.status_code == 200 and "secret" in rotated.get_json()
    assert read.headers["Cache-Control"] == "no-store"
    assert rotated.headers["Cache-Control"] == "no-store"


def test_the_webhook_page_with_its_secret_is_not_stored(admin, client, token):
    webhook = created_webhook(client, token)

    page = admin.get(f"/webhooks/{webhook['id']}/edit")

    assert page.status_code == 200
    assert webhook["secret"] in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"


def test_a_zapier_subscription_is_not_stored(client, token):
    response = client.post(
        "/api/v1/zapier/subscribe",
        json={"target_url": "https://hooks.zapier.com/hooks/1/", "event": "payment_received"},
        headers=bearer(token),
    )

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"


def test_a_new_tokens_page_is_not_stored(admin):
    response = post_form(admin, "/tokens/", {"name": "deploy", "scope": "full"}, "/tokens/")

    assert response.status_code == 200
    assert "whk_" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_every_page_and_api_answer_is_not_stored(app, admin, client, token):
    created_webhook(client, token)
    cases = [c for c in route_cases(app, api=False) + route_cases(app, api=True) if c[0] == "GET"]
    assert len(cases) > 20

    for _method, url, endpoint in cases:
        headers = bearer(token) if url.startswith("/api/") else {}
        response = admin.get(url, headers=headers)
        assert response.headers.get("Cache-Control") == "no-store", (endpoint, url)
    for url in ("/login", "/healthz"):
        assert app.test_client().get(url).headers.get("Cache-Control") == "no-store", url


def test_static_files_may_be_cached(client):
    response = client.get("/static/css/app.css")

    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")

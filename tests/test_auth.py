"""Logging in and out, redirects after login, and that every page needs a login."""

import re
from urllib.parse import quote

import pytest
from flask import url_for
from sqlalchemy import select
from werkzeug.security import check_password_hash

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, AuthActions, csrf_token
from webhooks.auth import views
from webhooks.auth.access import PUBLIC_ENDPOINTS
from webhooks.extensions import db
from webhooks.models import User

GENERIC_LOGIN_ERROR = "Wrong email or password."


def is_login_redirect(response) -> bool:
    location = response.headers.get("Location", "")
    return response.status_code in (302, 303) and location.startswith("/login")


def session_user(client):
    with client.session_transaction() as session:
        return session.get("_user_id")


def test_login_page_has_email_and_password_fields(client):
    response = client.get("/login")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'<label for="email">Email</label>', page)
    assert re.search(r'<input[^>]*name="email"[^>]*type="email"', page)
    assert re.search(r'<label for="password">Password</label>', page)
    assert re.search(r'<input[^>]*name="password"[^>]*type="password"', page)
    assert 'name="csrf_token"' in page


def test_good_login_lands_on_the_dashboard(client, auth):
    response = auth.login()
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert session_user(client) is not None
    page = client.get("/").get_data(as_text=True)
    assert ADMIN_EMAIL in page
    assert "Log out" in page


def test_login_ignores_email_case_and_surrounding_spaces(client, auth):
    response = auth.login(email=f"  {ADMIN_EMAIL.upper()} ")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("email", "password"),
    [
        pytest.param(ADMIN_EMAIL, "wrong password", id="wrong-password"),
        pytest.param("nobody@example.com", ADMIN_PASSWORD, id="unknown-email"),
    ],
)
def test_failed_login_shows_generic_message_and_starts_no_session(client, auth, email, password):
    response = auth.login(email=email, password=password)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert GENERIC_LOGIN_ERROR in page
    assert "unknown" not in page.lower()
    assert session_user(client) is None
    assert is_login_redirect(client.get("/webhooks/"))


def test_wrong_password_and_unknown_email_pages_look_the_same(app):
    def error_page(email, password):
        client = app.test_client()
        page = AuthActions(client).login(email=email, password=password).get_data(as_text=True)
        return re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", page)

    wrong_password = error_page(ADMIN_EMAIL, "wrong password")
    unknown_email = error_page("nobody@example.com", "wrong password")
    assert wrong_password.replace(ADMIN_EMAIL, "EMAIL") == unknown_email.replace(
        "nobody@example.com", "EMAIL"
    )


def test_unknown_email_costs_a_password_check_like_a_wrong_password(app, auth, monkeypatch):
    checked = []

    def recording_check(password_hash, password):
        checked.append(password_hash)
        return check_password_hash(password_hash, password)

    monkeypatch.setattr(views, "check_password_hash", recording_check)
    auth.login(email="nobody@example.com", password="wrong password")
    dummy = views.unknown_user_hash(app.config["PASSWORD_HASH_METHOD"])
    assert checked == [dummy]
    with app.app_context():
        real_hash = db.session.scalar(select(User.password_hash))
    # Same algorithm and cost as a real password, so both refusals take as long.
    assert dummy.split("$")[0] == real_hash.split("$")[0]


def test_empty_login_form_shows_errors_and_starts_no_session(client):
    token = csrf_token(client)
    response = client.post("/login", data={"csrf_token": token, "email": "", "password": ""})
    assert response.status_code == 200
    assert 'class="field has-error"' in response.get_data(as_text=True)
    assert session_user(client) is None


@pytest.mark.parametrize("next_path", ["/events/", "/webhooks/?q=zap"])
def test_login_follows_next_to_a_page_of_this_site(client, auth, next_path):
    response = auth.login(next_path=quote(next_path, safe="/"))
    assert response.status_code == 302
    assert response.headers["Location"] == next_path


@pytest.mark.parametrize(
    "next_path",
    [
        "http://evil.example/",
        "//evil.example",
        "https:evil.example",
        "/\\evil.example",
        "%2F%2Fevil.example",
        "javascript:alert(1)",
        "https://evil.example/",
        "///evil.example",
        "/%5Cevil.example",
        "%2F%5Cevil.example",
        "%5C%5Cevil.example",
        "/%09/evil.example",
        "%20//evil.example",
        "%252F%252Fevil.example",
        "JavaScript:alert(1)",
        "%6Aavascript:alert(1)",
        "/%0d%0aSet-Cookie:%20x=1",
    ],
)
def test_login_refuses_next_to_another_site(client, auth, next_path):
    response = auth.login(next_path=next_path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert session_user(client) is not None


def test_protected_page_sends_anonymous_user_to_login_and_back_after_it(client, auth):
    response = client.get("/events/")
    assert is_login_redirect(response)
    assert "next=%2Fevents%2F" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Please log in to open that page." in page
    response = auth.login(next_path="%2Fevents%2F")
    assert response.headers["Location"] == "/events/"


def test_logged_in_user_opening_login_goes_to_the_dashboard(admin):
    response = admin.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_logout_by_get_is_not_allowed_and_keeps_the_session(admin):
    response = admin.get("/logout")
    assert response.status_code == 405
    assert "Method Not Allowed" in response.get_data(as_text=True)
    assert session_user(admin) is not None
    assert admin.get("/webhooks/").status_code == 200


def test_after_logout_pages_redirect_to_login(admin, auth):
    response = auth.logout()
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    page = admin.get("/login").get_data(as_text=True)
    assert "You are logged out." in page
    assert session_user(admin) is None
    for path in ("/webhooks/", "/webhooks/new", "/events/"):
        assert is_login_redirect(admin.get(path)), path


def test_logout_without_csrf_token_is_refused(admin):
    response = admin.post("/logout")
    assert response.status_code == 400
    assert session_user(admin) is not None


def test_login_without_csrf_token_is_refused(client):
    response = client.post("/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)
    assert session_user(client) is None


def routes_to_check(app):
    """Every route but the static files and the login page, with int arguments set to 1."""
    routes = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint in PUBLIC_ENDPOINTS:
                continue
            path = url_for(rule.endpoint, **{name: 1 for name in rule.arguments})
            methods = rule.methods - {"HEAD", "OPTIONS"}
            method = "GET" if "GET" in methods else sorted(methods)[0]
            routes.append((rule.endpoint, method, path))
    return routes


def assert_every_route_needs_login(app):
    client = app.test_client()
    # A browser that opened the login page carries a valid CSRF token, so the POST reaches
    # the login check instead of failing on the token.
    token = csrf_token(client, "/login")
    routes = routes_to_check(app)
    for endpoint, method, path in routes:
        if method == "GET":
            response = client.get(path)
        else:
            response = client.open(path, method=method, data={"csrf_token": token})
        if path.startswith("/api/"):
            refused = response.status_code == 401 and response.json["error"]["code"]
        else:
            refused = is_login_redirect(response)
        assert refused, (
            f"{method} {path} ({endpoint}) answered {response.status_code} to an anonymous user"
        )
    return routes


def test_every_page_but_login_sends_anonymous_users_to_login(app):
    routes = assert_every_route_needs_login(app)
    endpoints = {endpoint for endpoint, _, _ in routes}
    # The matrix really covers the site; if one of these disappears, the test should be updated.
    assert {
        "dashboard.index",
        "auth.logout",
        "webhooks.index",
        "webhooks.create",
        "webhooks.edit",
        "webhooks.test",
        "webhooks.delete_one",
        "webhooks.bulk",
        "events.index",
        "api.create_event",
    } <= endpoints


def test_a_newly_added_page_is_private_without_extra_code(app):
    app.add_url_rule("/reports/<int:report_id>", "reports", lambda report_id: "secret report")
    assert ("reports", "GET", "/reports/1") in routes_to_check(app)
    assert_every_route_needs_login(app)


def test_only_login_static_files_health_check_and_language_switch_are_public():
    # Making a page public is a decision this test records; a new route is private by default.
    # The language switch is offered on the login page; it sets nothing but the session's language.
    # /metrics is not behind the login: it asks for its own token (METRICS_TOKEN).
    assert PUBLIC_ENDPOINTS == {
        "auth.login",
        "static",
        "health.healthz",
        "i18n.set_language",
        "metrics.metrics",
    }

"""Every registered route, enumerated from the app's URL map: nobody gets past it without
logging in (pages) or a token (API), a read-only token changes nothing, and no page changes
anything on a GET or without its CSRF token. A new route is covered the moment it is added."""

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_token
from tests.engine_helpers import api_token, assert_api_error, bearer
from webhooks.auth.access import PUBLIC_ENDPOINTS, READ_METHODS
from webhooks.extensions import db
from webhooks.models import User

# The language switch is public so the login page can offer it: a POST with the CSRF token
# that sets only the session's language (tests/test_i18n.py checks it changes nothing else).
# /metrics needs no login but its own token, METRICS_TOKEN (tests/test_metrics.py).
EXPECTED_PUBLIC = {
    "auth.login",
    "static",
    "health.healthz",
    "i18n.set_language",
    "metrics.metrics",
}


def route_cases(app, *, api: bool) -> list[tuple[str, str, str]]:
    """(method, URL, endpoint) for every method of every route but the public ones; each
    variable of a route's path is given the value 1, which every converter accepts."""
    adapter = app.url_map.bind("localhost")
    cases = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.rule.startswith("/api/") != api:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            url = adapter.build(rule.endpoint, dict.fromkeys(rule.arguments, 1), method=method)
            cases.append((method, url, rule.endpoint))
    return cases


def anonymous_let_through(app, cases) -> list[tuple[str, str, str, int]]:
    """The page routes an anonymous visitor is not sent to log in from. Writes carry a valid
    CSRF token (any visitor can get one from the login page), so it is the login that stops
    them, not the CSRF check."""
    client = app.test_client()
    token = csrf_token(client)
    let_through = []
    for method, url, endpoint in cases:
        data = {} if method in READ_METHODS else {"csrf_token": token}
        response = client.open(url, method=method, data=data)
        if response.status_code != 302 or "/login" not in response.headers.get("Location", ""):
            let_through.append((method, url, endpoint, response.status_code))
    return let_through


@pytest.fixture
def routes(app):
    return {
        "pages": route_cases(app, api=False),
        "api": route_cases(app, api=True),
    }


def test_the_matrix_sees_the_routes_it_must_cover(app, routes):
    endpoints = {endpoint for _m, _u, endpoint in routes["pages"] + routes["api"]}
    # A few routes of each kind, so an empty or broken enumeration cannot pass quietly.
    assert {
        "dashboard.index",
        "webhooks.index",
        "webhooks.create",
        "deliveries.redeliver",
        "accounts.index",
        "accounts.change_password",
        "accounts.remove",
        "api.create_event",
        "api.get_event",
    } <= endpoints
    assert len(routes["pages"]) >= 15
    assert all("<" not in url for _m, url, _e in routes["pages"] + routes["api"])


def test_anonymous_visitors_are_sent_to_log_in_on_every_page(app, routes):
    assert anonymous_let_through(app, routes["pages"]) == []


def test_only_login_static_health_language_switch_and_metrics_are_public():
    assert PUBLIC_ENDPOINTS == EXPECTED_PUBLIC


def test_the_api_refuses_every_call_without_a_token(app, routes):
    client = app.test_client()
    let_through = []
    for method, url, endpoint in routes["api"]:
        response = client.open(url, method=method, json={})
        if response.status_code != 401:
            let_through.append((method, url, endpoint, response.status_code))
        else:
            assert_api_error(response, 401)
            assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert let_through == []


def test_the_api_refuses_every_call_with_an_unknown_token(app, routes):
    client = app.test_client()
    api_token(app)  # a real token exists, just not this one
    headers = bearer("whk_" + "x" * 43)
    let_through = [
        (method, url, endpoint, response.status_code)
        for method, url, endpoint in routes["api"]
        if (response := client.open(url, method=method, json={}, headers=headers)).status_code
        != 401
    ]
    assert let_through == []


def test_a_read_only_token_cannot_call_any_writing_endpoint(app, routes):
    client = app.test_client()
    headers = bearer(api_token(app, scope="read"))
    writes = [(m, u, e) for m, u, e in routes["api"] if m not in READ_METHODS]
    assert writes, "the API has writing endpoints"
    let_through = []
    for method, url, endpoint in writes:
        response = client.open(url, method=method, json={}, headers=headers)
        if response.status_code != 403:
            let_through.append((method, url, endpoint, response.status_code))
        else:
            assert_api_error(response, 403, "read_only_token")
    assert let_through == []


def test_no_page_changes_anything_without_its_csrf_token(app, admin, routes):
    posts = [(m, u, e) for m, u, e in routes["pages"] if m not in READ_METHODS]
    assert len(posts) >= 8
    let_through = []
    for method, url, endpoint in posts:
        response = admin.open(url, method=method, data={})
        if response.status_code != 400:
            let_through.append((method, url, endpoint, response.status_code))
    assert let_through == []


def test_pages_that_change_something_do_not_change_it_on_a_get(app, admin, routes):
    """Delete, bulk actions, rotate, redeliver, retry now, enable, test send, recover, remove an
    admin: a GET at most shows a confirmation; the change itself is only ever a POST."""
    gets = {e: u for m, u, e in routes["pages"] if m == "GET"}
    posts = {e for m, _u, e in routes["pages"] if m == "POST"}
    for endpoint in (
        "webhooks.bulk",
        "webhooks.test",
        "webhooks.enable",
        "deliveries.redeliver",
        "deliveries.retry_now",
        "deliveries.recover",
    ):
        assert endpoint in posts
        assert endpoint not in gets, f"{endpoint} answers a GET"
    for endpoint in ("webhooks.delete_one", "webhooks.rotate", "accounts.remove"):
        # GET shows the confirmation
        assert endpoint in posts
    assert admin.get(gets["accounts.remove"]).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_an_unprotected_route_would_fail_the_matrix(app):
    """The matrix enumerates routes rather than listing known ones: a route added while the
    protection is missing is found."""

    @app.get("/webhooks/oops")
    def oops():
        return "changed something"

    cases = route_cases(app, api=False)
    assert ("GET", "/webhooks/oops", "oops") in cases
    assert anonymous_let_through(app, cases) == []

    app.before_request_funcs[None] = []  # as if the protection were forgotten
    found = anonymous_let_through(app, cases)
    assert ("GET", "/webhooks/oops", "oops", 200) in found

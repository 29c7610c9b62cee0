"""TRUSTED_HOSTS: a request naming a host the site is not served under gets a 400, never a
redirect or a link to that host; the site's own names pass; unset, every host is answered as
with ``make run``."""

import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, CSRF_RE, csrf_token
from tests.engine_helpers import api_token, bearer
from tests.test_security_headers import assert_secured
from webhooks import create_app
from webhooks.trusted_hosts import parse_trusted_hosts

# localhost: the test client's own name, so the usual fixtures log in.
HOSTS = "localhost, webhooks.example.com, .example.org"
EVIL = {"Host": "evil.example"}
MESSAGE = "This site is not served under the host name in the request."


@pytest.fixture
def config(config):
    config["TRUSTED_HOSTS"] = HOSTS
    return config


def logged_in_at(app, host: str):
    """A browser logged in at http://host (its cookie is that host's)."""
    client = app.test_client()
    base = f"http://{host}"
    token = CSRF_RE.search(client.get("/login", base_url=base).get_data(as_text=True)).group(1)
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        base_url=base,
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


# ---------------------------------------------------------------- the setting


@pytest.mark.parametrize(
    ("setting", "hosts"),
    [
        ("webhooks.example.com", ["webhooks.example.com"]),
        (
            " Webhooks.Example.com , admin.example.org,, ",
            ["webhooks.example.com", "admin.example.org"],
        ),
        (".example.org", [".example.org"]),
        ("192.0.2.10,localhost", ["192.0.2.10", "localhost"]),
        (["webhooks.example.com"], ["webhooks.example.com"]),
        ("", None),
        (" , ", None),
        (None, None),
    ],
)
def test_trusted_hosts_setting_is_read_as_comma_separated_names(setting, hosts):
    assert parse_trusted_hosts(setting) == hosts


@pytest.mark.parametrize(
    "setting",
    [
        "webhooks.example.com:443",
        "https://webhooks.example.com",
        "webhooks.example.com/admin",
        "*.example.com",
        "web hooks.example.com",
        "-bad.example.com",
        "webhooks..example.com",
        1,
        ["webhooks.example.com", 7],
    ],
)
def test_a_bad_trusted_hosts_setting_stops_the_app_with_one_line_naming_it(config, setting):
    config["TRUSTED_HOSTS"] = setting
    with pytest.raises(ValueError, match="TRUSTED_HOSTS") as raised:
        create_app(config)
    assert "\n" not in str(raised.value)


def test_trusted_hosts_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBHOOKS_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("WEBHOOKS_SECRET_KEY", "environment-key")
    monkeypatch.setenv("WEBHOOKS_TRUSTED_HOSTS", "webhooks.example.com,admin.example.org")
    app = create_app()
    assert app.config["TRUSTED_HOSTS"] == ["webhooks.example.com", "admin.example.org"]

    monkeypatch.setenv("WEBHOOKS_TRUSTED_HOSTS", "webhooks.example.com:8443")
    with pytest.raises(ValueError, match="TRUSTED_HOSTS: 'webhooks.example.com:8443'"):
        create_app()


# ---------------------------------------------------------------- another host: 400


def test_the_trailing_slash_redirect_does_not_go_to_another_host(admin):
    response = admin.get("/webhooks", headers=EVIL)
    assert response.status_code == 400
    assert "Location" not in response.headers
    page = response.get_data(as_text=True)
    assert MESSAGE in page
    assert "evil.example" not in page
    assert_secured(response)


def test_the_api_docs_page_does_not_show_another_host_as_the_base_url(app):
    browser = logged_in_at(app, "webhooks.example.com")
    response = browser.get("/api-docs/", base_url="http://webhooks.example.com", headers=EVIL)
    assert response.status_code == 400
    assert "evil.example" not in response.get_data(as_text=True)

    ours = browser.get("/api-docs/", base_url="http://webhooks.example.com")
    assert ours.status_code == 200
    assert "http://webhooks.example.com/api/v1" in ours.get_data(as_text=True)


def test_the_api_answers_another_host_with_its_json_error(app, client):
    response = client.get("/api/v1/webhooks", headers={**EVIL, **bearer(api_token(app))})
    assert response.status_code == 400
    assert response.get_json() == {"error": {"code": "bad_request", "message": MESSAGE}}


def test_no_login_through_another_host(client):
    token = csrf_token(client)
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        headers=EVIL,
    )
    assert response.status_code == 400
    assert client.get("/webhooks/").status_code == 302  # still to the login page


def test_another_host_is_refused_without_logging_in_and_in_turkish(client):
    for path in ("/", "/login", "/healthz", "/static/css/app.css", "/no-such-page"):
        assert client.get(path, headers=EVIL).status_code == 400, path
    turkish = client.get("/login", headers={**EVIL, "Accept-Language": "tr"})
    assert turkish.status_code == 400
    assert "Bu site, istekteki ana makine adıyla sunulmuyor." in turkish.get_data(as_text=True)


@pytest.mark.parametrize("host", ["", "evil.example:80@webhooks.example.com", "[::1]"])
def test_a_missing_or_malformed_host_is_refused(client, host):
    assert client.get("/webhooks", headers={"Host": host}).status_code == 400


# ---------------------------------------------------------------- the site's own names


@pytest.mark.parametrize(
    ("host", "location"),
    [
        ("webhooks.example.com", "http://webhooks.example.com/webhooks/"),
        ("WEBHOOKS.example.com:8443", "http://webhooks.example.com:8443/webhooks/"),
        ("admin.example.org", "http://admin.example.org/webhooks/"),
        ("example.org", "http://example.org/webhooks/"),
    ],
)
def test_the_sites_own_names_are_answered(app, host, location):
    browser = logged_in_at(app, host)
    response = browser.get("/webhooks", base_url=f"http://{host}")
    assert response.status_code == 308
    assert response.headers["Location"] == location
    assert browser.get("/webhooks/", base_url=f"http://{host}").status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_host_is_the_one_checked(request, config):
    config["TRUSTED_PROXIES"] = 1
    client = request.getfixturevalue("app").test_client()
    internal = {"Host": "127.0.0.1:5000", "X-Forwarded-Proto": "https"}
    forwarded = {**internal, "X-Forwarded-Host": "webhooks.example.com", "X-Forwarded-Port": "443"}
    response = client.get("/webhooks", headers=forwarded)
    assert response.headers["Location"] == "https://webhooks.example.com/webhooks/"

    spoofed = {**internal, "X-Forwarded-Host": "evil.example"}
    assert client.get("/webhooks", headers=spoofed).status_code == 400


def test_unset_every_host_is_answered_as_with_make_run(request, config):
    config.pop("TRUSTED_HOSTS")
    client = request.getfixturevalue("app").test_client()
    response = client.get("/webhooks", headers=EVIL)
    assert response.status_code == 308
    assert response.headers["Location"] == "http://evil.example/webhooks/"

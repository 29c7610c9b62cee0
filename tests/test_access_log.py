"""The access log of the real gunicorn, as `make run` and production start it, writes no
credential a client put in the wrong place: no HTTP Basic user name, and no token-shaped or
credential-named query value, in the request line or the Referer."""

import pytest
import requests

from tests.conftest import unused_port
from tests.engine_helpers import api_token, wait_until
from tests.worker_processes import deployment
from webhooks.access_log import REDACTED, redact_query, redact_target


@pytest.fixture
def instance(tmp_path, monkeypatch):
    with deployment(tmp_path, monkeypatch, {"QUEUE": "embedded"}) as made:
        yield made


@pytest.fixture
def site(instance, tmp_path):
    port = unused_port()
    log = tmp_path / "gunicorn.log"
    server = instance.start_gunicorn(port, log)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=2).status_code in (200, 503)
        except requests.ConnectionError:
            return False

    try:
        wait_until(up, 30, 0.1)
        yield url, log
    finally:
        server.terminate()
        server.wait(30)


def test_credentials_in_the_wrong_place_are_not_logged(instance, site):
    url, log = site
    token = api_token(instance.app)
    other = "whk_" + "Q" * 40
    opaque = "eyJhbGciOiJIUzI1NiJ9" + "x" * 30

    basic = requests.get(f"{url}/api/v1/webhooks", auth=(token, ""), timeout=10)
    query = requests.get(f"{url}/api/v1/webhooks?access_token={other}&page=2", timeout=10)
    shaped = requests.get(f"{url}/login?next=/&q={opaque}", timeout=10)
    referred = requests.get(
        f"{url}/login", headers={"Referer": f"{url}/tokens/?token={token}"}, timeout=10
    )
    requests.get(f"{url}/healthz?marker=end", timeout=10)

    assert basic.status_code == 401 and query.status_code == 401
    assert shaped.status_code == 200 and referred.status_code == 200
    wait_until(lambda: "marker=end" in log.read_text(), 10, 0.05)
    text = log.read_text()
    for secret in (token, other, opaque, token.split("_", 1)[1]):
        assert secret not in text
    assert f"access_token={REDACTED}" in text.replace("%5B", "[").replace("%5D", "]")
    assert "page=2" in text  # an ordinary parameter stays readable
    assert "GET /api/v1/webhooks" in text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ""),
        ("page=2&status=failed", "page=2&status=failed"),
        ("access_token=abc", "access_token=[redacted]"),
        ("Api-Key=abc&page=3", "Api-Key=[redacted]&page=3"),
        ("q=whk_abc", "q=[redacted]"),
        ("q=" + "a" * 40, "q=[redacted]"),
        ("q=" + "a" * 20, "q=" + "a" * 20),
    ],
)
def test_redact_query(query, expected):
    assert redact_query(query) == expected


def test_redact_target_keeps_the_path():
    assert redact_target("/tokens/?token=whk_x") == "/tokens/?token=[redacted]"
    assert redact_target("/webhooks/") == "/webhooks/"

"""Security headers on every kind of answer, and pages that need no inline script or style, so
the Content-Security-Policy can forbid them."""

import re
from pathlib import Path

import pytest

from tests.engine_helpers import api_token, bearer

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
# An inline handler (onclick=…), a style attribute, or a <script> that is neither loaded from a
# file nor a JSON data block.
INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]*\sstyle\s*=", re.I)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.I | re.S)


def assert_secured(response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (name, response.headers.get(name))
    policy = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in policy


def inline_code(html: str) -> list[str]:
    """Everything in a page that a strict policy would block."""
    found = INLINE_HANDLER.findall(html) + STYLE_ATTRIBUTE.findall(html)
    for attributes, body in SCRIPT_TAG.findall(html):
        is_file = "src=" in attributes and not body.strip()
        is_data = 'type="application/json"' in attributes
        if not (is_file or is_data):
            found.append(f"<script{attributes}>{body[:40]}")
    return found


@pytest.mark.parametrize(
    "path", ["/login", "/static/css/app.css", "/no-such-page", "/healthz", "/api/v1/events"]
)
def test_every_kind_of_answer_carries_the_headers_without_logging_in(client, path):
    assert_secured(client.get(path))


def test_admin_pages_and_api_answers_carry_the_headers(app, admin, client, make_webhook):
    webhook_id = make_webhook(name="Shop")
    for path in ("/webhooks/", f"/webhooks/{webhook_id}/edit", "/deliveries/", "/api-docs/"):
        response = admin.get(path)
        assert response.status_code == 200, path
        assert_secured(response)
    api = client.get("/api/v1/event-types", headers=bearer(api_token(app)))
    assert api.status_code == 200
    assert_secured(api)


def test_hsts_is_sent_over_https_only(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers

    secure = client.get("/login", base_url="https://localhost")

    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_no_template_has_inline_script_handlers_or_style_attributes():
    offenders = {
        str(path.relative_to(TEMPLATES)): found
        for path in TEMPLATES.rglob("*.html")
        if (found := inline_code(path.read_text()))
    }
    assert offenders == {}


def test_rendered_pages_have_no_inline_code(app, admin, make_webhook):
    webhook_id = make_webhook(name="Shop")
    pages = ["/webhooks/", "/webhooks/new", f"/webhooks/{webhook_id}/edit", "/deliveries/"]
    pages += ["/events/", "/tokens/", "/api-docs/"]
    for path in pages:
        html = admin.get(path).get_data(as_text=True)
        assert inline_code(html) == [], path


def test_the_inline_code_check_finds_what_it_looks_for():
    assert inline_code('<button onclick="go()">') != []
    assert inline_code('<p style="color: red">') != []
    assert inline_code("<script>alert(1)</script>") != []
    assert inline_code('<script src="/static/js/app.js" defer></script>') == []
    assert inline_code('<script type="application/json" id="x">{"a": 1}</script>') == []

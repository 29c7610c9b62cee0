"""The API tokens screen: creating a token (shown once), listing, revoking, and that the token
the page shows really opens the API until it is revoked."""

import hashlib
import html
import re

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_token, post_form
from webhooks.extensions import db
from webhooks.models import ApiToken
from webhooks.tokens import create_token

PLAIN_RE = re.compile(r'<pre id="plain-token"[^>]*>([^<]+)</pre>')
FLASH_RE = re.compile(
    r'<div class="flash flash-(\w+)"[^>]*>\s*<strong>[^<]*</strong>(.*?)</div>', re.S
)
EVENT = {"type": "payment_received", "data": {"payment_id": 7, "payment_total": "$9.00"}}
NAME_REQUIRED = "Give the token a name, e.g. the system that will use it."
NAME_LENGTH = "The name must be 1 to 100 characters long."


# ---------------------------------------------------------------- helpers


def text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def create(client, **fields):
    data = {"name": "Billing system", "scope": "full", **fields}
    data = {key: value for key, value in data.items() if value is not None}
    return post_form(client, "/tokens/", data, "/tokens/")


def plain_token(response) -> str:
    assert response.status_code == 200, response.status_code
    match = PLAIN_RE.search(response.get_data(as_text=True))
    assert match, "the new token is not on the page"
    return match.group(1)


def tokens(app) -> list[ApiToken]:
    with app.app_context():
        rows = db.session.scalars(select(ApiToken).order_by(ApiToken.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def token_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ApiToken))


def field_block(page: str, field_id: str) -> str:
    for block in re.findall(r'<div class="field[^"]*">.*?</div>', page, re.S):
        if f'id="{field_id}"' in block:
            return block
    raise AssertionError(f"no field {field_id!r}")


def report_event(client, token: str):
    return client.post("/api/v1/events", json=EVENT, headers={"Authorization": f"Bearer {token}"})


def flashes(client, response) -> list[tuple[str, str]]:
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    return [(cat, " ".join(html.unescape(msg).split())) for cat, msg in FLASH_RE.findall(page)]


def make_token(app, name: str = "ci", scope: str = "full") -> tuple[int, str]:
    with app.app_context():
        token, plain = create_token(name, scope)
        db.session.commit()
        return token.id, plain


# ---------------------------------------------------------------- access


@pytest.mark.parametrize("path", ["/tokens/", "/tokens/1/revoke"])
def test_anonymous_visitor_is_sent_to_login(app, client, path):
    make_token(app)
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_anonymous_post_creates_and_revokes_nothing(app, client):
    token_id, _ = make_token(app)
    token = csrf_token(client, "/login")
    create_response = client.post("/tokens/", data={"csrf_token": token, "name": "sneaky"})
    assert create_response.status_code == 302
    assert create_response.headers["Location"].startswith("/login")
    revoke_response = client.post(f"/tokens/{token_id}/revoke", data={"csrf_token": token})
    assert revoke_response.status_code == 302
    [row] = tokens(app)
    assert row.name == "ci" and row.revoked_at is None


def test_nav_links_to_the_tokens_page(admin):
    page = admin.get("/webhooks/").get_data(as_text=True)
    assert '<a href="/tokens/">API tokens</a>' in page
    tokens_page = admin.get("/tokens/").get_data(as_text=True)
    assert '<a href="/tokens/" aria-current="page">API tokens</a>' in tokens_page


# ---------------------------------------------------------------- the page


def test_empty_page_offers_the_form_and_explains_how_to_use_a_token(admin):
    response = admin.get("/tokens/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>API tokens</h1>" in page
    assert "No API tokens yet." in page
    assert '<label for="name">Name</label>' in page
    assert '<option selected value="full">Full access</option>' in page
    assert '<option value="read">Read only</option>' in page
    usage = text(page)
    assert "export WEBHOOKS_TOKEN=whk_…" in usage
    assert (
        "curl -H \"Authorization: Bearer $WEBHOOKS_TOKEN\" -H 'Content-Type: application/json' "
        '\\ -d \'{"type":"payment_received","data":{'
    ) in usage
    assert usage.split("}}' \\ ", 1)[1].startswith("http://localhost/api/v1/events")
    assert "401 Unauthorized" in usage


def test_list_shows_name_scope_prefix_times_and_state(app, admin):
    used_id, used_plain = make_token(app, "Billing", "full")
    revoked_id, _ = make_token(app, "Old reader", "read")
    assert report_event(admin, used_plain).status_code == 202
    with app.app_context():
        row = db.session.get(ApiToken, revoked_id)
        row.revoked_at = row.created_at
        db.session.commit()
    page = admin.get("/tokens/").get_data(as_text=True)
    rows = {
        text(match).split(" ")[0]: match for match in re.findall(r"<tr>.*?</tr>", page, re.S)[1:]
    }
    billing, reader = rows["Billing"], rows["Old"]
    # A time: how long ago, with the moment, written out exactly in its title.
    time_re = r'<time datetime="\d{4}-\d{2}-\d{2}T[\d:]{8}Z" title="[^"]+ UTC">[^<]+ ago</time>'
    assert "Full access" in billing
    assert f"<code>{used_plain[:10]}…</code>" in billing
    assert len(re.findall(time_re, billing)) == 2  # created, last used
    assert '<span class="badge ok">Active</span>' in billing
    assert f'href="/tokens/{used_id}/revoke">Revoke</a>' in billing
    assert "Read only" in reader
    assert "never" in reader
    assert re.search(r'<span class="badge off" title="Revoked [^"<]+ UTC">Revoked</span>', reader)
    assert "/revoke" not in reader
    assert used_plain not in page
    assert "2 tokens." in page


def test_list_is_paged(app, admin):
    for number in range(25):
        make_token(app, f"Token {number:02d}")
    first = admin.get("/tokens/").get_data(as_text=True)
    assert first.count('<span class="badge ok">Active</span>') == 20
    assert "Token 24" in first and "Token 04" not in first
    assert '<a href="/tokens/?page=2" rel="next">' in first
    second = admin.get("/tokens/?page=2").get_data(as_text=True)
    assert second.count('<span class="badge ok">Active</span>') == 5
    assert "Token 00" in second
    assert admin.get("/tokens/?page=abc").status_code == 200


# ---------------------------------------------------------------- creating


def test_creating_shows_the_token_once_and_stores_only_its_hash(app, admin):
    response = create(admin, name="  Billing system  ", scope="read")
    page = response.get_data(as_text=True)
    plain = plain_token(response)
    assert plain.startswith("whk_") and len(plain) > 40
    assert page.count(plain) == 2  # the token itself, and in the command ready to paste
    assert "It will not be shown again" in page
    assert 'data-copy-target="plain-token" aria-label="Copy the token">Copy</button>' in page
    assert "no-store" in response.headers["Cache-Control"]
    assert "Token “Billing system” created" in html.unescape(page)

    [row] = tokens(app)
    assert row.name == "Billing system"
    assert row.scope == "read"
    assert row.token_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert row.prefix == plain[:10]
    assert plain not in (row.name, row.token_hash, row.prefix)
    assert row.revoked_at is None and row.last_used_at is None

    # Not in a flash, not in a URL, not on the list afterwards.
    later = admin.get("/tokens/").get_data(as_text=True)
    assert plain not in later
    assert plain[10:] not in later
    assert f"{plain[:10]}…" in later
    assert "flash" not in later


def test_the_token_from_the_page_opens_the_api_until_it_is_revoked(app, admin):
    plain = plain_token(create(admin, name="Platform"))
    accepted = report_event(admin, plain)
    assert accepted.status_code in (200, 202), accepted.get_data(as_text=True)
    assert accepted.get_json()["type"] == "payment_received"
    [row] = tokens(app)
    assert row.last_used_at is not None

    path = f"/tokens/{row.id}/revoke"
    response = post_form(admin, path, {}, path)
    assert response.status_code == 302
    refused = report_event(admin, plain)
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "invalid_token"


def test_each_token_is_different(app, admin):
    first = plain_token(create(admin, name="One"))
    second = plain_token(create(admin, name="Two"))
    assert first != second
    assert token_count(app) == 2


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param(None, NAME_REQUIRED, id="missing"),
        pytest.param("", NAME_REQUIRED, id="empty"),
        pytest.param("   ", NAME_REQUIRED, id="only-spaces"),
        pytest.param("N" * 101, NAME_LENGTH, id="101-chars"),
    ],
)
def test_invalid_name_shows_an_error_and_creates_nothing(app, admin, name, message):
    response = create(admin, name=name)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert PLAIN_RE.search(page) is None
    block = field_block(page, "name")
    assert "has-error" in block
    assert message in html.unescape(block)
    assert token_count(app) == 0


@pytest.mark.parametrize("name", ["N", "N" * 100], ids=["1-char", "100-chars"])
def test_names_of_1_to_100_characters_are_accepted(app, admin, name):
    plain_token(create(admin, name=name))
    assert [row.name for row in tokens(app)] == [name]


@pytest.mark.parametrize("scope", ["admin", ""])
def test_unknown_scope_is_refused(app, admin, scope):
    response = create(admin, scope=scope)
    assert response.status_code == 200
    assert "Choose a scope: Full access or Read only." in field_block(
        response.get_data(as_text=True), "scope"
    )
    assert token_count(app) == 0


def test_create_without_csrf_token_is_refused(app, admin):
    response = admin.post("/tokens/", data={"name": "Billing", "scope": "full"})
    assert response.status_code == 400
    assert token_count(app) == 0


def test_name_is_escaped(app, admin):
    make_token(app, "<script>alert(1)</script>")
    page = admin.get("/tokens/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# ---------------------------------------------------------------- revoking


def test_revoke_link_shows_a_confirmation_and_changes_nothing(app, admin):
    token_id, plain = make_token(app, "Billing")
    response = admin.get(f"/tokens/{token_id}/revoke")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Revoke this token?" in page
    assert "Billing" in page and f"{plain[:10]}…" in page
    assert "401 Unauthorized" in page
    assert re.search(
        rf'<form method="post" action="/tokens/{token_id}/revoke">\s*'
        r'<input id="csrf_token" name="csrf_token" type="hidden" value="[^"]+">',
        page,
    )
    assert '<button type="submit" class="danger">Revoke</button>' in page
    assert tokens(app)[0].revoked_at is None
    assert report_event(admin, plain).status_code == 202


def test_confirmed_revoke_marks_the_token_and_flashes(app, admin):
    token_id, plain = make_token(app, "Billing")
    path = f"/tokens/{token_id}/revoke"
    response = post_form(admin, path, {}, path)
    assert response.headers["Location"] == "/tokens/"
    assert flashes(admin, response) == [
        (
            "success",
            f"Token “Billing” ({plain[:10]}…) revoked: clients using it get 401 Unauthorized "
            "from now on.",
        )
    ]
    [row] = tokens(app)
    assert row.revoked_at is not None
    page = admin.get("/tokens/").get_data(as_text=True)
    assert ">Revoked</span>" in page
    assert path not in page


def test_revoking_twice_keeps_the_first_time(app, admin):
    token_id, _ = make_token(app)
    path = f"/tokens/{token_id}/revoke"
    post_form(admin, path, {}, "/tokens/")
    first = tokens(app)[0].revoked_at
    page = admin.get(path).get_data(as_text=True)
    assert "Token already revoked" in page
    response = post_form(admin, path, {}, "/tokens/")
    assert flashes(admin, response)[0][0] == "info"
    assert tokens(app)[0].revoked_at == first


def test_revoke_without_csrf_token_changes_nothing(app, admin):
    token_id, plain = make_token(app)
    response = admin.post(f"/tokens/{token_id}/revoke")
    assert response.status_code == 400
    assert tokens(app)[0].revoked_at is None
    assert report_event(admin, plain).status_code == 202


@pytest.mark.parametrize("path", ["/tokens/999/revoke", "/tokens/abc/revoke"])
def test_missing_token_is_not_found(admin, path):
    assert admin.get(path).status_code == 404

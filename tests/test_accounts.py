"""The accounts screens: changing your own password (the current one, then the new one twice,
counted by the login limits, ending the other sessions) and the Admins page (list, add with a
password or a made-up one shown once, remove with a confirmation, never the last admin)."""

import html
import re

import pytest
from sqlalchemy import func, select

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, AuthActions, csrf_token, post_form
from webhooks.extensions import db
from webhooks.models import User

NEW_PASSWORD = "a brand new passphrase"
OTHER_EMAIL = "ops@example.com"
OTHER_PASSWORD = "another good password"
PASSWORD_RE = re.compile(r'<pre id="new-password">([^<]+)</pre>')


def text(page) -> str:
    body = page.get_data(as_text=True) if hasattr(page, "get_data") else page
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def change_password(client, current, new, again=None):
    return post_form(
        client,
        "/admins/password",
        {
            "current_password": current,
            "new_password": new,
            "confirm_password": new if again is None else again,
        },
        "/admins/password",
    )


def add_admin(client, email, password=""):
    return post_form(client, "/admins/", {"email": email, "password": password}, "/admins/")


def emails(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(User.email).order_by(User.email)))


def user_id(app, email) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def password_works(app, email, password) -> bool:
    with app.app_context():
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
        return user is not None and user.check_password(password)


def sent_to_login(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.fixture
def other_admin(app):
    with app.app_context():
        user = User(email=OTHER_EMAIL)
        user.set_password(OTHER_PASSWORD)
        db.session.add(user)
        db.session.commit()
        return user.id


# ---------------------------------------------------------------- changing your password


def test_the_signed_in_email_in_the_header_links_to_the_password_page(admin):
    page = admin.get("/webhooks/").get_data(as_text=True)
    assert re.search(r'<a class="user" href="/admins/password"[^>]*>.*admin@example\.com</a>', page)
    assert 'href="/admins/"' in page
    form = admin.get("/admins/password")
    assert form.status_code == 200
    for label in ("Current password", "New password", "New password again"):
        assert label in text(form)


def test_changing_the_password_with_the_right_current_one(app, admin, client):
    response = change_password(admin, ADMIN_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = admin.get("/")
    assert "Password changed. Your other sessions have been logged out." in text(page)
    assert password_works(app, ADMIN_EMAIL, NEW_PASSWORD)
    assert not password_works(app, ADMIN_EMAIL, ADMIN_PASSWORD)

    fresh = AuthActions(app.test_client())
    assert fresh.login(password=ADMIN_PASSWORD).status_code == 200
    assert fresh.login(password=NEW_PASSWORD).headers["Location"] == "/"


def test_a_wrong_current_password_is_a_clear_error_and_changes_nothing(app, admin):
    response = change_password(admin, "not my password", NEW_PASSWORD)
    assert response.status_code == 200
    assert "The current password is wrong." in text(response)
    assert password_works(app, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert admin.get("/webhooks/").status_code == 200  # still logged in


def test_wrong_current_passwords_are_counted_by_the_login_limits(request, config):
    config.update(LOGIN_LIMIT_PER_DEVICE="2 per 15 minutes", LOGIN_LIMIT_PER_ACCOUNT="2 per hour")
    app = request.getfixturevalue("app")
    client = app.test_client()
    assert AuthActions(client).login().status_code == 302  # the account's first place
    # The device's two places, then the account's second, then nothing.
    for _ in range(3):
        response = change_password(client, "not my password", NEW_PASSWORD)
        assert "The current password is wrong." in text(response)
    response = change_password(client, ADMIN_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 429
    assert "Too many login attempts. Try again in" in text(response)
    assert int(response.headers["Retry-After"]) > 0
    assert password_works(app, ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.mark.parametrize(
    ("current", "new", "again", "message"),
    [
        pytest.param(
            ADMIN_PASSWORD,
            NEW_PASSWORD,
            NEW_PASSWORD + "x",
            "The two new passwords are not the same.",
            id="mismatch",
        ),
        pytest.param(
            ADMIN_PASSWORD,
            "short",
            "short",
            "The password must be at least 8 characters long.",
            id="too-short",
        ),
        pytest.param(ADMIN_PASSWORD, "", "", "Enter a new password.", id="empty"),
        pytest.param(
            "", NEW_PASSWORD, NEW_PASSWORD, "Enter your current password.", id="no-current"
        ),
        pytest.param(
            ADMIN_PASSWORD,
            "x" * 1025,
            "x" * 1025,
            "The password can be at most 1024 characters long.",
            id="too-long",
        ),
    ],
)
def test_a_new_password_that_breaks_the_rules_is_refused(app, admin, current, new, again, message):
    response = change_password(admin, current, new, again)
    assert response.status_code == 200
    assert message in text(response)
    assert password_works(app, ADMIN_EMAIL, ADMIN_PASSWORD)


def test_changing_the_password_ends_the_other_sessions_but_keeps_this_one(app, admin):
    laptop = app.test_client()
    assert AuthActions(laptop).login().status_code == 302
    copied = admin.get_cookie("session").value
    assert laptop.get("/webhooks/").status_code == 200

    change_password(admin, ADMIN_PASSWORD, NEW_PASSWORD)
    assert admin.get("/webhooks/").status_code == 200
    assert sent_to_login(laptop.get("/webhooks/"))
    thief = app.test_client()
    thief.set_cookie("session", copied)  # this browser's cookie from before the change
    assert sent_to_login(thief.get("/webhooks/"))


def test_the_password_page_needs_its_csrf_token(app, admin):
    response = admin.post(
        "/admins/password",
        data={
            "current_password": ADMIN_PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert response.status_code == 400
    assert password_works(app, ADMIN_EMAIL, ADMIN_PASSWORD)


# ---------------------------------------------------------------- the Admins page


def test_the_admins_page_lists_every_admin(admin, other_admin):
    page = text(admin.get("/admins/"))
    assert ADMIN_EMAIL in page and OTHER_EMAIL in page
    assert "2 admins." in page


def test_adding_an_admin_with_a_password(app, admin):
    response = add_admin(admin, "  New.Admin@Example.com ", "a good password")
    assert response.status_code == 302
    assert "Admin new.admin@example.com added." in text(admin.get("/admins/"))
    assert emails(app) == [ADMIN_EMAIL, "new.admin@example.com"]
    newcomer = AuthActions(app.test_client())
    assert newcomer.login("new.admin@example.com", "a good password").status_code == 302


def test_adding_an_admin_without_a_password_shows_a_made_up_one_once(app, admin):
    response = add_admin(admin, "new@example.com")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Copy this password now. It will not be shown again" in text(response)
    password = PASSWORD_RE.search(response.get_data(as_text=True)).group(1)
    assert len(password) >= 8
    assert password_works(app, "new@example.com", password)
    assert password not in admin.get("/admins/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        pytest.param(
            ADMIN_EMAIL.upper(),
            "a good password",
            "An admin with the email admin@example.com already exists.",
            id="duplicate",
        ),
        pytest.param(
            "not-an-email",
            "a good password",
            "Enter an email address, e.g. ops@example.com.",
            id="no-at",
        ),
        pytest.param(
            "a b@example.com",
            "a good password",
            "Enter an email address, e.g. ops@example.com.",
            id="space",
        ),
        pytest.param(
            "ops\x00@example.com",
            "a good password",
            "Enter an email address, e.g. ops@example.com.",
            id="nul",
        ),
        pytest.param("", "a good password", "Enter the new admin's email address.", id="empty"),
        pytest.param(
            "a" * 250 + "@example.com",
            "a good password",
            "The email can be at most 254 characters.",
            id="long",
        ),
        pytest.param(
            "ops@example.com",
            "short",
            "The password must be at least 8 characters long.",
            id="short-password",
        ),
    ],
)
def test_an_admin_that_breaks_the_rules_is_not_added(app, admin, email, password, message):
    response = add_admin(admin, email, password)
    assert response.status_code == 200
    assert message in text(response)
    assert emails(app) == [ADMIN_EMAIL]


def test_removing_an_admin_asks_first_then_ends_their_sessions(app, admin, other_admin):
    theirs = app.test_client()
    assert AuthActions(theirs).login(OTHER_EMAIL, OTHER_PASSWORD).status_code == 302
    assert theirs.get("/webhooks/").status_code == 200

    confirm = admin.get(f"/admins/{other_admin}/remove")
    assert confirm.status_code == 200
    assert f"Remove {OTHER_EMAIL}?" in text(confirm)
    assert emails(app) == [ADMIN_EMAIL, OTHER_EMAIL]  # a GET only asks

    response = post_form(admin, f"/admins/{other_admin}/remove", {}, "/admins/")
    assert response.headers["Location"] == "/admins/"
    assert f"Admin {OTHER_EMAIL} removed; their sessions have ended." in text(admin.get("/admins/"))
    assert emails(app) == [ADMIN_EMAIL]
    assert sent_to_login(theirs.get("/webhooks/"))
    assert AuthActions(app.test_client()).login(OTHER_EMAIL, OTHER_PASSWORD).status_code == 200


def test_the_last_admin_cannot_be_removed(app, admin):
    me = user_id(app, ADMIN_EMAIL)
    confirm = admin.get(f"/admins/{me}/remove")
    assert "This admin cannot be removed" in text(confirm)
    assert "admin@example.com is the only admin" in text(confirm)
    assert 'class="danger"' not in confirm.get_data(as_text=True)

    response = post_form(admin, f"/admins/{me}/remove", {}, "/admins/")
    assert response.headers["Location"] == "/admins/"
    assert "is the only admin, so nobody could log in without them." in text(admin.get("/admins/"))
    assert emails(app) == [ADMIN_EMAIL]
    assert admin.get("/webhooks/").status_code == 200


def test_removing_yourself_logs_you_out_when_another_admin_remains(app, admin, other_admin):
    me = user_id(app, ADMIN_EMAIL)
    assert "This is your own account" in text(admin.get(f"/admins/{me}/remove"))
    response = post_form(admin, f"/admins/{me}/remove", {}, "/admins/")
    assert response.headers["Location"] == "/login"
    assert "You removed your own account and are logged out." in text(admin.get("/login"))
    assert sent_to_login(admin.get("/webhooks/"))
    assert emails(app) == [OTHER_EMAIL]


def test_removing_an_admin_that_is_gone_is_a_404(admin):
    assert admin.get("/admins/999/remove").status_code == 404


def test_the_admins_pages_need_their_csrf_token(app, admin, other_admin):
    assert (
        admin.post("/admins/", data={"email": "x@example.com", "password": ""}).status_code == 400
    )
    assert admin.post(f"/admins/{other_admin}/remove", data={}).status_code == 400
    assert emails(app) == [ADMIN_EMAIL, OTHER_EMAIL]


@pytest.mark.parametrize("path", ["/admins/", "/admins/password", "/admins/1/remove"])
def test_the_accounts_pages_need_a_login(client, path):
    assert sent_to_login(client.get(path))
    token = csrf_token(client)
    assert sent_to_login(client.post(path, data={"csrf_token": token}))


def test_the_accounts_pages_in_turkish(admin, other_admin):
    headers = {"Accept-Language": "tr"}
    assert "Parolayı değiştir" in text(admin.get("/admins/password", headers=headers))
    assert "Yöneticiler" in text(admin.get("/admins/", headers=headers))

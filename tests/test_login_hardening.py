"""Login hardening: attempt limits per address and per account, the Secure cookie over HTTPS,
logout that really ends the session, and the session-token migration.

The limits run on Flask-Limiter's memory storage; a fake clock (patched into that storage and
into the module that words the refusal) lets the tests step past a window without sleeping.
"""

import re
import time

import pytest
from sqlalchemy import select, text

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, AuthActions, csrf_token, unused_port

# fresh_app and keep_logging are fixtures, asked for by name.
from tests.test_migrations import flask_db, fresh_app, keep_logging  # noqa: F401
from webhooks import create_app
from webhooks.auth import throttle
from webhooks.extensions import db
from webhooks.models import User

PER_ADDRESS = 4
PER_ACCOUNT = 3
OTHER_EMAIL = "ops@example.com"
OTHER_PASSWORD = "another good password"
TOO_MANY = "Too many login attempts."


class Clock:
    def __init__(self):
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def config(config):
    config.update(
        LOGIN_LIMIT_PER_ADDRESS=f"{PER_ADDRESS} per minute",
        LOGIN_LIMIT_PER_ACCOUNT=f"{PER_ACCOUNT} per 15 minutes",
    )
    return config


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("limits.storage.memory.time", clock)
    monkeypatch.setattr(throttle, "time", clock)
    return clock


@pytest.fixture
def other_user(app):
    with app.app_context():
        user = User(email=OTHER_EMAIL)
        user.set_password(OTHER_PASSWORD)
        db.session.add(user)
        db.session.commit()


def app_with(request, config, **settings):
    """The ``app`` fixture, built with these settings on top of the test configuration."""
    config.update(settings)
    return request.getfixturevalue("app")


def attempt(app, email, password, address="127.0.0.1", headers=None):
    """One login attempt from a new browser at ``address``."""
    client = app.test_client()
    token = csrf_token(client)
    return client.post(
        "/login",
        data={"csrf_token": token, "email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
        headers=headers or {},
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and response.headers["Location"] == "/"


def refused(response) -> bool:
    return response.status_code == 429 and TOO_MANY in response.get_data(as_text=True)


def message(response) -> str:
    match = re.search(r"Too many login attempts\.[^<]*", response.get_data(as_text=True))
    return match.group(0) if match else ""


def session_token(app, email=ADMIN_EMAIL) -> str:
    with app.app_context():
        return db.session.scalar(select(User.session_token).where(User.email == email))


# ---------------------------------------------------------------- per client address


def test_too_many_attempts_from_one_address_get_a_429_page_saying_when_to_retry(app, clock):
    for number in range(PER_ADDRESS):
        response = attempt(app, f"guess{number}@example.com", "wrong password")
        assert response.status_code == 200
        assert "Wrong email or password." in response.get_data(as_text=True)

    response = attempt(app, "guess-last@example.com", "wrong password")
    page = response.get_data(as_text=True)
    assert response.status_code == 429
    assert message(response) == "Too many login attempts. Try again in 1 minute."
    assert "Error 429" in page  # the site's error page, not Flask-Limiter's plain text
    assert "Log out" not in page
    assert response.headers["Retry-After"] == "60"


def test_correct_password_after_the_address_limit_is_refused_until_the_window_passes(app, clock):
    for number in range(PER_ADDRESS):
        attempt(app, f"guess{number}@example.com", "wrong password")
    clock.advance(30)
    response = attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert refused(response)
    assert message(response) == "Too many login attempts. Try again in 30 seconds."
    assert response.headers["Retry-After"] == "30"

    clock.advance(31)
    assert logged_in(attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD))


def test_the_address_limit_counts_successful_logins_too(app, clock, other_user):
    # Two accounts, so that the per-account limit (of new browsers) is not the one reached.
    for number in range(PER_ADDRESS):
        email, password = [(ADMIN_EMAIL, ADMIN_PASSWORD), (OTHER_EMAIL, OTHER_PASSWORD)][number % 2]
        assert logged_in(attempt(app, email, password))
    assert refused(attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD))


def test_the_address_limit_counts_only_posts(app, clock):
    client = app.test_client()
    for _ in range(PER_ADDRESS * 3):
        assert client.get("/login").status_code == 200
    assert logged_in(attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD))


def test_another_account_from_another_address_is_unaffected(app, clock, other_user):
    for number in range(PER_ADDRESS):
        attempt(app, f"guess{number}@example.com", "wrong password", address="192.0.2.1")
    assert refused(attempt(app, OTHER_EMAIL, OTHER_PASSWORD, address="192.0.2.1"))

    assert logged_in(attempt(app, OTHER_EMAIL, OTHER_PASSWORD, address="192.0.2.2"))


def test_x_forwarded_for_is_not_believed_without_a_trusted_proxy(app, clock):
    for number in range(PER_ADDRESS):
        forwarded = {"X-Forwarded-For": f"198.51.100.{number}"}
        attempt(app, f"guess{number}@example.com", "wrong password", headers=forwarded)
    response = attempt(
        app, ADMIN_EMAIL, ADMIN_PASSWORD, headers={"X-Forwarded-For": "198.51.100.200"}
    )
    assert refused(response)


def test_behind_a_trusted_proxy_the_forwarded_address_is_limited(request, config, clock):
    app = app_with(request, config, TRUSTED_PROXIES=1)
    proxy = "10.0.0.1"  # every request reaches the app from the proxy
    first = {"X-Forwarded-For": "198.51.100.1"}
    for number in range(PER_ADDRESS):
        attempt(app, f"guess{number}@example.com", "wrong password", proxy, first)
    assert refused(attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD, proxy, first))

    second = {"X-Forwarded-For": "198.51.100.2"}
    assert logged_in(attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD, proxy, second))


# ---------------------------------------------------------------- per account


def test_failed_logins_lock_the_account_from_every_address_until_the_window_passes(app, clock):
    spellings = [ADMIN_EMAIL, ADMIN_EMAIL.upper(), f"  {ADMIN_EMAIL} "]
    for number, email in enumerate(spellings):
        response = attempt(app, email, "wrong password", address=f"192.0.2.{number}")
        assert response.status_code == 200
    clock.advance(60)

    response = attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD, address="203.0.113.9")
    assert refused(response)
    assert message(response) == "Too many login attempts. Try again in 14 minutes."
    assert response.headers["Retry-After"] == str(15 * 60 - 60)

    clock.advance(14 * 60 + 1)
    assert logged_in(attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD, address="203.0.113.9"))


def test_logins_from_a_browser_that_logged_in_before_do_not_count_toward_the_account_limit(
    app, clock
):
    laptop = AuthActions(app.test_client())
    for _ in range(PER_ACCOUNT + 1):  # the first one, from a new browser, counts
        assert logged_in(laptop.login())
        laptop.logout()
    for number in range(PER_ACCOUNT - 2):
        assert attempt(app, ADMIN_EMAIL, "wrong", f"192.0.2.{number}").status_code == 200
    assert logged_in(attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD, "192.0.2.99"))


def test_every_attempt_from_a_new_browser_counts_toward_the_account_limit(app, clock):
    """The attempt is counted before its password is checked, so a new browser's successful
    login takes its place too; from then on that browser is counted on its own."""
    for number in range(PER_ACCOUNT):
        assert logged_in(attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD, f"192.0.2.{number}"))
    assert refused(attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD, "192.0.2.99"))


def test_forms_with_errors_do_not_count_toward_the_account_limit(app, clock):
    addresses = (f"192.0.2.{number}" for number in range(100))
    for _ in range(PER_ACCOUNT + 1):
        response = attempt(app, ADMIN_EMAIL, "", next(addresses))
        assert response.status_code == 200
        assert 'class="field has-error"' in response.get_data(as_text=True)
    assert logged_in(attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD, next(addresses)))


def test_a_locked_unknown_account_looks_like_a_locked_real_one(app, clock):
    def locked_page(email):
        for number in range(PER_ACCOUNT):
            attempt(app, email, "wrong password", address=f"192.0.2.{number}")
        response = attempt(app, email, "wrong password", address="203.0.113.9")
        page = re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", response.get_data(as_text=True))
        return response.status_code, response.headers.get("Retry-After"), page

    real = locked_page(ADMIN_EMAIL)
    unknown = locked_page("nobody@example.com")
    assert real[0] == 429
    assert real == unknown


def test_locking_one_account_leaves_the_others_alone(app, clock, other_user):
    for number in range(PER_ACCOUNT):
        attempt(app, ADMIN_EMAIL, "wrong password", address=f"192.0.2.{number}")
    assert refused(attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD, address="192.0.2.50"))
    assert logged_in(attempt(app, OTHER_EMAIL, OTHER_PASSWORD, address="192.0.2.51"))


# ---------------------------------------------------------------- no 500 for any input


@pytest.mark.parametrize(
    ("email", "password", "answer"),
    [
        # A NUL would make PostgreSQL refuse the query; the form stops it first.
        pytest.param("admin\x00@example.com", ADMIN_PASSWORD, "Enter an email address.", id="nul"),
        pytest.param(
            "admin@example.com\n", ADMIN_PASSWORD, "Enter an email address.", id="newline"
        ),
        pytest.param(ADMIN_EMAIL, "pass\x00word", "Wrong email or password.", id="nul-password"),
        pytest.param(
            "a" * 300 + "@example.com", "x", "longer than 254 characters", id="long-email"
        ),
        pytest.param(ADMIN_EMAIL, "x" * 5000, "longer than 1024 characters", id="long-password"),
        pytest.param(
            "ädmin@exämple.com", "pässwörd \u202e", "Wrong email or password.", id="unicode"
        ),
    ],
)
def test_odd_login_input_gets_a_form_answer_not_a_crash(app, email, password, answer):
    response = attempt(app, email, password)
    assert response.status_code == 200
    assert answer in response.get_data(as_text=True)


def test_login_still_answers_when_the_limit_store_is_unreachable(request, config):
    store = f"redis://127.0.0.1:{unused_port()}/0"
    app = app_with(request, config, RATELIMIT_STORAGE_URI=store)
    assert logged_in(attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD))
    # Each process counts in memory meanwhile.
    for number in range(PER_ADDRESS - 1):
        attempt(app, f"guess{number}@example.com", "wrong password")
    assert refused(attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOGIN_LIMIT_PER_ADDRESS", "lots"),
        ("LOGIN_LIMIT_PER_ACCOUNT", ""),
        ("TRUSTED_PROXIES", -1),
        ("TRUSTED_PROXIES", "yes"),
    ],
)
def test_a_bad_setting_stops_the_app_from_starting(config, name, value):
    config[name] = value
    with pytest.raises(ValueError, match=name):
        create_app(config)


# ---------------------------------------------------------------- the Secure cookie


def login_cookie(app, base_url="http://localhost", headers=None) -> str:
    client = app.test_client()
    token = csrf_token(client)
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        base_url=base_url,
        # Flask-WTF checks the Referer of a form sent over HTTPS.
        headers={"Referer": "https://localhost/login", **(headers or {})},
    )
    assert logged_in(response)
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def secure(cookie: str) -> bool:
    return "; secure" in cookie.lower()


def test_session_cookie_is_secure_over_https(app):
    cookie = login_cookie(app, base_url="https://localhost")
    assert secure(cookie)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_session_cookie_is_not_marked_secure_over_plain_http(app):
    assert not secure(login_cookie(app))


def test_session_cookie_secure_setting_marks_it_secure_over_http_too(request, config):
    app = app_with(request, config, SESSION_COOKIE_SECURE=True)
    assert secure(login_cookie(app))


@pytest.mark.parametrize(("proxies", "marked_secure"), [(0, False), (1, True)])
def test_forwarded_https_counts_only_behind_a_trusted_proxy(
    request, config, proxies, marked_secure
):
    app = app_with(request, config, TRUSTED_PROXIES=proxies)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.1"}
    assert secure(login_cookie(app, headers=forwarded)) is marked_secure


# ---------------------------------------------------------------- logout ends the session


def test_a_session_cookie_copied_before_logout_no_longer_logs_in(app, admin, auth):
    copied = admin.get_cookie("session").value
    token_before = session_token(app)
    assert auth.logout().headers["Location"] == "/login"
    assert session_token(app) != token_before

    thief = app.test_client()
    thief.set_cookie("session", copied)
    response = thief.get("/webhooks/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_the_cookie_carries_the_session_token_not_the_user_id(app, admin):
    with admin.session_transaction() as session:
        carried = session["_user_id"]
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == ADMIN_EMAIL))
        assert carried == user.session_token
        assert len(carried) >= 40

    forged = app.test_client()
    with forged.session_transaction() as session:
        session["_user_id"] = str(user.id)  # what a cookie from before the upgrade carried
    assert forged.get("/webhooks/").headers["Location"].startswith("/login")


def test_logging_out_ends_the_users_other_sessions_too(app, admin, auth):
    laptop = app.test_client()
    assert logged_in(AuthActions(laptop).login())
    auth.logout()
    assert laptop.get("/webhooks/").headers["Location"].startswith("/login")


def test_a_new_password_from_the_command_line_ends_existing_sessions(app, admin, runner):
    assert admin.get("/webhooks/").status_code == 200
    result = runner.invoke(
        args=["admin", "reset-password", ADMIN_EMAIL, "--password", "brand-new-pass"]
    )
    assert result.exit_code == 0, result.output
    assert admin.get("/webhooks/").headers["Location"].startswith("/login")


def test_logging_in_again_after_logout_works(app, admin, auth):
    auth.logout()
    assert logged_in(auth.login())
    assert admin.get("/webhooks/").status_code == 200


# ---------------------------------------------------------------- the migration


def test_migration_gives_every_existing_user_a_token_of_their_own(request):
    app = request.getfixturevalue("fresh_app")
    flask_db(app, "upgrade", "73d4b6313303")
    with app.app_context(), db.engine.begin() as connection:
        for email in ("one@example.com", "two@example.com"):
            connection.execute(
                text(
                    "INSERT INTO users (email, password_hash, created_at) "
                    "VALUES (:email, 'x', '2026-01-01 00:00:00')"
                ),
                {"email": email},
            )
    flask_db(app, "upgrade")
    with app.app_context(), db.engine.connect() as connection:
        tokens = connection.execute(text("SELECT session_token FROM users")).scalars().all()
    assert len(tokens) == 2
    assert all(token and len(token) >= 40 for token in tokens)
    assert tokens[0] != tokens[1]

    flask_db(app, "downgrade", "73d4b6313303")
    with app.app_context(), db.engine.connect() as connection:
        columns = [row[1] for row in connection.execute(text("PRAGMA table_info(users)"))]
    assert "session_token" not in columns

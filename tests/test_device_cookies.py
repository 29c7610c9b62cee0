"""Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): a browser
that logged in before is limited on its own, so guesses from elsewhere cannot lock its admin
out; browsers without the cookie share the account's limit; a device that spends its own limit
is treated like any other browser; a tampered cookie, or one given for another email, counts
for nothing. Attempts are counted before the password is checked, so simultaneous guesses
cannot get more checks than the limit allows."""

import threading

import pytest
from itsdangerous import URLSafeTimedSerializer

from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    BROKER_URL,
    AuthActions,
    csrf_token,
    unused_port,
)
from webhooks.auth import devices, throttle
from webhooks.extensions import db, limiter
from webhooks.models import User

PER_ACCOUNT = 2
PER_DEVICE = 4
OTHER_EMAIL = "ops@example.com"
OTHER_PASSWORD = "another good password"
WRONG = "Wrong email or password."
TOO_MANY = "Too many login attempts."


@pytest.fixture
def config(config):
    config.update(
        LOGIN_LIMIT_PER_ADDRESS="1000 per minute",
        LOGIN_LIMIT_PER_ACCOUNT=f"{PER_ACCOUNT} per 15 minutes",
        LOGIN_LIMIT_PER_DEVICE=f"{PER_DEVICE} per 15 minutes",
    )
    return config


def attempt(client, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, address="127.0.0.1", **kw):
    token = csrf_token(client)
    return client.post(
        "/login",
        data={"csrf_token": token, "email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
        **kw,
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and response.headers["Location"] == "/"


def wrong(response) -> bool:
    return response.status_code == 200 and WRONG in response.get_data(as_text=True)


def refused(response) -> bool:
    return response.status_code == 429 and TOO_MANY in response.get_data(as_text=True)


def known_browser(app, email=ADMIN_EMAIL, password=ADMIN_PASSWORD):
    """A browser that logged in (and so holds a device cookie) and logged out again."""
    browser = app.test_client()
    assert logged_in(attempt(browser, email, password))
    assert browser.get_cookie(devices.COOKIE_NAME) is not None
    AuthActions(browser).logout()
    return browser


def lock_the_account(app, email=ADMIN_EMAIL):
    """Guess from new browsers at other addresses until the account refuses new browsers."""
    for number in range(PER_ACCOUNT + 5):
        response = attempt(app.test_client(), email, "guess", address=f"198.51.100.{number}")
        if refused(response):
            return
    pytest.fail("the account was never locked")


def device_cookie(response) -> str:
    (cookie,) = [
        c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{devices.COOKIE_NAME}=")
    ]
    return cookie


@pytest.fixture
def other_user(app):
    with app.app_context():
        user = User(email=OTHER_EMAIL)
        user.set_password(OTHER_PASSWORD)
        db.session.add(user)
        db.session.commit()


# ---------------------------------------------------------------- the lockout


def test_an_attacker_locking_the_account_does_not_lock_out_a_browser_that_logged_in_before(app):
    laptop = known_browser(app)
    lock_the_account(app)
    assert refused(attempt(app.test_client(), address="203.0.113.7"))  # a new browser

    assert logged_in(attempt(laptop, address="203.0.113.8"))
    assert laptop.get("/webhooks/").status_code == 200


def test_attempts_without_the_cookie_are_limited_per_account(app):
    for number in range(PER_ACCOUNT):
        assert wrong(attempt(app.test_client(), password="guess", address=f"192.0.2.{number}"))
    response = attempt(app.test_client(), address="192.0.2.99")  # the right password
    assert refused(response)
    assert int(response.headers["Retry-After"]) > 14 * 60


def test_a_devices_own_failures_do_not_count_against_the_account(app):
    laptop = known_browser(app)  # its first login took one of the account's places
    for _ in range(PER_DEVICE):
        assert wrong(attempt(laptop, password="typo"))
    assert logged_in(attempt(app.test_client(), address="192.0.2.50"))  # the account's last


def test_a_device_that_spends_its_own_limit_is_treated_as_untrusted(app):
    laptop = known_browser(app)  # the account: 1 of PER_ACCOUNT
    for _ in range(PER_DEVICE):
        assert wrong(attempt(laptop, password="typo"))
    assert wrong(attempt(laptop, password="typo"))  # counted per account now: 2 of 2
    assert refused(attempt(laptop))


def test_a_known_browser_is_limited_per_device_not_per_account_after_a_lockout(app):
    laptop = known_browser(app)
    lock_the_account(app)
    for _ in range(PER_DEVICE - 1):
        assert wrong(attempt(laptop, password="typo"))
    assert logged_in(attempt(laptop))  # its last place on the device limit


# ---------------------------------------------------------------- cookies that do not count


def test_a_tampered_device_cookie_is_ignored(app):
    laptop = known_browser(app)
    value = laptop.get_cookie(devices.COOKIE_NAME).value
    lock_the_account(app)
    forged = app.test_client()
    forged.set_cookie(devices.COOKIE_NAME, value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    assert refused(attempt(forged))


def test_a_cookie_signed_with_another_key_or_salt_is_ignored(app):
    lock_the_account(app)
    for key, salt in [("another-secret-key", devices.SALT), (app.secret_key, "cookie-session")]:
        forged = app.test_client()
        value = URLSafeTimedSerializer(key, salt=salt).dumps(
            {"email": ADMIN_EMAIL, "device": "made-up"}
        )
        forged.set_cookie(devices.COOKIE_NAME, value)
        assert refused(attempt(forged))


def test_a_device_cookie_given_for_another_email_is_ignored(app, other_user):
    shared = known_browser(app, OTHER_EMAIL, OTHER_PASSWORD)
    lock_the_account(app)
    assert refused(attempt(shared))  # the cookie names ops@, not admin@
    assert logged_in(attempt(shared, OTHER_EMAIL, OTHER_PASSWORD))


def test_while_the_limit_store_is_unreachable_attempts_are_counted_in_the_process(request, config):
    config["RATELIMIT_STORAGE_URI"] = f"redis://127.0.0.1:{unused_port()}/0"
    app = request.getfixturevalue("app")
    with app.test_request_context("/admins/password", method="POST"):
        for _ in range(PER_ACCOUNT):
            assert throttle.reserve_attempt(ADMIN_EMAIL) is None
        refusal = throttle.reserve_attempt(ADMIN_EMAIL)
    assert refusal is not None
    assert refusal.seconds > 14 * 60


# ---------------------------------------------------------------- the cookie itself


def test_the_device_cookie_is_httponly_samesite_lax_long_lived_and_bound_to_the_email(app):
    response = attempt(app.test_client(), email="  Admin@Example.com ")
    cookie = device_cookie(response)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "; Secure" not in cookie  # plain HTTP
    max_age = int(cookie.split("Max-Age=")[1].split(";")[0])
    assert max_age >= 364 * 24 * 3600
    content = URLSafeTimedSerializer(app.secret_key, salt=devices.SALT).loads(
        cookie.split(";")[0].split("=", 1)[1]
    )
    assert content["email"] == ADMIN_EMAIL
    assert len(content["device"]) >= 16


def test_the_device_cookie_is_secure_over_https(app):
    client = app.test_client()
    token = csrf_token(client)
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},
    )
    assert "; Secure" in device_cookie(response)


def test_a_failed_login_gives_no_device_cookie(app):
    response = attempt(app.test_client(), password="guess")
    assert wrong(response)
    assert not [
        c for c in response.headers.getlist("Set-Cookie") if c.startswith(devices.COOKIE_NAME)
    ]


# ---------------------------------------------------------------- simultaneous guesses

GUESSES = 12
ACCOUNT_LIMIT = 5


def simultaneous_guesses(app) -> list:
    """GUESSES wrong passwords for the admin, from as many addresses, sent at the same moment
    from as many threads."""
    clients = [app.test_client() for _ in range(GUESSES)]
    tokens = [csrf_token(client) for client in clients]
    start = threading.Barrier(GUESSES)
    responses = [None] * GUESSES

    def guess(number):
        start.wait()
        responses[number] = clients[number].post(
            "/login",
            data={"csrf_token": tokens[number], "email": ADMIN_EMAIL, "password": f"guess{number}"},
            environ_base={"REMOTE_ADDR": f"198.51.100.{number}"},
        )

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(GUESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return responses


def stores():
    yield pytest.param("memory://", id="memory")
    if BROKER_URL and BROKER_URL.startswith("redis://"):
        yield pytest.param(BROKER_URL, id="redis")


@pytest.mark.parametrize("store", list(stores()))
def test_simultaneous_guesses_get_no_more_password_checks_than_the_limit(request, config, store):
    config.update(
        LOGIN_LIMIT_PER_ACCOUNT=f"{ACCOUNT_LIMIT} per 15 minutes",
        RATELIMIT_STORAGE_URI=store,
        # A password check as slow as a real one, so the guesses overlap while they are checked.
        PASSWORD_HASH_METHOD="pbkdf2:sha256:300000",
    )
    app = request.getfixturevalue("app")
    with app.app_context():
        limiter.reset()  # a shared store may hold another test's counts
    try:
        responses = simultaneous_guesses(app)
    finally:
        with app.app_context():
            limiter.reset()
    checked = [r for r in responses if wrong(r)]
    assert len(checked) == ACCOUNT_LIMIT
    assert all(refused(r) for r in responses if r not in checked)

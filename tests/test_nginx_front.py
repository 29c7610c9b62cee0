"""The production front, as docs/deploy.md sets it up: Debian's nginx running the repository's
deploy/nginx/webhooks.conf (only its ports, paths and certificate swapped for the test's own,
with a self-signed certificate made here), in front of gunicorn started with the project's
gunicorn.conf.py on 127.0.0.1, with TRUSTED_PROXIES=1 and TRUSTED_HOSTS set as documented.

nginx runs as a child of the test (``daemon off``) with its prefix, temporary folders, pid file
and logs in a temporary folder: nothing of the system's nginx is read or touched."""

import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.certificates import self_signed_certificate
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, CSRF_RE, unused_port
from tests.engine_helpers import api_token, bearer, wait_until
from tests.worker_processes import PROJECT, deployment
from webhooks.extensions import db
from webhooks.models import User

pytestmark = pytest.mark.nginx

NGINX = os.environ.get("WEBHOOKS_TEST_NGINX", "/usr/sbin/nginx")
GUNICORN = str(PROJECT / ".venv" / "bin" / "gunicorn")
SITE_CONFIG = PROJECT / "deploy" / "nginx" / "webhooks.conf"
UNITS = sorted((PROJECT / "deploy" / "systemd").glob("*.service"))
GUIDE = PROJECT / "docs" / "deploy.md"
SITE = "webhooks.example.com"
HSTS = "max-age=31536000"
BODY_LIMIT = 1024 * 1024  # client_max_body_size 1m, the app's MAX_CONTENT_LENGTH
SLOW_CLIENTS = 1000
PROBES = 400


@dataclass
class Front:
    https: int
    http: int
    app_port: int
    cert: Path
    gunicorn_log: Path
    token: str

    def url(self, path: str, scheme: str = "https") -> str:
        port = self.https if scheme == "https" else self.http
        return f"{scheme}://127.0.0.1:{port}{path}"

    def session(self) -> requests.Session:
        """A client that reaches the site under its name (the certificate names 127.0.0.1
        too, so it is checked as a browser would check the site's)."""
        client = requests.Session()
        client.trust_env = False  # else REQUESTS_CA_BUNDLE wins over the session's own
        client.verify = str(self.cert)
        client.headers["Host"] = SITE
        return client


def test_the_guide_shows_the_files_tested_here_as_they_are():
    blocks = re.findall(r"```(?:nginx|ini)\n(.*?)```", GUIDE.read_text(), re.S)
    assert len(UNITS) == 3
    for path in (SITE_CONFIG, *UNITS):
        assert path.read_text() in blocks, f"{GUIDE.name} does not show {path.name} as it is"


def site_config(cert: Path, key: Path, https: int, http: int, app_port: int) -> str:
    """deploy/nginx/webhooks.conf with the test's ports, certificate and gunicorn address."""
    text = SITE_CONFIG.read_text()
    swaps = [
        (r"listen 443 ssl", f"listen 127.0.0.1:{https} ssl"),
        (r"listen 80\b", f"listen 127.0.0.1:{http}"),
        (r"server 127\.0\.0\.1:5000;", f"server 127.0.0.1:{app_port};"),
        (r"/etc/letsencrypt/live/webhooks\.example\.com/fullchain\.pem", str(cert)),
        (r"/etc/letsencrypt/live/webhooks\.example\.com/privkey\.pem", str(key)),
    ]
    for pattern, replacement in swaps:
        text, count = re.subn(pattern, replacement, text)
        assert count, f"{SITE_CONFIG} no longer has {pattern!r}"
    return text


def main_config(folder: Path, site: Path) -> str:
    """The rest of what /etc/nginx/nginx.conf would give: every path in ``folder``."""
    temp = {name: folder / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    user = "user root;" if os.geteuid() == 0 else ""  # workers that can read the test's folder
    return f"""
        {user}
        daemon off;
        worker_processes 1;
        pid {folder / "nginx.pid"};
        error_log {folder / "error.log"} warn;
        events {{ worker_connections 4096; }}
        http {{
            access_log {folder / "access.log"};
            client_body_temp_path {temp["body"]};
            proxy_temp_path {temp["proxy"]};
            fastcgi_temp_path {temp["fastcgi"]};
            uwsgi_temp_path {temp["uwsgi"]};
            scgi_temp_path {temp["scgi"]};
            include {site};
        }}
    """


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="module")
def front(tmp_path_factory) -> Iterator[Front]:
    if not os.access(NGINX, os.X_OK):
        pytest.fail(
            f"The front tests need nginx at {NGINX}: install Debian's package "
            "(apt-get install nginx; .ci/run does) or point WEBHOOKS_TEST_NGINX at one.",
            pytrace=False,
        )
    # 1,000 slow clients and their connections to nginx, in this process.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    tmp_path = tmp_path_factory.mktemp("front")
    settings = {
        "QUEUE": "embedded",
        "EMBEDDED_WORKER": "true",  # /healthz needs a worker that checks in
        "TRUSTED_PROXIES": "1",
        "TRUSTED_HOSTS": SITE,
        "SECRET_KEY": "front-test-secret-key",
    }
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        deployment(tmp_path, monkeypatch, settings) as instance,
    ):
        with instance.app.app_context():
            admin = User(email=ADMIN_EMAIL)
            admin.set_password(ADMIN_PASSWORD)
            db.session.add(admin)
            db.session.commit()
        token = api_token(instance.app)
        app_port, https, http = unused_port(), unused_port(), unused_port()
        gunicorn_log = tmp_path / "gunicorn.log"
        with gunicorn_log.open("w") as out:
            gunicorn = subprocess.Popen(
                [GUNICORN, "--config", "gunicorn.conf.py", "wsgi:app"],
                cwd=PROJECT,
                env={**instance.env, "HOST": "127.0.0.1", "PORT": str(app_port)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        folder = tmp_path / "nginx"
        folder.mkdir()
        cert, key = self_signed_certificate(folder, SITE)
        site = folder / "webhooks.conf"
        site.write_text(site_config(cert, key, https, http, app_port))
        conf = folder / "nginx.conf"
        conf.write_text(main_config(folder, site))
        nginx_log = folder / "nginx.out"
        with nginx_log.open("w") as out:
            nginx = subprocess.Popen(
                [NGINX, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(lambda: listening(https) or nginx.poll() is not None, 15, 0.05)
            assert nginx.poll() is None, nginx_log.read_text() + (folder / "error.log").read_text()
            wait_until(
                lambda: "worker started" in gunicorn_log.read_text() or gunicorn.poll() is not None,
                30,
                0.1,
            )
            assert gunicorn.poll() is None, gunicorn_log.read_text()
            yield Front(https, http, app_port, cert, gunicorn_log, token)
        finally:
            stop(nginx, signal.SIGQUIT)
            stop(gunicorn)
        assert "Traceback" not in gunicorn_log.read_text()


def test_login_over_https_sets_a_secure_cookie_and_every_answer_carries_hsts(front):
    client = front.session()
    page = client.get(front.url("/login"))
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"] == HSTS  # once: nginx's copy
    token = CSRF_RE.search(page.text).group(1)
    # Flask-WTF compares the Referer with the site's address over HTTPS, which the app knows
    # from X-Forwarded-Proto, -Host and -Port.
    response = client.post(
        front.url("/login"),
        data={"csrf_token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        headers={"Referer": f"https://{SITE}:{front.https}/login"},
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text
    assert response.headers["Strict-Transport-Security"] == HSTS
    (cookie,) = [c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert "; Secure" in cookie and "; HttpOnly" in cookie

    dashboard = client.get(front.url("/"), allow_redirects=False)
    assert dashboard.status_code == 200  # logged in: not sent to the login page

    # The trailing-slash redirect names the site, with the port the client used.
    redirect = client.get(front.url("/webhooks"), allow_redirects=False)
    assert redirect.headers["Location"] == f"https://{SITE}:{front.https}/webhooks/"


def test_plain_http_is_redirected_to_https(front):
    response = front.session().get(front.url("/login?next=%2F", "http"), allow_redirects=False)
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://{SITE}/login?next=%2F"
    # certbot's HTTP challenge is looked up in its folder, not redirected (none here).
    challenge = front.session().get(
        front.url("/.well-known/acme-challenge/token", "http"), allow_redirects=False
    )
    assert challenge.status_code == 404


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_request_for_another_host_is_closed_unanswered(front, scheme):
    client = front.session()
    with pytest.raises(requests.ConnectionError):
        client.get(front.url("/webhooks", scheme), headers={"Host": "evil.example"})


def test_forwarded_host_from_the_client_is_replaced_by_nginx(front):
    response = front.session().get(
        front.url("/webhooks"),
        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Port": "666"},
        allow_redirects=False,
    )
    assert response.headers["Location"] == f"https://{SITE}:{front.https}/webhooks/"


def test_gunicorn_listens_on_the_loopback_and_refuses_another_host(front):
    direct = f"http://127.0.0.1:{front.app_port}/webhooks"
    response = requests.get(direct, headers={"Host": "evil.example"}, allow_redirects=False)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "evil.example" not in response.text
    outside = [address for address in local_addresses() if not address.startswith("127.")]
    for address in outside:
        with socket.socket() as sock:
            assert sock.connect_ex((address, front.app_port)) != 0, address


def local_addresses() -> list[str]:
    try:
        return sorted(set(socket.gethostbyname_ex(socket.gethostname())[2]))
    except OSError:
        return []


def gunicorn_saw(front: Front, request_line: str) -> int:
    return front.gunicorn_log.read_text().count(request_line)


def test_a_body_over_the_limit_is_refused_by_nginx_before_gunicorn(front):
    client = front.session()
    client.headers.update({**bearer(front.token), "Content-Type": "application/json"})
    seen = gunicorn_saw(front, "POST /api/v1/events")
    logins = gunicorn_saw(front, "POST /login")

    # At the limit it reaches the app, which answers with the events API's own limit.
    at_limit = client.post(front.url("/api/v1/events"), data=b" " * BODY_LIMIT)
    assert at_limit.status_code == 413
    assert at_limit.json()["error"]["code"] == "payload_too_large"
    wait_until(lambda: gunicorn_saw(front, "POST /api/v1/events") == seen + 1, 5)

    over = client.post(front.url("/api/v1/events"), data=b" " * (BODY_LIMIT + 1))
    assert over.status_code == 413
    assert over.headers["Content-Type"] == "application/json"  # the API's error shape, by nginx
    assert over.json()["error"]["code"] == "payload_too_large"
    assert over.headers["Strict-Transport-Security"] == HSTS
    form = client.post(front.url("/login"), data=b"x" * (BODY_LIMIT + 1))
    assert form.status_code == 413
    assert "nginx" in form.text  # nginx's own page
    time.sleep(0.5)
    assert gunicorn_saw(front, "POST /api/v1/events") == seen + 1
    assert gunicorn_saw(front, "POST /login") == logins


class SlowClients:
    """tests/slow_clients.py in a process of its own, as attackers on other machines would be:
    in one interpreter with the probes, their thousand connections' TLS writes took the probes'
    turn (p99 141 ms from a median of 5 ms on a loaded machine)."""

    def __init__(self, front: Front, count: int) -> None:
        self.command = [
            sys.executable, "-m", "tests.slow_clients",
            str(front.https), str(front.cert), SITE, str(count),
        ]  # fmt: skip
        self.connected = 0
        self.failed: list[str] = []
        self.held: list[float] = []  # how long each slow client nginx dropped had been held
        self.silent_closed_after: float | None = None
        self.process: subprocess.Popen | None = None
        self.reader = threading.Thread(target=self.read)

    def read(self) -> None:
        for line in self.process.stdout:
            what, _, detail = line.rstrip("\n").partition(" ")
            if what == "connected":
                self.connected += 1
            elif what == "held":
                self.held.append(float(detail))
            elif what == "silent":
                self.silent_closed_after = float(detail)
            else:
                self.failed.append(line)

    def open(self) -> int:
        return self.connected - len(self.held)

    def __enter__(self) -> "SlowClients":
        self.process = subprocess.Popen(
            self.command, cwd=PROJECT, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.reader.start()
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(5)


def test_slow_clients_are_held_by_nginx_while_the_site_answers_at_once(front):
    with SlowClients(front, SLOW_CLIENTS) as slow:
        started = time.monotonic()
        wait_until(lambda: slow.connected + len(slow.failed) == SLOW_CLIENTS, 60, 0.05)
        assert not slow.failed, slow.failed[:5]
        connecting = time.monotonic() - started
        held_at_start = slow.open()

        client = front.session()
        assert client.get(front.url("/healthz")).status_code == 200  # the connection, kept
        timings = []
        for _ in range(PROBES):
            began = time.perf_counter()
            response = client.get(front.url("/healthz"))
            timings.append(time.perf_counter() - began)
            assert response.status_code == 200, response.text
        held_at_end = slow.open()
        timings.sort()
        p99 = timings[int(len(timings) * 0.99) - 1]
        median = timings[len(timings) // 2]
        figures = (
            f"p99 {p99 * 1000:.0f} ms, median {median * 1000:.1f} ms; {connecting:.1f} s to "
            f"connect; held {held_at_start} at the start, {held_at_end} at the end"
        )
        print(figures)
        assert p99 < 0.1, figures
        # Every slow client was connected and held while the probes ran (those connected first
        # may reach their 10 s before the last ones are in, on a busy machine).
        assert held_at_end >= SLOW_CLIENTS * 0.9, figures

        # nginx ends each when its 10 s for the whole header are up (client_header_timeout),
        # sending it nothing; one that sends nothing at all, too.
        wait_until(lambda: slow.open() == 0 and slow.silent_closed_after is not None, 30, 0.1)
        assert not slow.failed, slow.failed[:5]
        assert 9 < min(slow.held) and max(slow.held) < 15, (min(slow.held), max(slow.held))
        assert 9 < slow.silent_closed_after < 15

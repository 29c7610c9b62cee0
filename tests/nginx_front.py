"""The production front, as docs/deploy.md sets it up: Debian's nginx running the repository's
deploy/nginx/webhooks.conf (only its ports, paths and certificate swapped for the run's own, with
a self-signed certificate made here), in front of gunicorn started with the project's
gunicorn.conf.py on 127.0.0.1, with TRUSTED_PROXIES=1 and TRUSTED_HOSTS set as documented; and
slow clients to hold against it. tests/test_nginx_front.py tests it, bench/front.py times it.

nginx runs as a child (``daemon off``) with its prefix, temporary folders, pid file and logs in
the run's folder: nothing of the system's nginx is read or touched."""

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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.certificates import self_signed_certificate
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, unused_port
from tests.engine_helpers import api_token, wait_until
from tests.worker_processes import PROJECT, deployment
from webhooks.extensions import db
from webhooks.models import User

NGINX = os.environ.get("WEBHOOKS_TEST_NGINX", "/usr/sbin/nginx")
SITE_CONFIG = PROJECT / "deploy" / "nginx" / "webhooks.conf"
SITE = "webhooks.example.com"
MISSING_NGINX = (
    "The front needs nginx at {nginx}: install Debian's package (apt-get install nginx; "
    ".ci/run does) or point WEBHOOKS_TEST_NGINX at one."
)


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


def nginx_usable() -> bool:
    return os.access(NGINX, os.X_OK)


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


@contextmanager
def serve_front(folder: Path) -> Iterator[Front]:
    """gunicorn with the project's gunicorn.conf.py and, in front of it, nginx with the
    repository's site file, everything they write in ``folder``; both stopped at the end."""
    if not nginx_usable():
        raise FileNotFoundError(MISSING_NGINX.format(nginx=NGINX))
    # Room for the slow clients' connections, in nginx and in the process that holds them
    # (both inherit the limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    settings = {
        "QUEUE": "embedded",
        "EMBEDDED_WORKER": "true",  # /healthz needs a worker that checks in
        "TRUSTED_PROXIES": "1",
        "TRUSTED_HOSTS": SITE,
        "SECRET_KEY": "front-test-secret-key",
    }
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        deployment(folder, monkeypatch, settings) as instance,
    ):
        with instance.app.app_context():
            admin = User(email=ADMIN_EMAIL)
            admin.set_password(ADMIN_PASSWORD)
            db.session.add(admin)
            db.session.commit()
        token = api_token(instance.app)
        app_port, https, http = unused_port(), unused_port(), unused_port()
        gunicorn_log = folder / "gunicorn.log"
        gunicorn = instance.start_gunicorn(app_port, gunicorn_log)
        nginx_dir = folder / "nginx"
        nginx_dir.mkdir()
        cert, key = self_signed_certificate(nginx_dir, SITE)
        site = nginx_dir / "webhooks.conf"
        site.write_text(site_config(cert, key, https, http, app_port))
        conf = nginx_dir / "nginx.conf"
        conf.write_text(main_config(nginx_dir, site))
        nginx_log = nginx_dir / "nginx.out"
        with nginx_log.open("w") as out:
            nginx = subprocess.Popen(
                [NGINX, "-p", str(nginx_dir), "-c", str(conf), "-e", str(nginx_dir / "error.log")],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(lambda: listening(https) or nginx.poll() is not None, 15, 0.05)
            assert nginx.poll() is None, (
                nginx_log.read_text() + (nginx_dir / "error.log").read_text()
            )
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


class SlowClients:
    """tests/slow_clients.py in a process of its own, as attackers on other machines would be:
    in one interpreter with the probes, their thousand connections' TLS writes took the probes'
    turn (p99 141 ms from a median of 5 ms on a loaded machine)."""

    def __init__(self, front: Front, count: int) -> None:
        self.command = [
            sys.executable, "-m", "tests.slow_clients",
            str(front.https), str(front.cert), SITE, str(count),
        ]  # fmt: skip
        self.count = count
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

    def wait_connected(self, seconds: float = 60) -> None:
        """Until each client has connected or failed to (see ``failed``)."""
        wait_until(lambda: self.connected + len(self.failed) == self.count, seconds, 0.05)

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


def probe(front: Front, count: int) -> list[float]:
    """``count`` GETs of /healthz one after another on one kept connection, each answered 200:
    the seconds each took."""
    client = front.session()
    assert client.get(front.url("/healthz")).status_code == 200  # the connection, kept
    timings = []
    for _ in range(count):
        began = time.perf_counter()
        response = client.get(front.url("/healthz"))
        timings.append(time.perf_counter() - began)
        assert response.status_code == 200, response.text
    return timings


def quantile(timings: list[float], share: float) -> float:
    ordered = sorted(timings)
    return ordered[max(int(len(ordered) * share) - 1, 0)]

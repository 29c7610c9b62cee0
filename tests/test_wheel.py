"""The wheel, as an operator installs it: built with `python -m build`, installed with the
pinned constraints in a new virtualenv outside the checkout, then `webhooks db upgrade`,
`webhooks admin create` and `webhooks run` — the site with its CSS, in English and Turkish,
from the files the wheel carries.

It takes about a minute (pip's cache makes the install quick), so it runs once, in one test.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, CSRF_RE, SERVER_URL, unused_port

PROJECT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.wheel,
    # The installed site runs on a SQLite file of its own whatever the run's database, so the
    # minute it takes is spent once: in the SQLite run, not again in the PostgreSQL one.
    pytest.mark.skipif(SERVER_URL is not None, reason="runs in the SQLite run only"),
]


def run(command: list[str], **options) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, check=False, **options)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def clean_environment(tmp_path: Path) -> dict[str, str]:
    """The environment of a shell on a new machine: the machine's own (pip's set-up, proxies,
    certificates), none of the checkout's settings or virtualenv."""
    kept = {"HOME", "LANG", "PATH", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE"}
    env = {
        name: value
        for name, value in os.environ.items()
        if name in kept or name.startswith("PIP_") or name.lower().endswith("_proxy")
    }
    env["PATH"] = os.pathsep.join(
        part for part in env.get("PATH", "").split(os.pathsep) if not part.startswith(str(PROJECT))
    )
    env["WEBHOOKS_INSTANCE_PATH"] = str(tmp_path / "instance")
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'instance' / 'webhooks.db'}"
    return env


def wait_for(url: str, process: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {seconds} s:\n{log.read_text()}")


def test_the_wheel_installs_migrates_and_serves_the_site_in_english_and_turkish(tmp_path):
    dist = tmp_path / "dist"
    run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(PROJECT)],
        env={**os.environ, "PIP_CONSTRAINT": str(PROJECT / "constraints.txt")},
        timeout=300,
    )
    (wheel,) = dist.glob("webhooks-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    env = clean_environment(tmp_path)
    run(
        [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "--quiet",
         "-c", str(PROJECT / "constraints.txt"), str(wheel)],
        env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    webhooks = str(venv / "bin" / "webhooks")
    # The code that runs is the installed copy, not the checkout.
    where = run(
        [str(venv / "bin" / "python"), "-c", "import webhooks; print(webhooks.__file__)"],
        env=env,
        cwd=tmp_path,
    )
    assert where.stdout.startswith(str(venv)), where.stdout

    assert "webhooks run" in run([webhooks, "--help"], env=env, cwd=tmp_path).stdout
    migrated = run([webhooks, "db", "upgrade"], env=env, cwd=tmp_path, timeout=120)
    assert "3e727be8f540" in migrated.stderr + migrated.stdout
    run(
        [webhooks, "admin", "create", ADMIN_EMAIL, "--password", ADMIN_PASSWORD],
        env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip

    port = unused_port()
    log = tmp_path / "run.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [webhooks, "run", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/login", server, log)
        browser = requests.Session()
        login = browser.get(f"{base}/login", timeout=10)
        token = CSRF_RE.search(login.text).group(1)
        answer = browser.post(
            f"{base}/login",
            data={"csrf_token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text[:500]
        assert answer.url == f"{base}/", answer.url
        assert "Dashboard" in answer.text
        stylesheet = re.search(r'href="(/static/css/app\.css[^"]*)"', answer.text)
        assert stylesheet, answer.text[:2000]
        css = browser.get(base + stylesheet.group(1), timeout=10)
        assert css.status_code == 200
        assert css.headers["Content-Type"].startswith("text/css")
        assert "--" in css.text or "{" in css.text

        turkish = browser.get(f"{base}/webhooks/", headers={"Accept-Language": "tr"}, timeout=10)
        assert turkish.status_code == 200
        assert 'lang="tr"' in turkish.text
        assert "Yeni Webhook Ekle" in turkish.text
    finally:
        server.terminate()
        assert server.wait(30) == 0, log.read_text()

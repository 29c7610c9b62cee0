"""The site and its delivery worker as `make run` starts them: two processes from the Procfile,
run by honcho. The worker is not the web server's: an event reported to the site reaches the
receiver at once all the same (the site rings the worker's doorbell), /healthz sees the worker
check in, and Ctrl-C stops both. A SQLite file, or a database of its own on the
WEBHOOKS_TEST_DATABASE_URL server; the embedded engine."""

import signal
import subprocess
import time

import pytest
import requests

from tests.conftest import unused_port
from tests.engine_helpers import Script, api_token, bearer, wait_until
from tests.worker_processes import PROJECT, deployment

HONCHO = str(PROJECT / ".venv" / "bin" / "honcho")
POLL = 60  # seconds between the worker's looks for work
# A delivery that arrives this soon after its report was rung for: the worker looked when it
# started and looks next a minute later. (Far more than a ring takes, even on a loaded machine.)
RUNG_WITHIN = POLL / 4


@pytest.fixture
def instance(tmp_path, monkeypatch):
    # A poll of a minute: what reaches the receiver in time was rung for, not found by polling.
    settings = {"QUEUE": "embedded", "WORKER_POLL_INTERVAL": POLL}
    with deployment(tmp_path, monkeypatch, settings) as made:
        yield made


def test_the_procfile_runs_the_site_and_its_worker_apart_and_ctrl_c_stops_both(
    instance, receiver, tmp_path
):
    script = Script(200)
    receiver.expect_request("/hook", method="POST").respond_with_handler(script)
    instance.webhook(receiver.url_for("/hook"))
    token = api_token(instance.app)
    port = unused_port()
    log = tmp_path / "honcho.log"
    with log.open("w") as out:
        honcho = subprocess.Popen(
            [HONCHO, "start"],
            cwd=PROJECT,
            env={**instance.env, "HOST": "127.0.0.1", "PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    site = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _health(site).get("worker") == "running", 30, 0.1)
        health = _health(site)
        assert health["status"] == "ok" and health["workers"] == 1

        for number in range(3):
            reported = time.monotonic()
            response = requests.post(
                f"{site}/api/v1/events",
                json={"type": "payment_received", "data": {"payment_id": number}},
                headers=bearer(token),
                timeout=10,
            )
            assert response.status_code == 202
            wait_until(lambda n=number: script.count() > n, RUNG_WITHIN, 0.005)
            assert script.seen[-1]["at"] - reported < RUNG_WITHIN  # rung, not polled
        text = log.read_text()
        assert " web.1 " in text and " worker.1 " in text  # two processes
        assert "delivery worker started" in text

        honcho.send_signal(signal.SIGINT)  # Ctrl-C
        assert honcho.wait(30) == 128 + signal.SIGINT, log.read_text()[-3000:]
    finally:
        if honcho.poll() is None:
            honcho.kill()
    text = log.read_text()
    assert "Traceback" not in text
    assert "delivery worker stopped" in text  # it finished what it was sending
    assert "web.1 stopped" in text and "worker.1 stopped" in text
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{site}/healthz", timeout=2)


def _health(site: str) -> dict:
    try:
        return requests.get(f"{site}/healthz", timeout=2).json()
    except requests.RequestException:
        return {}

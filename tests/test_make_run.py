"""`make run` on a busy port says so in one line naming the port and PORT=, before announcing
anything, and starts nothing."""

import socket
import subprocess

from tests.worker_processes import PROJECT
from webhooks.port_check import listen_problem


def test_make_run_on_a_busy_port_says_so_in_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        done = subprocess.run(
            ["make", "--no-print-directory", "run", "HOST=127.0.0.1", f"PORT={port}"],
            cwd=PROJECT,
            env={"PATH": "/usr/bin:/bin", "WEBHOOKS_INSTANCE_PATH": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert done.returncode != 0
    assert done.stderr.splitlines()[0] == (
        f"Port {port} on 127.0.0.1 is already in use by another program: stop it, "
        f"or choose another port, e.g. PORT={port + 1} make run"
    )
    assert "Serving" not in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "webhooks.db").exists()  # nothing was set up or started


def test_a_free_port_has_no_problem():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    assert listen_problem("127.0.0.1", port) is None


def test_an_unknown_host_is_named():
    assert "HOST=no-such-host.invalid" in listen_problem("no-such-host.invalid", 5000)

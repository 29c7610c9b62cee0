"""The doorbell that wakes the delivery workers of this machine from another process: a ring
reaches every listener, a bell nobody answers any more is removed, and where no bell can be
made the worker still runs (it polls)."""

import socket
import tempfile
import threading
from pathlib import Path

import pytest

from webhooks.worker.doorbell import Doorbell


@pytest.fixture
def tmp_path():
    """A folder with a short path: a bell's socket path must stay under 100 bytes, and an xdist
    worker's tmp_path (/tmp/pytest-of-root/pytest-N/popen-gwN/test_…0) leaves too little."""
    with tempfile.TemporaryDirectory(prefix="bells-") as folder:
        yield Path(folder)


def test_a_ring_wakes_every_listening_worker(tmp_path):
    woken = [threading.Event(), threading.Event()]
    stops = [Doorbell(str(tmp_path)).listen(flag.set) for flag in woken]

    Doorbell(str(tmp_path)).ring()  # another process, say the web server

    assert all(flag.wait(2) for flag in woken)
    for stop in stops:
        stop()
    assert list((tmp_path / "doorbells").glob("*.sock")) == []


def test_a_bell_left_by_a_dead_worker_is_removed_when_rung(tmp_path):
    folder = tmp_path / "doorbells"
    folder.mkdir()
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(folder / "1234-dead.sock"))
    dead.close()  # the file stays, nobody listens

    Doorbell(str(tmp_path)).ring()

    assert list(folder.glob("*.sock")) == []


def test_ringing_with_no_worker_listening_does_nothing(tmp_path):
    Doorbell(str(tmp_path)).ring()
    assert not (tmp_path / "doorbells").exists()


def test_no_bell_where_a_socket_cannot_be_made(tmp_path, caplog):
    too_deep = tmp_path / ("x" * 120)

    assert Doorbell(str(too_deep)).listen(lambda: None) is None
    assert "new work is found every WORKER_POLL_INTERVAL" in caplog.text

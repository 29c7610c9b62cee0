"""Waking the delivery workers of this machine the moment work is committed, from another
process (the web server): each dispatcher listens on a Unix datagram socket in the instance
folder, and a commit with new work rings every one of them — one empty datagram each, nothing
to wait for. Workers on other machines find the work at their next poll
(WORKER_POLL_INTERVAL), or use the Celery engine, whose broker carries the news."""

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

FOLDER = "doorbells"
LISTING_FOR = 1.0  # seconds a ringer trusts its listing of the bells
MAX_PATH = 100  # a Unix socket's path must be shorter than 108 bytes


class Doorbell:
    def __init__(self, instance_path: str) -> None:
        self.folder = Path(instance_path) / FOLDER
        self._bells: list[str] = []
        self._listed_at = 0.0
        self._sender: socket.socket | None = None
        self._lock = threading.Lock()

    # -- a worker --------------------------------------------------------------------------
    def listen(self, wake: Callable[[], None]) -> Callable[[], None] | None:
        """Call ``wake`` whenever the bell rings, from a thread of its own; returns what stops
        listening, or None when this folder cannot hold a bell (the worker then polls)."""
        path = self.folder / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
        if len(str(path)) >= MAX_PATH:
            log.warning(
                "no doorbell: the instance folder's path is too long for a socket; new work "
                "is found every WORKER_POLL_INTERVAL"
            )
            return None
        bell = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self.folder.mkdir(mode=0o700, exist_ok=True)
            bell.bind(str(path))
        except OSError as error:
            bell.close()
            log.warning("no doorbell (%s); new work is found every WORKER_POLL_INTERVAL", error)
            return None

        def serve() -> None:
            while True:
                try:
                    bell.recv(16)
                except OSError:  # closed: the worker stopped
                    return
                wake()

        threading.Thread(target=serve, name="webhooks-doorbell", daemon=True).start()

        def close() -> None:
            bell.close()
            path.unlink(missing_ok=True)

        return close

    # -- anyone who commits work -----------------------------------------------------------
    def ring(self) -> None:
        """Wake every worker of this machine that listens; a bell nobody answers any more (its
        worker died) is removed."""
        with self._lock:
            if time.monotonic() - self._listed_at > LISTING_FOR:
                self._bells = [str(path) for path in self.folder.glob("*.sock")]
                self._listed_at = time.monotonic()
            if not self._bells:
                return
            if self._sender is None:
                self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sender.setblocking(False)
            for bell in list(self._bells):
                try:
                    self._sender.sendto(b"", bell)
                except (ConnectionRefusedError, FileNotFoundError):
                    self._bells.remove(bell)
                    Path(bell).unlink(missing_ok=True)
                except BlockingIOError:  # it has been rung and not yet answered: enough
                    pass

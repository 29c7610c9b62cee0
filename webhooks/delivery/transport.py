"""A ``requests`` session whose connections go only where the recipient guard allows, and
attempts that end by their deadline.

Each new connection resolves its host through the guard and connects to one of the addresses
the guard has just checked; TLS still verifies the certificate against the host name. Proxies
from the environment are ignored, since a proxy would make the connection's address unknowable.

Socket timeouts bound each read, not an attempt: a receiver sending its answer a byte at a time
could hold an attempt forever. ``deadline`` cuts the connection of an attempt that runs past it.
"""

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection

from webhooks.delivery.guard import RecipientGuard


class Watch:
    """One attempt under a deadline: the connection it uses, and whether time ran out."""

    def __init__(self) -> None:
        self.connection = None
        self.sock = None
        self.expired = False
        self.finished = False

    def expire(self) -> None:
        if self.finished:
            return
        self.expired = True
        sock = self.sock or getattr(self.connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Watchdog:
    """One thread for all deadlines of the process: it sleeps until the earliest."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, seconds: float, watch: Watch) -> None:
        entry = (time.monotonic() + seconds, next(self._order), watch)
        with self._wake:
            # Only a deadline earlier than all others changes when the thread must wake.
            earliest = not self._heap or entry < self._heap[0]
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="webhooks-deadlines", daemon=True
                )
                self._thread.start()
            if earliest:
                self._wake.notify()

    def _run(self) -> None:
        with self._wake:
            while True:
                while self._heap and self._heap[0][2].finished:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                due = self._heap[0][0] - time.monotonic()
                if due > 0:
                    self._wake.wait(due)
                    continue
                heapq.heappop(self._heap)[2].expire()


_watchdog = _Watchdog()
_current = threading.local()


@contextmanager
def deadline(seconds: float) -> Iterator[Watch]:
    """Cut the connection of the request made in this block if the block outlives ``seconds``."""
    watch = Watch()
    _current.watch = watch
    _watchdog.watch(seconds, watch)
    try:
        yield watch
    finally:
        watch.finished = True
        _current.watch = None


class _GuardedConnectionMixin:
    guard: RecipientGuard

    def request(self, *args, **kwargs):
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.connection = self
        return super().request(*args, **kwargs)

    def getresponse(self, *args, **kwargs):
        # http.client lets go of the socket of a response that closes the connection; the
        # response still reads from it, so the watch keeps it.
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.sock = self.sock
        return super().getresponse(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        addresses = self.guard.resolve(self._dns_host, self.port)
        last_error: OSError | None = None
        for address in addresses:
            try:
                return connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as error:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from error
            except OSError as error:
                last_error = error
        raise NewConnectionError(
            self, f"Failed to establish a new connection: {last_error}"
        ) from last_error


def _pool_classes(guard: RecipientGuard) -> dict[str, type]:
    attrs = {"guard": guard}
    http_conn = type("GuardedHTTPConnection", (_GuardedConnectionMixin, HTTPConnection), attrs)
    https_conn = type("GuardedHTTPSConnection", (_GuardedConnectionMixin, HTTPSConnection), attrs)
    return {
        "http": type(
            "GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}
        ),
        "https": type(
            "GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}
        ),
    }


class GuardedAdapter(HTTPAdapter):
    def __init__(self, guard: RecipientGuard, **kwargs) -> None:
        self._pool_classes = _pool_classes(guard)
        super().__init__(max_retries=0, **kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes


def guarded_session(guard: RecipientGuard) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    adapter = GuardedAdapter(guard)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session

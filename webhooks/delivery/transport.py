"""A ``requests`` session whose connections go only where the recipient guard allows.

Each new connection resolves its host through the guard and connects to one of the addresses
the guard has just checked; TLS still verifies the certificate against the host name. Proxies
from the environment are ignored, since a proxy would make the connection's address unknowable.
"""

import socket

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection

from webhooks.delivery.guard import RecipientGuard


class _GuardedConnectionMixin:
    guard: RecipientGuard

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

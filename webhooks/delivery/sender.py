"""Step 4: send one signed request and describe the outcome honestly, with thousands of
requests in flight on one event loop (aiohttp; docs/delivery-engine.md says why).

Connections go only where the recipient guard allows: a new connection resolves its host
through the guard (``GuardedResolver``), which checks every address, and the socket is made
only for an address the guard passes (``guarded_socket``), so the address checked is the
address connected to. TLS still verifies the certificate against the host name. Proxies from
the environment are ignored, cookies are not kept, and redirects are never followed.

``send`` never raises for anything the network or the receiver does, and keeps at most
``body_limit`` bytes of an answer: a 100 MB answer is cut, not read. Its caller gives it the
attempt's deadline, which covers connecting, the answer and its body alike.
"""

import asyncio
import contextvars
import errno
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from webhooks.delivery import network_details
from webhooks.delivery.guard import RecipientBlocked, RecipientError, RecipientGuard
from webhooks.delivery.messages import Message
from webhooks.delivery.result import Failure, SendResult, answer_failure, status_text

DNS_THREADS = 16


def host_of(url: str) -> str:
    """The host (and port) of a URL as a person reads it: no user name or password."""
    return urlsplit(url).netloc.rpartition("@")[2]


class GuardedResolver(AbstractResolver):
    """Resolves a host for a new connection through the recipient guard, in threads (the
    system's resolver blocks): every address is checked, and a blocked one raises
    ``RecipientBlocked`` instead of being connected to."""

    def __init__(self, guard: RecipientGuard, executor: ThreadPoolExecutor) -> None:
        self.guard = guard
        self.executor = executor

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        addresses = await loop.run_in_executor(self.executor, self.guard.resolve, host, port)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        pass


@dataclass
class _Progress:
    """How far the current attempt got, for saying what a timeout interrupted."""

    sock: socket.socket | None = None

    def connecting(self) -> bool:
        """A new connection was started and is not established yet."""
        if self.sock is None:
            return False
        try:
            self.sock.getpeername()
        except OSError:
            return True
        return False


_progress: contextvars.ContextVar[_Progress | None] = contextvars.ContextVar(
    "webhooks_send_progress", default=None
)


def guarded_socket(guard: RecipientGuard):
    """aiohttp's socket factory: a socket only for an address the guard lets through."""

    def make(addr_info) -> socket.socket:
        family, type_, proto, _name, address = addr_info
        guard.check_address(str(address[0]))
        sock = socket.socket(family, type_, proto)
        if (progress := _progress.get()) is not None:
            progress.sock = sock
        return sock

    return make


async def read_capped(content: aiohttp.StreamReader, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` + 1 bytes of a body, and whether it ended (rather than being cut)."""
    chunks, size = [], 0
    while size <= limit:
        chunk = await content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


def _connection_failure(error: BaseException, host: str) -> SendResult:
    for cause in network_details.causes(error):
        if isinstance(cause, RecipientBlocked):
            return SendResult.failed(Failure.BLOCKED, cause.message)
        if isinstance(cause, RecipientError):
            return SendResult.failed(Failure.CONNECTION, cause.message)
        if (
            isinstance(cause, ConnectionRefusedError)
            or getattr(cause, "errno", None) == errno.ECONNREFUSED
        ):
            return SendResult.failed(
                Failure.CONNECTION, Message("connection.refused", {"host": host})
            )
        if isinstance(cause, ssl.SSLError | aiohttp.ClientSSLError):
            detail = network_details.tls_detail(cause)
            return SendResult.failed(
                Failure.CONNECTION, Message("connection.tls", {"host": host, "detail": detail})
            )
        if isinstance(cause, aiohttp.ServerDisconnectedError):
            return SendResult.failed(
                Failure.CONNECTION, Message("connection.closed", {"host": host})
            )
    detail = network_details.connection_detail(error)
    return SendResult.failed(
        Failure.CONNECTION, Message("connection.failed", {"host": host, "detail": detail})
    )


class Sender:
    """An aiohttp session of the running event loop whose connections are guarded. Made in the
    loop it sends from (``open``); closed with ``close``."""

    def __init__(self, guard: RecipientGuard, body_limit: int) -> None:
        self.guard = guard
        self.body_limit = body_limit
        self.executor = ThreadPoolExecutor(DNS_THREADS, thread_name_prefix="webhooks-dns")
        self.session: aiohttp.ClientSession | None = None

    def open(self) -> "Sender":
        """Make the session; in the event loop that will use it."""
        connector = aiohttp.TCPConnector(
            limit=0,  # the engine limits requests per webhook and per process
            use_dns_cache=False,  # every new connection is checked afresh
            resolver=GuardedResolver(self.guard, self.executor),
            socket_factory=guarded_socket(self.guard),
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None),  # the caller's deadline bounds it all
            trust_env=False,
            raise_for_status=False,
        )
        return self

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        self.executor.shutdown(wait=False)

    async def check(self, url: str) -> None:
        """The recipient guard on ``url``; a host name is resolved in a thread."""
        if self.guard.needs_lookup(url):
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self.executor, self.guard.check_url, url)
        else:
            self.guard.check_url(url)

    async def send(
        self, url: str, headers: dict[str, str], body: bytes, deadline: float, timeout: float
    ) -> SendResult:
        """POST ``body`` to ``url`` by the loop time ``deadline`` (``timeout`` seconds after the
        attempt began, as the summary says)."""
        host = host_of(url)
        started = time.perf_counter()
        progress = _Progress()
        _progress.set(progress)

        def elapsed_ms() -> int:
            return round((time.perf_counter() - started) * 1000)

        try:
            async with asyncio.timeout_at(deadline):
                response = await self.session.post(
                    url, data=body, headers=headers, allow_redirects=False
                )
        except TimeoutError:
            code = "timeout.no_connection" if progress.connecting() else "timeout.no_answer"
            message = Message(code, {"host": host, "timeout": float(timeout)})
            return SendResult.failed(Failure.TIMEOUT, message, elapsed_ms())
        except (aiohttp.ClientError, OSError, RecipientError) as error:
            failure = _connection_failure(error, host)
            return SendResult.failed(failure.failure, failure.message, elapsed_ms())

        raw, ended, unfinished = b"", False, None
        try:
            async with asyncio.timeout_at(deadline):
                raw, ended = await read_capped(response.content, self.body_limit)
        except TimeoutError:
            unfinished = (Failure.TIMEOUT, "answered.unfinished", {"timeout": float(timeout)})
        except (aiohttp.ClientError, OSError) as error:
            detail = network_details.body_detail(error)
            unfinished = (Failure.CONNECTION, "answered.unreadable", {"detail": detail})
        finally:
            # A body read to its end leaves the connection for the next request; otherwise
            # the connection is closed, so the receiver learns at once to stop writing.
            if ended:
                response.release()
            else:
                response.close()
        duration_ms = elapsed_ms()

        text = raw[: self.body_limit].decode("utf-8", errors="replace")
        if not ended and unfinished is None:
            text += f"\n… (cut at {self.body_limit} bytes)"
        code = response.status
        answer = {"status": status_text(code), "duration_ms": duration_ms}
        message = Message("answered", answer)
        if 300 <= code < 400:
            location = response.headers.get("Location") or "an unnamed location"
            message = Message("answered.redirect", {**answer, "location": location})
        failure = answer_failure(code)
        if unfinished is not None:
            unfinished_failure, unfinished_code, params = unfinished
            message = Message(unfinished_code, {"answer": message, **params})
            if failure is None or failure == Failure.REJECTED:
                failure = unfinished_failure
        summary = message.english
        return SendResult(
            ok=failure is None,
            summary=summary,
            status_code=code,
            duration_ms=duration_ms,
            response_headers=dict(response.headers),
            response_body=text,
            error=None if failure is None else summary,
            failure=failure,
            message=message,
        )

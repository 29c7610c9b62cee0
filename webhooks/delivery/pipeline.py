"""The pipeline that every attempt walks, test or real: sign → check → send. Recording the
result is the lifecycle's (``webhooks.lifecycle``); nothing here touches the database.

A ``Deliverer`` holds what the steps need (guard, limits, the HTTP session of each event loop)
and is built once per application from its configuration; ``current_deliverer()`` returns the
running app's one.
"""

import asyncio
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import Flask, current_app

from webhooks.custom_headers import masked
from webhooks.delivery import messages
from webhooks.delivery.guard import RecipientBlocked, RecipientError, RecipientGuard, parse_networks
from webhooks.delivery.loop import SenderLoop
from webhooks.delivery.message import Message
from webhooks.delivery.result import Failure, SendResult
from webhooks.delivery.sender import Sender, host_of
from webhooks.delivery.signing import signed_headers
from webhooks.version import USER_AGENT

EXTENSION_KEY = "webhooks.deliverer"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """A signed request, ready to send; ``secret_headers`` names the webhook's custom headers,
    whose values the delivery log never shows."""

    url: str
    headers: dict[str, str]
    body: bytes
    secret_headers: tuple[str, ...] = ()

    def logged_headers(self) -> dict[str, str]:
        """The request headers as the delivery log stores them: custom values masked."""
        return masked(self.headers, self.secret_headers)


class Deliverer:
    def __init__(self, guard: RecipientGuard, timeout: float, body_limit: int) -> None:
        self.guard = guard
        self.timeout = timeout
        self.body_limit = body_limit
        self._senders: dict[asyncio.AbstractEventLoop, Sender] = {}
        weakref.finalize(self, _close_senders, self._senders)

    @classmethod
    def from_config(cls, config) -> "Deliverer":
        return cls(
            guard=RecipientGuard(parse_networks(config["ALLOWED_NETWORKS"])),
            timeout=float(config["DELIVERY_TIMEOUT"]),
            body_limit=int(config["RESPONSE_BODY_LIMIT"]),
        )

    def prepare(
        self,
        msg_id: str,
        body: str,
        url: str,
        secrets: list[str],
        now: datetime,
        custom_headers: Mapping[str, str] | None = None,
    ) -> Prepared:
        """Steps 1–2: the delivery's fixed body, signed with the webhook's current secrets,
        with the webhook's custom headers (which cannot name a header the service sets)."""
        message = Message(msg_id, body.encode())
        headers = signed_headers(message, secrets, int(now.timestamp()), USER_AGENT)
        if not custom_headers:
            return Prepared(url, headers, message.body)
        return Prepared(url, {**custom_headers, **headers}, message.body, tuple(custom_headers))

    async def attempt(self, prepared: Prepared) -> SendResult:
        """Steps 3–4, the recipient guard and the request, under one deadline that covers DNS,
        connecting, the answer and its body. Never raises: an unexpected error is a failed
        attempt ("internal error"), recorded like any other, so no delivery is lost to a bug."""
        try:
            sender = self._sender()
            deadline = asyncio.get_running_loop().time() + self.timeout
            try:
                async with asyncio.timeout_at(deadline):
                    await sender.check(prepared.url)
            except TimeoutError:
                host = urlsplit(prepared.url).hostname
                return SendResult.failed(
                    Failure.TIMEOUT,
                    messages.Message(
                        "timeout.unresolved", {"host": host, "timeout": float(self.timeout)}
                    ),
                )
            except RecipientBlocked as error:
                return SendResult.failed(Failure.BLOCKED, error.message)
            except RecipientError as error:
                return SendResult.failed(Failure.CONNECTION, error.message)
            return await sender.send(
                prepared.url, prepared.headers, prepared.body, deadline, self.timeout
            )
        except Exception as error:
            log.exception("sending to %s failed unexpectedly", host_of(prepared.url))
            return SendResult.failed(
                Failure.INTERNAL, messages.Message("internal", {"detail": str(error)})
            )

    def check_now(self, url: str, timeout: float) -> None:
        """Step 3 alone, as an attempt runs it, from a thread that is not the sender loop's:
        raises ``RecipientError`` when the guard refuses ``url``, or ``TimeoutError`` when its
        host name was not resolved within ``timeout`` seconds (the lookup is left to finish in
        the sender's DNS threads)."""

        async def check() -> None:
            async with asyncio.timeout(timeout):
                await self._sender().check(url)

        SenderLoop.of_this_process().run(check())

    def attempt_now(self, prepared: Prepared) -> SendResult:
        """``attempt``, from a thread that is not the sender loop's, waited for."""
        return SenderLoop.of_this_process().run(self.attempt(prepared))

    def _sender(self) -> Sender:
        """This event loop's HTTP session (made on first use: a session belongs to a loop)."""
        loop = asyncio.get_running_loop()
        sender = self._senders.get(loop)
        if sender is None:
            sender = self._senders[loop] = Sender(self.guard, self.body_limit).open()
        return sender


def _close_senders(senders: dict[asyncio.AbstractEventLoop, Sender]) -> None:
    """Close the HTTP sessions of a deliverer that is gone (an app torn down), in their loops."""
    for loop, sender in list(senders.items()):
        if not loop.is_closed():
            try:
                loop.call_soon_threadsafe(lambda s=sender: asyncio.ensure_future(s.close()))
            except RuntimeError:  # the loop closed meanwhile
                pass
    senders.clear()


def init_app(app: Flask) -> None:
    """Build the app's deliverer; a bad setting fails here, at start, with its name."""
    app.extensions[EXTENSION_KEY] = Deliverer.from_config(app.config)


def current_deliverer() -> Deliverer:
    return current_app.extensions[EXTENSION_KEY]

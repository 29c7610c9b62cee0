"""What one attempt came to, as the delivery log, the retry schedule and the circuit breaker
read it. Every outcome, from a 2xx to a refused connection, is a ``SendResult``; sending never
raises."""

import http
from dataclasses import dataclass, field
from enum import StrEnum

from webhooks.delivery.messages import Message

BODY_PREVIEW = 200


class Failure(StrEnum):
    """Why an attempt failed. The first three say the receiver is down (they open the circuit
    breaker); the others say it answered, or was never asked."""

    TIMEOUT = "timeout"  # no answer, or no whole answer, within the deadline
    CONNECTION = "connection"  # refused, reset, DNS failure, TLS failure
    SERVER_ERROR = "server_error"  # 5xx
    REJECTED = "rejected"  # any other answer but 2xx (3xx, 4xx)
    BLOCKED = "blocked"  # the recipient guard refused the URL; nothing was sent
    INTERNAL = "internal"  # a bug here; recorded so the delivery is not lost

    @property
    def receiver_down(self) -> bool:
        return self in (Failure.TIMEOUT, Failure.CONNECTION, Failure.SERVER_ERROR)


@dataclass(frozen=True)
class SendResult:
    ok: bool
    summary: str  # the English words of message, as the API, the CLI and the logs say it
    message: Message  # the summary as a code, for pages in other languages
    status_code: int | None = None
    duration_ms: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None
    error: str | None = None
    failure: Failure | None = None

    @classmethod
    def failed(
        cls, failure: Failure, message: Message, duration_ms: int | None = None
    ) -> "SendResult":
        """A failure without an answer to show: its summary is also its error."""
        text = message.english
        return cls(
            ok=False,
            summary=text,
            error=text,
            failure=failure,
            duration_ms=duration_ms,
            message=message,
        )

    def header(self, name: str) -> str | None:
        """A response header, whatever its case."""
        wanted = name.lower()
        return next((v for k, v in self.response_headers.items() if k.lower() == wanted), None)

    @property
    def receiver_down(self) -> bool:
        return self.failure is not None and self.failure.receiver_down

    @property
    def body_preview(self) -> str:
        return preview(self.response_body)


def preview(body: str | None) -> str:
    """The start of a response body, as a result shows it."""
    body = (body or "").strip()
    return body if len(body) <= BODY_PREVIEW else body[:BODY_PREVIEW] + "…"


def status_text(code: int) -> str:
    try:
        return f"HTTP {code} {http.HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def answer_failure(code: int) -> Failure | None:
    """How an answer with this status counts: None for a 2xx (a success)."""
    if 200 <= code < 300:
        return None
    return Failure.SERVER_ERROR if code >= 500 else Failure.REJECTED

"""Step 4: send one signed request and describe the outcome honestly.

``send`` never raises for anything the network or the receiver does: every outcome, from a
2xx to a refused connection, comes back as a ``SendResult``. Only a 2xx is a success.
"""

import errno
import functools
import http
import time
from dataclasses import dataclass, field

import requests
import urllib3

from webhooks.delivery.guard import RecipientError
from webhooks.delivery.transport import deadline

BODY_PREVIEW = 200


@dataclass(frozen=True)
class SendResult:
    ok: bool
    summary: str
    status_code: int | None = None
    duration_ms: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None
    error: str | None = None

    def header(self, name: str) -> str | None:
        """A response header, whatever its case."""
        wanted = name.lower()
        return next((v for k, v in self.response_headers.items() if k.lower() == wanted), None)

    @property
    def body_preview(self) -> str:
        body = (self.response_body or "").strip()
        return body if len(body) <= BODY_PREVIEW else body[:BODY_PREVIEW] + "…"


@functools.lru_cache(maxsize=4096)
def _post_to(url: str) -> requests.PreparedRequest:
    return requests.Request("POST", url).prepare()


def prepared_post(url: str, headers: dict[str, str], body: bytes) -> requests.PreparedRequest:
    """The request, built without ``session.post``: a webhook takes no cookies, proxies or
    environment settings from the session, and a URL is parsed once, not on every attempt;
    together that is about a fifth of an attempt's time on a fast network."""
    request = _post_to(url).copy()
    request.prepare_headers(headers)
    request.prepare_body(body, None)
    return request


def _status_text(code: int) -> str:
    try:
        return f"HTTP {code} {http.HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def _causes(error: BaseException):
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        nested += [arg for arg in current.args if isinstance(arg, BaseException)]
        stack.extend(item for item in nested if isinstance(item, BaseException))


def _describe_connection_error(error: requests.ConnectionError, host: str) -> str:
    for cause in _causes(error):
        if isinstance(cause, RecipientError):
            return str(cause)
        if (
            isinstance(cause, ConnectionRefusedError)
            or getattr(cause, "errno", None) == errno.ECONNREFUSED
        ):
            return f"connection refused by {host}"
        if isinstance(cause, requests.exceptions.SSLError):
            return f"TLS error while connecting to {host}: {cause}"
    return f"connection to {host} failed: {error}"


def _failure(summary: str, started: float) -> SendResult:
    return SendResult(
        ok=False,
        summary=summary,
        error=summary,
        duration_ms=round((time.perf_counter() - started) * 1000),
    )


def send(
    session: requests.Session,
    url: str,
    headers: dict[str, str],
    body: bytes,
    *,
    timeout: float,
    body_limit: int,
) -> SendResult:
    """POST ``body`` to ``url`` without following redirects; keep at most ``body_limit`` bytes."""
    host = requests.utils.urlparse(url).netloc
    started = time.perf_counter()
    with deadline(timeout) as watch:
        try:
            response = session.send(
                prepared_post(url, headers, body),
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
        except RecipientError as error:
            return _failure(str(error), started)
        except requests.exceptions.ConnectTimeout:
            return _failure(f"timeout: no connection to {host} within {timeout:g} s", started)
        except requests.exceptions.ReadTimeout:
            return _failure(f"timeout: {host} did not answer within {timeout:g} s", started)
        except requests.RequestException as error:
            if watch.expired:
                return _failure(f"timeout: {host} did not answer within {timeout:g} s", started)
            if isinstance(error, requests.ConnectionError):
                return _failure(_describe_connection_error(error, host), started)
            return _failure(f"request to {host} failed: {error}", started)

        read_error = None
        try:
            raw = response.raw.read(body_limit + 1, decode_content=True) or b""
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as error:
            raw, read_error = b"", f"the response body could not be read: {error}"
        finally:
            response.close()
        if watch.expired:
            read_error = f"the response body did not arrive within {timeout:g} s"
    duration_ms = round((time.perf_counter() - started) * 1000)
    text = raw[:body_limit].decode("utf-8", errors="replace")
    if len(raw) > body_limit:
        text += f"\n… (cut at {body_limit} bytes)"

    code = response.status_code
    ok = 200 <= code < 300
    summary = f"{_status_text(code)} in {duration_ms} ms"
    if 300 <= code < 400:
        location = response.headers.get("Location") or "an unnamed location"
        summary += f", a redirect to {location} (redirects are not followed)"
    if read_error:
        summary += f"; {read_error}"
    return SendResult(
        ok=ok,
        summary=summary,
        status_code=code,
        duration_ms=duration_ms,
        response_headers=dict(response.headers),
        response_body=text,
        error=None if ok and not read_error else summary,
    )

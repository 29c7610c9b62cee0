"""A webhook's custom headers: name/value pairs sent with every attempt and test, such as the
``Authorization`` a CRM asks for. The rules are plain functions shared by the admin form and
the API; values are secrets, so what is shown or stored in the delivery log is masked.

Both the form and the API write headers the same way: the full list of names, each with a new
value or with none to keep the value stored under that name (the form leaves the value empty,
the API sends null). A name left out is removed.
"""

import json
import re
from collections.abc import Iterable, Mapping

from flask_babel import gettext as _

MAX_HEADERS = 20
NAME_MAX = 100
VALUE_MAX = 4000
MASK = "••••••••"

# RFC 9110 §5.6.2: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Visible ASCII, with spaces and tabs inside (RFC 9110 §5.5, without obs-text).
_VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?")
# Set by the service for every request: the signature, the body's framing, and the connection.
_RESERVED = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "accept-encoding",
        "host",
        "user-agent",
        # hop-by-hop (RFC 9110 §7.6.1)
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


class HeaderError(ValueError):
    """A header the rules refuse; the message says which and why, for people."""


def is_reserved(name: str) -> bool:
    lowered = name.lower()
    return lowered in _RESERVED or lowered.startswith("webhook-")


def merge(
    stored: Mapping[str, str], given: Iterable[tuple[str | None, str | None]]
) -> dict[str, str]:
    """The headers to store: ``given`` as (name, value) pairs, in order, where a missing value
    keeps the one stored under that name (names compare without case). Rows with neither a
    name nor a value are skipped. Raises ``HeaderError`` on the first problem."""
    kept = {name.lower(): value for name, value in stored.items()}
    result: dict[str, str] = {}
    seen: set[str] = set()
    for raw_name, raw_value in given:
        name = (raw_name or "").strip()
        value = (raw_value or "").strip(" \t")
        if not name:
            if value:
                raise HeaderError(_("Give each header value a name."))
            continue
        check_name(name)
        if name.lower() in seen:
            raise HeaderError(_("The header “%(name)s” is given twice.", name=name))
        seen.add(name.lower())
        if not value:
            if name.lower() not in kept:
                raise HeaderError(_("Enter a value for the header “%(name)s”.", name=name))
            value = kept[name.lower()]
        check_value(name, value)
        result[name] = value
    if len(result) > MAX_HEADERS:
        raise HeaderError(_("A webhook can have at most %(max)d headers.", max=MAX_HEADERS))
    return result


def check_name(name: str) -> None:
    if len(name) > NAME_MAX:
        raise HeaderError(_("A header name can be at most %(max)d characters long.", max=NAME_MAX))
    if not _TOKEN.fullmatch(name):
        raise HeaderError(
            _(
                "“%(name)s” is not a valid header name: use letters, digits and dashes, "
                "without spaces.",
                name=name[:NAME_MAX],
            )
        )
    if is_reserved(name):
        raise HeaderError(
            _(
                "The header “%(name)s” is set by the service for every request (signature, "
                "body or connection) and cannot be replaced.",
                name=name,
            )
        )


def check_value(name: str, value: str) -> None:
    if len(value) > VALUE_MAX:
        raise HeaderError(
            _(
                "The value of the header “%(name)s” can be at most %(max)d characters long.",
                name=name,
                max=VALUE_MAX,
            )
        )
    if not _VALUE.fullmatch(value):
        raise HeaderError(
            _(
                "The value of the header “%(name)s” can hold printable ASCII characters only, "
                "without line breaks.",
                name=name,
            )
        )


def dump(headers: Mapping[str, str]) -> str | None:
    """As the webhook stores them: a JSON object, or None for none."""
    return json.dumps(dict(headers), separators=(",", ":")) if headers else None


def load(stored: str | None) -> dict[str, str]:
    """The headers a webhook stores (nothing if the text is missing or not a JSON object of
    strings, so a damaged row sends no header rather than failing its deliveries)."""
    if not stored:
        return {}
    try:
        value = json.loads(stored)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(value, dict):
        return {}
    return {name: text for name, text in value.items() if isinstance(text, str)}


def masked(headers: Mapping[str, str], secret_names: Iterable[str]) -> dict[str, str]:
    """``headers`` with the values of ``secret_names`` replaced by a mask."""
    secret = {name.lower() for name in secret_names}
    return {name: MASK if name.lower() in secret else value for name, value in headers.items()}

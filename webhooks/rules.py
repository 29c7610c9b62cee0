"""The rules of a webhook's fields, as plain functions shared by the admin form and the API.

Each rule takes the value as given and returns it cleaned (spaces around a name dropped, an
empty cap made the default), or raises ``RuleError`` with a message for people. The form calls
them from its WTForms validators (``webhooks.admin.forms``) and the API from its pydantic field
validators (``webhooks.api.shapes``), so the two can never disagree. Messages are lazy strings:
shown in the page's language on the site, and in English by the API.
"""

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from webhooks import custom_headers
from webhooks.catalogue import get_event
from webhooks.i18n import _l
from webhooks.models import (
    ALL_EVENTS,
    DEFAULT_MAX_IN_FLIGHT,
    MAX_IN_FLIGHT_RANGE,
    PAYLOAD_FORMATS,
    RATE_LIMIT_RANGE,
)

NAME_LENGTH = (2, 191)
URL_MAX = 2048


class RuleError(ValueError):
    """A value a rule refuses; ``message`` says why, for people (a lazy string)."""

    def __init__(self, message: Any) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


def _is_empty(value: Any) -> bool:
    return value is None or value == ""


def _storable(value: str, message: Any) -> None:
    """No lone halves of a surrogate pair, which cannot be written as UTF-8."""
    try:
        value.encode()
    except UnicodeEncodeError as error:
        raise RuleError(message) from error


def name(value: str | None) -> str:
    """2 to 191 characters without control characters; spaces around it are dropped."""
    if _is_empty(value):
        raise RuleError(_l("Give the webhook a name."))
    value = value.strip()
    low, high = NAME_LENGTH
    if not low <= len(value) <= high:
        raise RuleError(_l("The name must be 2 to 191 characters long."))
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise RuleError(_l("Remove the control characters (such as tabs or line breaks)."))
    _storable(value, _l("The text contains characters that cannot be stored."))
    return value


def url(value: str | None) -> str:
    """An absolute http(s) URL with a host name and no credentials in it."""
    if _is_empty(value):
        raise RuleError(_l("Enter the URL that should receive the events."))
    value = value.strip()
    if len(value) > URL_MAX:
        raise RuleError(_l("The URL can be at most %(max)d characters long.", max=URL_MAX))
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise RuleError(_l("The URL must not contain spaces or control characters."))
    _storable(value, _l("The URL contains characters that cannot be stored."))
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as error:
        raise RuleError(_l("This is not a valid URL (%(error)s).", error=error)) from error
    if parts.scheme.lower() not in ("http", "https"):
        raise RuleError(_l("The URL must start with http:// or https://."))
    if not parts.hostname:
        raise RuleError(_l("The URL must include a host name, e.g. https://example.com/hook."))
    if parts.username is not None or parts.password is not None:
        raise RuleError(
            _l(
                "Remove the user name and password from the URL; credentials in URLs leak into "
                "logs."
            )
        )
    if port == 0:
        raise RuleError(_l("The port in the URL is not valid."))
    try:
        parts.hostname.encode("idna")
    except UnicodeError as error:
        raise RuleError(_l("The host name in the URL is not valid.")) from error
    return value


def event(value: str | None) -> str:
    """One event slug of the catalogue. Written for one slug, so that a list of events is
    this rule applied to each of them."""
    if not isinstance(value, str) or get_event(value) is None:
        raise RuleError(_l("Choose one of the events in the list."))
    return value


def event_or_all(value: str | None) -> str:
    """One event slug, or ``*``: every event, those added to the catalogue later included."""
    return value if value == ALL_EVENTS else event(value)


def events(value: Any) -> list[str]:
    """A webhook's events: distinct slugs of the catalogue (``event`` applied to each), or
    ``["*"]`` alone for every event."""
    if not isinstance(value, list) or not all(isinstance(slug, str) for slug in value):
        raise RuleError(_l('Give a list of event slugs, or ["*"] for all events.'))
    if not value:
        raise RuleError(_l('Give at least one event slug, or ["*"] for all events.'))
    if ALL_EVENTS in value:
        if len(value) > 1:
            raise RuleError(_l('"*" (all events) comes alone: it includes every other event.'))
        return value
    for slug in value:
        try:
            event(slug)
        except RuleError as error:
            raise RuleError(
                _l("%(slug)s is not an event of the catalogue.", slug=slug[:64])
            ) from error
    repeated = sorted({slug for slug in value if value.count(slug) > 1})
    if repeated:
        raise RuleError(
            _l("Each event once: %(slugs)s is listed twice.", slugs=", ".join(repeated))
        )
    return value


def payload_format(value: str | None) -> str:
    if value not in PAYLOAD_FORMATS:
        raise RuleError(_l("Choose a payload format: Standard or Flat."))
    return value


def max_in_flight(value: int | None) -> int:
    """Requests at once: 1 to 1000; none given is the default (10)."""
    if value is None:
        return DEFAULT_MAX_IN_FLIGHT
    low, high = MAX_IN_FLIGHT_RANGE
    if not low <= value <= high:
        raise RuleError(_l("Enter a whole number from %(min)d to %(max)d.", min=low, max=high))
    return value


def rate_limit(value: int | None) -> int | None:
    """Requests a second: 1 to 10000, or None for no limit."""
    if value is None:
        return None
    low, high = RATE_LIMIT_RANGE
    if not low <= value <= high:
        raise RuleError(
            _l(
                "Enter a whole number from %(min)d to %(max)d, or leave it empty.",
                min=low,
                max=high,
            )
        )
    return value


def headers(
    given: Iterable[tuple[str | None, str | None]], stored: Mapping[str, str]
) -> dict[str, str]:
    """The custom headers to store: ``given`` as (name, value) pairs, where a missing value
    keeps the one ``stored`` under that name and a name left out is removed (see
    ``webhooks.custom_headers``)."""
    try:
        return custom_headers.merge(stored, given)
    except custom_headers.HeaderError as error:
        raise RuleError(str(error)) from error

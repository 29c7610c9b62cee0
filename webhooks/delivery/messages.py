"""The results, disable reasons and notes the delivery path writes, as codes with params: the
English text for the API, the logs and the stored text columns, and the same message in the
reader's language on pages (docs/result-messages.md).

A stored message is ``{"code": ..., "params": {...}}``; a param may itself be a stored message
(the last result inside a disable reason). Pages show an unknown code, or a row without one, as
the English text that was stored beside it.
"""

from dataclasses import dataclass, field
from typing import Any

from flask_babel import format_decimal, get_locale, gettext

from webhooks.delivery import network_details
from webhooks.i18n import N_


@dataclass(frozen=True)
class Template:
    english: str  # str.format; exactly the words the API and the text columns have always had
    page: str  # the msgid pages translate; %(name)s placeholders


CATALOGUE: dict[str, Template] = {
    "answered": Template("{status} in {duration_ms} ms", N_("%(status)s in %(duration_ms)s ms")),
    "answered.redirect": Template(
        "{status} in {duration_ms} ms, a redirect to {location} (redirects are not followed)",
        N_(
            "%(status)s in %(duration_ms)s ms, a redirect to %(location)s "
            "(redirects are not followed)"
        ),
    ),
    # An answer whose body did not arrive whole; ``answer`` is the "answered" message.
    "answered.unfinished": Template(
        "{answer}; the response did not finish within {timeout:g} s",
        N_("%(answer)s; the response did not finish within %(timeout)s s"),
    ),
    "answered.unreadable": Template(
        "{answer}; the response body could not be read: {detail}",
        N_("%(answer)s; the response body could not be read: %(detail)s"),
    ),
    "timeout.no_answer": Template(
        "timeout: {host} did not answer within {timeout:g} s",
        N_("timeout: %(host)s did not answer within %(timeout)s s"),
    ),
    "timeout.no_connection": Template(
        "timeout: no connection to {host} within {timeout:g} s",
        N_("timeout: no connection to %(host)s within %(timeout)s s"),
    ),
    "timeout.unresolved": Template(
        "timeout: the host name {host} was not resolved within {timeout:g} s",
        N_("timeout: the host name %(host)s was not resolved within %(timeout)s s"),
    ),
    # A detail is a phrase of network_details, or the network library's words when none fits.
    "connection.tls": Template(
        "TLS error while connecting to {host}: {detail}",
        N_("TLS error while connecting to %(host)s: %(detail)s"),
    ),
    "connection.failed": Template(
        "connection to {host} failed: {detail}", N_("connection to %(host)s failed: %(detail)s")
    ),
    "connection.refused": Template(
        "connection refused by {host}", N_("connection refused by %(host)s")
    ),
    "connection.closed": Template(
        "connection to {host} failed: the receiver closed it without answering",
        N_("connection to %(host)s failed: the receiver closed it without answering"),
    ),
    "dns.unresolvable": Template(
        "DNS failure: the host name {host} could not be resolved",
        N_("DNS failure: the host name %(host)s could not be resolved"),
    ),
    "blocked.address": Template(
        "blocked address: {address} is {kind}; webhooks may only reach public addresses unless "
        "WEBHOOKS_ALLOWED_NETWORKS allows its range",
        N_(
            "blocked address: %(address)s is %(kind)s; webhooks may only reach public addresses "
            "unless WEBHOOKS_ALLOWED_NETWORKS allows its range"
        ),
    ),
    "blocked.resolved": Template(
        "blocked address: {host} resolves to {address}, which is {kind}; webhooks may only "
        "reach public addresses unless WEBHOOKS_ALLOWED_NETWORKS allows its range",
        N_(
            "blocked address: %(host)s resolves to %(address)s, which is %(kind)s; webhooks may "
            "only reach public addresses unless WEBHOOKS_ALLOWED_NETWORKS allows its range"
        ),
    ),
    "blocked.url": Template(
        "blocked URL: only absolute http and https URLs can be reached",
        N_("blocked URL: only absolute http and https URLs can be reached"),
    ),
    "blocked.port": Template(
        "blocked URL: its port is not a number from 0 to 65535",
        N_("blocked URL: its port is not a number from 0 to 65535"),
    ),
    # A bug here, recorded as a failed attempt; the detail is the error's own words.
    "internal": Template("internal error: {detail}", N_("internal error: %(detail)s")),
    "disabled.gone": Template(
        "The receiver answered 410 Gone: it wants no more deliveries.",
        N_("The receiver answered 410 Gone: it wants no more deliveries."),
    ),
    "disabled.failing": Template(
        "Every attempt failed for {days:g} days; the last: {last}",
        N_("Every attempt failed for %(days)s days; the last: %(last)s"),
    ),
    "not_sent.inactive": Template(
        "Not sent: the webhook is inactive.", N_("Not sent: the webhook is inactive.")
    ),
    "not_sent.disabled": Template(
        "Not sent: the webhook was disabled.", N_("Not sent: the webhook was disabled.")
    ),
    "test": Template("Test: {result}", N_("Test: %(result)s")),
}

# The kinds of address the recipient guard refuses (webhooks/delivery/special_ranges.py).
KINDS = frozenset(
    (
        N_("an unspecified address"),
        N_("a loopback address"),
        N_("a private address"),
        N_("a link-local address"),
        N_("a multicast address"),
        N_("a documentation address"),
        N_("a benchmarking address"),
        N_("a special-purpose address"),
        N_("a reserved address"),
        N_("a shared (carrier-grade NAT) address"),
        N_("a broadcast address"),
        N_("a local-use NAT64 address"),
        N_("a discard-only address"),
        N_("a 6to4 address"),
        N_("not a public address"),
    )
)

# The fixed phrases a param may hold, which pages translate.
PHRASES = KINDS | network_details.PHRASES


@dataclass(frozen=True)
class Message:
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def english(self) -> str:
        return english(self.stored())

    def stored(self) -> dict[str, Any]:
        """The JSON a column keeps."""
        params = {
            name: value.stored() if isinstance(value, Message) else value
            for name, value in self.params.items()
        }
        return {"code": self.code, "params": params}


def _nested(value: Any) -> bool:
    return isinstance(value, dict) and "code" in value


def english(stored: dict[str, Any]) -> str:
    """The English text of a stored message with a known code."""
    params = {
        name: english(value) if _nested(value) else value
        for name, value in (stored.get("params") or {}).items()
    }
    return CATALOGUE[stored["code"]].english.format(**params)


def known(stored: Any) -> bool:
    """Whether ``stored`` is a message this version can render, its nested ones included."""
    if not _nested(stored) or stored["code"] not in CATALOGUE:
        return False
    params = stored.get("params") or {}
    return isinstance(params, dict) and all(
        known(value) for value in params.values() if isinstance(value, dict)
    )


def _shown(value: Any) -> Any:
    if _nested(value):
        return translated(value)
    if isinstance(value, str):
        return gettext(value) if value in PHRASES else value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_decimal(value)
    return value


def translated(stored: dict[str, Any]) -> str:
    """A known stored message in the page's language, numbers formatted for its locale; on an
    English page, word for word the English text (as the API and the stored text say it)."""
    locale = get_locale()
    if locale is None or locale.language == "en":
        return english(stored)
    params = {name: _shown(value) for name, value in (stored.get("params") or {}).items()}
    return gettext(CATALOGUE[stored["code"]].page, **params)


def result_text(stored: Any, text: str | None, default: str = "") -> str:
    """What a page shows for a stored message: translated when its code is known, else the
    English ``text`` stored beside it (rows from before the codes), else ``default``."""
    if known(stored):
        try:
            return translated(stored)
        except (KeyError, ValueError, TypeError):
            pass  # params that do not fit the template: the stored text still says it
    return text or default

"""gunicorn's access log without credentials.

A client that puts its token in the wrong place (as the HTTP Basic user name, ``curl -u
whk_…:``, or as ``?access_token=whk_…``) is refused, and its request is logged all the same.
This logger writes no Basic user name and replaces the values of query parameters that hold
credentials, by their name or by their shape, in the request line, the query and the Referer.
"""

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gunicorn.glogging import Logger

REDACTED = "[redacted]"
# Parameter names that carry credentials, compared without case, "-" or "_".
SECRET_NAMES = re.compile(
    r"^(access_?token|token|api_?key|key|secret|password|passwd|auth|authorization|"
    r"signature|sig|code|session|client_?secret)$"
)
# Values shaped like a credential: this service's tokens and secrets, and long opaque strings.
SECRET_VALUES = re.compile(r"(whk|whsec)_\S+|[A-Za-z0-9_\-.~+/=%]{32,}")
PRIVATE_HEADERS = ("authorization", "cookie", "proxy-authorization")


def _is_secret(name: str, value: str) -> bool:
    return bool(
        SECRET_NAMES.match(name.lower().replace("-", "_")) or SECRET_VALUES.fullmatch(value)
    )


def redact_query(query: str) -> str:
    """``query`` with each credential-bearing value replaced; left as it is when it has none."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(_is_secret(name, value) for name, value in pairs):
        return query
    return urlencode(
        [(name, REDACTED if _is_secret(name, value) else value) for name, value in pairs],
        safe="[]",
    )


def redact_target(target: str) -> str:
    """A request target or URL with its query redacted."""
    if "?" not in target:
        return target
    parts = urlsplit(target)
    return urlunsplit(parts._replace(query=redact_query(parts.query)))


class CredentialFreeLogger(Logger):
    """gunicorn's logger, with the access log's atoms cleared of credentials."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["u"] = "-"
        atoms["q"] = redact_query(atoms.get("q") or "")
        atoms["r"] = "{} {} {}".format(
            environ["REQUEST_METHOD"], redact_target(environ["RAW_URI"]), environ["SERVER_PROTOCOL"]
        )
        if atoms.get("f") not in (None, "-"):
            atoms["f"] = redact_target(atoms["f"])
        for header in PRIVATE_HEADERS:
            if (atom := f"{{{header}}}i") in atoms:
                atoms[atom] = REDACTED
        return atoms

"""Checks on URLs that come from the user's browser."""

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, otherwise None (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    return target


def receiver_key(url: str) -> tuple[str, str, int | None, str, str]:
    """What makes two webhook URLs reach the same receiver. A URL is stored as typed (less the
    spaces around it); the parts that do not change the request are evened out here: the
    letter case of the scheme and host, an international host name and its ``xn--`` form, a
    default port written out, an empty path and ``/``, and the fragment, which is never sent."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass  # the form refuses such a host; compared as typed
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return scheme, host, port, parts.path or "/", parts.query

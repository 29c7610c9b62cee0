"""Step 3: the recipient guard — webhooks may only reach public addresses.

A URL's host is resolved and every address it resolves to is checked; one blocked address
blocks the URL. The sender (``sender.py``) resolves through the same check again when it opens
a connection, and checks the very address it connects to, so a DNS answer that changes between
this check and the connection cannot smuggle a request to an internal address.
"""

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from webhooks.config import SettingError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}


class RecipientError(Exception):
    """The request was not sent; ``str(error)`` says why in words an operator understands."""


class RecipientBlocked(RecipientError):
    pass


class RecipientUnresolvable(RecipientError):
    pass


def parse_networks(setting: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR ranges from a comma-separated setting; a bad entry raises ``ValueError`` naming it."""
    items = setting.split(",") if isinstance(setting, str) else list(setting)
    networks = []
    for item in (part.strip() for part in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as error:
            raise SettingError(
                f"WEBHOOKS_ALLOWED_NETWORKS: {item!r} is not a CIDR range"
            ) from error
    return tuple(networks)


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv6Address):
        return ip.ipv4_mapped or ip.sixtofour
    return None


def _kind(ip: IPAddress) -> str | None:
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a public address"
    return None


def _literal(host: str) -> list[str] | None:
    """A host written as a plain IP address needs no lookup; other spellings (``127.1``,
    ``0x7f000001``) are left to the resolver, which understands them as the OS does."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return None


@dataclass(frozen=True)
class RecipientGuard:
    allowed_networks: tuple[IPNetwork, ...] = ()

    def blocked_reason(self, ip: IPAddress) -> str | None:
        """Why ``ip`` may not be reached, or None when it may."""
        candidates = [ip]
        if (inner := _embedded_ipv4(ip)) is not None:
            candidates.insert(0, inner)
        if any(
            c.version == n.version and c in n for c in candidates for n in self.allowed_networks
        ):
            return None
        for candidate in candidates:
            if (kind := _kind(candidate)) is not None:
                return kind
        return None

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host``, all of them checked; raises ``RecipientError``."""
        addresses = _literal(host)
        if addresses is None:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as error:
                raise RecipientUnresolvable(
                    f"DNS failure: the host name {host} could not be resolved"
                ) from error
            addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            self.check_address(address, host)
        return addresses

    def check_address(self, address: str, host: str | None = None) -> None:
        """Raise ``RecipientBlocked`` unless ``address`` (one ``host`` resolved to) may be
        reached. The sender calls it again for the address of every connection it opens."""
        reason = self.blocked_reason(ipaddress.ip_address(address.split("%", 1)[0]))
        if reason is not None:
            shown = (
                f"{host} resolves to {address}, which" if host not in (None, address) else address
            )
            raise RecipientBlocked(
                f"blocked address: {shown} is {reason}; webhooks may only reach public "
                "addresses unless WEBHOOKS_ALLOWED_NETWORKS allows its range"
            )

    @staticmethod
    def needs_lookup(url: str) -> bool:
        """Whether checking ``url`` asks DNS (its host is a name, not a plain IP address)."""
        return _literal(urlsplit(url).hostname or "") is None

    def check_url(self, url: str) -> list[str]:
        """Check a webhook URL before sending; returns the addresses it resolves to."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise RecipientBlocked("blocked URL: only absolute http and https URLs can be reached")
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError as error:
            raise RecipientBlocked(f"blocked URL: {error}") from error
        return self.resolve(parts.hostname, port)

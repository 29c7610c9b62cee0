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

from webhooks.delivery.messages import Message
from webhooks.delivery.special_ranges import embedded_ipv4, special_kind
from webhooks.settings import SettingError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}


class RecipientError(Exception):
    """The request was not sent; ``message`` says why, as a code for pages, and ``str(error)``
    in its English words."""

    def __init__(self, message: Message) -> None:
        self.message = message
        super().__init__(message.english)


class RecipientBlocked(RecipientError):
    pass


class RecipientUnresolvable(RecipientError):
    pass


def parse_networks(setting: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR ranges from a comma-separated setting; a bad entry raises ``SettingError`` naming it."""
    items = setting.split(",") if isinstance(setting, str) else list(setting)
    networks = []
    for item in (part.strip() for part in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as error:
            raise SettingError(
                "ALLOWED_NETWORKS",
                item,
                "is not a CIDR range",
                "comma-separated CIDR ranges, such as 127.0.0.0/8,10.0.0.0/8",
            ) from error
    return tuple(networks)


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
        """Why ``ip`` may not be reached, or None when it may.

        An IPv4-mapped or NAT64 address is judged by the IPv4 address it reaches. A 6to4
        address is refused whatever it embeds, since it travels through a public relay; the
        words name the embedded address's kind when that is not public.
        """
        if self._allowed(ip):
            return None
        if (inner := embedded_ipv4(ip)) is not None:
            return None if self._allowed(inner) else special_kind(inner)
        if ip.version == 6 and ip.sixtofour is not None:
            return special_kind(ip.sixtofour) or special_kind(ip)
        return special_kind(ip)

    def _allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == n.version and ip in n for n in self.allowed_networks)

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host``, all of them checked; raises ``RecipientError``."""
        addresses = _literal(host)
        if addresses is None:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as error:
                raise RecipientUnresolvable(Message("dns.unresolvable", {"host": host})) from error
            addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            self.check_address(address, host)
        return addresses

    def check_address(self, address: str, host: str | None = None) -> None:
        """Raise ``RecipientBlocked`` unless ``address`` (one ``host`` resolved to) may be
        reached. The sender calls it again for the address of every connection it opens."""
        reason = self.blocked_reason(ipaddress.ip_address(address.split("%", 1)[0]))
        if reason is not None:
            if host not in (None, address):
                message = Message(
                    "blocked.resolved", {"host": host, "address": address, "kind": reason}
                )
            else:
                message = Message("blocked.address", {"address": address, "kind": reason})
            raise RecipientBlocked(message)

    @staticmethod
    def needs_lookup(url: str) -> bool:
        """Whether checking ``url`` asks DNS (its host is a name, not a plain IP address)."""
        return _literal(urlsplit(url).hostname or "") is None

    def check_url(self, url: str) -> list[str]:
        """Check a webhook URL before sending; returns the addresses it resolves to."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise RecipientBlocked(Message("blocked.url"))
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError as error:
            raise RecipientBlocked(Message("blocked.port")) from error
        return self.resolve(parts.hostname, port)

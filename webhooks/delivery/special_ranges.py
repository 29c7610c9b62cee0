"""The address ranges webhooks may never reach, with the words an operator reads.

Every range of IANA's IPv4 and IPv6 Special-Purpose Address Registries is here, the ones the
registry marks globally reachable included (a webhook has no business with an AS112 server or a
protocol's anycast address), plus multicast, IPv4's reserved block and IPv6's deprecated
site-local range (``fec0::/10``, which Python still calls global). Addresses that carry an IPv4
address inside them are not listed: the guard reads the IPv4 address out of an IPv4-mapped or a
NAT64 (``64:ff9b::/96``) address and checks that instead.

The first matching range names the kind, so narrower ranges come before the ranges that hold
them.
"""

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

UNSPECIFIED = "an unspecified address"
LOOPBACK = "a loopback address"
PRIVATE = "a private address"
LINK_LOCAL = "a link-local address"
MULTICAST = "a multicast address"
DOCUMENTATION = "a documentation address"
BENCHMARKING = "a benchmarking address"
SPECIAL = "a special-purpose address"
RESERVED = "a reserved address"

_RANGES: tuple[tuple[str, str], ...] = (
    # IPv4 (RFC 6890 and its updates)
    ("0.0.0.0/8", UNSPECIFIED),
    ("10.0.0.0/8", PRIVATE),
    ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
    ("127.0.0.0/8", LOOPBACK),
    ("169.254.0.0/16", LINK_LOCAL),
    ("172.16.0.0/12", PRIVATE),
    ("192.0.0.0/24", SPECIAL),  # IETF protocol assignments (DS-Lite, NAT64 discovery, ...)
    ("192.0.2.0/24", DOCUMENTATION),
    ("192.31.196.0/24", SPECIAL),  # AS112
    ("192.52.193.0/24", SPECIAL),  # AMT
    ("192.88.99.0/24", SPECIAL),  # the deprecated 6to4 relay anycast
    ("192.168.0.0/16", PRIVATE),
    ("192.175.48.0/24", SPECIAL),  # AS112 direct delegation
    ("198.18.0.0/15", BENCHMARKING),
    ("198.51.100.0/24", DOCUMENTATION),
    ("203.0.113.0/24", DOCUMENTATION),
    ("224.0.0.0/4", MULTICAST),
    ("255.255.255.255/32", "a broadcast address"),
    ("240.0.0.0/4", RESERVED),
    # IPv6 (RFC 6890 and its updates)
    ("::/128", UNSPECIFIED),
    ("::1/128", LOOPBACK),
    ("64:ff9b:1::/48", "a local-use NAT64 address"),
    ("100::/64", "a discard-only address"),
    ("100:0:0:1::/64", SPECIAL),  # the dummy IPv6 prefix
    ("2001:2::/48", BENCHMARKING),
    ("2001::/23", SPECIAL),  # IETF protocol assignments: Teredo, ORCHID, AMT, AS112, ...
    ("2001:db8::/32", DOCUMENTATION),
    ("2002::/16", "a 6to4 address"),
    ("2620:4f:8000::/48", SPECIAL),  # AS112 direct delegation
    ("3fff::/20", DOCUMENTATION),
    ("5f00::/16", SPECIAL),  # SRv6 segment identifiers
    ("fc00::/7", PRIVATE),  # unique local
    ("fe80::/10", LINK_LOCAL),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", MULTICAST),
)
RANGES = tuple((ipaddress.ip_network(network), words) for network, words in _RANGES)

NAT64 = ipaddress.ip_network("64:ff9b::/96")


def special_kind(ip: IPAddress) -> str | None:
    """What kind of non-public address ``ip`` is, or None for a public one."""
    for network, words in RANGES:
        if ip.version == network.version and ip in network:
            return words
    if not ip.is_global:
        return "not a public address"
    return None


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address a connection to ``ip`` really reaches: IPv4-mapped, and NAT64's
    well-known prefix (a DNS64 resolver's answer for an IPv4-only host)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(ip.packed[-4:])
    return None

"""The recipient guard, the guarded sender and Standard Webhooks signing, as units.

The sender tests use the real receiver on 127.0.0.1: the guard must stop the request at
connect time, so the receiver's log is the proof that nothing left the machine.
"""

import asyncio
import base64
import ipaddress
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook as SWWebhook
from standardwebhooks.webhooks import WebhookVerificationError
from werkzeug import Response

from tests.conftest import unused_port
from webhooks.delivery.guard import (
    RecipientBlocked,
    RecipientError,
    RecipientGuard,
    RecipientUnresolvable,
    parse_networks,
)
from webhooks.delivery.message import Message
from webhooks.delivery.result import Failure
from webhooks.delivery.sender import Sender
from webhooks.delivery.signing import sign, signed_headers
from webhooks.models import new_signing_secret

LOOPBACK_ALLOWED = RecipientGuard(parse_networks("127.0.0.0/8"))


# ---------------------------------------------------------------- blocked_reason

BLOCKED = [
    "127.0.0.1",
    "127.255.255.254",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "100.64.0.1",  # carrier-grade NAT
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fd00::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "2001:db8::1",
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2001:4860:4860::8888"]


@pytest.mark.parametrize("address", BLOCKED)
def test_guard_blocks_non_public_address(address):
    reason = RecipientGuard().blocked_reason(ipaddress.ip_address(address))

    assert reason is not None
    assert reason.startswith(("a ", "an ", "not "))


@pytest.mark.parametrize("address", PUBLIC)
def test_guard_lets_public_address_through(address):
    assert RecipientGuard().blocked_reason(ipaddress.ip_address(address)) is None
    assert LOOPBACK_ALLOWED.blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("2002:7f00:1::", "loopback"),
        ("10.1.2.3", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
    ],
)
def test_guard_says_what_kind_of_address_is_blocked(address, words):
    assert words in RecipientGuard().blocked_reason(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.200.1.1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("192.168.1.1", False),
        ("::1", False),  # IPv6 loopback is not in an IPv4 range
        ("169.254.169.254", False),
    ],
)
def test_allowed_network_lets_only_its_range_through(address, allowed):
    reason = LOOPBACK_ALLOWED.blocked_reason(ipaddress.ip_address(address))

    assert (reason is None) is allowed


@pytest.mark.parametrize(
    ("address", "allowed"), [("fd00::1", True), ("fd12:3456::1", True), ("fe80::1", False)]
)
def test_allowed_ipv6_network_lets_only_its_range_through(address, allowed):
    guard = RecipientGuard(parse_networks("fd00::/8"))

    assert (guard.blocked_reason(ipaddress.ip_address(address)) is None) is allowed


# ---------------------------------------------------------------- parse_networks


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("", ()),
        (" , ,", ()),
        ("127.0.0.0/8", ("127.0.0.0/8",)),
        (" 127.0.0.0/8 , ,10.0.0.0/8, ", ("127.0.0.0/8", "10.0.0.0/8")),
        ("127.0.0.1/8", ("127.0.0.0/8",)),  # host bits are forgiven
        ("192.168.1.7", ("192.168.1.7/32",)),
        ("fd00::/8,::1", ("fd00::/8", "::1/128")),
        (["10.0.0.0/8", " ", ""], ("10.0.0.0/8",)),
    ],
)
def test_parse_networks_reads_ranges_and_ignores_blanks(setting, expected):
    assert parse_networks(setting) == tuple(ipaddress.ip_network(n) for n in expected)


@pytest.mark.parametrize(
    ("setting", "bad"),
    [
        ("not-a-cidr", "not-a-cidr"),
        ("127.0.0.0/8, not-a-cidr", "not-a-cidr"),
        ("10.0.0.0/33", "10.0.0.0/33"),
        ("localhost", "localhost"),
        (["127.0.0.0/8", "999.1.1.1"], "999.1.1.1"),
    ],
)
def test_parse_networks_rejects_bad_entry_naming_it(setting, bad):
    with pytest.raises(ValueError, match=f"'{bad}' is not a CIDR range") as caught:
        parse_networks(setting)

    assert "WEBHOOKS_ALLOWED_NETWORKS" in str(caught.value)


# ---------------------------------------------------------------- check_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.0.0.1:8080/hook",
        "https://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost/",
        "http://LOCALHOST:5000/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://0/",
    ],
)
def test_check_url_blocks_internal_host_in_any_spelling(url):
    with pytest.raises(RecipientBlocked, match="blocked address"):
        RecipientGuard().check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
        "mailto:hooks@example.com",
        "http:///no-host",
        "http://",
        "example.com/hook",
        "",
        "http://example.com:99999/hook",
    ],
)
def test_check_url_blocks_url_that_is_not_absolute_http(url):
    with pytest.raises(RecipientBlocked, match="blocked URL"):
        RecipientGuard().check_url(url)


@pytest.mark.parametrize(
    "url", ["http://nonexistent.invalid/hook", "https://" + "a" * 64 + ".example/hook"]
)
def test_check_url_reports_unresolvable_host_as_dns_failure(url):
    with pytest.raises(RecipientUnresolvable, match="DNS failure") as caught:
        RecipientGuard().check_url(url)

    assert isinstance(caught.value, RecipientError)


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("http://93.184.216.34/hook", ["93.184.216.34"]),
        ("https://[2606:4700:4700::1111]:8443/hook", ["2606:4700:4700::1111"]),
    ],
)
def test_check_url_lets_public_address_through(url, addresses):
    assert RecipientGuard().check_url(url) == addresses


def test_check_url_lets_allowed_range_through():
    assert LOOPBACK_ALLOWED.check_url("http://127.0.0.1:8080/hook") == ["127.0.0.1"]
    with pytest.raises(RecipientBlocked):
        LOOPBACK_ALLOWED.check_url("http://10.0.0.1/hook")


# ---------------------------------------------------------------- the guarded sender


def send_direct(guard: RecipientGuard, url: str, *, body: bytes = b"{}", timeout: float = 2.0):
    """``Sender.send`` alone, without the guard's check before it: only the connection's own
    guard stands between the request and an internal address."""

    async def attempt():
        sender = Sender(guard, body_limit=100).open()
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            return await sender.send(url, {}, body, deadline, timeout)
        finally:
            await sender.close()

    return asyncio.run(attempt())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "127.1"])
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_sender_refuses_internal_address_at_connect_time(receiver, scheme, host):
    receiver.expect_request("/x").respond_with_data("should never be reached")
    url = receiver.url_for("/x").replace("http://127.0.0.1", f"{scheme}://{host}")

    result = send_direct(RecipientGuard(), url)

    assert result.ok is False
    if host in ("127.0.0.1", "localhost"):
        assert result.failure == Failure.BLOCKED
        assert "is a loopback address" in result.summary
    else:  # an address spelt the old way is refused before any lookup or connection
        assert result.failure in (Failure.BLOCKED, Failure.CONNECTION)
    assert receiver.log == []


def test_sender_reaches_receiver_in_allowed_range(receiver):
    receiver.expect_request("/x", method="POST").respond_with_data("hello")

    result = send_direct(LOOPBACK_ALLOWED, receiver.url_for("/x"), body=b'{"a":1}')

    assert result.ok is True
    assert result.status_code == 200
    assert result.response_body == "hello"
    assert len(receiver.log) == 1
    request, _ = receiver.log[0]
    assert request.get_data() == b'{"a":1}'
    assert request.headers["Host"] == f"127.0.0.1:{receiver.port}"


def test_sender_ignores_proxy_settings_from_the_environment(receiver, monkeypatch):
    dead_proxy = f"http://127.0.0.1:{unused_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead_proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    receiver.expect_request("/x").respond_with_data("direct")

    result = send_direct(LOOPBACK_ALLOWED, receiver.url_for("/x"))

    assert result.response_body == "direct"
    assert len(receiver.log) == 1


def test_sender_describes_refused_connection_in_plain_words():
    port = unused_port()

    result = send_direct(LOOPBACK_ALLOWED, f"http://127.0.0.1:{port}/x")

    assert result.ok is False
    assert result.failure == Failure.CONNECTION
    assert result.summary == f"connection refused by 127.0.0.1:{port}"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_sender_never_follows_a_redirect(receiver, status):
    target = receiver.url_for("/elsewhere")
    receiver.expect_request("/x").respond_with_response(
        Response("moved", status=status, headers={"Location": target})
    )
    receiver.expect_request("/elsewhere").respond_with_data("should never be reached")

    result = send_direct(LOOPBACK_ALLOWED, receiver.url_for("/x"))

    assert result.ok is False
    assert result.status_code == status
    assert result.header("Location") == target
    assert f"a redirect to {target} (redirects are not followed)" in result.summary
    assert [request.path for request, _ in receiver.log] == ["/x"]


# ---------------------------------------------------------------- signing

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_sign_matches_the_standard_webhooks_test_vector():
    signature = sign(
        SPEC_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )

    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{}",
        b'{"type":"payment_received","timestamp":"2026-01-01T00:00:00.000Z","data":{}}',
        json.dumps({"name": "Café Müller ✓ 日本"}, ensure_ascii=False).encode(),
        b"x" * 10_000,
    ],
    ids=["empty", "object", "envelope", "non-ascii", "large"],
)
@pytest.mark.parametrize("secret", [SPEC_SECRET, new_signing_secret()], ids=["spec", "fresh"])
def test_sign_matches_standard_webhooks_library(secret, body):
    msg_id, timestamp = "msg_abc123", 1_700_000_000

    ours = sign(secret, msg_id, timestamp, body)
    theirs = SWWebhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body.decode())

    assert ours == theirs


def test_new_signing_secret_is_whsec_with_enough_key_bytes():
    secret = new_signing_secret()

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert new_signing_secret() != secret


def test_signed_headers_carry_the_standard_webhooks_fields():
    message = Message("msg_one", b'{"type":"x"}')

    headers = signed_headers(message, [SPEC_SECRET], 1_700_000_000, "Webhooks/0.1.0")

    assert headers == {
        "Content-Type": "application/json",
        "User-Agent": "Webhooks/0.1.0",
        "webhook-id": "msg_one",
        "webhook-timestamp": "1700000000",
        "webhook-signature": sign(SPEC_SECRET, "msg_one", 1_700_000_000, b'{"type":"x"}'),
    }


def test_signed_headers_with_two_secrets_verify_with_each():
    old, new = new_signing_secret(), new_signing_secret()
    body = json.dumps({"type": "payment_received", "data": {"note": "ünïcode"}}, ensure_ascii=False)
    message = Message("msg_rotation", body.encode())

    headers = signed_headers(message, [old, new], int(time.time()), "Webhooks/0.1.0")

    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(signature.startswith("v1,") for signature in signatures)
    for secret, signature in zip([old, new], signatures, strict=True):
        assert SWWebhook(secret).verify(body, headers) == json.loads(body)
        alone = {**headers, "webhook-signature": signature}
        assert SWWebhook(secret).verify(body, alone) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        SWWebhook(new_signing_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        SWWebhook(old).verify(body + " ", headers)  # a changed body no longer verifies


# ---------------------------------------------------------------- special-purpose ranges

# One address inside each range of IANA's IPv4 and IPv6 Special-Purpose Address Registries,
# written out here rather than read from the guard's own table.
IANA_SPECIAL_PURPOSE = [
    "0.1.2.3",
    "10.9.8.7",
    "100.100.0.1",
    "127.0.0.53",
    "169.254.1.1",
    "172.20.0.1",
    "192.0.0.9",  # marked globally reachable, refused all the same
    "192.0.0.170",
    "192.0.2.10",
    "192.31.196.1",
    "192.52.193.1",
    "192.88.99.1",
    "192.168.10.10",
    "192.175.48.1",
    "198.19.255.1",
    "198.51.100.7",
    "203.0.113.99",
    "240.1.2.3",
    "255.255.255.255",
    "::",
    "::1",
    "64:ff9b:1::1",
    "100::1",
    "100:0:0:1::1",
    "2001::1",  # Teredo
    "2001:1::1",
    "2001:2::1",
    "2001:3::1",
    "2001:4:112::1",
    "2001:20::1",
    "2001:30::1",
    "2001:db8:1::1",
    "2002:808:808::1",  # 6to4 of a public address: through a public relay
    "2620:4f:8000::1",
    "3fff::1",
    "5f00::1",
    "fc00::1",
    "fd12::1",
    "fe80::1:2",
    "fec0::1",
]


@pytest.mark.parametrize("address", IANA_SPECIAL_PURPOSE)
def test_guard_refuses_every_special_purpose_range(address):
    reason = RecipientGuard().blocked_reason(ipaddress.ip_address(address))

    assert reason is not None
    assert reason.startswith(("a ", "an ", "not "))


def test_ipv6_site_local_is_refused_by_name():
    reason = RecipientGuard().blocked_reason(ipaddress.ip_address("fec0::1"))

    assert reason == "a site-local address"
    with pytest.raises(RecipientBlocked, match=r"fec0::1 is a site-local address"):
        RecipientGuard().check_url("http://[fec0::1]/hook")


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8 (DNS64 on an IPv6-only host)
        ("64:ff9b::5db8:d822", None),  # NAT64 of 93.184.216.34
        ("64:ff9b::7f00:1", "a loopback address"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:1", "a private address"),  # NAT64 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "a link-local address"),  # NAT64 of the cloud metadata address
        ("::ffff:8.8.8.8", None),
    ],
)
def test_an_embedded_ipv4_address_is_judged_by_the_address_it_reaches(address, words):
    assert RecipientGuard().blocked_reason(ipaddress.ip_address(address)) == words


def test_an_allowed_ipv4_range_does_not_open_its_6to4_form():
    guard = RecipientGuard(parse_networks("10.0.0.0/8"))

    assert guard.blocked_reason(ipaddress.ip_address("10.0.0.1")) is None
    assert guard.blocked_reason(ipaddress.ip_address("::ffff:10.0.0.1")) is None
    assert guard.blocked_reason(ipaddress.ip_address("2002:a00:1::")) == "a private address"
    assert (
        RecipientGuard(parse_networks("2002::/16")).blocked_reason(
            ipaddress.ip_address("2002:a00:1::")
        )
        is None
    )

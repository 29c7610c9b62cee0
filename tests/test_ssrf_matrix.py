"""The SSRF matrix through the real sender: with WEBHOOKS_ALLOWED_NETWORKS empty, no internal
address is reached — not by Send Test Event (admin screen or API), not by a delivery the worker
sends — and what the admin or API client reads says why in words.

"Not reached" is proved twice. Tripwire listeners on 127.0.0.1 and ::1 (one port, both
families) count every connection they accept; an audit hook sees every ``socket.connect`` the
process makes, and refuses one to an address off this machine, so a broken guard can never send
a packet to a real internal network (or a cloud metadata service) while these tests run.

DNS is the one thing faked (``FakeDNS``): public-looking names resolve to what a test says;
``localhost``, ``127.1`` and the other spellings go to the real resolver. The meta-tests at the
end switch a defence off and check that the matrix then fails, so no case passes vacuously.
"""

import errno
import html
import ipaddress
import re
import socket
import sys
import threading
from collections import Counter
from dataclasses import dataclass

import aiohttp
import pytest
from werkzeug import Response

from tests.conftest import AuthActions, post_form
from tests.engine_helpers import FakeClock, api_token, bearer, deliveries_of, update_webhook, work
from webhooks import dispatch
from webhooks.catalogue import get_event
from webhooks.delivery import sender as sender_module
from webhooks.delivery.guard import RecipientGuard

pytestmark = pytest.mark.embedded_engine  # the worker path runs the embedded engine by hand

PATHS = ["admin-ui", "api", "worker"]
PUBLIC = "93.184.216.34"
FLASH_RE = re.compile(
    r'<div class="flash flash-(\w+)"[^>]*>\s*<strong>[^<]*</strong>(.*?)</div>', re.S
)


# ---------------------------------------------------------------- what the network sees


def _on_this_machine(host: str) -> bool:
    """An address a connection to which stays on this machine (where a tripwire listens)."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


class ConnectLog:
    """Every ``socket.connect`` of the process while recording, seen by an audit hook (which
    cannot be removed, so it stays installed and idle outside these tests)."""

    def __init__(self) -> None:
        self.recording = False
        self.seen: list[tuple] = []

    def audit(self, event: str, args: tuple) -> None:
        if event != "socket.connect" or not self.recording:
            return
        address = args[1]
        if not isinstance(address, tuple):
            return
        self.seen.append(address)
        if not _on_this_machine(str(address[0])):
            raise OSError(f"test network: no route to {address[0]} (the SSRF matrix is offline)")

    def ports(self) -> list[int]:
        return [address[1] for address in self.seen]


CONNECTS = ConnectLog()
sys.addaudithook(CONNECTS.audit)


class Tripwire:
    """A plain TCP listener that notes every connection it accepts and answers HTTP 200."""

    def __init__(self, host: str, port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_INET6:
            self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.hits: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"tripwire-{host}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.hits.append(f"connection from {peer[0]}")
            with conn:
                conn.settimeout(1)
                try:
                    head = b""
                    while b"\r\n\r\n" not in head and len(head) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                    if head:
                        self.hits.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nreached"
                    )
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


class Tripwires:
    """Tripwires on 127.0.0.1 and, if this machine has IPv6, ::1 — on the same port."""

    def __init__(self) -> None:
        for _ in range(20):
            self.v4 = Tripwire("127.0.0.1")
            try:
                self.v6: Tripwire | None = Tripwire("::1", self.v4.port)
                break
            except OSError as error:
                self.v6 = None
                if error.errno != errno.EADDRINUSE:
                    break  # no IPv6 loopback here: the audit hook still sees every connect
                self.v4.close()
        self.port = self.v4.port

    @property
    def all(self) -> list[Tripwire]:
        return [self.v4] + ([self.v6] if self.v6 else [])

    def hits(self) -> list[str]:
        return [hit for wire in self.all for hit in wire.hits]

    def reset(self) -> None:
        for wire in self.all:
            wire.hits.clear()

    def close(self) -> None:
        for wire in self.all:
            wire.close()


@pytest.fixture(scope="module")
def _tripwires():
    wires = Tripwires()
    yield wires
    wires.close()


@pytest.fixture(scope="module")
def _other():
    wire = Tripwire("127.0.0.1")
    yield wire
    wire.close()


@pytest.fixture
def tripwires(_tripwires):
    _tripwires.reset()
    return _tripwires


@pytest.fixture
def other(_other):
    """A second tripwire on 127.0.0.1: where a redirect points."""
    _other.hits.clear()
    return _other


@pytest.fixture
def connects():
    CONNECTS.seen.clear()
    CONNECTS.recording = True
    yield CONNECTS
    CONNECTS.recording = False
    CONNECTS.seen.clear()


class FakeDNS:
    """Scripted answers for some host names; each name's answers are given in turn (the last
    repeats). Every other name, and every IP address, goes to the real resolver."""

    def __init__(self, real) -> None:
        self.real = real
        self.answers: dict[str, list[list[str]]] = {}
        self.asked: Counter[str] = Counter()

    def answer(self, name: str, *answers: list[str]) -> None:
        self.answers[name] = list(answers)
        self.asked[name] = 0

    def clear(self) -> None:
        self.answers.clear()
        self.asked.clear()

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        name = host.lower().rstrip(".") if isinstance(host, str) else host
        if name not in self.answers:
            return self.real(host, port, family, type, proto, flags)
        turns = self.answers[name]
        addresses = turns[min(self.asked[name], len(turns) - 1)]
        self.asked[name] += 1
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port))
            for a in addresses
        ]


@pytest.fixture
def dns(monkeypatch):
    fake = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


# ---------------------------------------------------------------- the real sender, three ways


@dataclass(frozen=True)
class Outcome:
    """A send as a person reads it: whether it went through, and the words they are shown."""

    ok: bool
    words: str


class RealSender:
    """Sends to a URL the three ways the app does: Send Test Event on the admin screen, Send
    Test Event through the API, and an event's delivery run by the worker."""

    def __init__(self, app, make_webhook) -> None:
        self.app = app
        self.make_webhook = make_webhook
        self.admin = None
        self.api = app.test_client()
        self.token = api_token(app)

    def send(self, path: str, url: str) -> Outcome:
        webhook_id = self.make_webhook(url=url, event="payment_received")
        outcome = getattr(self, "_" + path.replace("-", "_"))(webhook_id)
        update_webhook(self.app, webhook_id, active=False)  # later events skip it
        return outcome

    def _admin_ui(self, webhook_id: int) -> Outcome:
        if self.admin is None:
            self.admin = self.app.test_client()
            assert AuthActions(self.admin).login().status_code == 302
        edit = f"/webhooks/{webhook_id}/edit"
        response = post_form(self.admin, f"/webhooks/{webhook_id}/test", {}, edit)
        assert response.status_code == 302
        page = self.admin.get(response.headers["Location"]).get_data(as_text=True)
        [(category, text)] = FLASH_RE.findall(page)
        return Outcome(category == "success", " ".join(html.unescape(text).split()))

    def _api(self, webhook_id: int) -> Outcome:
        response = self.api.post(f"/api/v1/webhooks/{webhook_id}/test", headers=bearer(self.token))
        assert response.status_code == 200
        body = response.get_json()
        assert body["ok"] is (body["error"] is None)
        return Outcome(body["ok"], body["summary"] if body["ok"] else body["error"])

    def _worker(self, webhook_id: int) -> Outcome:
        with self.app.app_context():
            dispatch("payment_received", get_event("payment_received").sample_data())
        sent = [result for result in work(self.app, FakeClock()) if result is not None]
        assert len(sent) == 1, sent
        [delivery] = deliveries_of(self.app, webhook_id)
        response = self.api.get(f"/api/v1/deliveries/{delivery['id']}", headers=bearer(self.token))
        [attempt] = response.get_json()["attempts"]
        assert attempt["succeeded"] is sent[0].ok
        assert (delivery["status"] == "succeeded") is attempt["succeeded"]
        return Outcome(attempt["succeeded"], attempt["summary"])


@pytest.fixture
def config(config):
    config["ALLOWED_NETWORKS"] = ""  # nothing local is allowed, unless a test says otherwise
    return config


@pytest.fixture
def allow_loopback(config):
    config["ALLOWED_NETWORKS"] = "127.0.0.0/8"
    return config


@pytest.fixture
def sender(app, make_webhook):
    return RealSender(app, make_webhook)


# ---------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Attack:
    id: str
    url: str  # {port} is the tripwires' port
    # What the result must say about the address (each part, when several: Python before 3.13
    # writes ::ffff:127.0.0.1 as ::ffff:7f00:1).
    shown: str | tuple[str, ...]
    # (name, answers): the fake DNS gives a name's answers in turn, the last one repeating
    dns: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = ()

    def url_for(self, port: int) -> str:
        return self.url.format(port=port)

    def script(self, fake: FakeDNS) -> None:
        fake.clear()
        for name, answers in self.dns:
            fake.answer(name, *(list(addresses) for addresses in answers))


LOOPBACK = "is a loopback address"
PRIVATE = "is a private address"
LINK_LOCAL = "is a link-local address"
# The real resolver's first answer for localhost (127.0.0.1, or ::1 on some machines).
LOCALHOST = socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)[0][4][0]


def resolves(name: str, *addresses: str) -> tuple:
    return ((name, (addresses,)),)


ATTACKS = [
    Attack("loopback", "http://127.0.0.1:{port}/hook", f"127.0.0.1 {LOOPBACK}"),
    Attack("short", "http://127.1:{port}/hook", f"127.1 resolves to 127.0.0.1, which {LOOPBACK}"),
    Attack("unspecified", "http://0.0.0.0:{port}/hook", "0.0.0.0 is an unspecified address"),
    Attack("decimal", "http://2130706433:{port}/hook", f"to 127.0.0.1, which {LOOPBACK}"),
    Attack("hex", "http://0x7f000001:{port}/hook", f"to 127.0.0.1, which {LOOPBACK}"),
    Attack("octal", "http://0177.0.0.1:{port}/hook", f"to 127.0.0.1, which {LOOPBACK}"),
    Attack("ipv6-loopback", "http://[::1]:{port}/hook", f"::1 {LOOPBACK}"),
    Attack("ipv4-mapped", "http://[::ffff:127.0.0.1]:{port}/hook", ("::ffff:127.0.0.1 ", LOOPBACK)),
    Attack("10/8-low", "http://10.0.0.5:{port}/hook", f"10.0.0.5 {PRIVATE}"),
    Attack("10/8-high", "http://10.255.255.254:{port}/hook", f"10.255.255.254 {PRIVATE}"),
    Attack("172.16/12-low", "http://172.16.0.1:{port}/hook", f"172.16.0.1 {PRIVATE}"),
    Attack("172.16/12-high", "http://172.31.255.254:{port}/hook", f"172.31.255.254 {PRIVATE}"),
    Attack("192.168/16-low", "http://192.168.0.1:{port}/hook", f"192.168.0.1 {PRIVATE}"),
    Attack("192.168/16-high", "http://192.168.255.254:{port}/hook", f"192.168.255.254 {PRIVATE}"),
    Attack("metadata", "http://169.254.169.254/latest/meta-data/", f"169.254.169.254 {LINK_LOCAL}"),
    Attack(
        "metadata-ipv4-mapped",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        ("::ffff:169.254.169.254 ", LINK_LOCAL),
    ),
    Attack("ipv6-ula", "http://[fd00::1]:{port}/hook", f"fd00::1 {PRIVATE}"),
    Attack("ipv6-link-local", "http://[fe80::1]:{port}/hook", f"fe80::1 {LINK_LOCAL}"),
    Attack("localhost", "http://localhost:{port}/hook", f"to {LOCALHOST}, which {LOOPBACK}"),
    Attack(
        "name-to-private",
        "http://hooks.example.com:{port}/hook",
        f"hooks.example.com resolves to 10.0.0.5, which {PRIVATE}",
        resolves("hooks.example.com", "10.0.0.5"),
    ),
    Attack(
        "name-to-public-and-loopback",
        "http://hooks.example.com:{port}/hook",
        f"hooks.example.com resolves to 127.0.0.1, which {LOOPBACK}",
        resolves("hooks.example.com", PUBLIC, "127.0.0.1"),
    ),
    Attack(
        "credentials-before-loopback",
        "http://hooks.example.com@127.0.0.1:{port}/hook",
        f"127.0.0.1 {LOOPBACK}",
        resolves("hooks.example.com", PUBLIC),
    ),
]

# DNS rebinding: a name that resolves to a public address when the guard checks it and to an
# internal one when the transport connects. The transport must check again, and stop.
REBINDS = [
    Attack(
        f"rebind-to-{internal}",
        "http://rebind.example.com:{port}/hook",
        f"rebind.example.com resolves to {internal}, which {kind}",
        (("rebind.example.com", ((PUBLIC,), (internal,))),),
    )
    for internal, kind in [
        ("127.0.0.1", LOOPBACK),
        ("::1", LOOPBACK),
        ("10.0.0.5", PRIVATE),
        ("169.254.169.254", LINK_LOCAL),
    ]
]


def assert_blocked_and_not_reached(
    outcome: Outcome, shown: str | tuple[str, ...], tripwires, connects
) -> None:
    """The send failed, says which address was blocked and why, and nothing was reached."""
    assert outcome.ok is False, outcome
    assert "blocked address: " in outcome.words, outcome
    for part in (shown,) if isinstance(shown, str) else shown:
        assert part in outcome.words, outcome
    assert "WEBHOOKS_ALLOWED_NETWORKS" in outcome.words, outcome
    assert tripwires.hits() == []
    assert connects.seen == []


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.id)
@pytest.mark.parametrize("path", PATHS)
def test_internal_address_is_blocked_and_never_reached(
    sender, tripwires, connects, dns, path, attack
):
    attack.script(dns)

    outcome = sender.send(path, attack.url_for(tripwires.port))

    assert_blocked_and_not_reached(outcome, attack.shown, tripwires, connects)


@pytest.mark.parametrize("attack", REBINDS, ids=lambda attack: attack.id)
@pytest.mark.parametrize("path", PATHS)
def test_dns_answer_that_changes_after_the_check_reaches_nothing(
    sender, tripwires, connects, dns, path, attack
):
    attack.script(dns)

    outcome = sender.send(path, attack.url_for(tripwires.port))

    assert dns.asked["rebind.example.com"] == 2  # the guard's check, then the transport's
    assert_blocked_and_not_reached(outcome, attack.shown, tripwires, connects)


def _redirect_to(receiver, other, status: int) -> str:
    target = f"http://127.0.0.1:{other.port}/"
    receiver.expect_request("/hook").respond_with_response(
        Response("moved", status=status, headers={"Location": target})
    )
    return target


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("path", PATHS)
def test_redirect_to_internal_address_is_not_followed(
    allow_loopback, sender, receiver, other, connects, dns, path, status
):
    # The redirecting server is allow-listed (and so is its target): only "redirects are never
    # followed" keeps the second request from being made.
    target = _redirect_to(receiver, other, status)
    dns.answer("hooks.example.com", ["127.0.0.1"])

    outcome = sender.send(path, f"http://hooks.example.com:{receiver.port}/hook")

    assert outcome.ok is False
    assert f"HTTP {status} " in outcome.words
    assert f"a redirect to {target} (redirects are not followed)" in outcome.words
    assert [request.path for request, _ in receiver.log] == ["/hook"]
    assert other.hits == []
    assert other.port not in connects.ports()


@pytest.mark.parametrize("path", PATHS)
def test_allowed_network_is_reached(allow_loopback, sender, tripwires, connects, path):
    outcome = sender.send(path, f"http://127.0.0.1:{tripwires.port}/hook")

    assert outcome.ok is True, outcome
    assert "HTTP 200 OK" in outcome.words
    assert tripwires.v4.hits == ["connection from 127.0.0.1", "POST /hook HTTP/1.1"]
    assert connects.seen == [("127.0.0.1", tripwires.port)]


# ---------------------------------------------------------------- meta: each case can fail


def _passes(*args) -> bool:
    """Whether ``assert_blocked_and_not_reached(*args)`` holds."""
    try:
        assert_blocked_and_not_reached(*args)
    except AssertionError:
        return False
    return True


# Addresses written in digits but not as four decimal parts (127.1, 2130706433, 0177.0.0.1).
OLD_SPELLINGS = {"short", "decimal", "octal"}


def test_meta_matrix_fails_when_the_guard_allows_everything(
    sender, tripwires, connects, dns, monkeypatch
):
    """With the guard's check switched off, every case of the matrix, on every path, fails."""
    monkeypatch.setattr(RecipientGuard, "blocked_reason", lambda self, ip: None)
    undetected = []
    for path in PATHS:
        for attack in ATTACKS + REBINDS:
            attack.script(dns)
            tripwires.reset()
            connects.seen.clear()

            outcome = sender.send(path, attack.url_for(tripwires.port))

            if _passes(outcome, attack.shown, tripwires, connects):
                undetected.append((path, attack.id))
            if attack.id in OLD_SPELLINGS:
                # A second defence, the HTTP client's own: it will not connect to an address
                # spelt the way only old resolvers read it.
                if outcome.ok or "not a canonical IPv4 address" not in outcome.words:
                    undetected.append((path, attack.id, "spelling not refused", outcome))
            elif not connects.seen:  # with the guard off, every other case connects somewhere
                undetected.append((path, attack.id, "no connection attempt"))

    assert undetected == [], undetected


def test_meta_rebinding_reaches_the_listener_without_the_connect_time_check(
    sender, tripwires, connects, dns, monkeypatch
):
    class UncheckedResolver(sender_module.GuardedResolver):
        async def resolve(self, host, port=0, family=socket.AF_INET):
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            return [
                {
                    "hostname": host,
                    "host": info[4][0],
                    "port": port,
                    "family": info[0],
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
                for info in infos
            ]

    def unchecked_socket(_guard):
        return lambda info: socket.socket(info[0], info[1], info[2])

    monkeypatch.setattr(sender_module, "GuardedResolver", UncheckedResolver)
    monkeypatch.setattr(sender_module, "guarded_socket", unchecked_socket)
    for path in PATHS:
        REBINDS[0].script(dns)
        tripwires.reset()

        outcome = sender.send(path, f"http://rebind.example.com:{tripwires.port}/hook")

        assert outcome.ok is True, (path, outcome)
        assert tripwires.v4.hits[-1] == "POST /hook HTTP/1.1"
        with pytest.raises(AssertionError):
            assert_blocked_and_not_reached(outcome, REBINDS[0].shown, tripwires, connects)


def test_meta_redirect_case_fails_if_redirects_were_followed(
    allow_loopback, sender, receiver, other, connects, dns, monkeypatch
):
    real_post = aiohttp.ClientSession.post

    def following(self, url, **kwargs):
        return real_post(self, url, **{**kwargs, "allow_redirects": True})

    monkeypatch.setattr(aiohttp.ClientSession, "post", following)
    _redirect_to(receiver, other, 307)
    dns.answer("hooks.example.com", ["127.0.0.1"])

    outcome = sender.send("api", f"http://hooks.example.com:{receiver.port}/hook")

    assert outcome.ok is True
    assert other.hits[-1] == "POST / HTTP/1.1"
    assert other.port in connects.ports()

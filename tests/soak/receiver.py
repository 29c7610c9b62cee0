"""A webhook receiver that misbehaves on purpose, for the chaos soak.

Each request gets an answer drawn from a seeded random sequence: 200, 500, a stall past the
delivery timeout (the connection is held silently, then closed), or a connection closed
without an answer. From time to time the whole receiver goes down as a crashed process
would: the listening socket is closed (new connections are refused) and every open
connection is cut; it comes back on the same port. Every request is noted with its
``webhook-id``, its body, what it was answered and whether its signature verified.
"""

import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

OK, ERROR, STALL, CLOSED = "200", "500", "stall", "closed"
# Ports below Linux's ephemeral range (32768+), so that while a receiver is down no outgoing
# connection of this machine takes its port and it can always come back on it.
PORTS = range(20000, 32000)


@dataclass
class Received:
    msg_id: str | None
    body: bytes
    answer: str
    signed: bool
    at: float
    cut: bool = False  # the answer could not be written in full: the connection was cut


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, receiver: "ChaosReceiver") -> None:
        self.receiver = receiver
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:
        """A connection that breaks while its request is read (the receiver going down, or
        the sender's deadline cutting it) is part of the chaos, not an error of the test."""
        self.receiver._broken()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.receiver._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.receiver._closed(self.connection)

    def do_POST(self) -> None:
        self.server.receiver._answer(self)

    def log_message(self, format, *args) -> None:
        pass


class ChaosReceiver:
    """One webhook's receiver on 127.0.0.1; ``mix`` maps each answer to its probability."""

    def __init__(self, seed: int, mix: dict[str, float], stall: float) -> None:
        self._verifier: StandardWebhook | None = None
        self._random = random.Random(seed)
        self._answers, self._weights = list(mix), list(mix.values())
        self.stall = stall
        self.received: list[Received] = []
        self.broken_reads = 0
        self.outages: list[float] = []  # how long each lasted
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._in_flight: Counter[int] = Counter()  # requests being answered, by client port
        self._down = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = self._listen_on_a_free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def expect_secret(self, secret: str) -> None:
        """The webhook's signing secret, known once the webhook is made with ``url``."""
        self._verifier = StandardWebhook(secret)

    # -- up and down ---------------------------------------------------------------------------
    def _listen_on_a_free_port(self) -> int:
        for port in random.sample(PORTS, 50):
            try:
                self._serve(port)
            except OSError:
                continue
            return port
        raise RuntimeError("no free port for a receiver")

    def _serve(self, port: int) -> None:
        self._server = _Server(("127.0.0.1", port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=f"receiver-{port}", daemon=True
        )
        self._thread.start()

    def go_down(self) -> None:
        """Refuse new connections and cut the open ones, as a crashed process would."""
        with self._lock:
            self._down.set()
            connections = list(self._connections)
        self._server.shutdown()
        self._server.server_close()
        for connection in connections:
            _cut(connection)

    def come_back(self, within: float = 10.0) -> None:
        """Listen again on the same port (retried briefly should the port still be held)."""
        deadline = time.monotonic() + within
        self._down.clear()
        while True:
            try:
                self._serve(self.port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if not self._down.is_set():
            self.go_down()

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            if self._down.is_set():  # accepted in the moment the receiver went down
                _cut(connection)
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _broken(self) -> None:
        with self._lock:
            self.broken_reads += 1

    # -- answering -----------------------------------------------------------------------------
    def _answer(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        body = handler.rfile.read(length)
        if len(body) < length:  # cut before the whole request arrived
            self._broken()
            handler.close_connection = True
            return
        headers = {name.lower(): value for name, value in handler.headers.items()}
        port = handler.client_address[1]
        try:
            self._verifier.verify(body, headers)
            signed = True
        except WebhookVerificationError:
            signed = False
        with self._lock:
            answer = self._random.choices(self._answers, self._weights)[0]
            # Noted before the answer is written, so a sender can never learn of a success
            # the receiver has not noted yet.
            seen = Received(headers.get("webhook-id"), body, answer, signed, time.monotonic())
            self.received.append(seen)
            self._in_flight[port] += 1
        try:
            if answer in (OK, ERROR):
                text = b"ok" if answer == OK else b"receiver failure"
                handler.send_response(int(answer))
                handler.send_header("Content-Type", "text/plain")
                handler.send_header("Content-Length", str(len(text)))
                handler.end_headers()
                handler.wfile.write(text)
                handler.wfile.flush()
            else:
                if answer == STALL:
                    self._down.wait(self.stall)
                handler.close_connection = True
                _cut(handler.connection)
        except OSError:
            seen.cut = True
            handler.close_connection = True
        finally:
            with self._lock:
                self._in_flight[port] -= 1
                if not self._in_flight[port]:
                    del self._in_flight[port]

    # -- what it saw ---------------------------------------------------------------------------
    def ports_in_flight(self) -> set[int]:
        """The client ports of the requests being answered at this moment."""
        with self._lock:
            return set(self._in_flight)

    def tally(self) -> Counter[str]:
        """Requests by answer; one whose 200 or 500 could not be written in full (the receiver
        went down meanwhile, or the sender gave up waiting) is counted apart."""
        with self._lock:
            return Counter(
                f"{seen.answer}, cut off while answering" if seen.cut else seen.answer
                for seen in self.received
            )


def _cut(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def run_outages(
    receivers: list[ChaosReceiver],
    seed: int,
    up: tuple[float, float],
    down: tuple[float, float],
    stop: threading.Event,
) -> list[threading.Thread]:
    """Take each receiver down now and then (up for ``up`` seconds, then down for ``down``,
    both drawn at random) until ``stop`` is set; a receiver down at that moment comes back."""

    def cycle(receiver: ChaosReceiver, rng: random.Random) -> None:
        while not stop.wait(rng.uniform(*up)):
            started = time.monotonic()
            receiver.go_down()
            stop.wait(rng.uniform(*down))
            receiver.come_back()
            receiver.outages.append(time.monotonic() - started)

    threads = [
        threading.Thread(
            target=cycle, args=(receiver, random.Random(seed + n)), name="outages", daemon=True
        )
        for n, receiver in enumerate(receivers)
    ]
    for thread in threads:
        thread.start()
    return threads

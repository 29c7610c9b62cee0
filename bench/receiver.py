"""A fast local webhook receiver for the benchmarks: answers 200 and notes when each event
arrived and which `webhook-id`s it saw.

GET / returns {"count": n, "arrivals": {seq: unix time}}; GET /count returns {"count": n,
"ids": distinct webhook-ids, "repeats": requests whose webhook-id was seen before} (cheap enough
to poll); GET /ids returns {"ids": {webhook-id: times seen}}; POST /reset clears everything.
"""

import json
import socket
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

arrivals: dict[str, float] = {}
ids: Counter[str] = Counter()
lock = threading.Lock()
count = 0
repeats = 0


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        global count, repeats
        now = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/reset":
            with lock:
                arrivals.clear()
                ids.clear()
                count = repeats = 0
            return self._answer(b"{}")
        seq = None
        try:
            payload = json.loads(body)
            seq = (payload.get("data") or payload).get("seq")
        except ValueError:
            pass
        webhook_id = self.headers.get("webhook-id")
        with lock:
            count += 1
            if seq is not None:
                arrivals.setdefault(str(seq), now)
            if webhook_id is not None:
                repeats += webhook_id in ids
                ids[webhook_id] += 1
        self._answer(b"ok")

    def do_GET(self):
        with lock:
            if self.path == "/count":
                answer = {"count": count, "ids": len(ids), "repeats": repeats}
            elif self.path == "/ids":
                answer = {"ids": dict(ids)}
            else:
                answer = {"count": count, "arrivals": arrivals}
            body = json.dumps(answer).encode()
        self._answer(body)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    # A worker opens dozens of connections at once; the default listen backlog (5) resets some.
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    server.daemon_threads = True
    server.serve_forever()

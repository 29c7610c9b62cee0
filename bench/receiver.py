"""A fast local webhook receiver for the benchmarks: answers 200 and notes when each event
arrived. GET /stats returns {"count": n, "arrivals": {seq: unix time}}; POST /reset clears."""

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

arrivals: dict[str, float] = {}
lock = threading.Lock()
count = 0


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
        global count
        now = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/reset":
            with lock:
                arrivals.clear()
                count = 0
            return self._answer(b"{}")
        seq = None
        try:
            payload = json.loads(body)
            seq = (payload.get("data") or payload).get("seq")
        except ValueError:
            pass
        with lock:
            count += 1
            if seq is not None:
                arrivals.setdefault(str(seq), now)
        self._answer(b"ok")

    def do_GET(self):
        with lock:
            body = json.dumps({"count": count, "arrivals": arrivals}).encode()
        self._answer(body)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    server.daemon_threads = True
    server.serve_forever()

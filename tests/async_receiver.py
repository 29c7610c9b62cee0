"""A receiver on 127.0.0.1 that holds thousands of requests at once, for the engine's isolation
tests and the soak: aiohttp's server on an event loop of its own, in a thread.

Each path answers as it is told (at once, after a delay, or never), and the receiver notes per
path every request's ``webhook-id`` and arrival time, and the most requests it held at once.
"""

import asyncio
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Behaviour:
    status: int = 200
    delay: float = 0.0
    hang: bool = False  # accept the request and never answer (until released)


@dataclass
class Seen:
    ids: list[str] = field(default_factory=list)
    bodies: dict[str, set[bytes]] = field(default_factory=dict)  # by webhook-id
    arrivals: list[float] = field(default_factory=list)  # time.monotonic()
    in_flight: int = 0
    most_in_flight: int = 0


class AsyncReceiver:
    def __init__(self) -> None:
        self.behaviours: dict[str, Behaviour] = {}
        self.seen: dict[str, Seen] = defaultdict(Seen)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._released: asyncio.Event | None = None
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(started,), name="async-receiver", daemon=True
        )
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the receiver did not start")

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=4096)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._released = asyncio.Event()
        started.set()
        self._loop.run_forever()

    async def _handle(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body = await request.read()
        behaviour = self.behaviours.get(path, Behaviour())
        webhook_id = request.headers.get("webhook-id", "")
        with self._lock:
            seen = self.seen[path]
            seen.ids.append(webhook_id)
            seen.bodies.setdefault(webhook_id, set()).add(body)
            seen.arrivals.append(time.monotonic())
            seen.in_flight += 1
            seen.most_in_flight = max(seen.most_in_flight, seen.in_flight)
        try:
            if behaviour.hang:
                await self._released.wait()
            elif behaviour.delay:
                await asyncio.sleep(behaviour.delay)
            return web.Response(text="ok", status=behaviour.status)
        finally:
            with self._lock:
                seen.in_flight -= 1

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def behave(self, path: str, **behaviour) -> str:
        """Make ``path`` answer so; returns its URL."""
        self.behaviours[path] = Behaviour(**behaviour)
        return self.url(path)

    def count(self, path: str) -> int:
        with self._lock:
            return len(self.seen[path].ids)

    def ids(self, path: str) -> list[str]:
        with self._lock:
            return list(self.seen[path].ids)

    def arrivals(self, path: str) -> list[float]:
        with self._lock:
            return list(self.seen[path].arrivals)

    def in_flight(self, path: str) -> int:
        with self._lock:
            return self.seen[path].in_flight

    def bodies(self, path: str) -> dict[str, set[bytes]]:
        with self._lock:
            return {key: set(value) for key, value in self.seen[path].bodies.items()}

    def most_in_flight(self, path: str) -> int:
        with self._lock:
            return self.seen[path].most_in_flight

    def release(self) -> None:
        """Let every hung request answer."""
        self._loop.call_soon_threadsafe(self._released.set)

    def stop(self) -> None:
        self.release()
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

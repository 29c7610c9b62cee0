"""A local webhook receiver for the engine benchmarks that holds thousands of requests at once
(aiohttp's server, one process, one event loop).

    python bench/async_receiver.py PORT [--delay 0.5]

POST /fast/…  answers 200 at once
POST /slow/…  answers 200 after --delay seconds
POST /hang/…  accepts the request and never answers, until POST /release or the client hangs up

GET /count    {"count", "ids" (distinct webhook-ids), "repeats", "in_flight", "hung", "most_in_flight"}
GET /arrivals {"arrivals": {seq: unix time}} of the requests whose payload carries data.seq
POST /release answers the hung requests
POST /reset   forgets everything (and releases the hung requests)
"""

import asyncio
import json
import sys
import time
from collections import Counter

from aiohttp import web

DELAY = 0.5


class State:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.ids: Counter[str] = Counter()
        self.count = 0
        self.repeats = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.hung = 0
        self.arrivals: dict[str, float] = {}
        self.release = asyncio.Event()


state = State()


async def receive(request: web.Request) -> web.Response:
    now = time.time()
    body = await request.read()
    webhook_id = request.headers.get("webhook-id", "")
    state.count += 1
    state.repeats += state.ids[webhook_id] > 0
    state.ids[webhook_id] += 1
    try:
        payload = json.loads(body)
        seq = (payload.get("data") or payload).get("seq")
    except (ValueError, AttributeError):
        seq = None
    if seq is not None:
        state.arrivals[str(seq)] = now
    kind = request.match_info["kind"]
    state.in_flight += 1
    state.most_in_flight = max(state.most_in_flight, state.in_flight)
    release = state.release
    try:
        if kind == "hang":
            state.hung += 1
            try:
                await release.wait()
            finally:
                state.hung -= 1
        elif kind == "slow":
            await asyncio.sleep(DELAY)
        return web.Response(text="ok")
    finally:
        state.in_flight -= 1


async def count(_request: web.Request) -> web.Response:
    return web.json_response(
        {
            "count": state.count,
            "ids": len(state.ids),
            "repeats": state.repeats,
            "in_flight": state.in_flight,
            "hung": state.hung,
            "most_in_flight": state.most_in_flight,
        }
    )


async def arrivals(_request: web.Request) -> web.Response:
    return web.json_response({"arrivals": state.arrivals})


async def release(_request: web.Request) -> web.Response:
    state.release.set()
    state.release = asyncio.Event()
    return web.json_response({})


async def reset(_request: web.Request) -> web.Response:
    state.release.set()
    state.reset()
    return web.json_response({})


def main() -> None:
    global DELAY
    port = int(sys.argv[1])
    if "--delay" in sys.argv:
        DELAY = float(sys.argv[sys.argv.index("--delay") + 1])
    app = web.Application()
    app.router.add_get("/count", count)
    app.router.add_get("/arrivals", arrivals)
    app.router.add_post("/release", release)
    app.router.add_post("/reset", reset)
    app.router.add_post("/{kind:fast|slow|hang}/{rest:.*}", receive)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, backlog=4096)


if __name__ == "__main__":
    main()

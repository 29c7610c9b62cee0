"""Slow clients against a TLS front, run as a process of their own so that their event loop
never competes with the measuring test for its interpreter (as attackers on other machines
would not): ``python -m tests.slow_clients PORT CAFILE HOST COUNT``.

Each of COUNT connections sends a request header one byte a second; one more sends nothing
after its TLS handshake. One line is written to stdout for each thing that happens:
``connected``, ``failed <why>``, ``held <seconds>`` (a slow client the server dropped, and how
long it had been held) and ``silent <seconds>`` (when the server closed the silent one).
SIGTERM stops the clients still open without reporting them."""

import asyncio
import contextlib
import signal
import ssl
import sys
import time

HANDSHAKES_AT_ONCE = 50


def say(*words: object) -> None:
    print(*words, flush=True)


async def silent(port: int, context: ssl.SSLContext) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    except OSError as error:
        say("failed", repr(error))
        return
    started = time.monotonic()
    try:
        await reader.read(1024)  # the end: the server closes it
    except OSError:
        pass
    say("silent", time.monotonic() - started)
    writer.close()


async def slow(
    port: int, host: str, context: ssl.SSLContext, gate: asyncio.Semaphore, stopping: asyncio.Event
) -> None:
    try:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
            writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Slow: ".encode())
            await writer.drain()
    except OSError as error:
        say("failed", repr(error))
        return
    say("connected")
    started = time.monotonic()
    try:
        while not stopping.is_set():
            try:
                data = await asyncio.wait_for(reader.read(1024), timeout=1.0)
            except TimeoutError:
                writer.write(b"x")  # one more header byte, a second later
                continue
            if data:
                say("failed", f"answered before the header ended: {data[:60]!r}")
            break
    except OSError:
        pass  # reset by the server
    if not stopping.is_set():
        say("held", time.monotonic() - started)
    writer.close()


async def main(port: int, cafile: str, host: str, count: int) -> None:
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    context = ssl.create_default_context(cafile=cafile)
    gate = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
    clients = [slow(port, host, context, gate, stopping) for _ in range(count)]
    everything = asyncio.gather(silent(port, context), *clients)
    stop = asyncio.create_task(stopping.wait())
    await asyncio.wait([everything, stop], return_when=asyncio.FIRST_COMPLETED)
    if not everything.done():
        # The slow clients see the event within their second; the silent one is ended here.
        await asyncio.wait([everything], timeout=3)
        everything.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await everything


if __name__ == "__main__":
    port, cafile, host, count = sys.argv[1:5]
    asyncio.run(main(int(port), cafile, host, int(count)))

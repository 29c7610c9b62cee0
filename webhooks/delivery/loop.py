"""The process's event loop for sending: one thread runs it, and every attempt the process
makes — its worker's and Send Test Event's — is a task on it, so thousands can wait on their
receivers at once without a thread each."""

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class SenderLoop:
    _lock = threading.Lock()
    _current: "SenderLoop | None" = None

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="webhooks-sender", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @classmethod
    def of_this_process(cls) -> "SenderLoop":
        """The running loop of this process, started on first use (and again in a forked
        child, which inherits the parent's object but not its thread)."""
        with cls._lock:
            current = cls._current
            if current is None or current.pid != os.getpid() or not current.thread.is_alive():
                cls._current = current = cls()
            return current

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result (from another thread)."""
        return self.submit(coroutine).result()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        """Run ``coroutine`` on the loop without waiting for it (from another thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def call(self, function: Callable[..., object], *args: object) -> None:
        """Call ``function(*args)`` in the loop's thread, soon."""
        self.loop.call_soon_threadsafe(function, *args)

"""Test sends that run after the request that starts them has answered.

The attempt is a task on the process's sender loop (``webhooks.delivery.loop``), the loop every
attempt of this process already runs on: a receiver that hangs holds one task until the delivery
timeout, never a thread of the web server. Its result is written by a small pool of threads
(recording is database work, which must not run on the loop), and the page reads it from the
database, so any web server process can answer the page's polls.

Test sends do not go through the engine: the engine's claims apply the webhook's limits and its
circuit breaker (a receiver counted down would see its test parked until the next probe), and a
test must answer even while no worker runs, since checking the receiver is what it is for.
"""

import asyncio
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from webhooks import lifecycle
from webhooks.delivery.loop import SenderLoop
from webhooks.delivery.pipeline import Deliverer
from webhooks.delivery.result import SendResult
from webhooks.extensions import db

log = logging.getLogger(__name__)

RECORDING_THREADS = 2

_lock = threading.Lock()
_recorder: tuple[int, ThreadPoolExecutor] | None = None


def _recording_pool() -> ThreadPoolExecutor:
    """This process's recording threads, started on first use (again in a forked child)."""
    global _recorder
    with _lock:
        if _recorder is None or _recorder[0] != os.getpid():
            pool = ThreadPoolExecutor(RECORDING_THREADS, thread_name_prefix="webhooks-test-record")
            _recorder = (os.getpid(), pool)
        return _recorder[1]


def start(app: Flask, deliverer: Deliverer, test: lifecycle.TestSend) -> Future[SendResult]:
    """Send ``test`` (begun by ``lifecycle.begin_test_send``) and record its result, without
    waiting; the future ends once the result is recorded."""
    recorder = _recording_pool()

    async def send() -> SendResult:
        result = await deliverer.attempt(test.prepared)
        await asyncio.get_running_loop().run_in_executor(recorder, _record, app, test, result)
        return result

    return SenderLoop.of_this_process().submit(send())


def _record(app: Flask, test: lifecycle.TestSend, result: SendResult) -> None:
    with app.app_context():
        try:
            lifecycle.record_test_send(test, result)
        except SQLAlchemyError:
            # The page then says no result arrived; the send itself is over.
            log.exception("the result of test send %d could not be recorded", test.delivery_id)
            db.session.rollback()

"""A delivery worker that dies (SIGKILL) in the middle of its first expansion that writes
deliveries: after the INSERT of the deliveries and the UPDATE of the events, before the commit.
tests/test_fanout.py starts it as a process of its own, with a deployment's environment."""

import os
import signal

from webhooks import create_app, lifecycle
from webhooks.worker.dispatcher import run_until_signalled

real_expand = lifecycle.expand_events


def expand_then_die(session, now):
    expansion = real_expand(session, now)
    if expansion.deliveries:
        print(f"dying mid-expansion, {expansion.deliveries} deliveries written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    return expansion


lifecycle.expand_events = expand_then_die
run_until_signalled(create_app(), concurrency=2)

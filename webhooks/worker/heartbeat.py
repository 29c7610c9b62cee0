"""Delivery workers check in: each dispatcher keeps a row of its own in ``workers`` up to date
while it runs and removes it when it stops, so /healthz can tell whether any worker is alive,
in this process or on another machine, with either engine."""

import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from webhooks.models import WorkerProcess

EVERY = timedelta(seconds=5)
# A worker that has not checked in for this long is taken for dead.
ALIVE_WITHIN = 3 * EVERY
# Rows of workers that died without removing their own are removed after this long.
FORGET_AFTER = timedelta(days=1)

_W = WorkerProcess.__table__


def check_in(session: Session, engine: str, now: datetime) -> int:
    """A row for this worker process; its id. Commits."""
    worker_id = session.connection().scalar(
        insert(_W)
        .values(
            name=f"{socket.gethostname()}:{os.getpid()}", engine=engine, started_at=now, seen_at=now
        )
        .returning(_W.c.id)
    )
    session.execute(delete(_W).where(_W.c.seen_at < now - FORGET_AFTER))
    session.commit()
    return worker_id


def still_here(session: Session, worker_id: int, now: datetime) -> None:
    """This worker is alive. Commits."""
    session.execute(update(_W).where(_W.c.id == worker_id).values(seen_at=now))
    session.commit()


def check_out(session: Session, worker_id: int) -> None:
    session.execute(delete(_W).where(_W.c.id == worker_id))
    session.commit()


def alive(session: Session, now: datetime) -> int:
    """How many workers have checked in lately."""
    return session.scalar(
        select(func.count()).select_from(_W).where(_W.c.seen_at >= now - ALIVE_WITHIN)
    )

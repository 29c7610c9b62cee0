"""Telling the delivery engine about new work, after the commit that makes it visible.

A transition that makes deliveries due notes it on the session (``note_new_work``); when that
session commits, one hook tells the app's engine (``Engine.notify``). A rollback drops the
note. So no caller has to remember to notify, and none can notify before its commit, when a
worker would look and find nothing.
"""

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

ENGINE_KEY = "webhooks.engine"
_NOTE = "webhooks.new_work"


def note_new_work(session: Session) -> None:
    """Deliveries became due in ``session``'s transaction: tell the engine once it commits."""
    session.info[_NOTE] = True


@event.listens_for(Session, "after_commit")
def _tell_the_engine(session: Session) -> None:
    if session.info.pop(_NOTE, False) and has_app_context():
        current_app.extensions[ENGINE_KEY].notify()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_NOTE, None)

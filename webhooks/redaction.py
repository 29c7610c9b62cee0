"""What may be written to a log about a failure: its kind, never the values it was about.

A database error's message can carry the row it failed on (PostgreSQL's "Failing row
contains (...)" holds an event's payload); SQLAlchemy's engines are made with
``hide_parameters`` so their own messages leave the parameters out, and the service logs a
failure by this description alone.
"""

from sqlalchemy.exc import DBAPIError


def error_kind(error: BaseException) -> str:
    """``OperationalError (psycopg OperationalError, SQLSTATE 08003)``: the classes and the
    database's error code, without the message."""
    kind = error.__class__.__name__
    if isinstance(error, DBAPIError) and error.orig is not None:
        orig = error.orig
        detail = f"{orig.__class__.__module__.split('.', 1)[0]} {orig.__class__.__name__}"
        if sqlstate := getattr(orig, "sqlstate", None):
            detail += f", SQLSTATE {sqlstate}"
        elif name := getattr(orig, "sqlite_errorname", None):
            detail += f", {name}"
        kind += f" ({detail})"
    return kind

"""Checking a reported event's ``data`` against its event type's JSON Schema (the catalogue's,
``webhooks.catalogue.schema``), and each event type's mode: "off" (not checked), "warn" (stored
with the problems found) or "reject" (refused, nothing stored). An event type without a mode of
its own follows the SCHEMA_ENFORCEMENT setting. ``webhooks.outbox`` applies the mode where
events are stored; see docs/schema-checks.md.

Each schema is compiled once per process, on first use.
"""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema_rs
from flask import current_app
from sqlalchemy import Connection, bindparam, select

from webhooks.catalogue import all_events, get_event
from webhooks.catalogue.schema import data_schema
from webhooks.extensions import db
from webhooks.models import EventTypeSetting

OFF, WARN, REJECT = "off", "warn", "reject"
MODES = (OFF, WARN, REJECT)
SETTING = "SCHEMA_ENFORCEMENT"
# An event keeps at most this many problems, each message cut to MAX_MESSAGE characters (a
# message quotes the value at fault, which may be long).
MAX_PROBLEMS = 20
MAX_MESSAGE = 200
MAX_PATH = 500
ROOT = "data"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Problem:
    """Where ``data`` does not match (a JSON path such as ``data.customer.email``) and why."""

    path: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


def json_path(segments: Iterable[str | int]) -> str:
    """``data.customer.email``, ``data.items[0]``, ``data["odd key"]``."""
    path = ROOT
    for segment in segments:
        if isinstance(segment, int):
            path += f"[{segment}]"
        elif _NAME.match(segment):
            path += f".{segment}"
        else:
            path += f"[{json.dumps(segment, ensure_ascii=False)}]"
    return path if len(path) <= MAX_PATH else path[: MAX_PATH - 1] + "…"


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


@cache
def _validator(event_type: str):
    """The compiled schema of an event type (the catalogue does not change while it runs)."""
    return jsonschema_rs.validator_for(data_schema(get_event(event_type)))


def find_problems(event_type: str, data: Any) -> tuple[Problem, ...]:
    """Where ``data`` does not match the schema of ``event_type`` (a catalogue slug)."""
    return problems_of(_validator(event_type), data)


def problems_of(validator, data: Any) -> tuple[Problem, ...]:
    """Where ``data`` does not match the compiled schema, at most MAX_PROBLEMS; a missing
    required member is named by its own path.

    The errors are read from the validator's evaluation output (JSON pointers and messages),
    not as exception objects, each of which would carry a copy of the value at fault: for a
    missing member, the whole of ``data``."""
    if validator.is_valid(data):
        return ()
    found = []
    for error in validator.evaluate(data).errors()[:MAX_PROBLEMS]:
        segments = _segments(error["instanceLocation"], data)
        message = error["error"]
        if error["schemaLocation"].endswith("/required"):
            missing = _REQUIRED.match(message)
            if missing:
                segments.append(json.loads(missing.group(1)))
        found.append(Problem(json_path(segments), _shorten(message)))
    return tuple(found)


# The message of a missing required member: its name as a JSON string, then these words.
_REQUIRED = re.compile(r'("(?:[^"\\]|\\.)*") is a required property\Z', re.S)


def _segments(pointer: str, data: Any) -> list[str | int]:
    """A JSON pointer into ``data`` as member names and array indexes."""
    segments: list[str | int] = []
    value = data
    for raw in pointer.split("/")[1:]:
        segment = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, list) and segment.isdigit():
            segments.append(int(segment))
            value = value[int(segment)] if int(segment) < len(value) else None
        else:
            segments.append(segment)
            value = value.get(segment) if isinstance(value, dict) else None
    return segments


# ---------------------------------------------------------------- modes


_MODES_OF = select(EventTypeSetting.slug, EventTypeSetting.schema_mode).where(
    EventTypeSetting.slug.in_(bindparam("slugs", expanding=True))
)


def modes(connection: Connection, event_types: Iterable[str]) -> dict[str, str]:
    """The mode of each event type, read in the connection's transaction: its own, else the
    setting's."""
    event_types = sorted(set(event_types))
    default = current_app.config[SETTING]
    own = dict(connection.execute(_MODES_OF, {"slugs": event_types}).all()) if event_types else {}
    return {slug: own.get(slug, default) for slug in event_types}


def schema_modes() -> dict[str, str]:
    """The mode of every event type of the catalogue, for its page and the API."""
    default = current_app.config[SETTING]
    own = dict(
        db.session.execute(select(EventTypeSetting.slug, EventTypeSetting.schema_mode)).all()
    )
    return {event.slug: own.get(event.slug, default) for event in all_events()}


def schema_mode(event_type: str) -> str:
    setting = db.session.get(EventTypeSetting, event_type)
    return setting.schema_mode if setting else current_app.config[SETTING]


def set_schema_mode(event_type: str, mode: str) -> None:
    """Give an event type (of the catalogue) its own mode; the caller commits."""
    if mode not in MODES:
        raise ValueError(f"not a schema mode: {mode!r}")
    setting = db.session.get(EventTypeSetting, event_type)
    if setting is None:
        db.session.add(EventTypeSetting(slug=event_type, schema_mode=mode))
    else:
        setting.schema_mode = mode

"""JSON Schemas of the catalogue's events, derived from their sample payloads.

An integration (Zapier's field mapping, a client's validator) learns from the schema which
fields an event's ``data`` carries and their JSON types; the sample is the single source, so
the schema cannot drift from what a test event sends.
"""

from collections.abc import Mapping
from typing import Any

from webhooks.catalogue.events import EventType

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_type(value: Any) -> str:
    """The JSON Schema type of a Python value as ``json`` encodes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: a bool is an int to Python, not to JSON
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def data_schema(event: EventType) -> dict[str, Any]:
    """A draft 2020-12 schema of the event's ``data`` object: every field of the sample has the
    sample value's type and is required, except the event's optional ones (the billing fields,
    sent only when filled in); other fields are allowed, since a platform may send more than
    the catalogue lists."""
    sample = event.sample_data()
    return {
        "$schema": DIALECT,
        "title": event.name,
        "description": event.description,
        "type": "object",
        "properties": {name: {"type": json_type(value)} for name, value in sample.items()},
        "required": [name for name in sample if name not in event.optional],
        "additionalProperties": True,
    }

"""Reading what an API client sent: a JSON object body, a WTForms form filled from JSON (the
admin site's rules, applied to the API), and query parameters. Each problem raises
``ApiInputError``, which the API answers with its one error shape."""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import request
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, Form

from webhooks import custom_headers
from webhooks.api.errors import api_error
from webhooks.routing import MAX_ID


class ApiInputError(Exception):
    """A request the API refuses; ``response`` is its error answer."""

    def __init__(
        self, status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields

    @property
    def response(self):
        return api_error(self.status, self.code, self.message, fields=self.fields)


def invalid(fields: dict[str, list[str]], message: str = "") -> ApiInputError:
    """A 422 naming the fields at fault."""
    return ApiInputError(
        422,
        "validation_failed",
        message or "Some fields are not valid: " + ", ".join(sorted(fields)) + ".",
        fields,
    )


def json_object() -> dict[str, Any]:
    """The request body, which must be a JSON object."""
    if not request.is_json:
        raise ApiInputError(
            415,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.",
        )
    try:
        payload = json.loads(request.get_data())
    except (ValueError, RecursionError) as error:
        raise ApiInputError(400, "invalid_json", f"The body is not valid JSON: {error}") from error
    if not isinstance(payload, dict):
        raise ApiInputError(422, "validation_failed", "The body must be a JSON object.")
    return payload


def form_from_json(
    form_class: type[Form],
    payload: Mapping[str, Any],
    *,
    fields: Mapping[str, type | tuple[type, ...]],
    current: Mapping[str, Any] | None = None,
) -> Form:
    """``form_class`` filled with ``payload`` as if its fields had been posted, and validated.

    ``fields`` names the JSON members the endpoint accepts and their JSON types (``str``,
    ``bool``, ``int``); ``current`` holds the values of members left out (a partial update).
    Raises a 422 for an unknown member, a wrong type, or whatever the form's own rules refuse.
    """
    problems: dict[str, list[str]] = {}
    for name in payload:
        if name not in fields:
            problems[name] = [f"Unknown field; this endpoint takes {_listing(fields)}."]
    values = dict(current or {})
    for name, value in payload.items():
        if name not in fields:
            continue
        wanted = fields[name]
        if not _is(value, wanted):
            problems[name] = [f"Must be {_type_name(wanted)}."]
        else:
            values[name] = value
    form = form_class(formdata=_formdata(form_class, values), meta={"csrf": False})
    if not form.validate():
        for name, errors in form.errors.items():
            problems.setdefault(name, list(errors))
    if problems:
        raise invalid(problems)
    return form


def _is(value: Any, wanted: type | tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # a bool is an int to Python, not to JSON
        return bool in (wanted if isinstance(wanted, tuple) else (wanted,))
    return isinstance(value, wanted)


def _type_name(wanted: type | tuple[type, ...]) -> str:
    names = {str: "a string", bool: "true or false", int: "an integer", type(None): "null"}
    kinds = wanted if isinstance(wanted, tuple) else (wanted,)
    return " or ".join(names.get(kind, kind.__name__) for kind in kinds)


def _listing(fields: Mapping[str, Any]) -> str:
    return ", ".join(f"`{name}`" for name in fields)


def _formdata(form_class: type[Form], values: Mapping[str, Any]) -> MultiDict:
    """JSON values as a browser would post them: a checkbox is sent only when ticked."""
    unbound = {name: field for name, field in vars(form_class).items() if hasattr(field, "bind")}
    data = MultiDict()
    for name, value in values.items():
        field = unbound.get(name)
        is_checkbox = field is not None and field.field_class is BooleanField
        if is_checkbox:
            if value:
                data[name] = "y"
        elif isinstance(value, list):  # a multiple choice: each value sent once
            data.setlist(name, [str(item) for item in value])
        elif value is not None:
            data[name] = str(value)
    return data


def header_values(given: Any, stored: Mapping[str, str]) -> dict[str, str]:
    """A webhook's ``headers`` member: an object of names and values, where null keeps the
    value stored under that name and a name left out is removed."""
    if not isinstance(given, dict):
        raise invalid({"headers": [HEADERS_SHAPE]})
    if any(value is not None and not isinstance(value, str) for value in given.values()):
        raise invalid({"headers": [HEADERS_SHAPE]})
    try:
        return custom_headers.merge(stored, given.items())
    except custom_headers.HeaderError as error:
        raise invalid({"headers": [str(error)]}) from error


HEADERS_SHAPE = "Must be an object of header names and string values; null keeps a stored value."


# ---------------------------------------------------------------- query parameters


def gather(problems: dict[str, list[str]], read, *args, **kwargs):
    """``read(*args, **kwargs)``; a 422 it raises is added to ``problems`` (what is there
    already comes first) and None answered instead, so one answer can name every problem."""
    try:
        return read(*args, **kwargs)
    except ApiInputError as error:
        if error.status != 422 or not error.fields:
            raise
        for name, messages in error.fields.items():
            problems.setdefault(name, messages)
        return None


def unknown_parameters(known: tuple[str, ...]) -> dict[str, list[str]]:
    """A problem for each query parameter the endpoint does not take, or that comes twice."""
    listing = ", ".join(f"`{name}`" for name in known)
    problems = {}
    for name in request.args:
        if name not in known:
            problems[name] = [f"Unknown parameter; this endpoint takes {listing}."]
        elif len(request.args.getlist(name)) > 1:
            problems[name] = ["Give this parameter once."]
    return problems


def query_int(name: str, default: int, low: int = 1, high: int = MAX_ID) -> int:
    """An integer parameter; absent or empty means ``default``, as for every parameter here."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not low <= int(raw) <= high:
        raise invalid({name: [f"Must be a whole number from {low} to {high}."]})
    return int(raw)


def query_bool(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise invalid({name: ["Must be true or false."]})


def query_choice(name: str, choices) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        shown = ", ".join(sorted(choices)) if len(choices) <= 10 else "the catalogue's slugs"
        raise invalid({name: [f"Must be one of {shown}."]})
    return raw


def parse_time(name: str, raw: Any) -> datetime:
    """An ISO 8601 moment; one without a zone is taken as UTC."""
    if not isinstance(raw, str) or len(raw) > 40:
        raise invalid({name: ["Must be a date and time such as 2026-11-30T18:00:00Z."]})
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as error:  # OverflowError: year 1 or 9999 shifted past
        raise invalid({name: ["Must be a date and time such as 2026-11-30T18:00:00Z."]}) from error

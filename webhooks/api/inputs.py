"""Reading what an API client sent: a JSON object body, checked against its model in
``webhooks.api.shapes`` (whose fields apply ``webhooks.rules``, the admin form's rules), and
query parameters. Each problem raises ``ApiInputError``, which the API answers with its one
error shape."""

import json
from collections.abc import Mapping
from datetime import datetime
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

from flask import request
from pydantic import BaseModel, ValidationError

from webhooks.api import shapes
from webhooks.api.errors import api_error
from webhooks.numbers import plain_digits
from webhooks.routing import MAX_ID
from webhooks.rules import RuleError

ModelT = TypeVar("ModelT", bound=BaseModel)


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


def checked(
    shape: type[ModelT], payload: dict[str, Any], context: dict[str, Any] | None = None
) -> ModelT:
    """``payload`` read as ``shape`` (one of ``webhooks.api.shapes``), or a 422 naming every
    member at fault: unknown, of the wrong JSON type, missing, or refused by its rule — or by
    a rule between members, which a shape may declare as ``problems_between(payload)``."""
    between = getattr(shape, "problems_between", None)
    problems = between(payload) if between is not None else {}
    try:
        given = shape.model_validate(payload, context=context)
    except ValidationError as error:
        # A member's own problem is named before one between members.
        raise invalid({**problems, **_problems(shape, error)}) from error
    if problems:
        raise invalid(problems)
    return given


def _problems(shape: type[BaseModel], error: ValidationError) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for detail in error.errors(include_url=False, include_input=False):
        name = str(detail["loc"][0]) if detail["loc"] else "body"
        listed = problems.setdefault(name, [])
        message = _message(shape, name, detail)
        if message not in listed:
            listed.append(message)
    return problems


def _message(shape: type[BaseModel], name: str, detail: dict[str, Any]) -> str:
    kind = detail["type"]
    field = shape.model_fields.get(name)
    if kind == "extra_forbidden" or field is None:
        return f"Unknown field; this endpoint takes {_listing(shape.model_fields)}."
    if kind == "missing":
        for rule in field.metadata:
            message = getattr(rule, "missing_message", lambda: None)()
            if message:
                return message
        return "Required."
    if kind in TYPE_ERRORS:
        return f"Must be {_type_name(field.annotation)}."
    if kind == "string_unicode":
        return "The text contains characters that cannot be stored."
    return detail["msg"]


# Errors that say a member is not of its JSON type.
TYPE_ERRORS = {
    "string_type",
    "int_type",
    "int_from_float",
    "int_parsing",
    "bool_type",
    "dict_type",
    "list_type",
}
_TYPE_NAMES = {str: "a string", bool: "true or false", int: "an integer", type(None): "null"}


def _type_name(annotation: Any) -> str:
    kinds = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    return " or ".join(_TYPE_NAMES.get(kind, "an object") for kind in kinds)


def _listing(fields: Mapping[str, Any]) -> str:
    return ", ".join(f"`{name}`" for name in fields)


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
    if not plain_digits(raw) or len(raw) > 19 or not low <= int(raw) <= high:
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
    if not isinstance(raw, str):
        raise invalid({name: [shapes.MOMENT_EXAMPLE]})
    try:
        return shapes.moment(raw)
    except RuleError as error:
        raise invalid({name: [str(error)]}) from error

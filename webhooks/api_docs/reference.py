"""The OpenAPI document turned into what the API page shows: operations grouped by tag, each
with its parameters, request fields and responses, and every object with its fields."""

import re
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from markupsafe import Markup

from webhooks.api.openapi import API_PREFIX, JSON, openapi_document
from webhooks.i18n import or_list
from webhooks.routing import MAX_ID

SCHEMA_REF = "#/components/schemas/"
RESPONSE_REF = "#/components/responses/"
SHOWN_CHOICES = 6
CODE_SPAN = re.compile(r"`([^`]+)`")


def prose(value: str | None) -> Markup:
    """Description text with its `code spans` shown as code; everything else escaped."""
    pieces = CODE_SPAN.split(value or "")  # text, code, text, code, …, text
    return Markup("").join(
        Markup("<code>{}</code>").format(piece) if index % 2 else piece
        for index, piece in enumerate(pieces)
    )


@dataclass(frozen=True)
class Kind:
    """How a value's type reads: ``label`` ("string or null"), the object it is (``link``, a
    schema name), the values it may take, and its limits and default ("1 to 100")."""

    label: str
    link: str | None = None
    choices: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def few_choices(self) -> bool:
        return len(self.choices) <= SHOWN_CHOICES


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    required: bool
    description: Markup
    where: str = ""  # "path" or "query" for a parameter


@dataclass(frozen=True)
class Answer:
    status: str
    description: Markup
    kind: Kind | None


@dataclass(frozen=True)
class Operation:
    anchor: str
    method: str
    path: str
    summary: str
    description: Markup
    parameters: list[Field]
    body: Kind | None
    body_fields: list[Field]
    responses: list[Answer]


@dataclass
class Group:
    name: str
    description: Markup
    operations: list[Operation] = field(default_factory=list)


@dataclass(frozen=True)
class ObjectShape:
    name: str
    description: Markup
    fields: list[Field]


def schema_name(schema: dict[str, Any]) -> str | None:
    target = schema.get("$ref", "")
    return target.removeprefix(SCHEMA_REF) if target.startswith(SCHEMA_REF) else None


def kind_of(schema: dict[str, Any]) -> Kind:
    name = schema_name(schema)
    if name is not None:
        return Kind(name, link=name)
    if "const" in schema:
        return Kind(_json_word(schema["const"]))
    kinds = schema.get("type", "any")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    words = []
    link = None
    for kind in kinds:
        if kind == "array":
            item = kind_of(schema.get("items", {}))
            words.append(_("list of %(item)s", item=item.label))
            link = item.link
        elif kind == "string" and schema.get("format"):
            words.append(f"string ({schema['format']})")
        else:
            words.append(kind)
    choices = tuple(str(value) for value in schema.get("enum", ()))
    return Kind(or_list(words), link=link, choices=choices, notes=limits(schema))


def limits(schema: dict[str, Any]) -> tuple[str, ...]:
    notes = []
    low, high = schema.get("minimum"), schema.get("maximum")
    if high is not None and high < MAX_ID:
        notes.append(
            _("%(low)s to %(high)s", low=low, high=high)
            if low is not None
            else _("at most %(high)s", high=high)
        )
    elif low is not None:
        notes.append(_("at least %(low)s", low=low))
    shortest, longest = schema.get("minLength"), schema.get("maxLength")
    if shortest and longest:
        notes.append(_("%(low)s to %(high)s characters", low=shortest, high=longest))
    elif longest:
        notes.append(_("at most %(high)s characters", high=longest))
    if "default" in schema:
        notes.append(_("default %(value)s", value=_json_word(schema["default"])))
    return tuple(notes)


def _json_word(value: Any) -> str:
    return {True: "true", False: "false", None: "null"}.get(value, str(value))


def fields_of(schema: dict[str, Any], schemas: dict[str, Any]) -> list[Field]:
    """The members of an object schema (following a reference), in their documented order."""
    name = schema_name(schema)
    if name is not None:
        schema = schemas[name]
    required = set(schema.get("required", ()))
    return [
        Field(member, kind_of(shape), member in required, prose(shape.get("description")))
        for member, shape in schema.get("properties", {}).items()
    ]


def _operation(
    path: str, method: str, spec: dict[str, Any], shared: list[dict[str, Any]], doc: dict
) -> Operation:
    schemas = doc["components"]["schemas"]
    parameters = [
        Field(
            parameter["name"],
            kind_of(parameter["schema"]),
            parameter.get("required", False),
            prose(parameter.get("description")),
            parameter["in"],
        )
        for parameter in [*shared, *spec.get("parameters", [])]
    ]
    body = body_fields = None
    if "requestBody" in spec:
        body_schema = spec["requestBody"]["content"][JSON]["schema"]
        body = kind_of(body_schema)
        body_fields = fields_of(body_schema, schemas)
    responses = []
    for status, response in sorted(spec["responses"].items()):
        target = response.get("$ref", "")
        if target.startswith(RESPONSE_REF):
            response = doc["components"]["responses"][target.removeprefix(RESPONSE_REF)]
        content = response.get("content", {}).get(JSON)
        kind = kind_of(content["schema"]) if content else None
        responses.append(Answer(status, prose(response.get("description")), kind))
    return Operation(
        anchor=spec["operationId"],
        method=method.upper(),
        path=API_PREFIX + path,
        summary=spec.get("summary", ""),
        description=prose(spec.get("description")),
        parameters=parameters,
        body=body,
        body_fields=body_fields or [],
        responses=responses,
    )


def operation_groups(doc: dict[str, Any] | None = None) -> list[Group]:
    """Every operation, grouped by its first tag in the order the document lists the tags."""
    doc = doc or openapi_document()
    groups = {tag["name"]: Group(tag["name"], prose(tag.get("description"))) for tag in doc["tags"]}
    for path, item in doc["paths"].items():
        shared = item.get("parameters", [])
        for method, spec in item.items():
            if method == "parameters":
                continue
            tag = spec.get("tags", ["Other"])[0]
            group = groups.setdefault(tag, Group(tag, Markup("")))
            group.operations.append(_operation(path, method, spec, shared, doc))
    return [group for group in groups.values() if group.operations]


def object_shapes(doc: dict[str, Any] | None = None) -> list[ObjectShape]:
    doc = doc or openapi_document()
    schemas = doc["components"]["schemas"]
    return [
        ObjectShape(name, prose(schema.get("description")), fields_of(schema, schemas))
        for name, schema in schemas.items()
    ]

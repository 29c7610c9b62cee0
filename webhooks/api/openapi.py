"""GET /api/v1/openapi.json: the API's OpenAPI 3.1 document, generated from ``OPERATIONS``
and the models of ``webhooks.api.shapes``, whose JSON Schemas are its components.

It is served as /api/v1/openapi.json, rendered as the admin's API page and read by the tests
that check every answer against it, so the models, the reference, the page and the checks are
one thing. docs/api.md says why the API is shaped as it is.
"""

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from flask import jsonify
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from webhooks.api import shapes
from webhooks.api.blueprint import bp
from webhooks.models import DeliveryStatus
from webhooks.routing import MAX_PAGE
from webhooks.version import PRODUCT, __version__

API_PREFIX = "/api/v1"
JSON = "application/json"
SCHEMAS = "#/components/schemas/"
Schema = dict[str, Any]
# Models written into an other model's schema rather than named on their own.
INLINE = {"ErrorDetail"}


@bp.get("/openapi.json")
def openapi_json():
    """Behind the bearer token like every API call: the document is for the API's clients."""
    return jsonify(openapi_document())


# ---------------------------------------------------------------- the operations


def _tidy(schema: Any, in_properties: bool = False) -> Any:
    """A generated schema as the document writes it: no titles (the names say it), and a
    value that may be null as a list of types (``["string", "null"]``), as OpenAPI 3.1 does."""
    if isinstance(schema, list):
        return [_tidy(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if in_properties:
        return {name: _tidy(member) for name, member in schema.items()}
    tidy = {
        key: _tidy(value, in_properties=key == "properties")
        for key, value in schema.items()
        if key != "title"
    }
    options = tidy.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        (other,) = [option for option in options if option != {"type": "null"}]
        if isinstance(other.get("type"), str):
            del tidy["anyOf"]
            tidy = {**other, **tidy, "type": [other["type"], "null"]}
    return tidy


def _schema(value_type: Any) -> Schema:
    return _tidy(TypeAdapter(value_type).json_schema())


def query(name: str, description: str, schema: Schema, required: bool = False) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


DAY_OR_MOMENT: Schema = {
    "type": "string",
    "maxLength": 40,
    "anyOf": [{"format": "date"}, {"format": "date-time"}],
    "examples": ["2026-11-30", "2026-11-30T18:00:00Z"],
}
PER_PAGE: Schema = {"type": "integer", "minimum": 1, "maximum": shapes.MAX_PER_PAGE}
EVENT_FILTER = query(
    "event", "Only those of this event type.", {"type": "string", "enum": shapes.EVENT_SLUGS}
)
# Path parameters, by name: every path that has one declares it.
PATH_PARAMETERS: dict[str, tuple[str, Schema]] = {
    "webhook_id": ("The webhook's id.", _schema(shapes.WebhookId)),
    "delivery_id": ("The delivery's id.", _schema(shapes.BigId)),
    "slug": (
        "The event type's slug.",
        {"type": "string", "pattern": "^[a-z0-9_]+$", "maxLength": 64},
    ),
    "event_id": ("The event's id (`evt_…`).", {"type": "string", "pattern": "^evt_"}),
}

LOCATION: Schema = {"description": "The new webhook's URL.", "schema": {"type": "string"}}
# Error answers of a call that writes: a read-only token is refused. Actions that take no
# input still read the body they are sent: anything but nothing or `{}` is refused.
NO_INPUT = ("400", "403", "415", "422")
JSON_INPUT = ("400", "403", "413", "415", "422")
Answer = tuple[str, type[BaseModel] | Schema | None]  # description, and the body's shape


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    responses: dict[str, Answer]
    errors: tuple[str, ...] = ()  # other statuses, answered with the error shape
    body: type[BaseModel] | None = None
    parameters: tuple[Schema, ...] = ()
    description: str = ""
    headers: dict[str, Schema] = field(default_factory=dict)  # of the first response


OPERATIONS = (
    Operation(
        "get", "/webhooks", "listWebhooks", "Webhooks", "List webhooks",
        {"200": ("A page of webhooks, newest first.", shapes.WebhookList)},
        errors=("422",),
        description="Paged by number. A query parameter the list does not take is 422.",
        parameters=(
            EVENT_FILTER,
            query(
                "active",
                "Only active (`true`) or only inactive (`false`) webhooks.",
                {"type": "boolean"},
            ),
            query(
                "page",
                "The page number, from 1.",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
            ),
            query(
                "per_page",
                f"Webhooks per page, at most {shapes.MAX_PER_PAGE} (20 when left out).",
                PER_PAGE,
            ),
        ),
    ),
    Operation(
        "post", "/webhooks", "createWebhook", "Webhooks", "Create a webhook",
        {
            "201": (
                "Created; the only answer besides `/secret` that carries the secret.",
                shapes.WebhookWithSecret,
            )
        },
        errors=JSON_INPUT,
        body=shapes.WebhookInput,
        headers={"Location": LOCATION},
    ),
    Operation(
        "get", "/webhooks/{webhook_id}", "getWebhook", "Webhooks", "Read a webhook",
        {"200": ("The webhook.", shapes.Webhook)},
        errors=("404",),
    ),
    Operation(
        "patch", "/webhooks/{webhook_id}", "updateWebhook", "Webhooks", "Change a webhook",
        {"200": ("The webhook as changed.", shapes.Webhook)},
        errors=("404", *JSON_INPUT),
        body=shapes.WebhookChanges,
        description="Fields left out keep their values, and only the fields sent are checked. "
        "`active: true` also re-enables a webhook that was disabled.",
    ),
    Operation(
        "delete", "/webhooks/{webhook_id}", "deleteWebhook", "Webhooks", "Delete a webhook",
        {"204": ("Deleted, with its delivery log.", None)},
        errors=("404", *NO_INPUT),
    ),
    Operation(
        "get", "/webhooks/{webhook_id}/secret", "getWebhookSecret", "Webhooks",
        "Read the signing secret",
        {"200": ("The secret.", shapes.Secret)},
        errors=("403", "404"),
        description="A secret is a credential: a read-only token is refused (403).",
    ),
    Operation(
        "post", "/webhooks/{webhook_id}/rotate-secret", "rotateWebhookSecret", "Webhooks",
        "Rotate the signing secret",
        {"200": ("The new secret.", shapes.Secret)},
        errors=("404", *NO_INPUT),
        description="The previous secret keeps signing too, until `previous_secret_expires_at`, "
        "so the receiver can switch without losing events.",
    ),
    Operation(
        "post", "/webhooks/{webhook_id}/test", "sendTestEvent", "Webhooks", "Send a test event",
        {"200": ("Sent or not: the honest result.", shapes.TestResult)},
        errors=("404", *NO_INPUT),
        description="Sends the sample of the webhook's event now and waits for the receiver, as "
        "the admin's Send Test Event button does. The answer is 200 whether the receiver took "
        "it or not; `ok` says which.",
    ),
    Operation(
        "get", "/event-types", "listEventTypes", "Event types", "List event types",
        {"200": ("The catalogue, in the order the Events page shows it.", shapes.EventTypeList)},
    ),
    Operation(
        "get", "/event-types/{slug}", "getEventType", "Event types", "Read an event type",
        {"200": ("The event type, its sample data and their schema.", shapes.EventType)},
        errors=("404",),
    ),
    Operation(
        "post", "/events", "createEvent", "Events", "Report an event",
        {
            "202": ("Stored; the engine delivers it to every subscribed webhook.", shapes.Event),
            "200": ("An event with this `id` was reported before: that one.", shapes.Event),
            "422": (
                "Refused: `invalid_body`, `missing_type`, `missing_data`, `unknown_event_type`, "
                "`invalid_data` or `invalid_id`.",
                shapes.Error,
            ),
        },
        errors=("400", "403", "413", "415"),
        body=shapes.EventInput,
    ),
    Operation(
        "get", "/events/{event_id}", "getEvent", "Events", "Read an event",
        {"200": ("The event, and its deliveries once expanded.", shapes.Event)},
        errors=("404",),
    ),
    Operation(
        "get", "/deliveries", "listDeliveries", "Deliveries", "List deliveries",
        {"200": ("A page of deliveries, newest first.", shapes.DeliveryList)},
        errors=("422",),
        description="Paged by keyset: pass the last id seen as `before`; `next` does. A query "
        "parameter the list does not take is 422.",
        parameters=(
            query(
                "status",
                "Only deliveries in this state.",
                {"type": "string", "enum": [status.value for status in DeliveryStatus]},
            ),
            EVENT_FILTER,
            query("webhook_id", "Only this webhook's deliveries.", _schema(shapes.WebhookId)),
            query(
                "from",
                "Created at or after this moment, or on or after this UTC day.",
                DAY_OR_MOMENT,
            ),
            query(
                "to",
                "Created at or before this moment, or on or before this UTC day; not before "
                "`from`.",
                DAY_OR_MOMENT,
            ),
            query("before", "Only deliveries older than this id.", _schema(shapes.BigId)),
            query("limit", f"Deliveries per page, at most {shapes.MAX_PER_PAGE}.", PER_PAGE),
        ),
    ),
    Operation(
        "get", "/deliveries/{delivery_id}", "getDelivery", "Deliveries", "Read a delivery",
        {"200": ("The delivery and its attempts.", shapes.DeliveryWithAttempts)},
        errors=("404",),
    ),
    Operation(
        "post", "/deliveries/{delivery_id}/redeliver", "redeliver", "Deliveries",
        "Send a delivery again",
        {"202": ("Queued again, with the same `webhook-id`.", shapes.Delivery)},
        errors=("403", "404", "409"),
        description="Any delivery but a test send: pending and due now, from the start of the "
        "retry schedule. A failing one (waiting for its next retry) is so retried at once. 409 "
        "for a test send or a webhook that is not active.",
    ),
    Operation(
        "post", "/deliveries/retry-failed", "retryFailedDeliveries", "Deliveries",
        "Retry a webhook's failed deliveries",
        {"202": ("How many were queued again and retried now.", shapes.Queued)},
        errors=("404", "409", *JSON_INPUT),
        body=shapes.RetryFailedInput,
        description="409 when the webhook is not active.",
    ),
    Operation(
        "post", "/zapier/subscribe", "zapierSubscribe", "Zapier", "Subscribe a zap (REST hook)",
        {
            "201": ("A webhook made for the zap; Zapier keeps its `id`.", shapes.Webhook),
            "200": (
                "Zapier subscribed this `target_url` to this `event` before (a retry): the "
                "webhook made then.",
                shapes.Webhook,
            ),
        },
        errors=JSON_INPUT,
        body=shapes.ZapierSubscription,
        description="A retried subscribe never makes a second webhook for the same zap.",
    ),
    Operation(
        "delete", "/zapier/subscribe/{webhook_id}", "zapierUnsubscribe", "Zapier",
        "Unsubscribe a zap",
        {"200": ("The zap's webhook is deleted.", shapes.ZapierUnsubscribed)},
        errors=("403", "404", "409"),
        description="Only webhooks Zapier created can be deleted here: any other is 409.",
    ),
    Operation(
        "get", "/zapier/perform-list", "zapierPerformList", "Zapier",
        "Sample data for the zap editor",
        {
            "200": (
                "The event's sample data, in a list.",
                {"type": "array", "items": {"type": "object"}},
            )
        },
        errors=("422",),
        parameters=({**EVENT_FILTER, "required": True, "description": "The event."},),
    ),
    Operation(
        "get", "/openapi.json", "getOpenApiDocument", "API", "This document",
        {"200": ("The OpenAPI 3.1 document of this API.", {"type": "object"})},
    ),
)  # fmt: skip

TAGS = {
    "Webhooks": "Receivers and what they subscribe to.",
    "Event types": "The catalogue of events.",
    "Events": "Reporting what happened.",
    "Deliveries": "The delivery log, redelivery and recovery.",
    "Zapier": "Zapier's REST hooks.",
    "API": "This reference.",
}
ERROR_RESPONSES: dict[str, tuple[str, str]] = {
    # status: (component name, description)
    "400": ("BadRequest", "The body is not valid JSON (`invalid_json`)."),
    "401": (
        "Unauthorized",
        "No bearer token (`unauthorized`), or an unknown or revoked one (`invalid_token`).",
    ),
    "403": ("Forbidden", "A read-only token tried to change something (`read_only_token`)."),
    "404": ("NotFound", "Nothing has that id (`not_found`)."),
    "409": ("Conflict", "The request cannot be carried out in this state (`conflict`)."),
    "413": ("PayloadTooLarge", "The body is too large (`payload_too_large`)."),
    "415": (
        "UnsupportedMediaType",
        "The body was not sent as `Content-Type: application/json` (`unsupported_media_type`).",
    ),
    "422": (
        "ValidationFailed",
        "A field or query parameter was refused (`validation_failed`); `fields` says why.",
    ),
}


# ---------------------------------------------------------------- the document


def ref(model: type[BaseModel]) -> Schema:
    return {"$ref": SCHEMAS + model.__name__}


def models() -> list[type[BaseModel]]:
    """Every model an operation reads or answers, in the order the operations name them."""
    found: dict[str, type[BaseModel]] = {}
    for operation in OPERATIONS:
        shapes_named = [operation.body, shapes.Error]
        shapes_named += [shape for _description, shape in operation.responses.values()]
        for shape in shapes_named:
            if isinstance(shape, type) and issubclass(shape, BaseModel):
                found.setdefault(shape.__name__, shape)
    return list(found.values())


def component_schemas() -> dict[str, Schema]:
    """The models' JSON Schemas: bodies as they are read, answers as they are written."""
    bodies = {operation.body for operation in OPERATIONS if operation.body is not None}
    _keys, generated = models_json_schema(
        [(model, "validation" if model in bodies else "serialization") for model in models()],
        ref_template=SCHEMAS + "{model}",
    )
    schemas = {name: _tidy(schema) for name, schema in generated["$defs"].items()}
    inline = {SCHEMAS + name: schemas.pop(name) for name in INLINE}
    return {name: _inlined(schema, inline) for name, schema in schemas.items()}


def _inlined(schema: Any, inline: dict[str, Schema]) -> Any:
    if isinstance(schema, list):
        return [_inlined(item, inline) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("$ref") in inline:
        return inline[schema["$ref"]]
    return {key: _inlined(value, inline) for key, value in schema.items()}


def _content(shape: type[BaseModel] | Schema) -> Schema:
    schema = ref(shape) if isinstance(shape, type) else shape
    return {JSON: {"schema": schema}}


def _operation(operation: Operation) -> Schema:
    """An operation; every one can answer 401, and ``errors`` names its other error answers."""
    shown: Schema = {
        "operationId": operation.operation_id,
        "tags": [operation.tag],
        "summary": operation.summary,
    }
    if operation.description:
        shown["description"] = operation.description
    if operation.parameters:
        shown["parameters"] = list(operation.parameters)
    if operation.body is not None:
        shown["requestBody"] = {"required": True, "content": _content(operation.body)}
    responses: Schema = {}
    for index, (status, (description, shape)) in enumerate(operation.responses.items()):
        response: Schema = {"description": description}
        if index == 0 and operation.headers:
            response["headers"] = operation.headers
        if shape is not None:
            response["content"] = _content(shape)
        responses[status] = response
    for status in sorted({"401", *operation.errors}):
        responses[status] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
    shown["responses"] = responses
    return shown


def paths() -> dict[str, Schema]:
    items: dict[str, Schema] = {}
    for operation in OPERATIONS:
        item = items.setdefault(operation.path, {})
        in_path = re.findall(r"{([^}]+)}", operation.path)
        if in_path and "parameters" not in item:
            item["parameters"] = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "description": PATH_PARAMETERS[name][0],
                    "schema": PATH_PARAMETERS[name][1],
                }
                for name in in_path
            ]
        item[operation.method] = _operation(operation)
    return items


def response_components() -> dict[str, Schema]:
    components = {}
    for status, (name, description) in ERROR_RESPONSES.items():
        response: Schema = {"description": description, "content": _content(shapes.Error)}
        if status == "401":
            response["headers"] = {
                "WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`"}
            }
        components[name] = response
    return components


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole document; cached, so treat it as read-only."""
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": f"{PRODUCT} API",
            "version": __version__,
            "description": "Manage webhooks, report events and read the delivery log. "
            "Every call needs `Authorization: Bearer <token>`; a `read` token may only GET. "
            "Bodies are JSON objects sent with `Content-Type: application/json`. Errors have "
            'one shape: `{"error": {"code", "message", "fields"}}`. Times are ISO 8601 in UTC '
            "with a `Z`.",
        },
        "servers": [{"url": API_PREFIX}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths(),
        "components": {
            "schemas": component_schemas(),
            "responses": response_components(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token, made on the API tokens page or with "
                    "`flask tokens create NAME [--scope read]`.",
                }
            },
        },
    }

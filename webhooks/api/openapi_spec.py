"""The OpenAPI 3.1 document of the API under /api/v1, as plain Python data.

It is served as /api/v1/openapi.json, rendered as the admin's API page and read by the tests
that check every answer against it, so the reference, the page and the checks are one thing.
docs/api.md says why the API is shaped as it is; this says exactly what it is.
"""

import functools
from typing import Any

from webhooks.catalogue import all_events
from webhooks.custom_headers import MAX_HEADERS, NAME_MAX, VALUE_MAX
from webhooks.models import (
    ALL_EVENTS,
    DEFAULT_MAX_IN_FLIGHT,
    MAX_IN_FLIGHT_RANGE,
    PAYLOAD_FORMATS,
    RATE_LIMIT_RANGE,
    DeliveryStatus,
)
from webhooks.routing import MAX_BIG_ID, MAX_ID, MAX_PAGE
from webhooks.version import PRODUCT, __version__

API_PREFIX = "/api/v1"
JSON = "application/json"
MAX_PER_PAGE = 100
DELIVERY_STATUSES = [status.value for status in DeliveryStatus]

Schema = dict[str, Any]


# ---------------------------------------------------------------- schema helpers


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def or_null(schema: Schema) -> Schema:
    """The same schema, also allowing null (OpenAPI 3.1: a list of types, no ``nullable``)."""
    kind = schema["type"]
    return {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}


def obj(properties: dict[str, Schema], required: list[str] | None = None, **extra) -> Schema:
    """An object with exactly these members; all are required unless ``required`` says."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
        **extra,
    }


def text(description: str = "", **extra) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def integer(description: str = "", **extra) -> Schema:
    return {"type": "integer", **({"description": description} if description else {}), **extra}


def boolean(description: str = "") -> Schema:
    return {"type": "boolean", **({"description": description} if description else {})}


def moment(description: str = "") -> Schema:
    return text(description, format="date-time", examples=["2026-11-30T18:02:11.123Z"])


def an_id(description: str = "", largest: int = MAX_ID) -> Schema:
    """A database id; a delivery's or an attempt's may be as large as MAX_BIG_ID."""
    return integer(description, minimum=1, maximum=largest)


# A UTC day (the whole day) or an ISO 8601 moment (UTC if it has no zone).
DAY_OR_MOMENT: Schema = {
    "type": "string",
    "maxLength": 40,
    "anyOf": [{"format": "date"}, {"format": "date-time"}],
    "examples": ["2026-11-30", "2026-11-30T18:00:00Z"],
}


def event_slugs() -> list[str]:
    return [event.slug for event in all_events()]


# ---------------------------------------------------------------- a webhook's events


def events_list(description: str) -> Schema:
    """``events``: distinct slugs of the catalogue, or ``["*"]`` alone for every event."""
    return {
        "type": "array",
        "description": description,
        "anyOf": [
            {"items": {"type": "string", "enum": event_slugs()}, "uniqueItems": True},
            {"items": {"const": ALL_EVENTS}, "maxItems": 1},
        ],
        "minItems": 1,
        "examples": [["payment_received", "invoice_sent"], [ALL_EVENTS]],
    }


ONE_EVENT_NOTE = (
    "For clients that know one event per webhook: the first of `events`, or `*` when it "
    "receives every event."
)
EVENTS_ANSWERED = events_list(
    'The slugs of the events it receives (see `GET /event-types`), or `["*"]`: every '
    "event, those added to the catalogue later included."
)
EVENTS_INPUT = events_list(
    'The events it receives: distinct slugs of the catalogue, or `["*"]` alone for every '
    "event (those added later included). Send `events` or `event`; both only if `event` is "
    'the first of `events` (`*` with `["*"]`).'
)


# ---------------------------------------------------------------- component schemas

WEBHOOK_FIELDS: dict[str, Schema] = {
    "id": an_id(),
    "name": text("A name for people, 2 to 191 characters."),
    "url": text("The receiver: an absolute http(s) URL.", format="uri"),
    "event": text(ONE_EVENT_NOTE, enum=[*event_slugs(), ALL_EVENTS]),
    "events": EVENTS_ANSWERED,
    "payload_format": text(
        "`standard` sends the Standard Webhooks envelope `{type, timestamp, data}`; "
        "`flat` sends the data object alone.",
        enum=list(PAYLOAD_FORMATS),
    ),
    "active": boolean("Whether it receives events."),
    "status": text(
        "`disabled` after its receiver kept failing or answered 410 Gone; otherwise "
        "`active` or `inactive`, as `active` says.",
        enum=["active", "inactive", "disabled"],
    ),
    "integration": text(
        "Who made it: `manual` (the admin site or the API) or `zapier` (a Zapier subscription).",
        enum=["manual", "zapier"],
    ),
    "disabled_at": or_null(moment("When it was disabled.")),
    "disabled_reason": or_null(text("Why it was disabled.")),
    "failing_since": or_null(moment("Start of the current run of failed deliveries.")),
    "max_in_flight": integer(
        "At most this many of its deliveries are in flight at once.",
        minimum=MAX_IN_FLIGHT_RANGE[0],
        maximum=MAX_IN_FLIGHT_RANGE[1],
    ),
    "rate_limit": or_null(
        integer(
            "At most this many requests a second (null: no limit); deliveries over it wait.",
            minimum=RATE_LIMIT_RANGE[0],
            maximum=RATE_LIMIT_RANGE[1],
        )
    ),
    "headers": {
        "type": "object",
        "description": (
            "The names of its custom headers, sent with every attempt and test. Their values "
            "are secrets and are never answered: each is null."
        ),
        "additionalProperties": {"type": "null"},
        "examples": [{"Authorization": None}],
    },
    "receiver_down_since": or_null(
        moment(
            "Set while its receiver is down (several attempts in a row timed out, found no "
            "connection or got a 5xx): its deliveries wait, and one probe is sent at "
            "`next_probe_at`. Null while the receiver is up."
        )
    ),
    "next_probe_at": or_null(moment("When the next probe goes while the receiver is down.")),
    "sent_count": integer("Deliveries its receiver accepted.", minimum=0),
    "last_delivery_at": or_null(moment()),
    "last_delivery_ok": or_null(boolean()),
    "last_delivery_summary": or_null(text("E.g. `200 OK in 84 ms`.")),
    "created_at": moment(),
    "updated_at": moment(),
}

SECRET_FIELDS: dict[str, Schema] = {
    "secret": text(
        "The signing secret (`whsec_…`), as the Standard Webhooks verifiers expect it.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    ),
    "previous_secret_expires_at": or_null(
        moment("Until when the previous secret also signs, after a rotation; else null.")
    ),
}

WEBHOOK_INPUT_FIELDS: dict[str, Schema] = {
    "name": text(
        "2 to 191 characters, without control characters; spaces around it are dropped.",
        minLength=2,
        maxLength=191,
        pattern="^[^\\u0000-\\u001f\\u007f]*$",
    ),
    "url": text(
        "An absolute http(s) URL with a host name and no user name or password.",
        format="uri",
        maxLength=2048,
        examples=["https://example.com/hooks/payments"],
    ),
    "event": text(
        "One event slug from the catalogue, or `*` for every event: the same as `events` with "
        "that one item.",
        enum=[*event_slugs(), ALL_EVENTS],
    ),
    "events": EVENTS_INPUT,
    "payload_format": text(
        "`standard` (the default) or `flat`.", enum=list(PAYLOAD_FORMATS), default="standard"
    ),
    "active": {
        **boolean("Whether it receives events; true re-enables a disabled one."),
        "default": True,
    },
    "max_in_flight": integer(
        "At most this many of its deliveries are sent at once.",
        minimum=MAX_IN_FLIGHT_RANGE[0],
        maximum=MAX_IN_FLIGHT_RANGE[1],
        default=DEFAULT_MAX_IN_FLIGHT,
    ),
    "rate_limit": {
        **or_null(
            integer(
                "At most this many requests a second; null (the default) for no limit. "
                "Deliveries over the limit wait; they do not fail.",
                minimum=RATE_LIMIT_RANGE[0],
                maximum=RATE_LIMIT_RANGE[1],
            )
        ),
        "default": None,
    },
    "headers": {
        "type": "object",
        "description": (
            "Custom headers sent with every attempt and test, e.g. `Authorization` for a CRM: "
            f"up to {MAX_HEADERS}, each name a token of up to {NAME_MAX} characters and each "
            f"value up to {VALUE_MAX} printable ASCII characters. The object replaces the "
            "stored headers: a name left out is removed, and null keeps the value stored under "
            "that name (values are never answered, so a webhook read and sent back keeps its "
            "headers). Names the service sets are refused: `webhook-*`, `Content-Type`, "
            "`Content-Length`, `Content-Encoding`, `Accept-Encoding`, `Host`, `User-Agent` and "
            "the hop-by-hop headers. Left out, the headers stay as they are (none for a new "
            "webhook)."
        ),
        "maxProperties": MAX_HEADERS,
        "propertyNames": {"pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", "maxLength": NAME_MAX},
        "additionalProperties": {"type": ["string", "null"], "maxLength": VALUE_MAX},
        "examples": [{"Authorization": "Bearer crm-token-123"}],
    },
}

ERROR = obj(
    {
        "error": obj(
            {
                "code": text(
                    "A stable, machine-readable code, e.g. `validation_failed`.",
                    examples=["validation_failed"],
                ),
                "message": text("What went wrong, for people."),
                "fields": {
                    "type": "object",
                    "description": "Only on 422: each field at fault and what is wrong with it.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
            required=["code", "message"],
        )
    }
)

ATTEMPT = obj(
    {
        "id": an_id(largest=MAX_BIG_ID),
        "created_at": moment(),
        "url": text("The URL it was sent to."),
        "succeeded": boolean("Whether the receiver answered 2xx."),
        "status_code": or_null(integer("The receiver's HTTP status; null if none came.")),
        "duration_ms": or_null(integer(minimum=0)),
        "summary": text("E.g. `200 OK in 84 ms` or `Timed out after 15 s`."),
        "error": or_null(text("Why it failed before an answer came (DNS, refused, timeout…).")),
        "request_headers": or_null(
            {
                "type": "object",
                "description": "The headers sent, signature included.",
                "additionalProperties": {"type": "string"},
            }
        ),
        "response_headers": or_null({"type": "object", "additionalProperties": {"type": "string"}}),
        "response_body": or_null(text("The start of the receiver's answer, as kept in the log.")),
    }
)

DELIVERY_FIELDS: dict[str, Schema] = {
    "id": an_id(largest=MAX_BIG_ID),
    "msg_id": text(
        "The `webhook-id` header: the same on every attempt and redelivery.",
        pattern="^msg_",
        examples=["msg_2ZbH1kR3FqJxk4cD8tP0wS7vYmA"],
    ),
    "webhook_id": an_id(),
    "event_id": or_null(text("The event (`evt_…`); null for a test send.", pattern="^evt_")),
    "event_type": text("The event's slug."),
    "status": text(enum=list(DELIVERY_STATUSES)),
    "is_test": boolean("Sent by Send Test Event."),
    "attempt_count": integer(minimum=0),
    "next_attempt_at": or_null(moment("When it is tried next, while pending or failing.")),
    "last_summary": or_null(text()),
    "created_at": moment(),
    "body": text("The JSON text sent, exactly as signed."),
}


def schemas() -> dict[str, Schema]:
    return {
        "Webhook": obj(WEBHOOK_FIELDS, description="A webhook; never its signing secret."),
        "WebhookWithSecret": obj(
            {**WEBHOOK_FIELDS, **SECRET_FIELDS},
            description="A webhook just created, with its signing secret.",
        ),
        "WebhookInput": obj(
            WEBHOOK_INPUT_FIELDS,
            required=["name", "url"],
            anyOf=[{"required": ["event"]}, {"required": ["events"]}],
            description="A new webhook, checked by the same rules as the admin site's form; "
            "`events` or `event` says what it receives.",
        ),
        "WebhookChanges": obj(
            WEBHOOK_INPUT_FIELDS,
            required=[],
            description="Any of the webhook's fields; those left out keep their values.",
        ),
        "WebhookList": obj(
            {
                "data": {"type": "array", "items": ref("Webhook")},
                "page": integer(minimum=1),
                "per_page": integer(minimum=1, maximum=MAX_PER_PAGE),
                "total": integer("Webhooks matching the filters.", minimum=0),
                "next": or_null(text("The path and query of the next page; null on the last.")),
            },
            description="A page of webhooks, newest first.",
        ),
        "Secret": obj(SECRET_FIELDS),
        "TestResult": obj(
            {
                "ok": boolean("Whether the receiver took it (answered 2xx)."),
                "summary": text("E.g. `200 OK in 84 ms`, or why it was not sent."),
                "status_code": or_null(integer()),
                "duration_ms": or_null(integer(minimum=0)),
                "response_body": or_null(text("As kept in the delivery log.")),
                "error": or_null(text()),
            },
            description="What happened to a test event, the same as the admin's button shows.",
        ),
        "EventType": obj(
            {
                "slug": text(examples=["payment_received"]),
                "name": text(examples=["Payment Received"]),
                "description": text(),
                "sample": {"type": "object", "description": "Sample `data` of this event."},
                "schema": {
                    "type": "object",
                    "description": "A JSON Schema (draft 2020-12) of the `data` object.",
                },
            }
        ),
        "EventTypeList": obj({"data": {"type": "array", "items": ref("EventType")}}),
        "Event": obj(
            {
                "id": text(pattern="^evt_", examples=["evt_2ZbH1kR3FqJxk4cD8tP0wS7vYmA"]),
                "type": text(),
                "idempotency_key": or_null(text("The `id` it was reported with.")),
                "created_at": moment(),
                "expanded_at": or_null(
                    moment(
                        "When the engine wrote its deliveries (within milliseconds of storing "
                        "it); null until then."
                    )
                ),
                "deliveries": or_null(
                    integer(
                        "Its deliveries: one per webhook subscribed to its type, active when it "
                        "was expanded and created no later than the event; null until expanded.",
                        minimum=0,
                    )
                ),
            },
            description="A reported event. Storing it does not wait for its deliveries: the "
            "engine writes them.",
        ),
        "EventInput": {
            "type": "object",
            "description": "An event to deliver to every active webhook subscribed to its type.",
            "properties": {
                "type": text("The event's slug.", enum=event_slugs()),
                "data": {
                    "type": "object",
                    "description": "The event's data; at most 64 levels deep and 256 KB.",
                },
                "id": or_null(
                    text(
                        "An idempotency key: reporting the same `id` again answers the first "
                        "event and stores nothing.",
                        minLength=1,
                        maxLength=255,
                    )
                ),
            },
            "required": ["type", "data"],
        },
        "Delivery": obj(DELIVERY_FIELDS, description="One message to one webhook."),
        "DeliveryWithAttempts": obj(
            {
                **DELIVERY_FIELDS,
                "attempts": {
                    "type": "array",
                    "description": "Newest first.",
                    "items": ref("Attempt"),
                },
            }
        ),
        "Attempt": ATTEMPT,
        "DeliveryList": obj(
            {
                "data": {"type": "array", "items": ref("Delivery")},
                "next": or_null(text("The path and query of the next page; null on the last.")),
            },
            description="A page of deliveries, newest first.",
        ),
        "RetryFailedInput": obj(
            {
                "webhook_id": an_id("The webhook whose failed deliveries are sent again."),
                "since": text(
                    "An ISO 8601 moment (UTC if it has no zone); deliveries that failed at or "
                    "after it are sent now: the failed ones queued again, the failing ones "
                    "(waiting for their next retry) retried now.",
                    format="date-time",
                    maxLength=40,
                    examples=["2026-11-30T18:00:00Z"],
                ),
            },
            description="Checked by the same rules as the admin's Retry all failed form.",
        ),
        "Queued": obj(
            {
                "queued": integer(
                    "Failed deliveries queued again, from the start of the retry schedule.",
                    minimum=0,
                ),
                "retried_now": integer(
                    "Failing deliveries, waiting for their next retry, made due now (their "
                    "schedule goes on if they fail again).",
                    minimum=0,
                ),
            }
        ),
        "ZapierSubscription": obj(
            {
                "target_url": text("Zapier's hook URL for the zap.", format="uri", maxLength=2048),
                "event": text("An event slug from the catalogue.", enum=event_slugs()),
                "subscription_url": {
                    "description": "The old name of `target_url`, which Zapier still sends; "
                    "ignored, whatever it holds."
                },
            },
            required=["target_url", "event"],
            description="Zapier's REST hook subscribe. The webhook made for it is named "
            "`Zapier: <event name>` and sends the `flat` payload format.",
        ),
        "ZapierUnsubscribed": obj({"id": an_id(), "deleted": {"type": "boolean", "const": True}}),
        "Error": ERROR,
    }


# ---------------------------------------------------------------- responses and parameters

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


def error_response(status: str) -> Schema:
    return {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}


def response_components() -> dict[str, Schema]:
    components = {}
    for status, (name, description) in ERROR_RESPONSES.items():
        response: Schema = {"description": description, "content": {JSON: {"schema": ref("Error")}}}
        if status == "401":
            response["headers"] = {
                "WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`"}
            }
        components[name] = response
    return components


def path_id(name: str, what: str, largest: int = MAX_ID) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id.",
        "schema": an_id(largest=largest),
    }


def query(name: str, description: str, schema: Schema) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def json_body(schema_name: str, description: str = "") -> Schema:
    body: Schema = {"required": True, "content": {JSON: {"schema": ref(schema_name)}}}
    if description:
        body["description"] = description
    return body


def answer(description: str, schema_name: str | None = None, **extra) -> Schema:
    response: Schema = {"description": description, **extra}
    if schema_name is not None:
        response["content"] = {JSON: {"schema": ref(schema_name)}}
    return response


def operation(
    operation_id: str,
    tag: str,
    summary: str,
    responses: dict[str, Schema],
    *,
    errors: tuple[str, ...] = (),
    description: str = "",
    parameters: list[Schema] | None = None,
    body: Schema | None = None,
) -> Schema:
    """An operation; every one can answer 401, and ``errors`` names its other error answers."""
    shown: Schema = {"operationId": operation_id, "tags": [tag], "summary": summary}
    if description:
        shown["description"] = description
    if parameters:
        shown["parameters"] = parameters
    if body is not None:
        shown["requestBody"] = body
    shown["responses"] = {
        **responses,
        **{status: error_response(status) for status in sorted({"401", *errors})},
    }
    return shown


# Error answers of a call that writes: a read-only token is refused. Actions that take no
# input still read the body they are sent: anything but nothing or `{}` is refused.
WRITE = ("403",)
NO_INPUT = ("400", "403", "415", "422")
JSON_INPUT = ("400", "403", "413", "415", "422")


def paths() -> dict[str, Schema]:
    webhook_id = path_id("webhook_id", "webhook")
    delivery_id = path_id("delivery_id", "delivery", MAX_BIG_ID)
    event_filter = query("event", "Only those of this event type.", text(enum=event_slugs()))
    return {
        "/webhooks": {
            "get": operation(
                "listWebhooks",
                "Webhooks",
                "List webhooks",
                {"200": answer("A page of webhooks, newest first.", "WebhookList")},
                errors=("422",),
                description="Paged by number. A query parameter the list does not take is 422.",
                parameters=[
                    query(
                        "event",
                        "Only those that receive this event: those listing it and those that "
                        "receive every event.",
                        text(enum=event_slugs()),
                    ),
                    query(
                        "active",
                        "Only active (`true`) or only inactive (`false`) webhooks.",
                        {"type": "boolean"},
                    ),
                    query("page", "The page number, from 1.", integer(minimum=1, maximum=MAX_PAGE)),
                    query(
                        "per_page",
                        f"Webhooks per page, at most {MAX_PER_PAGE} (20 when left out).",
                        integer(minimum=1, maximum=MAX_PER_PAGE),
                    ),
                ],
            ),
            "post": operation(
                "createWebhook",
                "Webhooks",
                "Create a webhook",
                {
                    "201": answer(
                        "Created; the only answer besides `/secret` that carries the secret.",
                        "WebhookWithSecret",
                        headers={
                            "Location": {
                                "description": "The new webhook's URL.",
                                "schema": {"type": "string"},
                            }
                        },
                    )
                },
                errors=JSON_INPUT,
                body=json_body("WebhookInput"),
            ),
        },
        "/webhooks/{webhook_id}": {
            "parameters": [webhook_id],
            "get": operation(
                "getWebhook",
                "Webhooks",
                "Read a webhook",
                {"200": answer("The webhook.", "Webhook")},
                errors=("404",),
            ),
            "patch": operation(
                "updateWebhook",
                "Webhooks",
                "Change a webhook",
                {"200": answer("The webhook as changed.", "Webhook")},
                errors=("404", *JSON_INPUT),
                description="Fields left out keep their values. `active: true` also re-enables "
                "a webhook that was disabled.",
                body=json_body("WebhookChanges"),
            ),
            "delete": operation(
                "deleteWebhook",
                "Webhooks",
                "Delete a webhook",
                {"204": answer("Deleted, with its delivery log.")},
                errors=("404", *NO_INPUT),
            ),
        },
        "/webhooks/{webhook_id}/secret": {
            "parameters": [webhook_id],
            "get": operation(
                "getWebhookSecret",
                "Webhooks",
                "Read the signing secret",
                {"200": answer("The secret.", "Secret")},
                errors=("403", "404"),
                description="A secret is a credential: a read-only token is refused (403).",
            ),
        },
        "/webhooks/{webhook_id}/rotate-secret": {
            "parameters": [webhook_id],
            "post": operation(
                "rotateWebhookSecret",
                "Webhooks",
                "Rotate the signing secret",
                {"200": answer("The new secret.", "Secret")},
                errors=("404", *NO_INPUT),
                description="The previous secret keeps signing too, until "
                "`previous_secret_expires_at`, so the receiver can switch without losing events.",
            ),
        },
        "/webhooks/{webhook_id}/test": {
            "parameters": [webhook_id],
            "post": operation(
                "sendTestEvent",
                "Webhooks",
                "Send a test event",
                {"200": answer("Sent or not: the honest result.", "TestResult")},
                errors=("404", *NO_INPUT),
                description="Sends the sample of the webhook's event now and waits for the "
                "receiver, as the admin's Send Test Event button does. The answer is 200 "
                "whether the receiver took it or not; `ok` says which.",
            ),
        },
        "/event-types": {
            "get": operation(
                "listEventTypes",
                "Event types",
                "List event types",
                {
                    "200": answer(
                        "The catalogue, in the order the Events page shows it.", "EventTypeList"
                    )
                },
            ),
        },
        "/event-types/{slug}": {
            "parameters": [
                {
                    "name": "slug",
                    "in": "path",
                    "required": True,
                    "description": "The event type's slug.",
                    "schema": text(
                        pattern="^[a-z0-9_]+$", maxLength=64, examples=["payment_received"]
                    ),
                }
            ],
            "get": operation(
                "getEventType",
                "Event types",
                "Read an event type",
                {"200": answer("The event type, its sample data and their schema.", "EventType")},
                errors=("404",),
            ),
        },
        "/events": {
            "post": operation(
                "createEvent",
                "Events",
                "Report an event",
                {
                    "202": answer(
                        "Stored; the engine delivers it to every subscribed webhook.", "Event"
                    ),
                    "200": answer(
                        "An event with this `id` was reported before: that one.", "Event"
                    ),
                    "422": answer(
                        "Refused: `invalid_body`, `missing_type`, `missing_data`, "
                        "`unknown_event_type`, `invalid_data` or `invalid_id`.",
                        "Error",
                    ),
                },
                errors=("400", "403", "413", "415"),
                body=json_body("EventInput"),
            ),
        },
        "/events/{event_id}": {
            "parameters": [
                {
                    "name": "event_id",
                    "in": "path",
                    "required": True,
                    "description": "The event's id (`evt_…`).",
                    "schema": text(pattern="^evt_"),
                }
            ],
            "get": operation(
                "getEvent",
                "Events",
                "Read an event",
                {"200": answer("The event, and its deliveries once expanded.", "Event")},
                errors=("404",),
            ),
        },
        "/deliveries": {
            "get": operation(
                "listDeliveries",
                "Deliveries",
                "List deliveries",
                {"200": answer("A page of deliveries, newest first.", "DeliveryList")},
                errors=("422",),
                description="Paged by keyset: pass the last id seen as `before`; `next` does. "
                "A query parameter the list does not take is 422.",
                parameters=[
                    query(
                        "status",
                        "Only deliveries in this state.",
                        text(enum=list(DELIVERY_STATUSES)),
                    ),
                    event_filter,
                    query("webhook_id", "Only this webhook's deliveries.", an_id()),
                    query(
                        "from",
                        "Created at or after this moment, or on or after this UTC day.",
                        DAY_OR_MOMENT,
                    ),
                    query(
                        "to",
                        "Created at or before this moment, or on or before this UTC day; "
                        "not before `from`.",
                        DAY_OR_MOMENT,
                    ),
                    query(
                        "before", "Only deliveries older than this id.", an_id(largest=MAX_BIG_ID)
                    ),
                    query(
                        "limit",
                        f"Deliveries per page, at most {MAX_PER_PAGE}.",
                        integer(minimum=1, maximum=MAX_PER_PAGE),
                    ),
                ],
            ),
        },
        "/deliveries/{delivery_id}": {
            "parameters": [delivery_id],
            "get": operation(
                "getDelivery",
                "Deliveries",
                "Read a delivery",
                {"200": answer("The delivery and its attempts.", "DeliveryWithAttempts")},
                errors=("404",),
            ),
        },
        "/deliveries/{delivery_id}/redeliver": {
            "parameters": [delivery_id],
            "post": operation(
                "redeliver",
                "Deliveries",
                "Send a delivery again",
                {"202": answer("Queued again, with the same `webhook-id`.", "Delivery")},
                errors=("403", "404", "409"),
                description="Any delivery but a test send: pending and due now, from the start "
                "of the retry schedule. A failing one (waiting for its next retry) is so "
                "retried at once. 409 for a test send or a webhook that is not active.",
            ),
        },
        "/deliveries/retry-failed": {
            "post": operation(
                "retryFailedDeliveries",
                "Deliveries",
                "Retry a webhook's failed deliveries",
                {"202": answer("How many were queued again and retried now.", "Queued")},
                errors=("404", "409", *JSON_INPUT),
                description="409 when the webhook is not active.",
                body=json_body("RetryFailedInput"),
            ),
        },
        "/zapier/subscribe": {
            "post": operation(
                "zapierSubscribe",
                "Zapier",
                "Subscribe a zap (REST hook)",
                {
                    "201": answer("A webhook made for the zap; Zapier keeps its `id`.", "Webhook"),
                    "200": answer(
                        "Zapier subscribed this `target_url` to this `event` before (a retry): "
                        "the webhook made then.",
                        "Webhook",
                    ),
                },
                errors=JSON_INPUT,
                description="A retried subscribe never makes a second webhook for the same zap.",
                body=json_body("ZapierSubscription"),
            ),
        },
        "/zapier/subscribe/{webhook_id}": {
            "parameters": [webhook_id],
            "delete": operation(
                "zapierUnsubscribe",
                "Zapier",
                "Unsubscribe a zap",
                {"200": answer("The zap's webhook is deleted.", "ZapierUnsubscribed")},
                errors=("403", "404", "409"),
                description="Only webhooks Zapier created can be deleted here: any other is 409.",
            ),
        },
        "/zapier/perform-list": {
            "get": operation(
                "zapierPerformList",
                "Zapier",
                "Sample data for the zap editor",
                {
                    "200": {
                        "description": "The event's sample data, in a list.",
                        "content": {
                            JSON: {"schema": {"type": "array", "items": {"type": "object"}}}
                        },
                    }
                },
                errors=("422",),
                parameters=[{**event_filter, "required": True, "description": "The event."}],
            ),
        },
        "/openapi.json": {
            "get": operation(
                "getOpenApiDocument",
                "API",
                "This document",
                {
                    "200": {
                        "description": "The OpenAPI 3.1 document of this API.",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    }
                },
            ),
        },
    }


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
        "tags": [
            {"name": "Webhooks", "description": "Receivers and what they subscribe to."},
            {"name": "Event types", "description": "The catalogue of events."},
            {"name": "Events", "description": "Reporting what happened."},
            {"name": "Deliveries", "description": "The delivery log, redelivery and recovery."},
            {"name": "Zapier", "description": "Zapier's REST hooks."},
            {"name": "API", "description": "This reference."},
        ],
        "paths": paths(),
        "components": {
            "schemas": schemas(),
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

"""The shapes the API reads and answers, declared once as pydantic models.

Each model is at the same time the check of a request body (``webhooks.api.inputs.checked``),
the way an answer is written (``Model.of(row)``, dumped by ``body``) and, through its JSON
Schema, part of the OpenAPI document (``webhooks.api.openapi``). The rules of a webhook's fields
are ``webhooks.rules``, which the admin form applies too.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    field_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from webhooks import custom_headers, rules
from webhooks.catalogue import all_events
from webhooks.catalogue.events import EventType as CatalogueEvent
from webhooks.catalogue.schema import data_schema
from webhooks.delivery.message import iso_utc
from webhooks.delivery.result import SendResult
from webhooks.models import (
    ALL_EVENTS,
    DEFAULT_MAX_IN_FLIGHT,
    MAX_IN_FLIGHT_RANGE,
    PAYLOAD_FORMATS,
    RATE_LIMIT_RANGE,
    DeliveryStatus,
)
from webhooks.models import Attempt as AttemptRow
from webhooks.models import Delivery as DeliveryRow
from webhooks.models import Event as EventRow
from webhooks.models import Webhook as WebhookRow
from webhooks.outbox import stored_problems
from webhooks.routing import MAX_BIG_ID, MAX_ID
from webhooks.schema_checks import MAX_PROBLEMS, MODES

MAX_PER_PAGE = 100
EVENT_SLUGS = [event.slug for event in all_events()]


def body(shape: BaseModel) -> dict[str, Any]:
    """A model as the JSON it is answered as; members left unset (an error's ``fields``)
    are left out."""
    return shape.model_dump(mode="json", by_alias=True, exclude_unset=True)


# ---------------------------------------------------------------- checking with the rules


@dataclass(frozen=True)
class Ruled:
    """Annotated metadata: the value, once of the right JSON type, goes through ``rule`` (one
    of ``webhooks.rules``), which cleans it or refuses it with its own message. A member left
    out is answered with what the rule says of no value at all (``missing_message``)."""

    rule: Callable[[Any], Any]

    def __get_pydantic_core_schema__(self, source: Any, handler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def check(self, value: Any) -> Any:
        try:
            return self.rule(value)
        except rules.RuleError as error:
            raise refused(str(error)) from error

    def missing_message(self) -> str | None:
        try:
            self.rule(None)
        except rules.RuleError as error:
            return str(error)
        return None


def refused(message: str) -> PydanticCustomError:
    return PydanticCustomError("rule", "{message}", {"message": message})


def _schema_without_defaults(schema: dict[str, Any]) -> None:
    """For members whose absence means "as it is": no default to show."""
    for member in schema.get("properties", {}).values():
        member.pop("default", None)


class Shape(BaseModel):
    """An answer: exactly these members."""

    model_config = ConfigDict(extra="forbid")


class Input(BaseModel):
    """A request body: JSON types as they are (no "5" for 5, no 1 for true), no member the
    endpoint does not take."""

    model_config = ConfigDict(extra="forbid", strict=True)


# ---------------------------------------------------------------- value types

Moment = Annotated[
    datetime,
    PlainSerializer(iso_utc, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2026-11-30T18:02:11.123Z"]}
    ),
]
WebhookId = Annotated[int, Field(ge=1, le=MAX_ID)]
BigId = Annotated[int, Field(ge=1, le=MAX_BIG_ID)]
Count = Annotated[int, Field(ge=0)]
PayloadFormatName = Literal[tuple(PAYLOAD_FORMATS)]  # type: ignore[valid-type]

# A webhook's fields as a client writes them: each checked by its rule. `event` is one slug,
# checked by rules.event, the rule a list of events would apply to each of its slugs.
Name = Annotated[
    str,
    Ruled(rules.name),
    Field(
        description="2 to 191 characters, without control characters; spaces around it are "
        "dropped.",
        json_schema_extra={
            "minLength": rules.NAME_LENGTH[0],
            "maxLength": rules.NAME_LENGTH[1],
            "pattern": "^[^\\u0000-\\u001f\\u007f]*$",
        },
    ),
]
Url = Annotated[
    str,
    Ruled(rules.url),
    Field(
        description="An absolute http(s) URL with a host name and no user name or password.",
        json_schema_extra={
            "format": "uri",
            "maxLength": rules.URL_MAX,
            "examples": ["https://example.com/hooks/payments"],
        },
    ),
]
EventSlug = Annotated[
    str,
    Ruled(rules.event),
    Field(description="An event slug from the catalogue.", json_schema_extra={"enum": EVENT_SLUGS}),
]
EventOrAll = Annotated[
    str,
    Ruled(rules.event_or_all),
    Field(
        description="One event slug from the catalogue, or `*` for every event: the same as "
        "`events` with that one item.",
        json_schema_extra={"enum": [*EVENT_SLUGS, ALL_EVENTS]},
    ),
]


def _event_list(value: Any) -> list[str]:
    """``events`` judged whole by its rule, before its type: the rule's messages say what a
    list of events must be."""
    try:
        return rules.events(value)
    except rules.RuleError as error:
        raise refused(str(error)) from error


EventList = Annotated[
    list[str],
    BeforeValidator(_event_list),
    Field(
        description='The events it receives: distinct slugs of the catalogue, or `["*"]` '
        "alone for every event (those added later included). Send `events` or `event`; both "
        'only if `event` is the first of `events` (`*` with `["*"]`).',
        json_schema_extra={
            "anyOf": [
                {"items": {"type": "string", "enum": EVENT_SLUGS}, "uniqueItems": True},
                {"items": {"const": ALL_EVENTS}, "maxItems": 1},
            ],
            "minItems": 1,
            "examples": [["payment_received", "invoice_sent"], [ALL_EVENTS]],
        },
    ),
]
EVENTS_DISAGREE = (
    "Disagrees with `events`. Send one of the two, or `event` as the first of `events` (`*` "
    'with ["*"]).'
)
PayloadFormat = Annotated[
    str,
    Ruled(rules.payload_format),
    Field(
        description="`standard` (the default) or `flat`.",
        json_schema_extra={"enum": list(PAYLOAD_FORMATS)},
    ),
]
Active = Annotated[
    bool, Field(description="Whether it receives events; true re-enables a disabled one.")
]
MaxInFlight = Annotated[
    int,
    Ruled(rules.max_in_flight),
    Field(
        description="At most this many of its deliveries are sent at once.",
        json_schema_extra={"minimum": MAX_IN_FLIGHT_RANGE[0], "maximum": MAX_IN_FLIGHT_RANGE[1]},
    ),
]
RateLimit = Annotated[
    int | None,
    Ruled(rules.rate_limit),
    Field(
        description="At most this many requests a second; null (the default) for no limit. "
        "Deliveries over the limit wait; they do not fail.",
        json_schema_extra={"minimum": RATE_LIMIT_RANGE[0], "maximum": RATE_LIMIT_RANGE[1]},
    ),
]
HEADERS_SHAPE = "Must be an object of header names and string values; null keeps a stored value."


def _header_object(value: Any) -> Any:
    if not isinstance(value, dict) or any(
        text is not None and not isinstance(text, str) for text in value.values()
    ):
        raise refused(HEADERS_SHAPE)
    return value


Headers = Annotated[
    dict[str, str | None],
    BeforeValidator(_header_object),
    Field(
        description=(
            "Custom headers sent with every attempt and test, e.g. `Authorization` for a CRM: "
            f"up to {custom_headers.MAX_HEADERS}, each name a token of up to "
            f"{custom_headers.NAME_MAX} characters and each value up to "
            f"{custom_headers.VALUE_MAX} printable ASCII characters. The object replaces the "
            "stored headers: a name left out is removed, and null keeps the value stored under "
            "that name (values are never answered, so a webhook read and sent back keeps its "
            "headers). Names the service sets are refused: `webhook-*`, `Content-Type`, "
            "`Content-Length`, `Content-Encoding`, `Accept-Encoding`, `Host`, `User-Agent` and "
            "the hop-by-hop headers. Left out, the headers stay as they are (none for a new "
            "webhook)."
        ),
        json_schema_extra={
            "maxProperties": custom_headers.MAX_HEADERS,
            "propertyNames": {
                "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
                "maxLength": custom_headers.NAME_MAX,
            },
            "examples": [{"Authorization": "Bearer crm-token-123"}],
        },
    ),
]


# ---------------------------------------------------------------- webhooks


class _WebhookFields(Input):
    """What a new webhook and a change to one share."""

    # A new webhook names its events (`event` or `events`); a change may leave both out.
    events_required: ClassVar[bool] = False

    @classmethod
    def problems_between(cls, payload: dict[str, Any]) -> dict[str, list[str]]:
        """What no member's own rule sees (``webhooks.api.inputs.checked`` asks): no event
        named for a new webhook, or `event` and `events` both sent and disagreeing."""
        if "event" not in payload and "events" not in payload:
            return {"event": [Ruled(rules.event).missing_message()]} if cls.events_required else {}
        given, listed = payload.get("event"), payload.get("events")
        if isinstance(given, str) and isinstance(listed, list) and listed and given != listed[0]:
            return {"event": [EVENTS_DISAGREE]}
        return {}

    def receives(self) -> tuple[bool, list[str]] | None:
        """(every event, the events listed) as sent — `events`, else `event` as a list of
        one — or None when neither was sent."""
        sent = self.events
        if sent is None and self.event is not None:
            sent = [self.event]
        if sent is None:
            return None
        return (True, []) if sent == [ALL_EVENTS] else (False, list(sent))

    @field_validator("headers", check_fields=False)
    @classmethod
    def _merged_with_the_stored_ones(cls, given: dict, info: ValidationInfo) -> dict[str, str]:
        """The headers to store; null keeps the value stored under that name, which the
        endpoint passes as ``context={"stored_headers": ...}``."""
        stored = (info.context or {}).get("stored_headers", {})
        try:
            return rules.headers(given.items(), stored)
        except rules.RuleError as error:
            raise refused(str(error)) from error

    def values(self) -> dict[str, Any]:
        """Every member but the events (``receives``), checked and cleaned, defaults
        included."""
        return {
            name: getattr(self, name)
            for name in type(self).model_fields
            if name not in EVENT_MEMBERS
        }

    def changes(self) -> dict[str, Any]:
        """The members the client sent but the events (``receives``), checked and cleaned."""
        return {
            name: getattr(self, name) for name in self.model_fields_set if name not in EVENT_MEMBERS
        }


def _one_of_the_event_members(schema: dict[str, Any]) -> None:
    """A new webhook's schema: `event` or `events` is required, and neither has a default."""
    for name in EVENT_MEMBERS:
        schema["properties"][name].pop("default", None)
    schema["anyOf"] = [{"required": ["event"]}, {"required": ["events"]}]


class _NewWebhook(_WebhookFields):
    model_config = ConfigDict(json_schema_extra=_one_of_the_event_members)
    events_required: ClassVar[bool] = True


class _WithoutDefaults(_WebhookFields):
    model_config = ConfigDict(json_schema_extra=_schema_without_defaults)


# A webhook as a client writes it, declared once: each member's type (which applies its rule)
# and its value when a new webhook leaves it out (``...``: required). The API's names are the
# columns' names. WebhookInput (create) and WebhookChanges (PATCH: every member optional,
# only those sent are checked) are both made from it.
WEBHOOK_INPUT: dict[str, tuple[Any, Any]] = {
    "name": (Name, ...),
    "url": (Url, ...),
    # One of the two (``_NewWebhook``); `event` is kept for clients that know one event.
    "events": (EventList, None),
    "event": (EventOrAll, None),
    "payload_format": (PayloadFormat, "standard"),
    "active": (Active, True),
    "max_in_flight": (MaxInFlight, DEFAULT_MAX_IN_FLIGHT),
    "rate_limit": (RateLimit, None),
    "headers": (Headers, None),
}
EVENT_MEMBERS = ("event", "events")
WebhookInput = create_model(
    "WebhookInput",
    __base__=_NewWebhook,
    __doc__="A new webhook, checked by the same rules as the admin site's form.",
    __module__=__name__,
    **WEBHOOK_INPUT,
)
WebhookChanges = create_model(
    "WebhookChanges",
    __base__=_WithoutDefaults,
    __doc__="Any of the webhook's fields; those left out keep their values.",
    __module__=__name__,
    **{name: (kind, None) for name, (kind, _default) in WEBHOOK_INPUT.items()},
)


class Secret(Shape):
    secret: str = Field(
        description="The signing secret (`whsec_…`), as the Standard Webhooks verifiers expect it.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )
    previous_secret_expires_at: Moment | None = Field(
        description="Until when the previous secret also signs, after a rotation; else null."
    )

    @classmethod
    def of(cls, webhook: WebhookRow, now: datetime) -> "Secret":
        still_signing = len(webhook.signing_secrets(now)) > 1
        return cls(
            secret=webhook.secret,
            previous_secret_expires_at=webhook.previous_secret_expires_at
            if still_signing
            else None,
        )


def webhook_status(webhook: WebhookRow) -> str:
    if webhook.disabled_at is not None:
        return "disabled"
    return "active" if webhook.active else "inactive"


class Webhook(Shape):
    """A webhook; never its signing secret."""

    id: WebhookId
    name: str = Field(description="A name for people, 2 to 191 characters.")
    url: str = Field(
        description="The receiver: an absolute http(s) URL.", json_schema_extra={"format": "uri"}
    )
    events: list[str] = Field(
        description="The slugs of the events it receives (see `GET /event-types`), or "
        '`["*"]`: every event, those added to the catalogue later included.',
        examples=[["payment_received", "invoice_sent"], [ALL_EVENTS]],
    )
    event: str = Field(
        description="For clients that know one event per webhook: the first of `events`, or "
        "`*` when it receives every event."
    )
    payload_format: PayloadFormatName = Field(
        description="`standard` sends the Standard Webhooks envelope `{type, timestamp, data}`; "
        "`flat` sends the data object alone."
    )
    active: bool = Field(description="Whether it receives events.")
    status: Literal["active", "inactive", "disabled"] = Field(
        description="`disabled` after its receiver kept failing or answered 410 Gone; otherwise "
        "`active` or `inactive`, as `active` says."
    )
    integration: Literal["manual", "zapier"] = Field(
        description="Who made it: `manual` (the admin site or the API) or `zapier` (a Zapier "
        "subscription)."
    )
    disabled_at: Moment | None = Field(description="When it was disabled.")
    disabled_reason: str | None = Field(description="Why it was disabled.")
    failing_since: Moment | None = Field(
        description="Start of the current run of failed deliveries."
    )
    max_in_flight: int = Field(
        description="At most this many of its deliveries are in flight at once.",
        ge=MAX_IN_FLIGHT_RANGE[0],
        le=MAX_IN_FLIGHT_RANGE[1],
    )
    rate_limit: int | None = Field(
        description="At most this many requests a second (null: no limit); deliveries over it "
        "wait.",
        ge=RATE_LIMIT_RANGE[0],
        le=RATE_LIMIT_RANGE[1],
    )
    headers: dict[str, None] = Field(
        description="The names of its custom headers, sent with every attempt and test. Their "
        "values are secrets and are never answered: each is null.",
        examples=[{"Authorization": None}],
    )
    receiver_down_since: Moment | None = Field(
        description="Set while its receiver is down (several attempts in a row timed out, found "
        "no connection or got a 5xx): its deliveries wait, and one probe is sent at "
        "`next_probe_at`. Null while the receiver is up."
    )
    next_probe_at: Moment | None = Field(
        description="When the next probe goes while the receiver is down."
    )
    sent_count: Count = Field(description="Deliveries its receiver accepted.")
    last_delivery_at: Moment | None
    last_delivery_ok: bool | None
    last_delivery_summary: str | None = Field(description="E.g. `200 OK in 84 ms`.")
    created_at: Moment
    updated_at: Moment

    @staticmethod
    def members(webhook: WebhookRow) -> dict[str, Any]:
        return {
            "id": webhook.id,
            "name": webhook.name,
            "url": webhook.url,
            "events": [ALL_EVENTS] if webhook.all_events else webhook.events,
            "event": webhook.event,
            "payload_format": webhook.payload_format,
            "active": webhook.active,
            "status": webhook_status(webhook),
            "integration": webhook.integration,
            "disabled_at": webhook.disabled_at,
            "disabled_reason": webhook.disabled_reason,
            "failing_since": webhook.failing_since,
            "max_in_flight": webhook.max_in_flight,
            "rate_limit": webhook.rate_limit,
            # Names only: values are secrets, never answered.
            "headers": dict.fromkeys(custom_headers.load(webhook.custom_headers)),
            "receiver_down_since": webhook.down_since,
            "next_probe_at": webhook.next_probe_at,
            "sent_count": webhook.sent_count,
            "last_delivery_at": webhook.last_delivery_at,
            "last_delivery_ok": webhook.last_delivery_ok,
            "last_delivery_summary": webhook.last_delivery_summary,
            "created_at": webhook.created_at,
            "updated_at": webhook.updated_at,
        }

    @classmethod
    def of(cls, webhook: WebhookRow) -> "Webhook":
        return cls(**cls.members(webhook))


class WebhookWithSecret(Webhook):
    """A webhook just created, with its signing secret."""

    secret: str = Secret.model_fields["secret"]
    previous_secret_expires_at: Moment | None = Secret.model_fields["previous_secret_expires_at"]

    @classmethod
    def of(cls, webhook: WebhookRow, now: datetime | None = None) -> "WebhookWithSecret":
        secret = Secret.of(webhook, now or datetime.now(UTC))
        return cls(**cls.members(webhook), **dict(secret))


class WebhookList(Shape):
    """A page of webhooks, newest first."""

    data: list[Webhook]
    page: int = Field(ge=1)
    per_page: int = Field(ge=1, le=MAX_PER_PAGE)
    total: Count = Field(description="Webhooks matching the filters.")
    next: str | None = Field(description="The path and query of the next page; null on the last.")


class TestResult(Shape):
    """What happened to a test event, the same as the admin's button shows."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    ok: bool = Field(description="Whether the receiver took it (answered 2xx).")
    summary: str = Field(description="E.g. `200 OK in 84 ms`, or why it was not sent.")
    status_code: int | None
    duration_ms: Count | None
    response_body: str | None = Field(description="As kept in the delivery log.")
    error: str | None

    @classmethod
    def of(cls, result: SendResult) -> "TestResult":
        return cls(
            ok=result.ok,
            summary=result.summary,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            response_body=result.response_body,
            error=result.error,
        )


# ---------------------------------------------------------------- the catalogue and events


def _schema_mode(value: str | None) -> str:
    if value not in MODES:
        raise rules.RuleError("Must be one of " + ", ".join(f"`{mode}`" for mode in MODES) + ".")
    return value


SchemaMode = Annotated[
    str,
    Ruled(_schema_mode),
    Field(
        description="How a reported event's `data` is checked against `schema`: `off` (not "
        "checked), `warn` (stored, its problems kept in `schema_problems`) or `reject` (refused "
        "with a 422 `schema_mismatch` naming each failing path, nothing stored).",
        json_schema_extra={"enum": list(MODES)},
    ),
]


class SchemaProblem(Shape):
    """Where an event's `data` does not match its event type's schema."""

    path: str = Field(
        description="The JSON path at fault, e.g. `data.payment_total`.",
        examples=["data.customer_user_email"],
    )
    message: str = Field(examples=['"customer_user_email" is a required property'])


class EventTypeChanges(Input):
    """What to change of an event type; members left out keep their values."""

    model_config = ConfigDict(json_schema_extra=_schema_without_defaults)

    schema_mode: SchemaMode = None


class EventType(Shape):
    slug: str = Field(examples=["payment_received"])
    name: str = Field(examples=["Payment Received"])
    description: str
    sample: dict[str, Any] = Field(description="Sample `data` of this event.")
    json_schema: dict[str, Any] = Field(
        alias="schema", description="A JSON Schema (draft 2020-12) of the `data` object."
    )
    schema_mode: SchemaMode

    @classmethod
    def of(cls, event: CatalogueEvent, schema_mode: str) -> "EventType":
        return cls(
            slug=event.slug,
            name=event.name,
            description=event.description,
            sample=event.sample_data(),
            schema=data_schema(event),
            schema_mode=schema_mode,
        )


class EventTypeList(Shape):
    data: list[EventType]


class Event(Shape):
    """A reported event. Storing it does not wait for its deliveries: the engine writes them."""

    id: str = Field(pattern="^evt_", examples=["evt_2ZbH1kR3FqJxk4cD8tP0wS7vYmA"])
    type: str
    idempotency_key: str | None = Field(description="The `id` it was reported with.")
    created_at: Moment
    expanded_at: Moment | None = Field(
        description="When the engine wrote its deliveries (within milliseconds of storing it); "
        "null until then."
    )
    deliveries: Count | None = Field(
        description="Its deliveries: one per webhook subscribed to its type, active when it was "
        "expanded and created no later than the event; null until expanded."
    )
    schema_problems: list[SchemaProblem] = Field(
        max_length=MAX_PROBLEMS,
        description="Where its `data` did not match its event type's schema when it was "
        "accepted in `warn` mode; empty when nothing was kept.",
    )

    @classmethod
    def of(cls, event: EventRow) -> "Event":
        expanded = event.expanded_at is not None
        return cls(
            id=event.uid,
            type=event.type,
            idempotency_key=event.idempotency_key,
            created_at=event.created_at,
            expanded_at=event.expanded_at if expanded else None,
            deliveries=event.delivery_count if expanded else None,
            schema_problems=stored_problems(event),
        )


class EventInput(BaseModel):
    """An event to deliver to every active webhook subscribed to its type. (Checked by
    ``webhooks.outbox.validate``, the check the CLI and ``dispatch`` share, which answers the
    event codes of docs/api.md.)"""

    type: str = Field(description="The event's slug.", json_schema_extra={"enum": EVENT_SLUGS})
    data: dict[str, Any] = Field(description="The event's data; at most 64 levels deep and 256 KB.")
    id: str | None = Field(
        None,
        description="An idempotency key: reporting the same `id` again answers the first event "
        "and stores nothing.",
        min_length=1,
        max_length=255,
    )


# ---------------------------------------------------------------- deliveries


class Attempt(Shape):
    id: BigId
    created_at: Moment
    url: str = Field(description="The URL it was sent to.")
    succeeded: bool = Field(description="Whether the receiver answered 2xx.")
    status_code: int | None = Field(description="The receiver's HTTP status; null if none came.")
    duration_ms: Count | None
    summary: str = Field(description="E.g. `200 OK in 84 ms` or `Timed out after 15 s`.")
    error: str | None = Field(
        description="Why it failed before an answer came (DNS, refused, timeout…)."
    )
    request_headers: dict[str, str] | None = Field(
        description="The headers sent, signature included."
    )
    response_headers: dict[str, str] | None
    response_body: str | None = Field(
        description="The start of the receiver's answer, as kept in the log."
    )

    @classmethod
    def of(cls, attempt: AttemptRow) -> "Attempt":
        return cls(
            id=attempt.id,
            created_at=attempt.created_at,
            url=attempt.url,
            succeeded=attempt.succeeded,
            status_code=attempt.response_status,
            duration_ms=attempt.duration_ms,
            summary=attempt.summary,
            error=attempt.error,
            request_headers=_stored_object(attempt.request_headers),
            response_headers=_stored_object(attempt.response_headers),
            response_body=attempt.response_body,
        )


def _stored_object(text: str | None) -> dict[str, str] | None:
    """Stored headers (a JSON object of strings), or None when they are missing or not that."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        return None
    return value


class Delivery(Shape):
    """One message to one webhook."""

    id: BigId
    msg_id: str = Field(
        description="The `webhook-id` header: the same on every attempt and redelivery.",
        pattern="^msg_",
        examples=["msg_2ZbH1kR3FqJxk4cD8tP0wS7vYmA"],
    )
    webhook_id: WebhookId
    event_id: str | None = Field(
        description="The event (`evt_…`); null for a test send.", pattern="^evt_"
    )
    event_type: str = Field(description="The event's slug.")
    status: Literal[tuple(status.value for status in DeliveryStatus)]  # type: ignore[valid-type]
    is_test: bool = Field(description="Sent by Send Test Event.")
    attempt_count: Count
    next_attempt_at: Moment | None = Field(
        description="When it is tried next, while pending or failing."
    )
    last_summary: str | None
    created_at: Moment
    body: str = Field(description="The JSON text sent, exactly as signed.")

    @staticmethod
    def members(delivery: DeliveryRow) -> dict[str, Any]:
        return {
            "id": delivery.id,
            "msg_id": delivery.msg_id,
            "webhook_id": delivery.webhook_id,
            "event_id": delivery.event.uid if delivery.event_id is not None else None,
            "event_type": delivery.event_type,
            "status": delivery.status,
            "is_test": delivery.is_test,
            "attempt_count": delivery.attempt_count,
            "next_attempt_at": delivery.next_attempt_at,
            "last_summary": delivery.last_summary,
            "created_at": delivery.created_at,
            "body": delivery.body,
        }

    @classmethod
    def of(cls, delivery: DeliveryRow) -> "Delivery":
        return cls(**cls.members(delivery))


class DeliveryWithAttempts(Delivery):
    attempts: list[Attempt] = Field(description="Newest first.")

    @classmethod
    def of(cls, delivery: DeliveryRow, attempts: list[AttemptRow]) -> "DeliveryWithAttempts":
        return cls(**cls.members(delivery), attempts=[Attempt.of(attempt) for attempt in attempts])


class DeliveryList(Shape):
    """A page of deliveries, newest first."""

    data: list[Delivery]
    next: str | None = Field(description="The path and query of the next page; null on the last.")


def _webhook_id(value: int | None) -> int:
    if value is None:
        raise rules.RuleError("Choose the webhook whose failed deliveries should be retried.")
    if not 1 <= value <= MAX_ID:
        raise rules.RuleError("That is not a webhook id.")
    return value


MOMENT_EXAMPLE = "Must be a date and time such as 2026-11-30T18:00:00Z."


def moment(value: str) -> datetime:
    """An ISO 8601 moment in UTC; one without a zone is taken as UTC."""
    if len(value) > 40 or not value.isascii():
        raise rules.RuleError(MOMENT_EXAMPLE)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as error:  # OverflowError: year 1 or 9999 shifted past
        raise rules.RuleError(MOMENT_EXAMPLE) from error


def _since(value: str | None) -> datetime:
    """To the second, a fraction dropped, as the admin's form reads it, so a delivery of that
    very second is retried too."""
    if value is None:
        raise rules.RuleError("Enter the date and time (UTC) to retry failed deliveries from.")
    return moment(value).replace(microsecond=0)


class RetryFailedInput(Input):
    """Checked by the same rules as the admin's Retry all failed form."""

    webhook_id: Annotated[
        int,
        Ruled(_webhook_id),
        Field(
            description="The webhook whose failed deliveries are sent again.",
            json_schema_extra={"minimum": 1, "maximum": MAX_ID},
        ),
    ]
    since: Annotated[
        str,
        Ruled(_since),
        Field(
            description="An ISO 8601 moment (UTC if it has no zone); deliveries that failed at or "
            "after it are sent now: the failed ones queued again, the failing ones (waiting for "
            "their next retry) retried now.",
            json_schema_extra={
                "format": "date-time",
                "maxLength": 40,
                "examples": ["2026-11-30T18:00:00Z"],
            },
        ),
    ]


class Queued(Shape):
    queued: Count = Field(
        description="Failed deliveries queued again, from the start of the retry schedule."
    )
    retried_now: Count = Field(
        description="Failing deliveries, waiting for their next retry, made due now (their "
        "schedule goes on if they fail again)."
    )


# ---------------------------------------------------------------- Zapier


class ZapierSubscription(Input):
    """Zapier's REST hook subscribe. The webhook made for it is named `Zapier: <event name>` and
    sends the `flat` payload format."""

    target_url: Annotated[Url, Field(description="Zapier's hook URL for the zap.")]
    event: EventSlug
    subscription_url: Any = Field(
        None,
        description="The old name of `target_url`, which Zapier still sends; ignored, whatever "
        "it holds.",
    )


class ZapierUnsubscribed(Shape):
    id: WebhookId
    deleted: Literal[True]


# ---------------------------------------------------------------- errors


class ErrorDetail(Shape):
    model_config = ConfigDict(json_schema_extra=_schema_without_defaults)

    code: str = Field(
        description="A stable, machine-readable code, e.g. `validation_failed`.",
        examples=["validation_failed"],
    )
    message: str = Field(description="What went wrong, for people.")
    fields: dict[str, list[str]] = Field(
        None, description="Only on 422: each field at fault and what is wrong with it."
    )


class Error(Shape):
    """The one shape of every error answer."""

    error: ErrorDetail

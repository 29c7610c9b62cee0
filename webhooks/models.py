"""Database models: admins, webhooks, deliveries and their attempts."""

import base64
import secrets
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webhooks.extensions import db, login_manager


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def new_signing_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def new_event_id() -> str:
    return "evt_" + secrets.token_urlsafe(18)


class DeliveryStatus(StrEnum):
    """Where a delivery stands; see docs/delivery-engine.md for the transitions, which
    ``webhooks.lifecycle`` makes."""

    PENDING = "pending"  # not tried yet, or queued again
    SUCCEEDED = "succeeded"
    FAILING = "failing"  # failed, a retry is scheduled
    FAILED = "failed"  # given up: schedule exhausted, webhook disabled or inactive
    TEST = "test"  # a Send Test Event; never queued

    @classmethod
    def due(cls) -> tuple["DeliveryStatus", ...]:
        """The states whose deliveries are sent when ``next_attempt_at`` comes."""
        return (cls.PENDING, cls.FAILING)


# The due states as SQL with their values written out: a partial index is used only by a query
# whose WHERE names the same constants (bound parameters do not match it).
DUE_STATES_SQL = "status IN ({})".format(
    ", ".join(f"'{status}'" for status in DeliveryStatus.due())
)


def due_status():
    """``deliveries.status`` is a due state, as the partial indexes on it are written."""
    return text("deliveries." + DUE_STATES_SQL)


# What grows with the traffic (events, deliveries, attempts) has BIGINT ids on PostgreSQL;
# SQLite's INTEGER PRIMARY KEY is 64 bits already, and must stay INTEGER to number the rows.
BigId = BigInteger().with_variant(Integer(), "sqlite")

SECRET_OVERLAP = timedelta(hours=24)
# Per-webhook isolation: requests in flight at once, and the rate limit (requests a second).
DEFAULT_MAX_IN_FLIGHT = 10
MAX_IN_FLIGHT_RANGE = (1, 1000)
RATE_LIMIT_RANGE = (1, 10000)
# What ``Webhook.event`` says, for clients that know one event per webhook, of a webhook that
# receives every event.
ALL_EVENTS = "*"
# Webhook.integration: made by a person (site or API), or subscribed by Zapier (REST hooks).
MANUAL, ZAPIER = "manual", "zapier"
PAYLOAD_FORMATS = {"standard": "Standard", "flat": "Flat"}


def signing_secrets(
    secret: str, previous: str | None, previous_expires_at: datetime | None, now: datetime
) -> list[str]:
    """The current secret, and the previous one during the overlap after a rotation."""
    if previous and previous_expires_at and as_utc(previous_expires_at) > now:
        return [secret, previous]
    return [secret]


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class User(UserMixin, db.Model):
    """An admin. Login sessions carry ``session_token``, not the id (Flask-Login's alternative
    id): changing the token ends every session of the user, copied cookies included."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    session_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def get_id(self) -> str:
        return self.session_token

    def set_password(self, password: str) -> None:
        method = current_app.config["PASSWORD_HASH_METHOD"]
        self.password_hash = generate_password_hash(password, method=method)
        self.end_sessions()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def end_sessions(self) -> None:
        """Log the user out everywhere: cookies carrying the old token no longer load a user."""
        self.session_token = new_session_token()


@login_manager.user_loader
def load_user(session_token: str) -> User | None:
    if not session_token:
        return None
    return db.session.scalar(select(User).where(User.session_token == session_token))


class Webhook(db.Model):
    """A receiver URL and the events it receives: those listed in ``webhook_events``, or every
    event, those added to the catalogue later included (``all_events``). Which events that is,
    and which webhooks receive an event, is asked of ``webhooks.subscriptions``."""

    __tablename__ = "webhooks"
    __table_args__ = (
        # Fan-out: the active webhooks that receive every event.
        Index("ix_webhooks_all_events_active", "all_events", "active"),
        # The list sorted by name, whatever the letter case: ORDER BY lower(name), id.
        Index("ix_webhooks_lower_name_id", func.lower(text("name")), "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(191), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    all_events: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    active: Mapped[bool] = mapped_column(default=True)
    secret: Mapped[str] = mapped_column(String(100), default=new_signing_secret)
    integration: Mapped[str] = mapped_column(String(32), default=MANUAL)
    payload_format: Mapped[str] = mapped_column(String(16), default="standard")
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None] = mapped_column(index=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    # The stored texts as codes with params, for pages in the reader's language
    # (docs/result-messages.md); None on rows from before them.
    disabled_message: Mapped[dict | None] = mapped_column(JSON)
    sent_count: Mapped[int] = mapped_column(default=0)
    # Isolation: at most ``max_in_flight`` requests at once, and ``rate_limit`` a second (None:
    # no limit); ``rate_slot_at`` is when the next request may go without exceeding the rate.
    max_in_flight: Mapped[int] = mapped_column(
        default=DEFAULT_MAX_IN_FLIGHT, server_default=text(str(DEFAULT_MAX_IN_FLIGHT))
    )
    rate_limit: Mapped[int | None]
    rate_slot_at: Mapped[datetime | None]
    # The circuit breaker: attempts in a row that found the receiver down (timeout, no
    # connection, 5xx); once open, the receiver is down since ``down_since`` and only a probe
    # is sent at ``next_probe_at``, the ``probe_step``-th step of the retry schedule.
    consecutive_failures: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    down_since: Mapped[datetime | None]
    next_probe_at: Mapped[datetime | None]
    probe_step: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    last_delivery_at: Mapped[datetime | None]
    last_delivery_ok: Mapped[bool | None]
    last_delivery_summary: Mapped[str | None] = mapped_column(String(255))
    last_delivery_message: Mapped[dict | None] = mapped_column(JSON)
    # Sent with every attempt and test (``webhooks.custom_headers``): a JSON object, or None.
    custom_headers: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    deliveries: Mapped[list["Delivery"]] = relationship(
        back_populates="webhook", cascade="all, delete-orphan", passive_deletes=True
    )
    # A list of webhooks loads them with ``selectinload`` (one statement for the page).
    event_rows: Mapped[list["WebhookEvent"]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="WebhookEvent.id"
    )

    @property
    def events(self) -> list[str]:
        """The slugs of the events listed for the webhook, in the order they were added
        (empty for a webhook that receives every event)."""
        return [row.event for row in self.event_rows]

    @events.setter
    def events(self, slugs: list[str]) -> None:
        """List these events; rows of events listed already are kept (and keep their place),
        so a save that changes nothing writes nothing."""
        kept = {row.event: row for row in self.event_rows}
        self.event_rows = [
            kept.get(slug) or WebhookEvent(event=slug) for slug in dict.fromkeys(slugs)
        ]

    @property
    def event(self) -> str:
        """One event, for clients that know one event per webhook: the first listed, or
        ``*`` for a webhook that receives every event."""
        if self.all_events:
            return ALL_EVENTS
        return self.event_rows[0].event if self.event_rows else ""

    def signing_secrets(self, now: datetime) -> list[str]:
        return signing_secrets(
            self.secret, self.previous_secret, self.previous_secret_expires_at, now
        )

    def rotate_secret(self, now: datetime) -> None:
        self.previous_secret = self.secret
        self.previous_secret_expires_at = now + SECRET_OVERLAP
        self.secret = new_signing_secret()

    @property
    def breaker_open(self) -> bool:
        return self.down_since is not None


class WebhookEvent(db.Model):
    """An event a webhook receives (one row per event; a webhook that receives every event
    has none)."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event", name="uq_webhook_events_webhook_id_event"),
        # Fan-out: the webhooks that receive an event.
        Index("ix_webhook_events_event_webhook_id", "event", "webhook_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(64))


class Event(db.Model):
    """An event reported by the platform; stored once, then expanded by the engine into a
    delivery for every webhook subscribed to it (``webhooks.worker.fanout``)."""

    __tablename__ = "events"
    __table_args__ = (
        # The events the engine has still to expand into deliveries.
        Index(
            "ix_events_unexpanded",
            "id",
            sqlite_where=text("expanded_at IS NULL"),
            postgresql_where=text("expanded_at IS NULL"),
        ),
        # The events accepted with schema problems, by time: the dashboard counts the last
        # day's from this index alone (the count makes it covering on SQLite too).
        Index(
            "ix_events_schema_warned",
            "created_at",
            "schema_problem_count",
            sqlite_where=text("schema_problem_count IS NOT NULL"),
            postgresql_where=text("schema_problem_count IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str] = mapped_column(String(40), unique=True, default=new_event_id)
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    delivery_count: Mapped[int] = mapped_column(default=0)  # set when expanded
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # When the engine wrote its deliveries, one per subscribed webhook; None until then.
    expanded_at: Mapped[datetime | None]
    # Where ``data`` did not match its event type's JSON Schema when it was accepted in "warn"
    # mode (``webhooks.schema_checks``): a JSON list of {"path", "message"}, at most
    # MAX_PROBLEMS, and how many; both None when nothing was found or nothing was checked.
    schema_problems: Mapped[str | None] = mapped_column(Text)
    schema_problem_count: Mapped[int | None]


class EventTypeSetting(db.Model):
    """An event type's own settings, set by an operator; an event type without a row follows
    the defaults (``SCHEMA_ENFORCEMENT``)."""

    __tablename__ = "event_type_settings"

    slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    # "off", "warn" or "reject" (``webhooks.schema_checks.MODES``).
    schema_mode: Mapped[str] = mapped_column(String(8))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WorkerProcess(db.Model):
    """A delivery worker process that is running, or was: it checks in every few seconds
    (``seen_at``), which is how /healthz knows a worker is alive wherever it runs."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))  # host:pid
    engine: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ApiToken(db.Model):
    """A bearer token for the API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(16), default="full")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Delivery(db.Model):
    """One message to one webhook: the body is fixed once, attempts may be many."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_webhook_id", "webhook_id", "id"),
        Index("ix_deliveries_status_id", "status", "id"),
        Index("ix_deliveries_event_type_id", "event_type", "id"),
        # The dashboard: deliveries of a status created in an hour are counted from the index
        # alone, and so are each webhook's failures of the last day.
        Index("ix_deliveries_status_created_at", "status", "created_at", "webhook_id"),
        # The queue: deliveries still to send, by when they are due, with their webhook so a
        # claim can skip those of webhooks that are busy without reading the rows.
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            "webhook_id",
            sqlite_where=text(DUE_STATES_SQL),
            postgresql_where=text(DUE_STATES_SQL),
            postgresql_include=["id"],
        ),
        # One webhook's queue (parking it while its receiver is down).
        Index(
            "ix_deliveries_webhook_due",
            "webhook_id",
            "next_attempt_at",
            sqlite_where=text(DUE_STATES_SQL),
            postgresql_where=text(DUE_STATES_SQL),
        ),
        # The requests in flight, by webhook: the rows a worker holds under a lease.
        Index(
            "ix_deliveries_leased",
            "webhook_id",
            sqlite_where=text("lease_token IS NOT NULL"),
            postgresql_where=text("lease_token IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(40), unique=True, default=new_message_id)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    is_test: Mapped[bool] = mapped_column(default=False)
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(
            DeliveryStatus,
            native_enum=False,
            length=16,
            values_callable=lambda statuses: [status.value for status in statuses],
            validate_strings=True,
        )
    )
    attempt_count: Mapped[int] = mapped_column(default=0)
    # Failures since the delivery was (re)queued: the step of the retry schedule.
    round_failures: Mapped[int] = mapped_column(default=0)
    # When it is due; while a worker holds it, when that worker's lease runs out.
    next_attempt_at: Mapped[datetime | None]
    lease_token: Mapped[str | None] = mapped_column(String(32))
    last_summary: Mapped[str | None] = mapped_column(String(255))
    last_message: Mapped[dict | None] = mapped_column(JSON)  # docs/result-messages.md
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # When it last failed: an attempt failed, or it was given up (schedule exhausted, webhook
    # disabled or inactive); None once it succeeded. "Retry all failed since" reads it.
    failed_at: Mapped[datetime | None]

    webhook: Mapped[Webhook] = relationship(back_populates="deliveries")
    event: Mapped[Event | None] = relationship()
    attempts: Mapped[list["Attempt"]] = relationship(
        back_populates="delivery",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Attempt.id",
    )

    @property
    def last_attempt(self) -> "Attempt | None":
        return self.attempts[-1] if self.attempts else None


class Attempt(db.Model):
    """One HTTP request of a delivery and what came back (or why nothing did)."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    url: Mapped[str] = mapped_column(String(2048))
    request_headers: Mapped[str] = mapped_column(Text)
    succeeded: Mapped[bool]
    response_status: Mapped[int | None]
    response_headers: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(String(255))
    message: Mapped[dict | None] = mapped_column(JSON)  # docs/result-messages.md

    delivery: Mapped[Delivery] = relationship(back_populates="attempts")

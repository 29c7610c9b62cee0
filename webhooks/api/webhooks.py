"""Webhooks over the API: list, create, read, change, delete, the signing secret, and Send
Test Event. Every change is checked by ``WebhookInput``/``WebhookChanges``, whose fields apply
the admin form's rules (``webhooks.rules``), and made the way the admin screens make it, so the
API and the screens cannot disagree."""

from datetime import UTC, datetime

from flask import g, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webhooks import custom_headers, lifecycle
from webhooks.admin.views import get_webhook_or_404
from webhooks.api.blueprint import bp
from webhooks.api.inputs import (
    checked,
    gather,
    invalid,
    json_object,
    query_bool,
    query_choice,
    query_int,
    unknown_parameters,
)
from webhooks.api.shapes import (
    Secret,
    TestResult,
    WebhookChanges,
    WebhookInput,
    WebhookList,
    WebhookWithSecret,
    body,
)
from webhooks.api.shapes import Webhook as WebhookShape
from webhooks.auth import access
from webhooks.catalogue import all_events
from webhooks.extensions import db
from webhooks.models import MANUAL, Webhook
from webhooks.routing import MAX_PAGE
from webhooks.subscriptions import receiving

PER_PAGE = 20
MAX_PER_PAGE = 100
LIST_PARAMETERS = ("event", "active", "page", "per_page")


@bp.get("/webhooks")
def list_webhooks():
    """Newest first, by page number; ``next`` keeps the filters."""
    problems = unknown_parameters(LIST_PARAMETERS)
    event = gather(problems, query_choice, "event", {event.slug for event in all_events()})
    active = gather(problems, query_bool, "active")
    page_number = gather(problems, query_int, "page", 1, high=MAX_PAGE)
    per_page = gather(problems, query_int, "per_page", PER_PAGE, high=MAX_PER_PAGE)
    if problems:
        raise invalid(problems)

    statement = select(Webhook).options(selectinload(Webhook.event_rows))
    if event is not None:
        statement = statement.where(receiving(event))
    if active is not None:
        statement = statement.where(Webhook.active == active)
    page = db.paginate(
        statement.order_by(Webhook.created_at.desc(), Webhook.id.desc()),
        page=page_number,
        per_page=per_page,
        max_per_page=MAX_PER_PAGE,
        error_out=False,
    )
    following = None
    if page.has_next:
        filters = {"event": event, "active": None if active is None else str(active).lower()}
        following = url_for(
            "api.list_webhooks",
            **{name: value for name, value in filters.items() if value is not None},
            page=page_number + 1,
            per_page=per_page,
        )
    return body(
        WebhookList(
            data=[WebhookShape.of(webhook) for webhook in page.items],
            page=page_number,
            per_page=per_page,
            total=page.total,
            next=following,
        )
    )


@bp.post("/webhooks")
def create_webhook():
    """As Add New Webhook: the secret is answered here, and then only by ``/secret``."""
    webhook = new_webhook(checked(WebhookInput, json_object()))
    db.session.add(webhook)
    db.session.commit()
    location = url_for("api.webhook_resource", webhook_id=webhook.id)
    return body(WebhookWithSecret.of(webhook)), 201, {"Location": location}


def new_webhook(given: WebhookInput, integration: str = MANUAL) -> Webhook:
    """A webhook with the checked values (the caller adds and commits it)."""
    values = given.values()
    headers = values.pop("headers") or {}
    every, events = given.receives()
    return Webhook(
        **values,
        all_events=every,
        events=events,
        custom_headers=custom_headers.dump(headers),
        integration=integration,
    )


@bp.route("/webhooks/<id:webhook_id>", methods=["GET", "PATCH", "DELETE"])
def webhook_resource(webhook_id: int):
    """Read, change or delete one webhook. One rule for the three methods: with a rule per
    method, Werkzeug answers an id out of range (0, 10**20) with 405 for the later methods,
    because it refuses the id only after choosing the rule by method."""
    webhook = get_webhook_or_404(webhook_id)
    if request.method == "PATCH":
        return _update(webhook)
    if request.method == "DELETE":
        return _delete(webhook)
    return body(WebhookShape.of(webhook))


def _update(webhook: Webhook):
    """A partial edit: members left out keep their values. As on the edit screen, making a
    disabled webhook active re-enables it."""
    stored_headers = custom_headers.load(webhook.custom_headers)
    given = checked(WebhookChanges, json_object(), context={"stored_headers": stored_headers})
    changes = given.changes()
    url_before = webhook.url
    if "headers" in changes:
        webhook.custom_headers = custom_headers.dump(changes.pop("headers"))
    for name, value in changes.items():
        setattr(webhook, name, value)
    if (receives := given.receives()) is not None:
        webhook.all_events, webhook.events = receives
    lifecycle.settings_saved(webhook, url_before)
    db.session.commit()
    return body(WebhookShape.of(webhook))


def _delete(webhook: Webhook):
    """The webhook and its delivery log (the database cascades to deliveries and attempts)."""
    _no_body()
    db.session.delete(webhook)
    db.session.commit()
    return "", 204


@bp.get("/webhooks/<id:webhook_id>/secret")
def get_secret(webhook_id: int):
    """A signing secret is a credential: a read-only token may not see it, though this is a
    GET."""
    if g.api_token.scope == "read":
        return access.read_only_token()
    webhook = get_webhook_or_404(webhook_id)
    return body(Secret.of(webhook, datetime.now(UTC)))


@bp.post("/webhooks/<id:webhook_id>/rotate-secret")
def rotate_secret(webhook_id: int):
    """A new secret; the old one keeps signing too until ``previous_secret_expires_at``."""
    webhook = get_webhook_or_404(webhook_id)
    _no_body()
    now = datetime.now(UTC)
    webhook.rotate_secret(now)
    db.session.commit()
    return body(Secret.of(webhook, now))


@bp.post("/webhooks/<id:webhook_id>/test")
def test_webhook(webhook_id: int):
    """Send Test Event: 200 with the honest result, whether the receiver took it or not."""
    webhook = get_webhook_or_404(webhook_id)
    _no_body()
    return body(TestResult.of(lifecycle.send_test_event(webhook)))


def _no_body() -> None:
    """For actions that take no input: an empty body, or an empty JSON object."""
    if not request.get_data():
        return
    payload = json_object()
    if payload:
        raise invalid({name: ["Unknown field; this endpoint takes no body."] for name in payload})

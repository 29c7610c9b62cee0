"""Webhooks over the API: list, create, read, change, delete, the signing secret, and Send
Test Event. Every change is checked by the admin site's ``WebhookForm`` and made the way the
admin screens make it, so the API and the screens cannot disagree."""

from datetime import UTC, datetime
from typing import Any

from flask import g, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webhooks import custom_headers, lifecycle
from webhooks.admin.forms import WebhookForm
from webhooks.admin.views import get_webhook_or_404
from webhooks.api import event_members
from webhooks.api.blueprint import bp
from webhooks.api.inputs import (
    form_from_json,
    gather,
    header_values,
    invalid,
    json_object,
    query_bool,
    query_choice,
    query_int,
    unknown_parameters,
)
from webhooks.api.serializers import secret_json, test_result_json, webhook_json
from webhooks.auth import access
from webhooks.catalogue import all_events
from webhooks.extensions import db
from webhooks.models import ALL_EVENTS, DEFAULT_MAX_IN_FLIGHT, Webhook
from webhooks.routing import MAX_PAGE
from webhooks.subscriptions import receiving

PER_PAGE = 20
MAX_PER_PAGE = 100
LIST_PARAMETERS = ("event", "active", "page", "per_page")
# The JSON members a webhook is written with, and their JSON types.
FIELDS = {
    "name": str,
    "url": str,
    "event": str,  # read by ``event_members``, as ``events``
    "events": list,
    "payload_format": str,
    "active": bool,
    "max_in_flight": int,
    "rate_limit": (int, type(None)),
}
# The members set on the webhook as the form has them (its events are set from the form's two
# event fields).
SET_FIELDS = [name for name in FIELDS if name not in event_members.MEMBERS]
CREATE_DEFAULTS = {
    "payload_format": "standard",
    "active": True,
    "max_in_flight": DEFAULT_MAX_IN_FLIGHT,
    "rate_limit": None,
}


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
    return {
        "data": [webhook_json(webhook) for webhook in page.items],
        "page": page_number,
        "per_page": per_page,
        "total": page.total,
        "next": following,
    }


@bp.post("/webhooks")
def create_webhook():
    """As Add New Webhook: the secret is answered here, and then only by ``/secret``."""
    form, headers = _checked(json_object(), CREATE_DEFAULTS, {})
    webhook = form.new_webhook()
    if headers is not None:
        webhook.custom_headers = custom_headers.dump(headers)
    db.session.add(webhook)
    db.session.commit()
    body = {**webhook_json(webhook), **secret_json(webhook, datetime.now(UTC))}
    location = url_for("api.webhook_resource", webhook_id=webhook.id)
    return body, 201, {"Location": location}


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
    return webhook_json(webhook)


def _update(webhook: Webhook):
    """A partial edit: members left out keep their values. As on the edit screen, making a
    disabled webhook active re-enables it."""
    current = {name: getattr(webhook, name) for name in SET_FIELDS}
    current.update(event_members.current_values(webhook))
    form, headers = _checked(json_object(), current, custom_headers.load(webhook.custom_headers))
    url_before = webhook.url
    for name in SET_FIELDS:
        setattr(webhook, name, getattr(form, name).data)
    webhook.all_events, webhook.events = form.chosen_events()
    if headers is not None:
        webhook.custom_headers = custom_headers.dump(headers)
    lifecycle.settings_saved(webhook, url_before)
    db.session.commit()
    return webhook_json(webhook)


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
    return secret_json(webhook, datetime.now(UTC))


@bp.post("/webhooks/<id:webhook_id>/rotate-secret")
def rotate_secret(webhook_id: int):
    """A new secret; the old one keeps signing too until ``previous_secret_expires_at``."""
    webhook = get_webhook_or_404(webhook_id)
    _no_body()
    now = datetime.now(UTC)
    webhook.rotate_secret(now)
    db.session.commit()
    return secret_json(webhook, now)


@bp.post("/webhooks/<id:webhook_id>/test")
def test_webhook(webhook_id: int):
    """Send Test Event: 200 with the honest result, whether the receiver took it or not."""
    webhook = get_webhook_or_404(webhook_id)
    _no_body()
    return test_result_json(lifecycle.send_test_event(webhook))


def _checked(
    payload: dict[str, Any], current: dict[str, Any], stored_headers: dict[str, str]
) -> tuple[WebhookForm, dict[str, str] | None]:
    """The form filled from the JSON and the custom headers to store (None when ``headers``
    is left out), or a 422 with every problem of both."""
    problems: dict[str, list[str]] = {}
    headers = None
    if "headers" in payload:
        headers = gather(problems, header_values, payload.pop("headers"), stored_headers)
    refused = len(problems)
    events = gather(problems, event_members.read, payload)
    if len(problems) > refused:
        # Refused already: the form is given every event instead, so that it speaks only of
        # the other members.
        events = event_members.form_values([ALL_EVENTS])
    current = {**current, **(events or {})}
    form = gather(problems, form_from_json, WebhookForm, payload, fields=FIELDS, current=current)
    if problems:
        raise invalid(problems)
    return form, headers


def _no_body() -> None:
    """For actions that take no input: an empty body, or an empty JSON object."""
    if not request.get_data():
        return
    payload = json_object()
    if payload:
        raise invalid({name: ["Unknown field; this endpoint takes no body."] for name in payload})

"""Zapier REST hooks: POST /api/v1/zapier/subscribe, DELETE /api/v1/zapier/subscribe/{id} and
GET /api/v1/zapier/perform-list.

Zapier turns a zap on by subscribing its own ``target_url`` to an event, and off by
unsubscribing the id we answered; "perform list" gives the zap editor sample data. A subscription
is an ordinary webhook with ``integration = "zapier"``, checked by the admin site's
``WebhookForm`` like any other, so the rules never differ. When its receiver answers 410 Gone,
the worker deletes it (see ``webhooks.lifecycle.disable``).
"""

import json
from datetime import UTC, datetime
from typing import Any

from flask import jsonify
from sqlalchemy import delete, select
from wtforms.validators import Length

from webhooks.admin.forms import WebhookForm
from webhooks.api.blueprint import bp
from webhooks.api.errors import api_error
from webhooks.api.inputs import (
    ApiInputError,
    form_from_json,
    invalid,
    json_object,
    query_choice,
    unknown_parameters,
)
from webhooks.api.serializers import webhook_json
from webhooks.catalogue import all_events, event_name, get_event
from webhooks.delivery.message import render_body
from webhooks.extensions import db
from webhooks.models import ALL_EVENTS, ZAPIER, Webhook
from webhooks.subscriptions import receiving, same_events

# The original product sent Zapier the data object alone, "flat JSON, no envelope", and its
# sample payloads are flat too; a zap reads the top-level fields of what it receives, so a
# subscription gets the data at the top level (customer_name, payment_total, ...) rather than
# under the Standard envelope's "data".
PAYLOAD_FORMAT = "flat"
SUBSCRIBE_MEMBERS = frozenset({"target_url", "event"})
# Zapier's REST hook subscribe also sends `subscription_url`, a copy of `target_url` under its
# old name; Zapier's documentation says to ignore it, so it is neither refused nor used.
IGNORED_MEMBERS = frozenset({"subscription_url"})
# The form's field → the member of the subscribe body it came from. The name is made from the
# event, so a problem with it is reported under `event`.
MEMBER_OF = {"url": "target_url", "event": "event", "name": "event"}
FORM_FIELDS = {"name": str, "url": str, "event": str, "payload_format": str, "active": bool}


def _name_max() -> int:
    """The longest name WebhookForm accepts, read from its own Length rule."""
    lengths = [
        rule.max for rule in WebhookForm.name.kwargs["validators"] if isinstance(rule, Length)
    ]
    return min(length for length in lengths if length and length > 0)


NAME_MAX = _name_max()


def subscription_name(event: Any) -> str:
    """The webhook's name, "Zapier: <event name>", cut to the longest name the form takes."""
    if not isinstance(event, str):
        return "Zapier"
    return f"Zapier: {event_name(event)}"[:NAME_MAX]


def _form_values(payload: dict[str, Any]) -> dict[str, Any]:
    """The subscribe body as the admin form's fields; a member left out stays out, so the
    form's own "required" message answers it."""
    values: dict[str, Any] = {
        "name": subscription_name(payload.get("event")),
        "payload_format": PAYLOAD_FORMAT,
        "active": True,
    }
    if "target_url" in payload:
        values["url"] = payload["target_url"]
    if "event" in payload:
        values["event"] = payload["event"]
    return values


@bp.post("/zapier/subscribe")
def zapier_subscribe():
    """Subscribe a zap: ``{"target_url", "event"}`` → 201 with the new webhook (its ``id`` is
    what Zapier sends back to unsubscribe), or 200 with the one this same subscription made
    before. Problems are reported under the caller's names."""
    payload = json_object()
    problems: dict[str, list[str]] = {}
    for name in payload:
        if name not in SUBSCRIBE_MEMBERS and name not in IGNORED_MEMBERS:
            problems[name] = ["Unknown field; this endpoint takes `target_url` and `event`."]
    form = None
    try:
        form = form_from_json(
            WebhookForm,
            _form_values(payload),
            fields=FORM_FIELDS,
        )
    except ApiInputError as refused:
        if refused.fields is None:
            raise
        for name, messages in refused.fields.items():
            listed = problems.setdefault(MEMBER_OF.get(name, name), [])
            listed.extend(message for message in messages if message not in listed)
    if form is not None and form.event.data == ALL_EVENTS:
        # A zap is triggered by one event, and its editor's sample data is that event's.
        problems.setdefault("event", []).append(
            "Must be the slug of one event, e.g. payment_received."
        )
    if problems:
        raise invalid(problems)
    # Zapier retries a subscribe whose answer it did not get: the same zap must not end up
    # with two webhooks (and every event twice), so the existing one is answered again.
    webhook = form.new_webhook(integration=ZAPIER)
    existing = next(
        (
            other
            for other in db.session.scalars(
                select(Webhook)
                .where(
                    Webhook.integration == ZAPIER,
                    Webhook.url == form.url.data,
                    receiving(form.event.data),
                )
                .order_by(Webhook.id)
            )
            if same_events(webhook, other)
        ),
        None,
    )
    if existing is not None:
        return webhook_json(existing), 200
    db.session.add(webhook)
    db.session.commit()
    return webhook_json(webhook), 201


@bp.delete("/zapier/subscribe/<id:webhook_id>")
def zapier_unsubscribe(webhook_id: int):
    """Unsubscribe a zap: delete the webhook, with its delivery log, if Zapier created it.

    One DELETE that names the integration, so a webhook a person made is never removed, even
    if it changed between reading and deleting."""
    deleted = db.session.execute(
        delete(Webhook).where(Webhook.id == webhook_id, Webhook.integration == ZAPIER)
    ).rowcount
    db.session.commit()
    if deleted:
        return {"id": webhook_id, "deleted": True}
    if db.session.get(Webhook, webhook_id) is None:
        return api_error(404, "not_found", f"There is no webhook {webhook_id}.")
    return api_error(
        409,
        "conflict",
        f"Webhook {webhook_id} was not created by Zapier; Zapier may only unsubscribe its own "
        "webhooks. Delete it on the admin site or with DELETE /api/v1/webhooks/{id}.",
    )


@bp.get("/zapier/perform-list")
def zapier_perform_list():
    """The event's sample data, in a list as Zapier's "perform list" wants it, in exactly the
    shape a subscription delivers it."""
    problems = unknown_parameters(("event",))
    if problems:
        raise invalid(problems)
    slug = query_choice("event", {event.slug for event in all_events()})
    if slug is None:
        raise invalid({"event": ["Required: the slug of an event, e.g. payment_received."]})
    body = render_body(PAYLOAD_FORMAT, slug, get_event(slug).sample_data(), datetime.now(UTC))
    return jsonify([json.loads(body)])

"""Zapier REST hooks: POST /api/v1/zapier/subscribe, DELETE /api/v1/zapier/subscribe/{id} and
GET /api/v1/zapier/perform-list.

Zapier turns a zap on by subscribing its own ``target_url`` to an event, and off by
unsubscribing the id we answered; "perform list" gives the zap editor sample data. A subscription
is an ordinary webhook with ``integration = "zapier"``, checked by the same rules
(``webhooks.rules``) as any other, so the rules never differ. When its receiver answers 410 Gone,
the worker deletes it (see ``webhooks.lifecycle.disable``).
"""

import json
from datetime import UTC, datetime
from typing import Any

from flask import jsonify
from sqlalchemy import delete, select

from webhooks import rules
from webhooks.api.blueprint import bp
from webhooks.api.errors import api_error
from webhooks.api.inputs import checked, invalid, json_object, query_choice, unknown_parameters
from webhooks.api.shapes import Webhook as WebhookShape
from webhooks.api.shapes import WebhookInput, ZapierSubscription, body
from webhooks.api.webhooks import new_webhook
from webhooks.catalogue import all_events, event_name, get_event
from webhooks.delivery.message import render_body
from webhooks.extensions import db
from webhooks.models import ZAPIER, Webhook
from webhooks.subscriptions import receiving, same_events

# The original product sent Zapier the data object alone, "flat JSON, no envelope", and its
# sample payloads are flat too; a zap reads the top-level fields of what it receives, so a
# subscription gets the data at the top level (customer_name, payment_total, ...) rather than
# under the Standard envelope's "data".
PAYLOAD_FORMAT = "flat"
NAME_MAX = rules.NAME_LENGTH[1]


def subscription_name(event: Any) -> str:
    """The webhook's name, "Zapier: <event name>", cut to the longest name the rules take."""
    if not isinstance(event, str):
        return "Zapier"
    return f"Zapier: {event_name(event)}"[:NAME_MAX]


@bp.post("/zapier/subscribe")
def zapier_subscribe():
    """Subscribe a zap: ``{"target_url", "event"}`` → 201 with the new webhook (its ``id`` is
    what Zapier sends back to unsubscribe), or 200 with the one this same subscription made
    before. Problems are reported under the caller's names."""
    subscription = checked(ZapierSubscription, json_object())
    # Zapier's `subscription_url` (the old name of `target_url`) is ignored, as Zapier asks.
    # The name is made from the event: a problem with it is reported under `event`.
    try:
        name = rules.name(subscription_name(subscription.event))
    except rules.RuleError as error:
        raise invalid({"event": [str(error)]}) from error
    given = WebhookInput(
        name=name,
        url=subscription.target_url,
        event=subscription.event,
        payload_format=PAYLOAD_FORMAT,
    )
    # Zapier retries a subscribe whose answer it did not get: the same zap must not end up
    # with two webhooks (and every event twice), so the existing one is answered again.
    webhook = new_webhook(given, integration=ZAPIER)
    candidates = db.session.scalars(
        select(Webhook)
        .where(
            Webhook.integration == ZAPIER,
            Webhook.url == given.url,
            receiving(given.event),
        )
        .order_by(Webhook.id)
    )
    existing = next((other for other in candidates if same_events(webhook, other)), None)
    if existing is not None:
        return body(WebhookShape.of(existing)), 200
    db.session.add(webhook)
    db.session.commit()
    return body(WebhookShape.of(webhook)), 201


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

"""The test panel's form: which event, and the data to send with it."""

import json

from flask import current_app
from flask_babel import gettext as _
from wtforms import SelectChoice, SelectField, TextAreaField
from wtforms.validators import ValidationError

from webhooks.catalogue import event_name, get_event
from webhooks.forms import PostedForm
from webhooks.i18n import _l
from webhooks.models import Webhook
from webhooks.outbox import EventError, check_data
from webhooks.subscriptions import receivable_events
from webhooks.templating import format_number


def panel_events(webhook: Webhook) -> list[str]:
    """The events the panel lets the admin choose for this webhook: those it receives."""
    return receivable_events(webhook)


def sample_text(slug: str) -> str:
    """An event's sample data as the panel prefills it, pretty-printed."""
    event = get_event(slug)
    return json.dumps(event.sample_data() if event else {}, indent=2, ensure_ascii=False)


def panel_samples(webhook: Webhook) -> dict[str, str]:
    """The prefilled data of each event the panel offers, by slug (the script switches them)."""
    return {slug: sample_text(slug) for slug in panel_events(webhook)}


class TestPanelForm(PostedForm):
    # Ids of their own: the webhook's page also holds the settings form, with its own Event.
    event = SelectField(_l("Event"), id="test-event", validate_choice=False)
    payload = TextAreaField(
        _l("Event data (JSON)"),
        id="test-payload",
        render_kw={"rows": 14, "spellcheck": "false", "autocomplete": "off", "class": "code"},
        description=_l(
            "The event's data object, prefilled with the event's sample. It is sent as this "
            "webhook sends the event: in its payload format, signed, with its custom headers."
        ),
    )

    def __init__(self, webhook: Webhook, *args, **kwargs) -> None:
        self.webhook = webhook
        self.checked_data: dict | None = None
        super().__init__(*args, **kwargs)
        self.event.choices = [
            SelectChoice(slug, event_name(slug)) for slug in panel_events(webhook)
        ]

    @classmethod
    def prefilled(cls, webhook: Webhook) -> "TestPanelForm":
        """The panel as the page first shows it: the first of the webhook's events, with its
        sample data. (A posted form has no defaults: what is missing from it is refused.)"""
        event = panel_events(webhook)[0]
        return cls(webhook, formdata=None, event=event, payload=sample_text(event))

    def validate_event(self, field) -> None:
        if field.data not in panel_events(self.webhook):
            raise ValidationError(
                _("This webhook does not receive that event; choose one of its events.")
            )

    def validate_payload(self, field) -> None:
        text = field.data or ""
        if not text.strip():
            raise ValidationError(_("Enter the event data: a JSON object."))
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as error:
            raise ValidationError(
                _("The event data is not valid JSON: %(error)s.", error=error)
            ) from error
        if not isinstance(data, dict):
            raise ValidationError(_("The event data must be a JSON object: {…}."))
        try:
            check_data(data)
        except EventError as error:
            if error.code == "payload_too_large":
                raise ValidationError(
                    _(
                        "The event data is too large: events may have at most %(limit)s "
                        "bytes of JSON.",
                        limit=format_number(current_app.config["MAX_EVENT_BYTES"]),
                    )
                ) from error
            raise ValidationError(
                _("The event data cannot be sent: %(error)s", error=error.message)
            ) from error
        self.checked_data = data

"""Forms of the webhook screens; every rule about a webhook's fields lives here."""

from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    URLField,
)
from wtforms.validators import InputRequired, Length, ValidationError

from webhooks.catalogue import event_choices, get_event
from webhooks.models import MANUAL, PAYLOAD_FORMATS, Webhook

URL_MAX = 2048


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def printable_text(form, field) -> None:
    """No control characters (a NUL cannot even be stored by PostgreSQL) and no lone halves of
    a surrogate pair (which cannot be written as UTF-8)."""
    value = field.data or ""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValidationError("Remove the control characters (such as tabs or line breaks).")
    try:
        value.encode()
    except UnicodeEncodeError as error:
        raise ValidationError("The text contains characters that cannot be stored.") from error


def webhook_url(form, field) -> None:
    """An absolute http(s) URL with a host name and no credentials in it."""
    value = field.data or ""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValidationError("The URL must not contain spaces or control characters.")
    try:
        value.encode()
    except UnicodeEncodeError as error:
        raise ValidationError("The URL contains characters that cannot be stored.") from error
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as error:
        raise ValidationError(f"This is not a valid URL ({error}).") from error
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationError("The URL must start with http:// or https://.")
    if not parts.hostname:
        raise ValidationError("The URL must include a host name, e.g. https://example.com/hook.")
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            "Remove the user name and password from the URL; credentials in URLs leak into logs."
        )
    if port == 0:
        raise ValidationError("The port in the URL is not valid.")
    try:
        parts.hostname.encode("idna")
    except UnicodeError as error:
        raise ValidationError("The host name in the URL is not valid.") from error


class WebhookForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[
            InputRequired("Give the webhook a name."),
            Length(min=2, max=191, message="The name must be 2 to 191 characters long."),
            printable_text,
        ],
        filters=[_strip],
        render_kw={"placeholder": "E.g. Zapier Integration", "maxlength": 191},
    )
    url = URLField(
        "URL",
        validators=[
            InputRequired("Enter the URL that should receive the events."),
            Length(max=URL_MAX, message=f"The URL can be at most {URL_MAX} characters long."),
            webhook_url,
        ],
        filters=[_strip],
        render_kw={"placeholder": "https://example.com/webhooks/receiver", "maxlength": URL_MAX},
        description="The endpoint that receives the event's payload as a signed JSON POST.",
    )
    event = SelectField(
        "Event",
        choices=[SelectChoice(slug, name) for slug, name in event_choices()],
        validate_choice=False,
        description="The event that triggers this webhook.",
    )
    payload_format = SelectField(
        "Payload format",
        choices=[SelectChoice(value, label) for value, label in PAYLOAD_FORMATS.items()],
        default="standard",
        validate_choice=False,
        description=(
            'Standard sends the event in an envelope: {"type", "timestamp", "data"}. '
            "Flat sends the data object alone, as the original Ultimate Multisite did, for "
            "receivers built for it. Both are signed the same way."
        ),
    )
    active = BooleanField("Active", default=True, description="Inactive webhooks receive nothing.")
    submit = SubmitField("Add New Webhook")

    def new_webhook(self, integration: str = MANUAL) -> Webhook:
        """A webhook with the form's values (the caller adds and commits it): the one way the
        site, the API and Zapier subscriptions make a webhook."""
        return Webhook(
            name=self.name.data,
            url=self.url.data,
            event=self.event.data,
            payload_format=self.payload_format.data,
            active=self.active.data,
            integration=integration,
        )

    def validate_event(self, field) -> None:
        if get_event(field.data or "") is None:
            raise ValidationError("Choose one of the events in the list.")

    def validate_payload_format(self, field) -> None:
        if field.data not in PAYLOAD_FORMATS:
            raise ValidationError("Choose a payload format: Standard or Flat.")


class ConfirmForm(FlaskForm):
    """An empty form: a POST that carries only its CSRF token."""


BULK_ACTIONS = {"activate": "Activate", "deactivate": "Deactivate", "delete": "Delete"}


class BulkForm(FlaskForm):
    action = SelectField(
        "Bulk action",
        choices=[SelectChoice(value, label) for value, label in BULK_ACTIONS.items()],
        validate_choice=False,
    )
    confirmed = HiddenField()

    def validate_action(self, field) -> None:
        if field.data not in BULK_ACTIONS:
            raise ValidationError("Choose a bulk action.")

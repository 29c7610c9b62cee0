"""Forms of the delivery log: the filters (a GET form), redelivery and recovery (POSTs)."""

from dataclasses import dataclass
from datetime import UTC, date

from flask_wtf import FlaskForm
from wtforms import DateField, DateTimeLocalField, IntegerField, SelectChoice, SelectField
from wtforms.validators import InputRequired, NumberRange
from wtforms.widgets import HiddenInput

from webhooks.admin.forms import ConfirmForm
from webhooks.catalogue import all_events, get_event
from webhooks.routing import MAX_ID

__all__ = ["STATUSES", "ConfirmForm", "FilterForm", "RecoverForm", "parse_id"]

# Every state a delivery can be in, with the label the screens show.
STATUSES = {
    "pending": "Pending",
    "succeeded": "Succeeded",
    "failing": "Failing",
    "failed": "Failed",
    "test": "Test",
}
NOTE_VALUE_MAX = 40


def parse_id(raw: str | None) -> int | None:
    """A database id written as plain digits, 1 to MAX_ID; None for anything else."""
    raw = (raw or "").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(MAX_ID)):
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


def _quoted(value: str) -> str:
    value = value if len(value) <= NOTE_VALUE_MAX else value[: NOTE_VALUE_MAX - 1] + "…"
    return f"“{value}”"


@dataclass(frozen=True)
class Filters:
    """The filters that were understood; ``webhook_id`` is still to be looked up."""

    status: str | None = None
    event: str | None = None
    webhook_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None


class FilterForm(FlaskForm):
    """The filters above the delivery list. Read from the query string; never refuses a
    request: values it cannot use are dropped and explained in ``notes``."""

    class Meta:
        csrf = False

    status = SelectField(
        "Status",
        choices=[SelectChoice("", "Any status")]
        + [SelectChoice(value, label) for value, label in STATUSES.items()],
        validate_choice=False,
    )
    event = SelectField(
        "Event",
        choices=[SelectChoice("", "Any event")]
        + [SelectChoice(event.slug, event.name) for event in all_events()],
        validate_choice=False,
    )
    webhook = SelectField(
        "Webhook", choices=[SelectChoice("", "Any webhook")], validate_choice=False
    )
    date_from = DateField("From", name="from", description="UTC day")
    date_to = DateField("To", name="to", description="UTC day, included")

    def set_webhook_choices(self, webhooks: list[tuple[int, str]]) -> None:
        self.webhook.choices = [SelectChoice("", "Any webhook")] + [
            SelectChoice(str(webhook_id), f"{name} (#{webhook_id})")
            for webhook_id, name in webhooks
        ]

    def read(self) -> tuple[Filters, list[str]]:
        """The usable filters, and a note for each value that was ignored."""
        self.validate()
        notes: list[str] = []

        status = self.status.data or ""
        if status and status not in STATUSES:
            notes.append(
                f"Ignored the status {_quoted(status)}: choose one of " + ", ".join(STATUSES) + "."
            )
            self.status.data = status = ""

        event = self.event.data or ""
        if event and get_event(event) is None:
            notes.append(
                f"Ignored the event {_quoted(event)}: it is not an event in the catalogue."
            )
            self.event.data = event = ""

        webhook_raw = self.webhook.data or ""
        webhook_id = parse_id(webhook_raw)
        if webhook_raw and webhook_id is None:
            notes.append(f"Ignored the webhook {_quoted(webhook_raw)}: it is not a webhook id.")
            self.webhook.data = ""

        days: dict[str, date | None] = {}
        for field, label in ((self.date_from, "from"), (self.date_to, "to")):
            if field.errors:
                raw = " ".join(field.raw_data or []).strip()
                if raw:  # an empty date input is simply no filter
                    notes.append(
                        f"Ignored the “{label}” date {_quoted(raw)}: use a date such as 2026-05-31."
                    )
                field.data, field.raw_data = None, []
            days[label] = field.data
        if days["from"] and days["to"] and days["to"] < days["from"]:
            notes.append("The “to” date is before the “from” date, so no delivery can match.")

        filters = Filters(
            status=status or None,
            event=event or None,
            webhook_id=webhook_id,
            date_from=days["from"],
            date_to=days["to"],
        )
        return filters, notes

    def drop_webhook(self) -> None:
        self.webhook.data = ""


class RecoverForm(FlaskForm):
    """Re-queue every failed delivery of one webhook created since a moment (UTC)."""

    webhook_id = IntegerField(
        "Webhook",
        widget=HiddenInput(),
        validators=[
            InputRequired("Choose the webhook whose failed deliveries should be retried."),
            NumberRange(min=1, max=MAX_ID, message="That is not a webhook id."),
        ],
        invalid_value_message="That is not a webhook id.",
    )
    since = DateTimeLocalField(
        "Retry all failed since",
        tz=UTC,
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        validators=[
            InputRequired("Enter the date and time (UTC) to retry failed deliveries from.")
        ],
        invalid_value_message="Enter the date and time as YYYY-MM-DD HH:MM (UTC).",
        description="UTC. Failed deliveries created at or after this moment are sent again.",
    )

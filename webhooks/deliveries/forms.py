"""Forms of the delivery log: the filters (a GET form), redelivery and recovery (POSTs)."""

import re
from datetime import UTC, date

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import InputRequired, NumberRange
from wtforms.widgets import HiddenInput

from webhooks.admin.forms import ConfirmForm
from webhooks.catalogue import event_choices, get_event
from webhooks.deliveries.queries import Filters
from webhooks.i18n import _l
from webhooks.models import DeliveryStatus
from webhooks.numbers import plain_digits
from webhooks.routing import MAX_ID

__all__ = ["STATUSES", "ConfirmForm", "FilterForm", "RecoverForm", "parse_id"]

# Every state a delivery can be in, with the label the screens show.
STATUSES = {
    DeliveryStatus.PENDING: _l("Pending"),
    DeliveryStatus.SUCCEEDED: _l("Succeeded"),
    DeliveryStatus.FAILING: _l("Failing"),
    DeliveryStatus.FAILED: _l("Failed"),
    DeliveryStatus.TEST: _l("Test"),
}
NOTE_VALUE_MAX = 40
WEBHOOK_TEXT_MAX = 240  # a name (191) and " (#id)"
# "Shop (#12)", as the filter field shows a webhook and its suggestions offer one: the id counts.
LABELLED_ID_RE = re.compile(r"\(#(\d{1,12})\)\s*$")


def parse_id(raw: str | None, largest: int = MAX_ID) -> int | None:
    """A database id written as plain digits, 1 to ``largest`` (a webhook's by default, a
    delivery's with MAX_BIG_ID); None for anything else."""
    raw = (raw or "").strip()
    if not plain_digits(raw) or len(raw) > len(str(largest)):
        return None
    value = int(raw)
    return value if 1 <= value <= largest else None


def _quoted(value: str) -> str:
    value = value if len(value) <= NOTE_VALUE_MAX else value[: NOTE_VALUE_MAX - 1] + "…"
    return f"“{value}”"


def webhook_label(webhook_id: int, name: str) -> str:
    """How the webhook field shows a webhook; read back by ``FilterForm.read``."""
    return f"{name} (#{webhook_id})"


class FilterForm(FlaskForm):
    """The filters above the delivery list. Read from the query string; never refuses a
    request: values it cannot use are dropped and explained in ``notes``."""

    class Meta:
        csrf = False

    status = SelectField(
        _l("Status"),
        choices=[SelectChoice("", _l("Any status"))]
        + [SelectChoice(value, label) for value, label in STATUSES.items()],
        validate_choice=False,
    )
    event = SelectField(
        _l("Event"),
        choices=[SelectChoice("", _l("Any event"))]
        + [SelectChoice(slug, name) for slug, name in event_choices()],
        validate_choice=False,
    )
    webhook = StringField(
        _l("Webhook"),
        description=_l("Name or #id"),
        render_kw={
            "placeholder": _l("Any webhook"),
            "autocomplete": "off",
            "spellcheck": "false",
        },
    )
    date_from = DateField(_l("From"), name="from", description=_l("UTC day"))
    date_to = DateField(_l("To"), name="to", description=_l("UTC day, included"))

    def show_webhook(self, webhook_id: int, name: str) -> None:
        self.webhook.data = webhook_label(webhook_id, name)

    def read(self) -> tuple[Filters, list[str]]:
        """The usable filters, and a note for each value that was ignored."""
        self.validate()
        notes: list[str] = []

        status = self.status.data or ""
        if status and status not in STATUSES:
            notes.append(
                _(
                    "Ignored the status %(status)s: choose one of %(choices)s.",
                    status=_quoted(status),
                    choices=", ".join(STATUSES),
                )
            )
            self.status.data = status = ""

        event = self.event.data or ""
        if event and get_event(event) is None:
            notes.append(
                _(
                    "Ignored the event %(event)s: it is not an event in the catalogue.",
                    event=_quoted(event),
                )
            )
            self.event.data = event = ""

        # An id (the URL parameter webhook=ID), "#ID", "Name (#ID)", or a name to look up.
        webhook_raw = " ".join((self.webhook.data or "").split())[:WEBHOOK_TEXT_MAX]
        webhook_id = webhook_name = None
        labelled = LABELLED_ID_RE.search(webhook_raw)
        if labelled or plain_digits(webhook_raw) or webhook_raw.startswith("#"):
            raw_id = labelled.group(1) if labelled else webhook_raw.removeprefix("#")
            webhook_id = parse_id(raw_id)
            if webhook_id is None:
                notes.append(
                    _(
                        "Ignored the webhook %(webhook)s: it is not a webhook id.",
                        webhook=_quoted(webhook_raw),
                    )
                )
                self.webhook.data = ""
        elif webhook_raw:
            webhook_name = webhook_raw

        days: dict[str, date | None] = {}
        for field, label in ((self.date_from, "from"), (self.date_to, "to")):
            if field.errors:
                raw = " ".join(field.raw_data or []).strip()
                if raw:  # an empty date input is simply no filter
                    shown = _quoted(raw)
                    notes.append(
                        _(
                            "Ignored the “from” date %(date)s: use a date such as 2026-05-31.",
                            date=shown,
                        )
                        if label == "from"
                        else _(
                            "Ignored the “to” date %(date)s: use a date such as 2026-05-31.",
                            date=shown,
                        )
                    )
                field.data, field.raw_data = None, []
            days[label] = field.data
        if days["from"] and days["to"] and days["to"] < days["from"]:
            notes.append(_("The “to” date is before the “from” date, so no delivery can match."))

        filters = Filters(
            status=DeliveryStatus(status) if status else None,
            event=event or None,
            webhook_id=webhook_id,
            webhook_name=webhook_name,
            date_from=days["from"],
            date_to=days["to"],
        )
        return filters, notes

    def drop_webhook(self) -> None:
        self.webhook.data = ""


class RecoverForm(FlaskForm):
    """Send again every delivery of one webhook that failed since a moment (UTC): the failed
    ones, and the failing ones waiting for their next retry."""

    webhook_id = IntegerField(
        _l("Webhook"),
        widget=HiddenInput(),
        validators=[
            InputRequired(_l("Choose the webhook whose failed deliveries should be retried.")),
            NumberRange(min=1, max=MAX_ID, message=_l("That is not a webhook id.")),
        ],
        invalid_value_message=_l("That is not a webhook id."),
    )
    since = DateTimeLocalField(
        _l("Retry all failed since"),
        tz=UTC,
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        validators=[
            InputRequired(_l("Enter the date and time (UTC) to retry failed deliveries from."))
        ],
        invalid_value_message=_l("Enter the date and time as YYYY-MM-DD HH:MM (UTC)."),
        description=_l(
            "UTC. Deliveries that failed at or after this moment are sent now: those given up, "
            "and those still waiting for their next retry."
        ),
    )

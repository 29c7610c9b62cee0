"""Forms of the webhook screens; the rules of a webhook's fields are ``webhooks.rules``,
shared with the API."""

from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    URLField,
)
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from webhooks import custom_headers, rules
from webhooks.catalogue import event_choices
from webhooks.forms import PostedForm
from webhooks.i18n import _l
from webhooks.models import (
    ALL_EVENTS,
    DEFAULT_MAX_IN_FLIGHT,
    MANUAL,
    MAX_IN_FLIGHT_RANGE,
    PAYLOAD_FORMATS,
    RATE_LIMIT_RANGE,
    Webhook,
)

# The labels of models.PAYLOAD_FORMATS, as the form shows them.
PAYLOAD_FORMAT_LABELS = {"standard": _l("Standard"), "flat": _l("Flat")}


class Rule:
    """A WTForms validator that applies one of ``webhooks.rules``: the field keeps the cleaned
    value, and the rule's message is the field's error."""

    def __init__(self, rule: Callable[[Any], Any], *, required: bool = False) -> None:
        self.rule, self.required = rule, required
        # Rendered as the input's ``required`` attribute.
        self.field_flags = {"required": True} if required else {}

    def __call__(self, form, field) -> None:
        value = field.data
        if self.required and not (field.raw_data and field.raw_data[0]):
            # Not posted: the rule judges nothing, not the value the form was filled with.
            value = None
        try:
            field.data = self.rule(value)
        except rules.RuleError as error:
            raise ValidationError(error.message) from error


class WholeNumberField(IntegerField):
    """A whole number; left empty (as a browser posts an empty number input) it is no value,
    which the field's rule judges, rather than a number that does not parse."""

    def process_formdata(self, valuelist) -> None:
        if valuelist and isinstance(valuelist[0], str) and not valuelist[0].strip():
            self.data = None
            return
        super().process_formdata(valuelist)


class HeaderRow(Form):
    """One custom header; a saved header's value is never shown, and left empty it is kept."""

    name = StringField(
        _l("Header name"),
        render_kw={
            "maxlength": custom_headers.NAME_MAX,
            "autocomplete": "off",
            "spellcheck": "false",
            "placeholder": _l("E.g. Authorization"),
        },
    )
    value = StringField(
        _l("Value"),
        render_kw={"maxlength": custom_headers.VALUE_MAX, "autocomplete": "off"},
    )


class WebhookForm(PostedForm):
    name = StringField(
        _l("Name"),
        # The rule drops the spaces around it (and tells "   " from nothing at all).
        validators=[Rule(rules.name, required=True)],
        render_kw={
            "placeholder": _l("E.g. Zapier Integration"),
            "minlength": rules.NAME_LENGTH[0],
            "maxlength": rules.NAME_LENGTH[1],
        },
    )
    url = URLField(
        _l("URL"),
        validators=[Rule(rules.url, required=True)],
        render_kw={
            "placeholder": "https://example.com/webhooks/receiver",
            "maxlength": rules.URL_MAX,
        },
        description=_l("The endpoint that receives the event's payload as a signed JSON POST."),
    )
    # One event is picked with the select, as ever; "more_events" adds others, and the
    # select's last choice is every event, those added later included.
    event = SelectField(
        _l("Event"),
        choices=[
            *(SelectChoice(slug, name) for slug, name in event_choices()),
            SelectChoice(ALL_EVENTS, _l("All events (including future ones)")),
        ],
        validate_choice=False,
        validators=[Rule(rules.event_or_all)],
        description=_l("The event that triggers this webhook."),
    )
    more_events = SelectMultipleField(
        _l("More events"),
        choices=[SelectChoice(slug, name) for slug, name in event_choices()],
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        description=_l("The webhook also receives the events ticked here."),
    )
    payload_format = SelectField(
        _l("Payload format"),
        choices=[SelectChoice(value, PAYLOAD_FORMAT_LABELS[value]) for value in PAYLOAD_FORMATS],
        default="standard",
        validate_choice=False,
        validators=[Rule(rules.payload_format)],
        description=_l(
            'Standard sends the event in an envelope: {"type", "timestamp", "data"}. '
            "Flat sends the data object alone, as the original Ultimate Multisite did, for "
            "receivers built for it. Both are signed the same way."
        ),
    )
    active = BooleanField(
        _l("Active"), default=True, description=_l("Inactive webhooks receive nothing.")
    )
    max_in_flight = WholeNumberField(
        _l("Requests at once"),
        default=DEFAULT_MAX_IN_FLIGHT,
        # Left empty, it is the default (rules.max_in_flight).
        validators=[Rule(rules.max_in_flight)],
        invalid_value_message=_l("Enter a whole number from 1 to 1000."),
        render_kw={"min": MAX_IN_FLIGHT_RANGE[0], "max": MAX_IN_FLIGHT_RANGE[1]},
        description=_l(
            "At most this many deliveries are sent to this webhook at the same time; the "
            "others wait their turn. A slow receiver then holds only its own deliveries."
        ),
    )
    rate_limit = WholeNumberField(
        _l("Rate limit (requests a second)"),
        validators=[Rule(rules.rate_limit)],
        invalid_value_message=_l("Enter a whole number from 1 to 10000, or leave it empty."),
        render_kw={
            "min": RATE_LIMIT_RANGE[0],
            "max": RATE_LIMIT_RANGE[1],
            "placeholder": _l("No limit"),
        },
        description=_l("Deliveries over the limit wait; they do not fail. Empty: no limit."),
    )
    headers = FieldList(
        FormField(HeaderRow),
        # Rows past this many are not read; more than MAX_HEADERS named ones are refused.
        max_entries=custom_headers.MAX_HEADERS + 10,
        description=_l(
            "Sent with every delivery and test, e.g. Authorization for a CRM. Values are "
            "secrets: once saved they are never shown again. Leave a saved value empty to keep "
            "it; clear the name to remove the header."
        ),
    )
    submit = SubmitField(_l("Add New Webhook"))

    # Spare empty header rows the page offers (a script adds more).
    SPARE_HEADER_ROWS = 2

    def __init__(self, *args, stored_headers: dict[str, str] | None = None, **kwargs) -> None:
        """``stored_headers``: the webhook's saved headers, shown by name only."""
        self.stored_headers = stored_headers or {}
        self.header_values: dict[str, str] = {}
        kwargs.setdefault("headers", [{"name": name} for name in self.stored_headers])
        super().__init__(*args, **kwargs)
        if not self.is_submitted():
            for _row in range(self.SPARE_HEADER_ROWS):
                self.headers.append_entry()

    def is_saved_header(self, name: str | None) -> bool:
        return bool(name) and name.strip().lower() in {
            stored.lower() for stored in self.stored_headers
        }

    def populate_obj(self, obj: Webhook) -> None:
        for name, field in self._fields.items():
            if name not in ("headers", "event", "more_events"):
                field.populate_obj(obj, name)
        obj.all_events, obj.events = self.chosen_events()
        obj.custom_headers = custom_headers.dump(self.header_values)

    def chosen_events(self) -> tuple[bool, list[str]]:
        """(every event, the events listed): the select's event first, then those ticked."""
        if self.event.data == ALL_EVENTS:
            return True, []
        return False, list(dict.fromkeys([self.event.data, *(self.more_events.data or [])]))

    def new_webhook(self, integration: str = MANUAL) -> Webhook:
        """A webhook with the form's values (the caller adds and commits it)."""
        every, events = self.chosen_events()
        return Webhook(
            name=self.name.data,
            url=self.url.data,
            all_events=every,
            events=events,
            payload_format=self.payload_format.data,
            active=self.active.data,
            max_in_flight=self.max_in_flight.data,
            rate_limit=self.rate_limit.data,
            custom_headers=custom_headers.dump(self.header_values),
            integration=integration,
        )

    def validate_headers(self, field) -> None:
        rows = [(row.form.name.data, row.form.value.data) for row in field]
        try:
            self.header_values = rules.headers(rows, self.stored_headers)
        except rules.RuleError as error:
            raise ValidationError(error.message) from error

    def validate_more_events(self, field) -> None:
        for slug in field.data or []:
            try:
                rules.event(slug)
            except rules.RuleError as error:
                raise ValidationError(_("Tick only events of the list.")) from error


class ConfirmForm(PostedForm):
    """An empty form: a POST that carries only its CSRF token."""


BULK_ACTIONS = {"activate": _l("Activate"), "deactivate": _l("Deactivate"), "delete": _l("Delete")}


class BulkForm(PostedForm):
    action = SelectField(
        _l("Bulk action"),
        choices=[SelectChoice(value, label) for value, label in BULK_ACTIONS.items()],
        validate_choice=False,
    )
    confirmed = HiddenField()

    def validate_action(self, field) -> None:
        if field.data not in BULK_ACTIONS:
            raise ValidationError(_("Choose a bulk action."))

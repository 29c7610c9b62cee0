"""The form of the event catalogue: an event type's schema mode."""

from flask_babel import gettext as _
from wtforms import SelectChoice, SelectField
from wtforms.validators import ValidationError

from webhooks.forms import PostedForm
from webhooks.i18n import _l, or_list
from webhooks.schema_checks import MODES

# The labels of schema_checks.MODES, as the pages show them.
MODE_LABELS = {
    "off": _l("Off: not checked"),
    "warn": _l("Warn: accept and flag"),
    "reject": _l("Reject: refuse"),
}


class SchemaModeForm(PostedForm):
    schema_mode = SelectField(
        _l("Payload check"),
        choices=[SelectChoice(mode, MODE_LABELS[mode]) for mode in MODES],
        validate_choice=False,
    )

    def validate_schema_mode(self, field) -> None:
        if field.data not in MODES:
            raise ValidationError(
                _("Choose a payload check: %(modes)s.", modes=or_list(MODE_LABELS.values()))
            )

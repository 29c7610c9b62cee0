"""Forms of the API tokens screen."""

from flask_babel import gettext as _
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from webhooks.forms import PostedForm
from webhooks.i18n import _l, or_list
from webhooks.tokens import SCOPES

NAME_MAX = 100
# The labels of tokens.SCOPES, as the screen shows them.
SCOPE_LABELS = {"full": _l("Full access"), "read": _l("Read only")}


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class TokenForm(PostedForm):
    name = StringField(
        _l("Name"),
        validators=[
            DataRequired(_l("Give the token a name, e.g. the system that will use it.")),
            Length(max=NAME_MAX, message=_l("The name must be 1 to %(max)d characters long.")),
        ],
        filters=[_strip],
        render_kw={"placeholder": _l("E.g. Billing system"), "maxlength": NAME_MAX},
        description=_l("Who or what uses the token, so you know which one to revoke later."),
    )
    scope = SelectField(
        _l("Scope"),
        choices=[SelectChoice(value, SCOPE_LABELS[value]) for value in SCOPES],
        default="full",
        validate_choice=False,
        description=_l(
            "Full access can report events; Read only is meant for clients that only read."
        ),
    )

    def validate_scope(self, field) -> None:
        if field.data not in SCOPES:
            raise ValidationError(
                _("Choose a scope: %(scopes)s.", scopes=or_list(SCOPE_LABELS.values()))
            )


class ConfirmForm(PostedForm):
    """An empty form: a POST that carries only its CSRF token."""

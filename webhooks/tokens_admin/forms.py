"""Forms of the API tokens screen."""

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from webhooks.tokens import SCOPES

NAME_MAX = 100


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class TokenForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[
            DataRequired("Give the token a name, e.g. the system that will use it."),
            Length(max=NAME_MAX, message=f"The name must be 1 to {NAME_MAX} characters long."),
        ],
        filters=[_strip],
        render_kw={"placeholder": "E.g. Billing system", "maxlength": NAME_MAX},
        description="Who or what uses the token, so you know which one to revoke later.",
    )
    scope = SelectField(
        "Scope",
        choices=[SelectChoice(value, label) for value, label in SCOPES.items()],
        default="full",
        validate_choice=False,
        description="Full access can report events; Read only is meant for clients that only read.",
    )

    def validate_scope(self, field) -> None:
        if field.data not in SCOPES:
            raise ValidationError("Choose a scope: " + " or ".join(SCOPES.values()) + ".")


class ConfirmForm(FlaskForm):
    """An empty form: a POST that carries only its CSRF token."""

"""Forms of the accounts screens; their rules are ``flask admin``'s (webhooks.admins)."""

from flask_babel import gettext as _
from wtforms import EmailField, PasswordField, ValidationError
from wtforms.validators import DataRequired, EqualTo, Length

from webhooks import admins
from webhooks.forms import PostedForm
from webhooks.i18n import _l

TOO_LONG = _l("The password can be at most %(max)d characters long.")


def check_new_password(form, field) -> None:
    if not admins.password_long_enough(field.data or ""):
        raise ValidationError(
            _(
                "The password must be at least %(min)d characters long.",
                min=admins.MIN_PASSWORD,
            )
        )


class PasswordChangeForm(PostedForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[
            DataRequired(_l("Enter your current password.")),
            Length(max=admins.MAX_PASSWORD, message=TOO_LONG),
        ],
    )
    new_password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(_l("Enter a new password.")),
            Length(max=admins.MAX_PASSWORD, message=TOO_LONG),
            check_new_password,
        ],
        description=_l("At least %(min)d characters.", min=admins.MIN_PASSWORD),
    )
    confirm_password = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(_l("Enter the new password again.")),
            EqualTo("new_password", _l("The two new passwords are not the same.")),
        ],
    )


class AdminForm(PostedForm):
    email = EmailField(
        _l("Email"),
        validators=[
            DataRequired(_l("Enter the new admin's email address.")),
            Length(
                max=admins.MAX_EMAIL, message=_l("The email can be at most %(max)d characters.")
            ),
        ],
        filters=[lambda value: admins.normalise_email(value) if isinstance(value, str) else value],
        description=_l("They log in with it."),
    )
    password = PasswordField(
        _l("Initial password"),
        validators=[Length(max=admins.MAX_PASSWORD, message=TOO_LONG)],
        description=_l(
            "At least %(min)d characters. Leave it empty to have one made up; it is shown once.",
            min=admins.MIN_PASSWORD,
        ),
    )

    def validate_email(self, field) -> None:
        if not admins.is_email(field.data):
            raise ValidationError(_("Enter an email address, e.g. ops@example.com."))
        if admins.find(field.data) is not None:
            raise ValidationError(
                _("An admin with the email %(email)s already exists.", email=field.data)
            )

    def validate_password(self, field) -> None:
        if field.data:
            check_new_password(self, field)


class ConfirmForm(PostedForm):
    """An empty form: a POST that carries only its CSRF token."""

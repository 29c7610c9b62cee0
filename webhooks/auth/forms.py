from flask_babel import gettext as _
from wtforms import EmailField, PasswordField, SubmitField, ValidationError
from wtforms.validators import DataRequired, Length

from webhooks.forms import PostedForm
from webhooks.i18n import _l


class LoginForm(PostedForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField(_l("Log in"))

    def validate_email(self, field):
        # No account has one; PostgreSQL refuses a NUL in a query outright.
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in field.data):
            raise ValidationError(_("Enter an email address."))

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SubmitField, ValidationError
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField("Log in")

    def validate_email(self, field):
        # No account has one; PostgreSQL refuses a NUL in a query outright.
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in field.data):
            raise ValidationError("Enter an email address.")

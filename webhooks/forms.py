"""The base of the admin site's POST forms."""

from flask import request
from flask_wtf import FlaskForm


class PostedForm(FlaskForm):
    """A form filled from the posted form fields only. Flask-WTF also fills a form from the
    uploaded files and from a JSON body; their values (a file, a number, a list, an object)
    reach the validators as they are and crash them — a 500 instead of the form's messages.
    A browser posting this form sends neither, so they count as missing fields."""

    class Meta:
        def wrap_formdata(self, form, formdata):
            if formdata is None or hasattr(formdata, "getlist"):  # given by the caller
                return formdata
            return request.form if form.is_submitted() and request.form else None

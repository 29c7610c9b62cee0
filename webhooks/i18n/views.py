"""POST /language: the language switch in the page header, on every page including the login
page, so it is public (webhooks.auth.access.PUBLIC_ENDPOINTS). It changes nothing but this
browser's session, and only on a POST with the CSRF token; a GET is refused (405)."""

from flask import Blueprint, abort, redirect, session, url_for
from flask_babel import gettext as _
from flask_babel import refresh
from wtforms import HiddenField, SelectChoice, SelectField

from webhooks.forms import PostedForm
from webhooks.i18n import LANGUAGES, SESSION_KEY
from webhooks.urls import safe_next

bp = Blueprint("i18n", __name__)


class LanguageForm(PostedForm):
    language = SelectField(
        choices=[SelectChoice(code, name) for code, name in LANGUAGES.items()],
        validate_choice=False,
    )
    next = HiddenField()


@bp.post("/language")
def set_language():
    """Keep the chosen language in the session (it wins over Accept-Language from now on) and
    go back to the page the switch was on."""
    form = LanguageForm()
    if not form.validate_on_submit():
        abort(400)  # only the CSRF token can fail: the form has no other checks
    language = form.language.data
    if language not in LANGUAGES:
        abort(
            400,
            description=_(
                "There is no language “%(language)s”. Choose one of: %(languages)s.",
                language=(language or "")[:20],
                languages=", ".join(LANGUAGES.values()),
            ),
        )
    session[SESSION_KEY] = language
    refresh()
    return redirect(safe_next(form.next.data) or url_for("webhooks.index"))

"""Error pages: a clear page for every failure, never a stack trace."""

import logging

from flask import Flask, g, render_template, request
from flask_babel import gettext as _
from flask_login import AnonymousUserMixin
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from webhooks.api.errors import api_error
from webhooks.extensions import db
from webhooks.i18n import _l

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5
# Codes the API documents under another name than the HTTP reason phrase.
API_CODES = {413: "payload_too_large"}
# The error pages' titles, and Werkzeug's own descriptions, for the errors an admin page can
# meet (the API's JSON errors stay in English).
TITLES = {
    400: _l("Bad Request"),
    403: _l("Forbidden"),
    404: _l("Not Found"),
    405: _l("Method Not Allowed"),
    413: _l("Request Entity Too Large"),
    429: _l("Too Many Requests"),
}
DEFAULT_DESCRIPTIONS = {
    400: _l("The browser (or proxy) sent a request that this server could not understand."),
    403: _l(
        "You don't have the permission to access the requested resource. It is either "
        "read-protected or not readable by the server."
    ),
    404: _l(
        "The requested URL was not found on the server. If you entered the URL manually please "
        "check your spelling and try again."
    ),
    405: _l("The method is not allowed for the requested URL."),
    413: _l("The data value transmitted exceeds the capacity limit."),
    429: _l("This user has exceeded an allotted request count. Try again later."),
}
# What views shared with the API give abort() (they stay English there); marked here so the
# catalogue has them and an error page shows them translated.
SHARED_DESCRIPTIONS = (
    _l("There is no webhook with that id; it may have been deleted."),
    _l(
        "There is no delivery with that id; it may have been purged after the retention period, "
        "or deleted with its webhook."
    ),
)
DATABASE_UNAVAILABLE = _l(
    "The database cannot be reached right now, so nothing was changed. "
    "Please try again in a few seconds."
)


def wants_json() -> bool:
    return request.path.startswith("/api/")


def page_texts(error: HTTPException) -> tuple[str, str]:
    """The title and message of the error page, in the page's language where the catalogue has
    them (Werkzeug's default texts, and messages views gave ``abort()``)."""
    title = TITLES.get(error.code) or error.name
    message = error.description or ""
    if message == type(error).description:
        message = DEFAULT_DESCRIPTIONS.get(error.code) or message
    else:
        message = _(message) if message else message
    return str(title), str(message)


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template(
            "errors/error.html",
            code=400,
            title=_("The form has expired"),
            message=_(
                "The page was open too long or was sent from elsewhere. "
                "Go back, reload the page and try again."
            ),
        ), 400

    @app.errorhandler(HTTPException)
    def http_error(error):
        if error.code >= 500:
            return server_error(error)
        if wants_json():
            code = API_CODES.get(error.code) or (error.name or "error").lower().replace(" ", "_")
            headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
            return api_error(error.code, code, error.description or error.name, headers)
        title, message = page_texts(error)
        return render_template(
            "errors/error.html", code=error.code, title=title, message=message
        ), error.code

    @app.errorhandler(OperationalError)
    def database_unavailable(error):
        """The database cannot be reached, or is locked past the wait: a 503 saying so (and
        when to try again), with nothing half-written, rather than a 500."""
        try:
            db.session.rollback()
        except SQLAlchemyError:  # the connection is gone; the session is cleared anyway
            db.session.remove()
        # Draw the page without touching the database: no signed-in user to look up.
        g._login_user = AnonymousUserMixin()
        log.warning("Database unavailable: %s", error.orig.__class__.__name__)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        if wants_json():  # the API's requests are always in English (webhooks.i18n)
            return api_error(503, "database_unavailable", str(DATABASE_UNAVAILABLE), headers)
        page = render_template(
            "errors/error.html",
            code=503,
            title=_("Temporarily unavailable"),
            message=DATABASE_UNAVAILABLE,
        )
        return page, 503, headers

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        if wants_json():
            return api_error(500, "internal_error", "The server could not finish this request.")
        return render_template(
            "errors/error.html",
            code=500,
            title=_("Something went wrong"),
            message=_(
                "The server could not finish this request. Nothing was half-saved; "
                "please try again."
            ),
        ), 500

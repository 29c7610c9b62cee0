"""Error pages: a clear page for every failure, never a stack trace."""

import logging

from flask import Flask, g, render_template, request
from flask_login import AnonymousUserMixin
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from webhooks.api.errors import api_error
from webhooks.extensions import db

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5
# Codes the API documents under another name than the HTTP reason phrase.
API_CODES = {413: "payload_too_large"}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template(
            "errors/error.html",
            code=400,
            title="The form has expired",
            message="The page was open too long or was sent from elsewhere. "
            "Go back, reload the page and try again.",
        ), 400

    @app.errorhandler(HTTPException)
    def http_error(error):
        if error.code >= 500:
            return server_error(error)
        if wants_json():
            code = API_CODES.get(error.code) or (error.name or "error").lower().replace(" ", "_")
            headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
            return api_error(error.code, code, error.description or error.name, headers)
        return render_template(
            "errors/error.html", code=error.code, title=error.name, message=error.description
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
        message = (
            "The database cannot be reached right now, so nothing was changed. "
            "Please try again in a few seconds."
        )
        if wants_json():
            return api_error(503, "database_unavailable", message, headers)
        page = render_template(
            "errors/error.html", code=503, title="Temporarily unavailable", message=message
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
            title="Something went wrong",
            message="The server could not finish this request. Nothing was half-saved; "
            "please try again.",
        ), 500

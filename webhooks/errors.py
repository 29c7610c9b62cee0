"""Error pages: a clear page for every failure, never a stack trace."""

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from webhooks.api.errors import api_error
from webhooks.extensions import db

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

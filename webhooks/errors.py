"""Error pages: a clear page for every failure, never a stack trace."""

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError

from webhooks.extensions import db


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

    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(405)
    def http_error(error):
        return render_template(
            "errors/error.html", code=error.code, title=error.name, message=error.description
        ), error.code

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        return render_template(
            "errors/error.html",
            code=500,
            title="Something went wrong",
            message="The server could not finish this request. Nothing was half-saved; "
            "please try again.",
        ), 500

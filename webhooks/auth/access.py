"""Login is required everywhere but on the pages listed here: new routes start private."""

from flask import Flask, request
from flask_login import current_user

from webhooks.extensions import login_manager

PUBLIC_ENDPOINTS = frozenset({"auth.login", "static"})


def require_login():
    if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def init_app(app: Flask) -> None:
    app.before_request(require_login)

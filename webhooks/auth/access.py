"""Who may call what: admin pages need a logged-in admin, the API a bearer token.

Every endpoint is covered unless listed in PUBLIC_ENDPOINTS, so a new route starts private.
"""

from flask import Flask, g, request
from flask_login import current_user

from webhooks.api.errors import api_error
from webhooks.extensions import login_manager
from webhooks.tokens import find_token

PUBLIC_ENDPOINTS = frozenset({"auth.login", "static", "health.healthz"})
API_BLUEPRINT = "api"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="webhooks"'}


def require_token():
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return api_error(
            401,
            "unauthorized",
            "Send an API token as `Authorization: Bearer <token>`; create one on the API "
            "tokens page or with `flask tokens create`.",
            CHALLENGE,
        )
    token = find_token(value.strip())
    if token is None:
        return api_error(401, "invalid_token", "The API token is unknown or revoked.", CHALLENGE)
    if token.scope == "read" and request.method not in READ_METHODS:
        return api_error(
            403, "read_only_token", "This token is read-only; it cannot change anything."
        )
    g.api_token = token
    return None


def require_login():
    if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if request.blueprint == API_BLUEPRINT:
        return require_token()
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def init_app(app: Flask) -> None:
    app.before_request(require_login)

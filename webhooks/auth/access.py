"""Who may call what: admin pages need a logged-in admin, the API a bearer token.

Every endpoint is covered unless listed in PUBLIC_ENDPOINTS, so a new route starts private.
"""

from flask import Flask, g, request
from flask_login import current_user

from webhooks.api.errors import api_error
from webhooks.extensions import login_manager
from webhooks.tokens import find_token, token_digest

# The language switch is public so the login page can offer it: it only sets the session's
# language (a POST with the CSRF token) and redirects to a page of this site.
# /metrics checks its own token (METRICS_TOKEN), not a login or an API token.
PUBLIC_ENDPOINTS = frozenset(
    {"auth.login", "static", "health.healthz", "i18n.set_language", "metrics.metrics"}
)
API_BLUEPRINT = "api"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="webhooks"'}


# Endpoints that check the token in the same transaction as their write (the event writer's
# group commit), instead of with a query of its own before the view runs.
TOKEN_CHECKED_BY_VIEW = frozenset({"api.create_event"})


def invalid_token():
    return api_error(401, "invalid_token", "The API token is unknown or revoked.", CHALLENGE)


def read_only_token():
    return api_error(403, "read_only_token", "This token is read-only; it cannot change anything.")


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
    if request.endpoint in TOKEN_CHECKED_BY_VIEW:
        g.api_token_hash = token_digest(value.strip())
        return invalid_token() if g.api_token_hash is None else None
    return check_token(value.strip())


def check_token(value: str):
    """The error response for a token that may not make this request, or None (the token is
    then ``g.api_token``)."""
    token = find_token(value)
    if token is None:
        return invalid_token()
    if token.scope == "read" and request.method not in READ_METHODS:
        return read_only_token()
    g.api_token = token
    return None


def refusal_before_reading():
    """For a view that checks its token itself (TOKEN_CHECKED_BY_VIEW) and is about to answer
    that the request is malformed: the token's error, if any, comes first, so a caller without
    a valid token learns nothing about the API."""
    return check_token(request.headers["Authorization"].partition(" ")[2].strip())


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

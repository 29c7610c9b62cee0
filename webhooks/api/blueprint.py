"""The API blueprint, mounted at /api/v1; each module of this package adds its routes to it."""

from flask import Blueprint

from webhooks.api.inputs import ApiInputError

bp = Blueprint("api", __name__)


@bp.errorhandler(ApiInputError)
def refused(error: ApiInputError):
    return error.response

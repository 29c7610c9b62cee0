"""GET /api/v1/openapi.json: the API's OpenAPI 3.1 document (see ``openapi_spec``)."""

from flask import jsonify

from webhooks.api.blueprint import bp
from webhooks.api.openapi_spec import openapi_document


@bp.get("/openapi.json")
def openapi_json():
    """Behind the bearer token like every API call: the document is for the API's clients."""
    return jsonify(openapi_document())

"""GET /api-docs/: the API reference for people, rendered from the OpenAPI document the API
serves, so the page and /api/v1/openapi.json never disagree. Login required, as every admin
page."""

from flask import Blueprint, render_template, request

from webhooks.api.openapi import API_PREFIX
from webhooks.api_docs.reference import object_shapes, operation_groups

bp = Blueprint("api_docs", __name__)


@bp.get("/")
def index():
    return render_template(
        "api_docs/index.html",
        groups=operation_groups(),
        shapes=object_shapes(),
        api_root=request.host_url.rstrip("/") + API_PREFIX,
    )

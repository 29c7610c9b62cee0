"""The API's one error shape: ``{"error": {"code": …, "message": …, "fields": {…}}}``;
``fields`` (each field at fault and what is wrong with it) only when there are some."""

from flask import jsonify


def api_error(
    status: int,
    code: str,
    message: str,
    headers: dict | None = None,
    fields: dict[str, list[str]] | None = None,
):
    error: dict = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    response = jsonify({"error": error})
    response.status_code = status
    response.headers.update(headers or {})
    return response

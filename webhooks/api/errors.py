"""The API's one error shape: ``{"error": {"code": …, "message": …, "fields": {…}}}``;
``fields`` (each field at fault and what is wrong with it) only when there are some."""

from flask import jsonify

from webhooks.api.shapes import Error, ErrorDetail, body


def api_error(
    status: int,
    code: str,
    message: str,
    headers: dict | None = None,
    fields: dict[str, list[str]] | None = None,
):
    detail = ErrorDetail(code=code, message=message, **({"fields": fields} if fields else {}))
    response = jsonify(body(Error(error=detail)))
    response.status_code = status
    response.headers.update(headers or {})
    return response

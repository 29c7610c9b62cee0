"""The API's one error shape: ``{"error": {"code": …, "message": …}}``."""

from flask import jsonify


def api_error(status: int, code: str, message: str, headers: dict | None = None):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    response.headers.update(headers or {})
    return response

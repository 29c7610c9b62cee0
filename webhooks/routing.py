"""URL pieces shared by the blueprints."""

from flask import Flask, request
from werkzeug.routing import IntegerConverter

MAX_ID = 2**63 - 1
MAX_PAGE = 10**6


class IdConverter(IntegerConverter):
    """A database id: 1 to 2**63-1, so a huge number in a URL is a 404, not a database error."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)


def page_number() -> int:
    """The ``page`` query argument, clamped to 1..MAX_PAGE; anything unreadable is page 1."""
    page = request.args.get("page", "1")
    if not page.isdigit():
        return 1
    return MAX_PAGE if len(page) > 7 else min(max(int(page), 1), MAX_PAGE)


def init_app(app: Flask) -> None:
    app.url_map.converters["id"] = IdConverter

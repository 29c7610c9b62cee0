"""URL pieces shared by the blueprints."""

from flask import Flask, request
from werkzeug.routing import IntegerConverter

# The id columns are INTEGER on PostgreSQL: a larger number in a URL or a field is refused
# (404 or 422) before it can reach the database as an error.
MAX_ID = 2**31 - 1
MAX_PAGE = 10**6


class IdConverter(IntegerConverter):
    """A database id: 1 to MAX_ID, so a huge number in a URL is a 404, not a database error."""

    regex = r"[0-9]{1,10}"  # ASCII digits only: \d would also take "１" (a full-width one)

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

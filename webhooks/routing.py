"""URL pieces shared by the blueprints."""

from flask import Flask, request
from werkzeug.routing import IntegerConverter

from webhooks.numbers import plain_digits

# A larger number than its column holds, in a URL or a field, is refused (404 or 422) before it
# can reach the database as an error. Webhooks, admins and tokens are INTEGER on PostgreSQL;
# what grows with the traffic (events, deliveries, attempts) is BIGINT.
MAX_ID = 2**31 - 1
MAX_BIG_ID = 2**63 - 1
MAX_PAGE = 10**6


class IdConverter(IntegerConverter):
    """A database id: 1 to MAX_ID, so a huge number in a URL is a 404, not a database error."""

    regex = r"[0-9]{1,10}"  # ASCII digits only: \d would also take "１" (a full-width one)
    largest = MAX_ID

    def __init__(self, url_map, *args, **kwargs) -> None:
        super().__init__(url_map, min=1, max=self.largest)


class BigIdConverter(IdConverter):
    """The id of a delivery (or anything else that grows with the traffic): 1 to MAX_BIG_ID."""

    regex = r"[0-9]{1,19}"
    largest = MAX_BIG_ID


def page_number() -> int:
    """The ``page`` query argument, clamped to 1..MAX_PAGE; anything unreadable is page 1."""
    page = request.args.get("page", "1")
    if not plain_digits(page):
        return 1
    return MAX_PAGE if len(page) > 7 else min(max(int(page), 1), MAX_PAGE)


def init_app(app: Flask) -> None:
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["bigid"] = BigIdConverter

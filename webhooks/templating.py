"""Template filters and globals shared by every page.

Dates, times and numbers go through Flask-Babel, so they follow the page's language. Filters
that return markup (``time``, ``highlight_json``) escape everything they are given: receivers'
answers and event payloads are untrusted text.
"""

import json
import re
from datetime import UTC, datetime, timedelta

from flask import Flask, request
from flask_babel import format_datetime, format_decimal, format_timedelta
from flask_babel import format_time as format_clock
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import func, select

from webhooks.catalogue import event_name
from webhooks.delivery.messages import result_text
from webhooks.extensions import db
from webhooks.models import DeliveryStatus, Webhook, as_utc
from webhooks.version import PRODUCT, __version__

# A token of JSON as json.dumps writes it: a string (a key when a colon follows), a literal or
# a number (NaN and Infinity included, which Python's json reads and writes).
JSON_TOKEN = re.compile(
    r'(?P<string>"(?:[^"\\]|\\.)*")(?P<colon>\s*:)?'
    r"|(?P<literal>\btrue\b|\bfalse\b|\bnull\b)"
    r"|(?P<number>-?(?:\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|Infinity)|NaN)"
)
JSON_CLASSES = {"string": "j-str", "literal": "j-lit", "number": "j-num"}


def format_time(value: datetime | None) -> str:
    """The exact moment, written out in the page's language, with its time zone."""
    if value is None:
        return "—"
    return format_datetime(as_utc(value), "long")


def time_tag(value: datetime | None, exact: bool = False) -> Markup:
    """``<time>`` saying how long ago (or how soon) ``value`` is, with the exact moment in its
    title; ``exact`` writes the exact moment out after it too, for pages about one thing."""
    if value is None:
        return Markup('<span class="muted">—</span>')
    moment = as_utc(value)
    precise = format_time(moment)
    delta = moment - datetime.now(UTC)
    if abs(delta) < timedelta(seconds=1):  # "1 second ago" rather than "in 0 seconds"
        delta = timedelta(seconds=-1)
    relative = format_timedelta(delta, add_direction=True)
    tag = Markup('<time datetime="{}" title="{}">{}</time>').format(
        moment.isoformat(timespec="seconds").replace("+00:00", "Z"), precise, relative
    )
    if exact:
        tag += Markup(' <span class="time-exact">({})</span>').format(precise)
    return tag


def clock(value: datetime) -> str:
    """The time of day alone (``14:00``, ``2:00 PM``), as the page's language writes it."""
    return format_clock(as_utc(value), "short")


def format_number(value: int | float | None) -> str:
    return "—" if value is None else format_decimal(value)


def shorten(text: str | None, length: int = 50) -> str:
    text = text or ""
    return text if len(text) <= length else text[: length - 1] + "…"


def highlight_json(value) -> Markup:
    """JSON text (or a value) pretty-printed, its keys, strings, numbers and literals wrapped in
    ``<span class="j-…">``; the text itself is escaped, and the spans add no characters, so the
    element's text is exactly the pretty-printed JSON. Text that is not JSON comes back escaped
    as it is."""
    if value is None:
        return Markup("")
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return escape(value if isinstance(value, str) else value.decode("utf-8", "replace"))
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return escape(str(value))
    parts = []
    position = 0
    for match in JSON_TOKEN.finditer(text):
        parts.append(escape(text[position : match.start()]))
        kind = match.lastgroup if match.lastgroup != "colon" else "string"
        if kind == "string" and match.group("colon"):
            parts.append(Markup('<span class="j-key">{}</span>').format(match.group("string")))
            parts.append(escape(match.group("colon")))
        else:
            token = match.group(kind)
            parts.append(Markup('<span class="{}">{}</span>').format(JSON_CLASSES[kind], token))
        position = match.end()
    parts.append(escape(text[position:]))
    return Markup("").join(parts)


# The mark beside each delivery status (its label comes from deliveries.forms.STATUSES).
STATUS_ICONS = {
    DeliveryStatus.PENDING: "◷",
    DeliveryStatus.SUCCEEDED: "✓",
    DeliveryStatus.FAILING: "↻",
    DeliveryStatus.FAILED: "✗",
    DeliveryStatus.TEST: "⚑",
}


def admin_banner() -> dict:
    """How many webhooks the system disabled, for the banner on every admin page."""
    if request.blueprint == "api" or not current_user.is_authenticated:
        return {}
    count = db.session.scalar(
        select(func.count()).select_from(Webhook).where(Webhook.disabled_at.is_not(None))
    )
    return {"disabled_webhooks": count}


def init_app(app: Flask) -> None:
    app.context_processor(admin_banner)
    app.add_template_filter(event_name, "event_name")
    app.add_template_filter(time_tag, "time")
    app.add_template_filter(format_time, "exact_time")
    app.add_template_filter(clock, "clock")
    app.add_template_filter(format_number, "number")
    app.add_template_filter(shorten, "shorten")
    app.add_template_filter(highlight_json, "highlight_json")
    app.add_template_global(DeliveryStatus, "DeliveryStatus")
    app.add_template_global(STATUS_ICONS, "status_icons")
    app.add_template_global(PRODUCT, "product")
    app.add_template_global(result_text, "result_text")
    app.add_template_global(__version__, "version")

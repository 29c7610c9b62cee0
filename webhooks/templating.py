"""Template filters and globals shared by every page."""

from datetime import UTC, datetime

from flask import Flask, request
from flask_login import current_user
from sqlalchemy import func, select

from webhooks.catalogue import event_name
from webhooks.extensions import db
from webhooks.models import Webhook
from webhooks.version import PRODUCT, __version__


def format_time(value: datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def shorten(text: str | None, length: int = 50) -> str:
    text = text or ""
    return text if len(text) <= length else text[: length - 1] + "…"


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
    app.add_template_filter(format_time, "time")
    app.add_template_filter(shorten, "shorten")
    app.add_template_global(PRODUCT, "product")
    app.add_template_global(__version__, "version")

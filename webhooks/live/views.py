"""GET /live/…: whether a page's data changed since the browser last looked, as
``{"version": "…", "busy": true|false, "poll": seconds}``; ``poll`` is when to look again (0:
not until the page is shown again). Admin pages, so for a logged-in admin only, like the rest of
the site; each takes what its page takes (a delivery's id, the list's query) and reads it the
same way, bad values included.

The pages carry the version they were rendered with (``live_status`` in ``_macros.html``, from
the template globals below), so a change made between rendering and the first look is seen.
"""

from dataclasses import dataclass
from urllib.parse import urlencode

from flask import Blueprint, current_app, jsonify, request, url_for

from webhooks.admin.views import get_webhook_or_404
from webhooks.deliveries.forms import FilterForm
from webhooks.deliveries.queries import Page, get_delivery_or_404
from webhooks.deliveries.views import per_page, read_cursor, resolve_webhook
from webhooks.live import versions
from webhooks.live.versions import Version
from webhooks.models import Delivery, Webhook

bp = Blueprint("live", __name__)

# The header the page's script sends when it fetches the page again for its regions: that
# copy shows no flashed messages, which stay for the page the admin opens next.
REFRESH_HEADER = "X-Live-Refresh"


@dataclass(frozen=True)
class Live:
    """What a live page tells its script: where to look, what it shows, when to look again."""

    url: str
    version: str
    busy: bool
    poll: int


def poll_seconds(busy: bool) -> int:
    """How soon to look again: often while work is under way, seldom (or never: 0) otherwise."""
    name = "LIVE_POLL_SECONDS" if busy else "LIVE_IDLE_POLL_SECONDS"
    return max(int(current_app.config[name]), 0)


def live(url: str, version: Version) -> Live:
    return Live(url, version.version, version.busy, poll_seconds(version.busy))


def answer(version: Version):
    response = jsonify(
        {"version": version.version, "busy": version.busy, "poll": poll_seconds(version.busy)}
    )
    return response


# ---------------------------------------------------------------- the JSON answers


@bp.get("/deliveries/<bigid:delivery_id>")
def delivery(delivery_id: int):
    state = versions.delivery_state(delivery_id)
    if state is None:
        get_delivery_or_404(delivery_id)  # the same 404 as the page's
    return answer(versions.delivery_version(state))


@bp.get("/deliveries/")
def deliveries():
    filters, notes = FilterForm(request.args).read()
    filters, _choice = resolve_webhook(filters, notes)
    cursor = read_cursor()
    return answer(versions.list_version(filters, per_page(), cursor.before, cursor.after))


@bp.get("/webhooks/<id:webhook_id>")
def webhook(webhook_id: int):
    found = get_webhook_or_404(webhook_id)
    return answer(versions.webhook_version(found, recent_deliveries(found)))


@bp.get("/dashboard")
def dashboard():
    return answer(versions.dashboard_version())


def recent_deliveries(webhook: Webhook) -> list[Delivery]:
    return versions.recent_deliveries(webhook, int(current_app.config["RECENT_DELIVERIES"]))


# ---------------------------------------------------------------- what the pages carry


@bp.app_template_global()
def live_refresh() -> bool:
    """Whether this request is the live script fetching its page again."""
    return request.headers.get(REFRESH_HEADER) == "1"


@bp.app_template_global()
def live_delivery(delivery: Delivery) -> Live:
    url = url_for("live.delivery", delivery_id=delivery.id)
    return live(url, versions.delivery_version(delivery))


@bp.app_template_global()
def live_deliveries(page: Page) -> Live:
    """The list page as it was rendered: its rows and links, read from ``page``."""
    url = url_for("live.deliveries")
    if request.args:
        url += "?" + urlencode(list(request.args.items(multi=True)))
    return live(url, versions.page_version(page))


@bp.app_template_global()
def live_webhook(webhook: Webhook, deliveries: list[Delivery]) -> Live:
    url = url_for("live.webhook", webhook_id=webhook.id)
    return live(url, versions.webhook_version(webhook, deliveries))


@bp.app_template_global()
def live_dashboard(version: Version) -> Live:
    """The dashboard as it was rendered: ``version`` is read before the figures it shows (the
    dashboard's view reads it first), so a change made while the page renders is seen at the
    next look; read after them, it could carry a change the figures miss, and the page would
    keep them."""
    return live(url_for("live.dashboard"), version)

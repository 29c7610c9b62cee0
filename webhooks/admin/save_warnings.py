"""Warnings shown after a webhook is saved: it is saved all the same, but something about it
will surprise its owner later — another webhook already sends the same events to the same
receiver, or the recipient guard would refuse its URL (the allow-list may change, so that is
not an error)."""

import logging
from urllib.parse import urlsplit

from flask import url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup, escape
from sqlalchemy import select

from webhooks.delivery.guard import RecipientBlocked, RecipientError
from webhooks.delivery.messages import result_text
from webhooks.delivery.pipeline import current_deliverer
from webhooks.extensions import db
from webhooks.models import Webhook
from webhooks.subscriptions import receivable_events, receiving, same_events
from webhooks.urls import receiver_key

log = logging.getLogger(__name__)

# Seconds a save waits for the URL's host name to resolve before saying it could not check it.
RESOLVE_TIMEOUT = 2
# Other webhooks named in the duplicate warning; the count covers the rest.
NAMED_DUPLICATES = 5
LINKS_STAND_IN = "\x00links\x00"


def warnings_for(webhook: Webhook, resolve_timeout: float = RESOLVE_TIMEOUT) -> list[Markup]:
    """The warnings about a saved ``webhook``, in the page's language, as markup for a flash
    message (names are escaped; links lead to the other webhooks' pages)."""
    warnings = []
    if (duplicates := duplicate_warning(webhook)) is not None:
        warnings.append(duplicates)
    if (guard := guard_warning(webhook.url, resolve_timeout)) is not None:
        warnings.append(guard)
    return warnings


def duplicates_of(webhook: Webhook) -> list[Webhook]:
    """The other webhooks that send the same events (``same_events``) to the same receiver,
    oldest first. URLs are compared by ``receiver_key``, which SQL cannot, so the webhooks
    that receive the first of the events are read (by the events' index) and compared here."""
    key = receiver_key(webhook.url)
    first = receivable_events(webhook)[:1]
    if not first:
        return []
    others = db.session.scalars(
        select(Webhook).where(receiving(first[0]), Webhook.id != webhook.id).order_by(Webhook.id)
    )
    return [
        other for other in others if same_events(webhook, other) and receiver_key(other.url) == key
    ]


def duplicate_warning(webhook: Webhook) -> Markup | None:
    duplicates = duplicates_of(webhook)
    if not duplicates:
        return None
    links = Markup(", ").join(
        Markup('<a href="{}">“{}”</a>').format(
            url_for("webhooks.edit", webhook_id=other.id), other.name
        )
        for other in duplicates[:NAMED_DUPLICATES]
    )
    if len(duplicates) > NAMED_DUPLICATES:
        links += Markup(", …")
    # The text is translated around a stand-in, escaped, and only then given the links.
    if webhook.all_events or len(webhook.events) > 1:
        text = ngettext(
            "%(num)d other webhook already sends these events to the same URL (%(links)s): "
            "the receiver gets each event once from each webhook.",
            "%(num)d other webhooks already send these events to the same URL (%(links)s): "
            "the receiver gets each event once from each webhook.",
            len(duplicates),
            links=LINKS_STAND_IN,
        )
        return escape(text).replace(LINKS_STAND_IN, links)
    text = ngettext(
        "%(num)d other webhook already sends this event to the same URL (%(links)s): the "
        "receiver gets each event once from each webhook.",
        "%(num)d other webhooks already send this event to the same URL (%(links)s): the "
        "receiver gets each event once from each webhook.",
        len(duplicates),
        links=LINKS_STAND_IN,
    )
    return escape(text).replace(LINKS_STAND_IN, links)


def shown_reason(error: RecipientError) -> str:
    """The guard's reason in the page's language."""
    return result_text(error.message.stored(), str(error))


def guard_warning(url: str, resolve_timeout: float) -> Markup | None:
    """What the recipient guard would say about ``url`` now, in the words of the delivery log;
    a host name that does not resolve within ``resolve_timeout`` seconds is said to be unchecked
    rather than holding up the save."""
    try:
        current_deliverer().check_now(url, resolve_timeout)
    except RecipientBlocked as error:
        message = _(
            "The webhook is saved, but its deliveries would be blocked now: %(reason)s.",
            reason=shown_reason(error),
        )
    except RecipientError as error:
        message = _(
            "The webhook is saved, but its deliveries would fail now: %(reason)s.",
            reason=shown_reason(error),
        )
    except TimeoutError:
        message = ngettext(
            "The webhook is saved, but the host name %(host)s did not resolve within "
            "%(num)d second, so whether the recipient guard lets its deliveries through was "
            "not checked.",
            "The webhook is saved, but the host name %(host)s did not resolve within "
            "%(num)d seconds, so whether the recipient guard lets its deliveries through was "
            "not checked.",
            int(resolve_timeout),
            host=urlsplit(url).hostname,
        )
    except Exception:  # the webhook is saved already: a failed check must not fail the page
        log.exception("checking the URL of a saved webhook failed")
        return None
    else:
        return None
    return escape(message)

"""The delivery log: GET /api/v1/deliveries (keyset pages, newest first), one delivery with its
attempts, redelivery, and "retry failed since".

Lists are read by ``webhooks.deliveries.queries`` and deliveries queued again by
``webhooks.lifecycle``, the code behind the admin's delivery screens; "retry failed since" is
read as the admin's "Retry all failed since" form reads it (``RetryFailedInput``).
Where the admin page ignores a parameter it cannot use (with a note), the API refuses it (422).
"""

from datetime import UTC, date, datetime

from flask import request, url_for

from webhooks.api.blueprint import bp
from webhooks.api.inputs import (
    ApiInputError,
    checked,
    gather,
    invalid,
    json_object,
    parse_time,
    query_choice,
    query_int,
    unknown_parameters,
)
from webhooks.api.shapes import (
    Delivery,
    DeliveryList,
    DeliveryWithAttempts,
    Queued,
    RetryFailedInput,
    body,
    webhook_status,
)
from webhooks.catalogue import all_events
from webhooks.deliveries.queries import (
    API_ROWS,
    Filters,
    attempts_newest_first,
    date_range,
    get_delivery_or_404,
    older_than,
)
from webhooks.extensions import db
from webhooks.lifecycle import redelivery_refusal, requeue, requeue_failed_since
from webhooks.models import DeliveryStatus, Webhook
from webhooks.routing import MAX_BIG_ID, MAX_ID

LIST_PARAMETERS = ("status", "event", "webhook_id", "from", "to", "before", "limit")
DEFAULT_LIMIT, MAX_LIMIT = 50, 100
DAY_OR_TIME = (
    "Must be a UTC date such as 2026-11-30 (the whole day) or an ISO 8601 date and time such "
    "as 2026-11-30T18:00:00Z (in a URL, write a + of a zone offset as %2B)."
)
TIME_MAX = 40


# ---------------------------------------------------------------- reading the list's query


def _day_or_time(name: str) -> date | datetime | None:
    """A query parameter that is a UTC day (a bare date: the whole day, a ``to`` day included)
    or a moment (ISO 8601; one without a zone is UTC)."""
    raw = request.args.get(name)
    if not raw:
        return None
    if len(raw) > TIME_MAX:
        raise invalid({name: [DAY_OR_TIME]})
    try:
        return date.fromisoformat(raw)
    except ValueError:
        pass
    try:
        return parse_time(name, raw)
    except (ApiInputError, OverflowError) as error:
        raise invalid({name: [DAY_OR_TIME]}) from error


def _id_parameter(name: str, largest: int = MAX_ID) -> int | None:
    return query_int(name, 0, high=largest) if request.args.get(name) else None


def read_list_query() -> tuple[Filters, int | None, int]:
    """The filters, ``before`` and ``limit`` of GET /deliveries; a 422 naming every parameter
    that is unknown, repeated or not a value the list can use."""
    problems = unknown_parameters(LIST_PARAMETERS)
    status = gather(problems, query_choice, "status", set(DeliveryStatus))
    event = gather(problems, query_choice, "event", {e.slug for e in all_events()})
    webhook_id = gather(problems, _id_parameter, "webhook_id")
    before = gather(problems, _id_parameter, "before", MAX_BIG_ID)
    limit = gather(problems, query_int, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    since = gather(problems, _day_or_time, "from")
    until = gather(problems, _day_or_time, "to")
    filters = Filters(
        status=DeliveryStatus(status) if status else None,
        event=event,
        webhook_id=webhook_id,
        date_from=since,
        date_to=until,
    )
    if "from" not in problems and "to" not in problems:
        start, end = date_range(filters)
        if start is not None and end is not None and end <= start:
            problems["to"] = ["Must not be before `from`."]
    if problems:
        raise invalid(problems)
    return filters, before, limit


def _next_page(last_id: int) -> str:
    """The path and query of the page after the one ending with ``last_id``: the same query,
    ``before`` moved on."""
    kept = {name: request.args[name] for name in LIST_PARAMETERS if name in request.args}
    kept["before"] = str(last_id)
    return url_for("api.list_deliveries", **kept)


# ---------------------------------------------------------------- routes


@bp.get("/deliveries")
def list_deliveries():
    """The delivery log, newest first, ``limit`` at a time; ``next`` continues with
    ``before`` = the last id. Without ``from``/``to`` the order is by id; with them it is by
    ``created_at`` then id (the index on ``created_at`` serves any range). A bare date is the
    whole UTC day: ``to=2026-11-30`` includes all of that day; a ``to`` time is included."""
    filters, before, limit = read_list_query()
    items, more = older_than(filters, before, limit, API_ROWS)
    return body(
        DeliveryList(
            data=[Delivery.of(delivery) for delivery in items],
            next=_next_page(items[-1].id) if more else None,
        )
    )


@bp.get("/deliveries/<bigid:delivery_id>")
def get_delivery(delivery_id: int):
    delivery = get_delivery_or_404(delivery_id)
    return body(DeliveryWithAttempts.of(delivery, attempts_newest_first(delivery)))


@bp.post("/deliveries/<bigid:delivery_id>/redeliver")
def redeliver_delivery(delivery_id: int):
    """Queue the delivery again, with the same ``msg_id`` (``webhook-id``) and body, so the
    receiver can recognise a message it may already have. A failing delivery is so retried at
    once (its retry schedule starts again)."""
    delivery = get_delivery_or_404(delivery_id)
    refusal = redelivery_refusal(delivery)
    if refusal == "test":
        raise ApiInputError(
            409,
            "conflict",
            "Test sends are not redelivered; to send another, use "
            f"POST /api/v1/webhooks/{delivery.webhook_id}/test.",
        )
    if refusal == "inactive":
        raise _not_active(delivery.webhook)
    requeue(delivery, datetime.now(UTC))
    db.session.commit()
    return body(Delivery.of(delivery)), 202


@bp.post("/deliveries/retry-failed")
def retry_failed():
    """Send now the deliveries (not test sends) of ``webhook_id`` that failed at or after
    ``since``, as the admin's "Retry all failed since": the failed ones queued again, the
    failing ones retried now."""
    given = checked(RetryFailedInput, json_object())
    webhook = db.session.get(Webhook, given.webhook_id)
    if webhook is None:
        raise ApiInputError(
            404, "not_found", "There is no webhook with that id; it may have been deleted."
        )
    if not webhook.active:
        raise _not_active(webhook)
    recovery = requeue_failed_since(webhook, given.since, datetime.now(UTC))
    db.session.commit()
    return body(Queued(queued=recovery.queued, retried_now=recovery.due_now)), 202


def _not_active(webhook: Webhook) -> ApiInputError:
    return ApiInputError(
        409,
        "conflict",
        f"The webhook {webhook.id} is {webhook_status(webhook)}, so nothing would be sent; "
        f"activate it first (PATCH /api/v1/webhooks/{webhook.id} with active: true).",
    )

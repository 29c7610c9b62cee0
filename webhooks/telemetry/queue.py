"""The queue's gauges, read from the database at each scrape, so every process and machine
reports the same figures: deliveries due, in flight, and webhooks paused.

Each is one count served by an index: due by a partial index of the due states (its
due states written as constants), in flight by the partial index ``ix_deliveries_leased``
(the rows under a lease, as many as the requests in flight); paused webhooks are counted on
the webhooks table, which holds one row per webhook.
"""

import logging
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from webhooks.extensions import db
from webhooks.models import DUE_STATES_SQL, Delivery, Webhook, due_status

log = logging.getLogger(__name__)


# SQLite's planner, without statistics, would count the due states through
# ix_deliveries_status_id, reading every pending and failing row; named, the partial index
# reads only the entries due now. PostgreSQL picks a partial index of the due states by
# itself (an index-only scan).
_DUE_ON_SQLITE = text(
    "SELECT count(*) FROM deliveries INDEXED BY ix_deliveries_due "  # noqa: S608 (constants)
    f"WHERE deliveries.{DUE_STATES_SQL} AND deliveries.next_attempt_at <= :now"
).bindparams(bindparam("now", type_=Delivery.__table__.c.next_attempt_at.type))


def _due(now: datetime) -> int:
    if db.session.get_bind().dialect.name == "sqlite":
        return db.session.scalar(_DUE_ON_SQLITE, {"now": now})
    return db.session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(due_status(), Delivery.next_attempt_at <= now)
    )


def figures(now: datetime) -> dict[str, int]:
    session = db.session
    return {
        "due": _due(now),
        # Held under a lease that has not run out (as claims count them).
        "in_flight": session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.lease_token.is_not(None), Delivery.next_attempt_at > now)
        ),
        "paused": session.scalar(
            select(func.count()).select_from(Webhook).where(Webhook.down_since.is_not(None))
        ),
    }


class QueueCollector(Collector):
    """The gauges, in the application context of the scrape's request. While the database
    does not answer they are left out (and ``webhooks_database_up`` is 0)."""

    def collect(self):
        up = GaugeMetricFamily(
            "webhooks_database_up", "1 when the database answered this scrape's counts."
        )
        try:
            values = figures(datetime.now(UTC))
        except SQLAlchemyError as error:
            db.session.rollback()
            log.warning("/metrics: the database did not answer: %s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "webhooks_deliveries_due",
            "Deliveries due now and not yet sent (pending or failing, their time come).",
            value=values["due"],
        )
        yield GaugeMetricFamily(
            "webhooks_deliveries_in_flight",
            "Deliveries a worker holds under a lease: being sent now.",
            value=values["in_flight"],
        )
        yield GaugeMetricFamily(
            "webhooks_webhooks_paused",
            "Webhooks whose receiver is counted down (circuit breaker open): their deliveries "
            "wait and one probe goes at each step of the retry schedule.",
            value=values["paused"],
        )

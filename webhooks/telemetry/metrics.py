"""The process's Prometheus metrics, and the registry a scrape reads.

With several processes (gunicorn's workers, Celery's children, ``webhooks worker`` beside the
web server) set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by all of them
before they start: each process then writes its counters there, and a scrape of any web
process adds up every process's figures (prometheus-client's multi-process mode). Without it a
scrape shows only the answering process's own counters. docs/deploy.md has the set-up.

Label values are bounded: event types come from the catalogue (any other is ``other``), the
statuses and sources are fixed sets; no label ever carries a URL, a header or a secret.
"""

import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess

from webhooks.catalogue import get_event

OTHER = "other"
SOURCES = ("api", "cli", "python", "system")

DELIVERIES = Counter(
    "webhooks_deliveries",
    "Attempts' results recorded, by the status they left the delivery in (succeeded, failing: "
    "a retry is scheduled, failed: given up, test: a Send Test Event) and its event type.",
    ["status", "event_type"],
)
ATTEMPT_SECONDS = Histogram(
    "webhooks_attempt_duration_seconds",
    "Time an attempt took, from resolving the receiver's host to the end of its answer.",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)
EVENTS = Counter(
    "webhooks_events",
    "Events reported, by source (api, cli, python, system) and result: accepted (stored), "
    "duplicate (an idempotency key stored before) or rejected (refused as input).",
    ["source", "result"],
)


def event_label(event_type: str) -> str:
    """The event type as a label value: a catalogue slug, or ``other``."""
    return event_type if get_event(event_type) is not None else OTHER


def source_label(source: str) -> str:
    return source if source in SOURCES else OTHER


def count_events(source: str, result: str, count: int = 1) -> None:
    if count:
        EVENTS.labels(source=source_label(source), result=result).inc(count)


def process_registry() -> CollectorRegistry:
    """What a scrape reports of the processes: every process's files in multi-process mode,
    this process alone (with its CPU and memory) otherwise."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY

"""The dashboard at ``/``: webhook counts, the last day's deliveries by status and by hour (a
chart drawn on the server as SVG), and the webhooks in trouble first."""

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, render_template

from webhooks.dashboard.queries import (
    FAILED_STATUSES,
    Activity,
    Hour,
    activity,
    webhook_counts,
    webhooks_by_health,
)
from webhooks.deliveries.forms import STATUSES
from webhooks.live.versions import dashboard_version

bp = Blueprint("dashboard", __name__)

# The chart's drawing area, in SVG user units (the SVG scales to its box).
WIDTH, HEIGHT = 1000, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 12, 30
SLOT_GAP = 0.25  # share of each hour's slot left empty between bars
TICKS = 4  # grid lines above the baseline


@dataclass(frozen=True)
class Bar:
    hour: Hour
    x: float
    width: float
    succeeded_y: float
    succeeded_height: float
    failed_y: float
    failed_height: float
    label: bool  # an hour written under the axis


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    ticks: list[tuple[int, float]]  # (value, y) of the horizontal grid lines
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    baseline: int = HEIGHT - BOTTOM


def nice_step(value: int) -> int:
    """The smallest of 1, 2, 5 × 10^n that is at least ``value``."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def chart(recent: Activity) -> Chart:
    """Stacked bars, one per hour: succeeded at the bottom, failed on top."""
    most = max((hour.total for hour in recent.hours), default=0)
    step = nice_step(-(-most // TICKS))
    top = step * TICKS
    plot_height = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT - RIGHT) / len(recent.hours)
    width = slot * (1 - SLOT_GAP)
    baseline = HEIGHT - BOTTOM

    def height(count: int) -> float:
        return round(plot_height * count / top, 2)

    bars = []
    for index, hour in enumerate(recent.hours):
        succeeded, failed = height(hour.succeeded), height(hour.failed)
        bars.append(
            Bar(
                hour=hour,
                x=round(LEFT + index * slot + (slot - width) / 2, 2),
                width=round(width, 2),
                succeeded_y=round(baseline - succeeded, 2),
                succeeded_height=succeeded,
                failed_y=round(baseline - succeeded - failed, 2),
                failed_height=failed,
                label=hour.start.hour % 6 == 0,
            )
        )
    ticks = [(step * n, round(baseline - plot_height * n / TICKS, 2)) for n in range(TICKS + 1)]
    return Chart(bars=bars, ticks=ticks)


@bp.get("/")
def index():
    now = datetime.now(UTC)
    # First: a change made while the figures below are read then makes the next look differ.
    version = dashboard_version(now)
    counts = webhook_counts()
    recent = activity(now) if counts.total else None
    return render_template(
        "dashboard/index.html",
        counts=counts,
        recent=recent,
        chart=chart(recent) if recent else None,
        webhooks=webhooks_by_health(recent.since) if recent else [],
        statuses=STATUSES,
        failed_statuses=FAILED_STATUSES,
        version=version,
    )

"""Page benchmarks: the dashboard and the admin pages that read the delivery log, with 1,000
and with 1,000,000 deliveries, served in-process by Flask's test client to a logged-in admin.

    .venv/bin/python bench/pages.py --webhooks 10000 --out bench/results-pages.md
    .venv/bin/python bench/pages.py --webhooks 10000 \
        --database postgresql+psycopg://postgres@127.0.0.1:5432/test \
        --out bench/results-pages-postgresql.md

Each data set lives in a database of its own, created by `flask db upgrade`: by default a SQLite
file in a temporary folder, filled with raw bulk inserts (SQLAlchemy Core, executemany, one
transaction per chunk), with no ANALYZE, as on a real install. With ``--database`` (a PostgreSQL
server URL) a database is created on that server for each set, filled with COPY, then given the
VACUUM ANALYZE that autovacuum would run on a real install (``--no-analyze`` leaves it out), and
dropped at the end. The same webhooks are in both databases, so the same URLs are timed against
both.
"""

import argparse
import gc
import html
import json
import os
import platform
import random
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

ADMIN_EMAIL = "bench@example.com"
ADMIN_PASSWORD = "bench password, not secret"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
OLDER_RE = re.compile(r'<a href="([^"]*before=\d+[^"]*)" rel="next">')
DELIVERY_LINK_RE = re.compile(r'href="/deliveries/(\d+)"')
WEBHOOK_LINK_RE = re.compile(r'href="/webhooks/(\d+)/edit"')
NEXT_PAGE_RE = re.compile(r'<a href="([^"]*page=\d+[^"]*)"[^>]*rel="next"')
ATTEMPT_RE = re.compile(r'<article class="attempt ')

CHUNK = 20_000
ATTEMPTED_NEWEST = 10_000
TARGET_MS = 100.0
TARGET_RATIO = 1.5

# Share of each status among the deliveries (per mille).
STATUS_WEIGHTS = {"succeeded": 900, "failing": 30, "failed": 40, "pending": 20, "test": 10}
# Event popularity among the webhooks; events not named here weigh 1.
EVENT_WEIGHTS = {
    "payment_received": 6,
    "customer_created": 3,
    "membership_created": 3,
    "payment_failed": 2,
    "site_published": 2,
    "membership_updated": 2,
}
NAME_WORDS = (
    "Zapier",
    "Slack",
    "CRM",
    "Billing",
    "Accounting",
    "Analytics",
    "Mailchimp",
    "HubSpot",
    "Support",
    "Ops",
    "Partner",
    "Reseller",
    "Audit",
    "Warehouse",
    "Notion",
    "Discord",
)
NAME_KINDS = ("Integration", "alerts", "sync", "hook", "relay", "listener", "export")
FAILURES = (
    ("HTTP 500 Internal Server Error in {ms} ms", 500),
    ("HTTP 503 Service Unavailable in {ms} ms", 503),
    ("HTTP 404 Not Found in {ms} ms", 404),
    ("Timed out after 15 s: the receiver did not answer", None),
    ("Connection refused by the receiver", None),
)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data


def webhook_rows(rng: random.Random, count: int, now: datetime) -> list[dict]:
    from webhooks.catalogue import all_events

    slugs = [event.slug for event in all_events()]
    weights = [EVENT_WEIGHTS.get(slug, 1) for slug in slugs]
    rows = []
    for number in range(1, count + 1):
        event = rng.choices(slugs, weights)[0]
        created = now - timedelta(days=90) + timedelta(minutes=rng.randrange(60 * 24 * 58))
        state = rng.random()
        disabled = state < 0.02
        inactive = disabled or state < 0.05
        rows.append(
            {
                "id": number,
                "name": f"{rng.choice(NAME_WORDS)} {rng.choice(NAME_KINDS)} {number:04d}",
                "url": f"https://hooks.customer{number:04d}.example.com/webhooks/{event}",
                "event": event,
                "active": not inactive,
                "secret": "whsec_" + secrets.token_urlsafe(32),
                "integration": "manual",
                "payload_format": "standard" if rng.random() < 0.9 else "flat",
                "previous_secret": None,
                "previous_secret_expires_at": None,
                "failing_since": now - timedelta(days=6) if disabled else None,
                "disabled_at": now - timedelta(days=1) if disabled else None,
                "disabled_reason": "Every attempt failed for 5 days" if disabled else None,
                "sent_count": rng.randrange(5000),
                "last_delivery_at": now - timedelta(minutes=rng.randrange(600)),
                "last_delivery_ok": not disabled,
                "last_delivery_summary": "HTTP 200 OK in 41 ms"
                if not disabled
                else "HTTP 500 Internal Server Error in 12 ms",
                "created_at": created,
                "updated_at": created,
            }
        )
    return rows


def webhook_weights(rng: random.Random, count: int) -> list[float]:
    """How busy each webhook is: a long tail, a few take most of the traffic."""
    return [rng.paretovariate(1.2) for _ in range(count)]


def summary_of(rng: random.Random, status: str) -> tuple[str, bool, int | None, int]:
    """(last summary, succeeded, response status, duration in ms) of the last attempt."""
    ms = int(rng.lognormvariate(3.5, 0.7)) + 1
    if status in ("succeeded", "test") or (status == "pending" and rng.random() < 0.5):
        return f"HTTP 200 OK in {ms} ms", True, 200, ms
    text, code = rng.choice(FAILURES)
    if code is None:
        ms = 15000 if "Timed out" in text else ms
    return text.format(ms=ms), False, code, ms


def insert_rows(conn, table, rows: list[dict]) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany elsewhere (in the caller's transaction)."""
    from sqlalchemy import insert, text

    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(text("PRAGMA cache_size=-262144"))
        conn.execute(insert(table), rows)
        return
    columns = list(rows[0])
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[column] for column in columns])
    cursor.close()


def fill(
    engine, total: int, webhooks: list[dict], weights: list[float], now: datetime, seed: int
) -> dict:
    """Deliveries spread over the last 30 days (created_at growing with id), and one attempt
    for each of the newest ATTEMPTED_NEWEST; returns counts and timings."""
    from sqlalchemy import text

    from webhooks.models import Attempt, Delivery, Webhook, WebhookEvent

    rng = random.Random(seed)
    started = time.perf_counter()
    with engine.begin() as conn:
        # Each webhook receives its one event, a row of webhook_events.
        columns = [
            {name: value for name, value in row.items() if name != "event"} for row in webhooks
        ]
        insert_rows(conn, Webhook.__table__, columns)
        events = [{"webhook_id": row["id"], "event": row["event"]} for row in webhooks]
        insert_rows(conn, WebhookEvent.__table__, events)
    owners = rng.choices(range(len(webhooks)), weights=weights, k=total)
    statuses = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()), k=total)
    span = timedelta(days=30)
    first = now - span
    step = (span - timedelta(seconds=5)) / total
    counts: Counter = Counter()
    per_webhook: Counter = Counter()
    attempts = 0
    for offset in range(0, total, CHUNK):
        deliveries, attempt_rows = [], []
        for index in range(offset, min(total, offset + CHUNK)):
            webhook = webhooks[owners[index]]
            status = statuses[index]
            created = first + step * index
            summary, ok, code, ms = summary_of(rng, status)
            delivery_id = index + 1
            event = webhook["event"]
            deliveries.append(
                {
                    "id": delivery_id,
                    "msg_id": "msg_" + secrets.token_urlsafe(18),
                    "webhook_id": webhook["id"],
                    "event_id": None,
                    "event_type": event,
                    "body": (
                        f'{{"type":"{event}","timestamp":"{created:%Y-%m-%dT%H:%M:%S.000Z}",'
                        f'"data":{{"id":{delivery_id},"customer_id":{rng.randrange(1, 90000)},'
                        f'"amount":"${rng.randrange(5, 500)}.00","status":"completed"}}}}'
                    ),
                    "is_test": status == "test",
                    "status": status,
                    "attempt_count": rng.randint(1, 3),
                    "round_failures": 0 if ok else rng.randint(1, 3),
                    "next_attempt_at": created + timedelta(minutes=5)
                    if status in ("pending", "failing")
                    else None,
                    "lease_token": None,
                    "last_summary": summary,
                    "created_at": created,
                }
            )
            counts[status] += 1
            per_webhook[webhook["id"]] += 1
            if index >= total - ATTEMPTED_NEWEST:
                attempt_rows.append(
                    {
                        "delivery_id": delivery_id,
                        "created_at": created + timedelta(milliseconds=80),
                        "url": webhook["url"],
                        "request_headers": json.dumps(
                            {
                                "Content-Type": "application/json",
                                "User-Agent": "Webhooks/0.1.0 (self-hosted webhook delivery)",
                                "webhook-id": deliveries[-1]["msg_id"],
                                "webhook-timestamp": str(int(created.timestamp())),
                                "webhook-signature": "v1," + secrets.token_urlsafe(32),
                            }
                        ),
                        "succeeded": ok,
                        "response_status": code,
                        "response_headers": json.dumps({"Content-Type": "text/plain"})
                        if code
                        else None,
                        "response_body": ("ok" if ok else "upstream error") if code else None,
                        "duration_ms": ms,
                        "error": None if code else summary,
                        "summary": summary,
                    }
                )
        with engine.begin() as conn:
            insert_rows(conn, Delivery.__table__, deliveries)
            insert_rows(conn, Attempt.__table__, attempt_rows)
        attempts += len(attempt_rows)
        if total >= 10 * CHUNK and (offset // CHUNK) % 10 == 9:
            log(
                f"  … {offset + len(deliveries):,} deliveries "
                f"({time.perf_counter() - started:.0f} s)"
            )
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # rows were given their ids: move the sequences past them
            for table in ("webhooks", "deliveries", "attempts"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                    )
                )
    return {
        "webhooks": len(webhooks),
        "deliveries": total,
        "attempts": attempts,
        "statuses": counts,
        "per_webhook": per_webhook,
        "fill_s": time.perf_counter() - started,
    }


# ---------------------------------------------------------------- timing


@dataclass
class Timing:
    label: str
    url: str
    times: list[float]
    rows: int
    gc_times: list[float]  # the timed requests during which Python ran a full collection
    statements: list[tuple[float, str, tuple]] = field(default_factory=list)

    @property
    def full_gcs(self) -> int:
        return len(self.gc_times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def p95(self) -> float:
        return percentile(self.times, 0.95)


class SqlRecorder:
    """The SQL a request runs, with parameters and time (only while ``on``)."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.on = False
        self.statements: list[tuple[float, str, tuple]] = []
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)

    def before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def after(self, conn, cursor, statement, parameters, context, executemany):
        if self.on:
            elapsed = (time.perf_counter() - conn.info.pop("bench_started")) * 1000
            if not isinstance(parameters, dict):
                parameters = tuple(parameters or ())
            self.statements.append((elapsed, statement, parameters))


class Site:
    """One database, its app, and a logged-in test client."""

    def __init__(self, tmp: Path, name: str, env: dict, server: str | None = None) -> None:
        self.server = server
        self.path = tmp / f"{name}.db"
        if server:
            from sqlalchemy import create_engine, make_url, text

            self.database = f"webhooks_pages_{name}_{secrets.token_hex(3)}"
            admin = create_engine(make_url(server), isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{self.database}"'))
            admin.dispose()
            url = make_url(server).set(database=self.database).render_as_string(False)
        else:
            url = f"sqlite:///{self.path}"
        self.env = {**env, "DATABASE_URL": url}
        started = time.perf_counter()
        subprocess.run(
            [BIN / "flask", "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )
        self.schema_s = time.perf_counter() - started
        os.environ.update(self.env)
        from webhooks import create_app

        self.app = create_app()

    def engine(self):
        from webhooks.extensions import db

        with self.app.app_context():
            return db.engine

    def analyze(self) -> float:
        """VACUUM ANALYZE, as autovacuum does on its own after big inserts (PostgreSQL)."""
        from sqlalchemy import text

        started = time.perf_counter()
        with self.engine().execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
        return time.perf_counter() - started

    def size_mb(self) -> float:
        if not self.server:
            return self.path.stat().st_size / 1e6
        from sqlalchemy import text

        with self.engine().connect() as conn:
            return conn.scalar(text("SELECT pg_database_size(current_database())")) / 1e6

    def drop(self) -> None:
        """Drop the server database (the SQLite file goes with the temporary folder)."""
        if not self.server:
            return
        from sqlalchemy import create_engine, make_url, text

        self.engine().dispose()
        admin = create_engine(make_url(self.server), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
        admin.dispose()

    def login(self) -> None:
        from webhooks.extensions import db
        from webhooks.models import User

        with self.app.app_context():
            user = User(email=ADMIN_EMAIL)
            user.set_password(ADMIN_PASSWORD)
            db.session.add(user)
            db.session.commit()
            db.engine.dispose()  # the views get fresh connections, with the default cache
        self.client = self.app.test_client()
        page = self.client.get("/login").get_data(as_text=True)
        token = CSRF_RE.search(page).group(1)
        response = self.client.post(
            "/login",
            data={"csrf_token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        )
        assert response.status_code == 302, response.status_code
        self.recorder = SqlRecorder(self.engine())

    def get(self, url: str) -> str:
        response = self.client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response.get_data(as_text=True)

    def older_link(self, url: str) -> str:
        match = OLDER_RE.search(self.get(url))
        assert match, f"no “Older” link on {url}"
        return html.unescape(match.group(1))

    def time_once(self, url: str) -> tuple[float, bool]:
        """One request: its time in ms, and whether Python ran a full collection meanwhile."""
        collections = gc.get_stats()[2]["collections"]
        started = time.perf_counter()
        self.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed, gc.get_stats()[2]["collections"] != collections

    def finish_timing(self, label: str, url: str, times: list[float], gc_times) -> Timing:
        """The rows the page shows and the SQL it runs, from one more request, untimed."""
        self.recorder.statements = []
        self.recorder.on = True
        text = self.get(url)
        self.recorder.on = False
        if "/edit" in url or url.startswith("/deliveries/?") or url == "/deliveries/":
            rows = len(set(DELIVERY_LINK_RE.findall(text)))
        elif url.startswith("/webhooks/") or url == "/":
            rows = len(set(WEBHOOK_LINK_RE.findall(text)))
        else:
            rows = len(ATTEMPT_RE.findall(text))
        return Timing(label, url, times, rows, gc_times, list(self.recorder.statements))

    def query_plan(self, statement: str, parameters) -> list[str]:
        """EXPLAIN QUERY PLAN as SQLite prints it, one line per step, indented as a tree; on
        PostgreSQL, EXPLAIN (ANALYZE, BUFFERS) as it prints it."""
        if self.server:
            with self.engine().connect() as conn:
                rows = conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                ).all()
                conn.rollback()
            return [row[0] for row in rows]
        with sqlite3.connect(self.path) as conn:
            rows = conn.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
        depth = {0: -1}
        lines = []
        for node, parent, _, detail in rows:
            depth[node] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node] + detail)
        return lines

    def compiled_list_query(self, args: dict) -> tuple[str, tuple]:
        """The page query of /deliveries/ built by the view's own functions and compiled."""
        from webhooks.deliveries.forms import FilterForm
        from webhooks.deliveries.views import conditions, list_order, page_statement, per_page
        from webhooks.extensions import db

        with self.app.test_request_context("/deliveries/", query_string=args):
            from flask import request

            filters, _ = FilterForm(request.args).read()
            order = list_order(filters)
            statement = page_statement(conditions(filters, order), order, True, per_page() + 1)
            compiled = statement.compile(dialect=db.engine.dialect)
            if compiled.positiontup is None:
                parameters = dict(compiled.params)
            else:
                parameters = tuple(compiled.params[name] for name in compiled.positiontup)
            db.session.remove()
        return str(compiled), parameters


def page_list(ids: dict, today: datetime) -> list[tuple[str, str]]:
    day = today.date()
    ten_to_five = f"from={day - timedelta(days=10)}&to={day - timedelta(days=5)}"
    return [
        ("Dashboard (24 hours by hour and status, webhooks failing first)", "/"),
        ("Webhooks, first page (default sort)", "/webhooks/"),
        ("Webhooks, first page, sort=name", "/webhooks/?sort=name"),
        ("Webhooks, search “zapier”", "/webhooks/?q=zapier"),
        (
            f"Webhooks, sort=name, page {ids['webhook_page']} (the middle)",
            f"/webhooks/?sort=name&dir=asc&page={ids['webhook_page']}",
        ),
        ("Webhook edit page (recent deliveries)", f"/webhooks/{ids['webhook']}/edit"),
        ("Deliveries, first page", "/deliveries/"),
        ("Deliveries, 3rd page (`before` link)", ids["third_page"]),
        ("status=failed", "/deliveries/?status=failed"),
        ("status=pending", "/deliveries/?status=pending"),
        ("event=payment_received", "/deliveries/?event=payment_received"),
        ("webhook=W", f"/deliveries/?webhook={ids['webhook']}"),
        ("webhook=W & status=succeeded", f"/deliveries/?webhook={ids['webhook']}&status=succeeded"),
        (
            "webhook = W's name, as typed in the filter",
            "/deliveries/?webhook=" + urllib.parse.quote_plus(ids["webhook_name"]),
        ),
        ("from 10 days ago to 5 days ago", f"/deliveries/?{ten_to_five}"),
        ("from 10 to 5 days ago, 3rd page (`before` link)", ids["range_third_page"]),
        (
            "from 29 days ago to 15 days ago",
            f"/deliveries/?from={day - timedelta(days=29)}&to={day - timedelta(days=15)}",
        ),
        (
            "from 28 days ago to 24 days ago",
            f"/deliveries/?from={day - timedelta(days=28)}&to={day - timedelta(days=24)}",
        ),
        ("to 5 days ago", f"/deliveries/?to={day - timedelta(days=5)}"),
        ("from yesterday", f"/deliveries/?from={day - timedelta(days=1)}"),
        ("Delivery detail (with its attempt)", f"/deliveries/{ids['delivery']}"),
        # Not in the brief: a quiet webhook with a status, filters combined with a date range.
        (
            "extra: webhook=Q & status=succeeded",
            f"/deliveries/?webhook={ids['quiet']}&status=succeeded",
        ),
        ("extra: status=failed, 10 to 5 days ago", f"/deliveries/?status=failed&{ten_to_five}"),
        (
            "extra: status=succeeded, 29 to 15 days ago",
            f"/deliveries/?status=succeeded&from={day - timedelta(days=29)}"
            f"&to={day - timedelta(days=15)}",
        ),
        (
            "extra: webhook=W, 10 to 5 days ago",
            f"/deliveries/?webhook={ids['webhook']}&{ten_to_five}",
        ),
        (
            "extra: webhook=B (the busiest), 29 to 15 days ago",
            f"/deliveries/?webhook={ids['busy']}&from={day - timedelta(days=29)}"
            f"&to={day - timedelta(days=15)}",
        ),
    ]


def site_pages(site: Site, ids: dict, today: datetime) -> list[tuple[str, str]]:
    """Log in, follow the `Older ›` links a browser would, and list the pages to time."""
    site.login()
    day = today.date()
    first = "/deliveries/"
    second = site.older_link(first)
    ranged = f"/deliveries/?from={day - timedelta(days=10)}&to={day - timedelta(days=5)}"
    ids = {
        **ids,
        "third_page": site.older_link(second),
        "range_third_page": site.older_link(site.older_link(ranged)),
    }
    return page_list(ids, today)


def time_sites(sites: dict[str, Site], pages: dict[str, list], args) -> dict[str, list[Timing]]:
    """Each page of every set, the sets' requests interleaved (small, large, small, …), so that
    other work on the machine weighs on both sets alike and the ratio stays fair."""
    names = list(sites)
    results: dict[str, list[Timing]] = {name: [] for name in names}
    for number in range(len(pages[names[0]])):
        for name in names:
            for _ in range(args.warmup):
                sites[name].get(pages[name][number][1])
        times: dict[str, list[float]] = {name: [] for name in names}
        gc_times: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(args.runs):
            for name in names:
                elapsed, collected = sites[name].time_once(pages[name][number][1])
                times[name].append(elapsed)
                if collected:
                    gc_times[name].append(elapsed)
        line = f"  {pages[names[0]][number][0]:50}"
        for name in names:
            label, url = pages[name][number]
            timing = sites[name].finish_timing(label, url, times[name], gc_times[name])
            results[name].append(timing)
            line += f"  {name} {timing.median:7.1f} ms (p95 {timing.p95:7.1f}, rows {timing.rows})"
        log(line)
    return results


# ---------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def values(parameters) -> list:
    """Statement parameters as a list, whether the driver took a sequence or a mapping."""
    return list(parameters.values()) if isinstance(parameters, dict) else list(parameters)


def short_values(parameters, limit: int = 60) -> str:
    """The parameters as a list, the first ``limit`` of them (the dashboard binds 77)."""
    listed = values(parameters)
    if len(listed) <= limit:
        return str(listed)
    return f"{str(listed[:limit])[:-1]}, … {len(listed) - limit} more]"


def short_plan(plan: list[str], limit: int = 80) -> list[str]:
    """A plan of at most about ``limit`` lines: its start and its end (with the timings), the
    middle left out (the dashboard's count of each hour repeats one step 77 times)."""
    if len(plan) <= limit:
        return plan
    head, tail = limit // 2, 8
    return [*plan[:head], f"… {len(plan) - head - tail} lines like those above …", *plan[-tail:]]


def long_sql(statement: str, limit: int = 3000) -> str:
    """The statement on one line; past ``limit`` characters, its start and its end."""
    flat = " ".join(statement.split())
    if len(flat) <= limit:
        return flat
    return f"{flat[: limit // 2]} … {len(flat) - limit // 2 - 500:,} characters … {flat[-500:]}"


def short_sql(statement: str, limit: int = 160) -> str:
    flat = " ".join(statement.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def main_list_statement(timing: Timing) -> tuple[float, str, tuple] | None:
    """The page query of a /deliveries/ list: ids only, LIMIT per_page + 1 (the other id
    queries, for the edges and the date-range plan, have LIMIT 1)."""
    for entry in timing.statements:
        sql = " ".join(entry[1].split())
        if sql.startswith("SELECT deliveries.id FROM deliveries") and values(entry[2])[-1:] != [1]:
            return entry
    return None


def report(
    args,
    command,
    small,
    large,
    small_data,
    large_data,
    ids,
    plans,
    compiled_note,
    total_s,
    server_info: dict | None = None,
) -> str:
    extra = [t - timing.median for timing in (*small, *large) for t in timing.gc_times]
    gc_extra = statistics.mean(extra) if extra else 0.0
    if server_info:
        engine_text = f"{server_info['version']}, autovacuum {server_info['autovacuum']}"
        data_text = (
            "Two databases on that server, each made for this run and dropped at the end; schema "
            "by `flask --app wsgi db upgrade`, rows by `COPY … FROM STDIN` through psycopg in "
            f"chunks of {CHUNK:,} (one transaction per chunk), sequences moved past the ids. "
            + (
                "Then `VACUUM ANALYZE` of each database, timed below: a real install gets the "
                "same from autovacuum, which analyzes a table once 10 % of it has changed and "
                "(PostgreSQL 13+) vacuums it after inserts, so the planner has statistics and "
                "the visibility map is set for index-only scans. This server runs with "
                f"autovacuum {server_info['autovacuum']}, so the benchmark does it itself "
                "rather than time a half-analyzed database."
                if not args.no_analyze
                else "No `ANALYZE` or `VACUUM` (`--no-analyze`): the planner has no statistics, "
                "as just after a bulk load before autovacuum has run."
            )
            + " No events rows (`event_id` is NULL)."
        )
    else:
        engine_text = f"SQLite {sqlite3.sqlite_version}"
        data_text = (
            "Two SQLite files in a temporary folder, schema by `flask --app wsgi db upgrade`, "
            f"rows by SQLAlchemy Core `insert()` executemany in chunks of {CHUNK:,} (one "
            "transaction per chunk). No `ANALYZE` (a real install never runs it), no events "
            "rows (`event_id` is NULL)."
        )
    load = os.getloadavg()
    lines = [
        f"# Page benchmark: the delivery log with {args.small:,} and {args.deliveries:,} "
        f"deliveries, {args.webhooks:,} webhooks",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}, {engine_text}), "
        "in-process with Flask's test client (no HTTP server), logged in as an admin.",
        "",
        f"Command: `{command}`",
        "",
        f"Total run time: {total_s:.0f} s. Load average at the start: "
        f"{' / '.join(f'{x:.2f}' for x in args.load_at_start)}; at the end: "
        f"{' / '.join(f'{x:.2f}' for x in load)} (1 / 5 / 15 min; other jobs share the machine).",
        "",
        "## Data",
        "",
        data_text,
        "",
        "| | small | large |",
        "| --- | --- | --- |",
    ]
    for key in ("webhooks", "deliveries", "attempts"):
        lines.append(f"| {key} | {small_data[key]:,} | {large_data[key]:,} |")
    for status in STATUS_WEIGHTS:
        lines.append(
            f"| deliveries {status} | {small_data['statuses'][status]:,} | "
            f"{large_data['statuses'][status]:,} |"
        )
    lines += [
        f"| schema (`db upgrade`) | {small_data['schema_s']:.1f} s | {large_data['schema_s']:.1f} s |",
        f"| fill time | {small_data['fill_s']:.1f} s | {large_data['fill_s']:.1f} s |",
        f"| database size | {small_data['size_mb']:.1f} MB | {large_data['size_mb']:.1f} MB |",
        *(
            [
                f"| `VACUUM ANALYZE` | {small_data['analyze_s']:.1f} s | "
                f"{large_data['analyze_s']:.1f} s |"
            ]
            if "analyze_s" in large_data
            else []
        ),
        "",
        "Deliveries are spread evenly over the last 30 days, `created_at` growing with `id`; "
        f"each goes to one of the {args.webhooks:,} webhooks (a long-tailed choice: a few "
        "webhooks get most "
        "of the traffic) with that webhook's event. Statuses ≈ 90 % succeeded, 4 % failed, "
        "3 % failing, 2 % pending, 1 % test; attempt_count 1–3; one attempt row for each of "
        f"the newest {ATTEMPTED_NEWEST:,} deliveries (so every delivery in the small set).",
        "",
        f"- **W** = webhook #{ids['webhook']} ({ids['webhook_name']}, "
        f"{ids['webhook_count']:,} deliveries in the large set, {ids['webhook_small']} in the "
        "small one; the active webhook closest to the average of "
        f"{large_data['deliveries'] // large_data['webhooks']:,}; event `{ids['webhook_event']}`).",
        f"- **Q** = webhook #{ids['quiet']} ({ids['quiet_count']:,} deliveries in the large set, "
        "the fewest of the active webhooks): extra rows, not in the brief.",
        f"- **B** = webhook #{ids['busy']} ({ids['busy_count']:,} deliveries in the large set, "
        "the most of any webhook).",
        f"- Webhook list, later page: page {ids['webhook_page']} of the list sorted by name (the "
        "middle of it); search: `zapier`, one name word in 16.",
        f"- Detail page: the 10th-newest delivery of each set (#{ids['small_delivery']} small, "
        f"#{ids['delivery']} large), which has one attempt.",
        "- 3rd page: the `Older ›` link of the first page followed twice, as a browser would "
        f"(large: `{ids['large_third']}`; small: `{ids['small_third']}`); the same for the "
        "date range from 10 to 5 days ago.",
        "",
        "## Results",
        "",
        f"{args.warmup} warm-up requests, then {args.runs} timed requests per page and set, "
        "the two sets' requests interleaved (small, large, small, …) so that other work on the "
        "machine weighs on both alike; times are the whole request (routing, login check, "
        "queries, template). "
        "Targets: median under "
        f"{TARGET_MS:.0f} ms, and no more than {TARGET_RATIO}× the 1,000-row median.",
        "",
        "| Page | URL (large set) | rows shown (1k / 1M) | 1k median | 1k p95 | 1M median | "
        "1M p95 | ratio (median) | < 100 ms | ≤ 1.5× | runs with a full GC (1k / 1M) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for one, big in zip(small, large, strict=True):
        ratio = big.median / one.median
        lines.append(
            f"| {big.label} | `{big.url}` | {one.rows} / {big.rows} | {one.median:.1f} ms | "
            f"{one.p95:.1f} ms | {big.median:.1f} ms | {big.p95:.1f} ms | {ratio:.2f}× | "
            f"{verdict(big.median < TARGET_MS)} | {verdict(ratio <= TARGET_RATIO)} | "
            f"{one.full_gcs} / {big.full_gcs} |"
        )
    lines += [
        "",
        "“rows shown”: deliveries linked from the page (lists and edit page), webhooks linked "
        "(webhook list and dashboard), attempts shown (detail page). The small set's W and Q have few or no "
        "deliveries, so their pages are short there. “runs with a full GC”: timed requests "
        "during which Python ran a generation-2 garbage collection (in this process, which also "
        f"runs the test client); over all pages such a run took {gc_extra:.0f} ms longer than "
        f"its page's median. The p95 of {args.runs} runs is the "
        f"{'second-' if round(0.95 * (args.runs - 1)) == args.runs - 2 else ''}slowest run, so "
        "two such runs on one page set it.",
        "",
        "## Slowest SQL statement of each page (1M set)",
        "",
        "From one extra, untimed request per page (SQLAlchemy `before/after_cursor_execute`).",
        "",
        "| Page | statements | all SQL | slowest | its SQL |",
        "| --- | --- | --- | --- | --- |",
    ]
    for big in large:
        total = sum(entry[0] for entry in big.statements)
        slowest = max(big.statements, key=lambda e: e[0], default=(0.0, "", ()))
        lines.append(
            f"| {big.label} | {len(big.statements)} | {total:.1f} ms | {slowest[0]:.1f} ms | "
            f"`{short_sql(slowest[1])}` {short_values(slowest[2])} |"
        )
    lines += [
        "",
        "## Query plans (1M set)",
        "",
        compiled_note,
        "",
    ]
    for title, statement, parameters, plan in plans:
        lines += [
            f"### {title}",
            "",
            "```sql",
            long_sql(statement),
            f"-- parameters: {short_values(parameters)}",
            "```",
            "",
            "```",
            *short_plan(plan),
            "```",
            "",
        ]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1_000_000, help="the large set")
    parser.add_argument("--small", type=int, default=1_000, help="the small set")
    parser.add_argument("--webhooks", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=20, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests first")
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--out", type=Path, help="write the results (Markdown) to this file")
    parser.add_argument(
        "--database",
        help="a PostgreSQL server URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test "
        "(a database of its own is made on it for each set); default: SQLite files",
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="PostgreSQL: skip the VACUUM ANALYZE that autovacuum would run",
    )
    args = parser.parse_args()
    args.load_at_start = os.getloadavg()
    began = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="webhooks-pages-"))
    env = {
        **os.environ,
        "WEBHOOKS_INSTANCE_PATH": str(tmp),
        "WEBHOOKS_SECRET_KEY": "bench",
    }
    now = datetime.now(UTC)
    sites: dict[str, Site] = {}
    try:
        rng = random.Random(args.seed)
        webhooks = webhook_rows(rng, args.webhooks, now)
        weights = webhook_weights(rng, args.webhooks)

        data = {}
        for name, total in (("small", args.small), ("large", args.deliveries)):
            log(f"{name}: {total:,} deliveries")
            site = Site(tmp, name, env, args.database)
            sites[name] = site
            data[name] = fill(site.engine(), total, webhooks, weights, now, args.seed + total)
            data[name]["schema_s"] = site.schema_s
            log(f"  filled in {data[name]['fill_s']:.1f} s")
            if args.database and not args.no_analyze:
                data[name]["analyze_s"] = site.analyze()
                log(f"  VACUUM ANALYZE in {data[name]['analyze_s']:.1f} s")
            data[name]["size_mb"] = site.size_mb()

        # W: an active webhook as busy as the average one (deliveries / webhooks in the large
        # set) that also has a delivery in the small set; Q: the active one with the fewest.
        large_counts = data["large"]["per_webhook"]
        small_counts = data["small"]["per_webhook"]
        mean = args.deliveries / args.webhooks
        active = [row["id"] for row in webhooks if row["active"] and large_counts[row["id"]]]
        webhook_id = min(
            (row_id for row_id in active if small_counts[row_id]) or active,
            key=lambda row_id: (abs(large_counts[row_id] - mean), row_id),
        )
        quiet_id = min(active, key=lambda row_id: (large_counts[row_id], row_id))
        busy_id = max(large_counts, key=lambda row_id: (large_counts[row_id], -row_id))
        webhook = webhooks[webhook_id - 1]
        ids = {
            "webhook": webhook_id,
            "webhook_name": webhook["name"],
            "webhook_event": webhook["event"],
            "webhook_count": large_counts[webhook_id],
            "webhook_small": small_counts[webhook_id],
            "quiet": quiet_id,
            "quiet_count": large_counts[quiet_id],
            "busy": busy_id,
            "busy_count": large_counts[busy_id],
            "webhook_page": max(1, args.webhooks // 40),
        }

        pages = {
            name: site_pages(sites[name], {**ids, "delivery": data[name]["deliveries"] - 9}, now)
            for name in ("small", "large")
        }
        log("timing both sets, their requests interleaved")
        results = time_sites(sites, pages, args)
        for name in ("small", "large"):
            ids[f"{name}_delivery"] = data[name]["deliveries"] - 9
            ids[f"{name}_third"] = next(
                t.url for t in results[name] if t.label.startswith("Deliveries, 3rd page")
            )
        ids["delivery"] = ids["large_delivery"]

        large = sites["large"]
        plans = []
        same = []
        for label, query in (("first page", {}), ("?status=failed", {"status": "failed"})):
            statement, parameters = large.compiled_list_query(query)
            captured = main_list_statement(
                next(
                    t
                    for t in results["large"]
                    if t.url == "/deliveries/" + ("?status=failed" if query else "")
                )
            )
            same.append(
                captured is not None and captured[1] == statement and captured[2] == parameters
            )
            plans.append(
                (
                    f"/deliveries/, {label} (main list query)",
                    statement,
                    parameters,
                    large.query_plan(statement, parameters),
                )
            )
        for timing in results["large"]:
            if timing.url in ("/deliveries/", "/deliveries/?status=failed"):
                continue
            if timing.url == "/":  # the dashboard: every query of the delivery log
                for number, entry in enumerate(
                    (e for e in timing.statements if "FROM deliveries" in e[1]), start=1
                ):
                    title = f"{timing.label}: query {number} of deliveries ({entry[0]:.1f} ms)"
                    plans.append((title, entry[1], entry[2], large.query_plan(entry[1], entry[2])))
                continue
            entry = main_list_statement(timing) if timing.url.startswith("/deliveries/?") else None
            if entry is None:
                reads = [
                    e for e in timing.statements if re.search(r"FROM (deliveries|attempts)", e[1])
                ]
                what = "its slowest query of deliveries or attempts"
                if not reads:
                    reads = [e for e in timing.statements if "FROM users" not in e[1]]
                    what = "its slowest query (other than the user lookup)"
                if not reads:
                    continue
                entry = max(reads, key=lambda e: e[0])
                title = f"{timing.label}: {what} ({entry[0]:.1f} ms)"
            else:
                title = f"{timing.label}: main list query ({entry[0]:.1f} ms)"
            plans.append((title, entry[1], entry[2], large.query_plan(entry[1], entry[2])))
        compiled_note = (
            "The first two plans are required by the brief. Their SQL was built by the view's "
            "own functions (`list_order`, `conditions`, `page_statement` from "
            "webhooks/deliveries/views.py, in a request context with the same query string) "
            f"and compiled by SQLAlchemy for {large.engine().dialect.name} — not hand-written; "
            + (
                "it is identical, parameters included, to the statement captured while the "
                "view ran."
                if all(same)
                else "**it differs from the statement captured while the view ran** (see below)."
            )
            + " The other plans are of statements captured while the views ran: the list's "
            "page query, or on other pages the slowest query of deliveries or attempts (else the "
            "slowest one other than the login's user lookup). "
            + (
                "Plans are `EXPLAIN (ANALYZE, BUFFERS)` on another connection to the same "
                "database, run after the timings (so the pages they read are cached)."
                if args.database
                else "Plans are read on a separate sqlite3 connection to the same file."
            )
        )
        server_info = None
        if args.database:
            from sqlalchemy import text as sql_text

            with large.engine().connect() as conn:
                server_info = {
                    "version": conn.scalar(sql_text("SELECT version()")).split(" on ")[0],
                    "autovacuum": conn.scalar(sql_text("SHOW autovacuum")),
                }
        total_s = time.perf_counter() - began
        command = ".venv/bin/python bench/pages.py " + " ".join(sys.argv[1:])
        text = report(
            args,
            command,
            results["small"],
            results["large"],
            data["small"],
            data["large"],
            ids,
            plans,
            compiled_note,
            total_s,
            server_info,
        )
    finally:
        if args.keep:
            log(f"kept {tmp}" + (" (server databases are dropped all the same)" if sites else ""))
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        for site in sites.values():
            site.drop()
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

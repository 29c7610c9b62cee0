"""Ingestion benchmark: `POST /api/v1/events` under gunicorn (2 processes), each event fanned out
to 10 webhooks, beside a bare Flask JSON endpoint under the same gunicorn settings.

    .venv/bin/python bench/ingest.py --out bench/results-ingest.md
    .venv/bin/python bench/ingest.py --database postgresql+psycopg://postgres@127.0.0.1:5432/test

The load comes from wrk (Debian package `wrk`) on 127.0.0.1. The delivery worker is off
(WEBHOOKS_EMBEDDED_WORKER=false), so only storing the event and its deliveries is measured.
Besides the rate, the CPU time the gunicorn workers spent per request is read from /proc: wrk
and the database server share the machine, so the rate alone hides where the time went.
"""

import argparse
import os
import platform
import re
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

import requests
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.body = '{{"type": "payment_received", "data": {{"payment_id": 7, "payment_total": "$29.00", "customer_user_email": "ada@example.com"}}}}'
"""


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def wrk(url: str, script: Path, seconds: int, connections: int) -> tuple[float, int]:
    """Requests per second and the number of requests answered."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{errors.group(1)} requests failed:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rate, int(re.search(r"(\d+) requests in", out).group(1))


def workers_cpu(master: subprocess.Popen) -> float:
    """CPU seconds (user + system) used so far by the gunicorn master's worker processes."""
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    total = 0
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def database_cpu() -> float:
    """CPU seconds used so far by the PostgreSQL server processes on this machine."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        if "(postgres)" in text:
            fields = text.rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure(process: subprocess.Popen, url: str, script: Path, args) -> tuple[float, float, float]:
    """Requests per second, and the CPU milliseconds per request of gunicorn and of the
    database server, after a 3 s warm-up; the server is stopped either way."""
    try:
        wrk(url, script, 3, args.connections)
        cpu_before, database_before = workers_cpu(process), database_cpu()
        rate, requests_done = wrk(url, script, args.seconds, args.connections)
        cpu_ms = (workers_cpu(process) - cpu_before) * 1000 / requests_done
        database_ms = (database_cpu() - database_before) * 1000 / requests_done
    finally:
        stop(process)
    return rate, cpu_ms, database_ms


def serve(app: str, port: int, env: dict) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            BIN / "gunicorn",
            "--config",
            "/dev/null",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "--bind",
            f"127.0.0.1:{port}",
            "--pythonpath",
            "bench",
            app,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(f"http://127.0.0.1:{port}/")
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="a server URL (a database of its own is made on it)")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--port", type=int, default=5097)
    parser.add_argument(
        "--rounds", type=int, default=3, help="bare and product measured alternately, medians kept"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    load_before = Path("/proc/loadavg").read_text().split()[:3]
    tmp = Path(tempfile.mkdtemp(prefix="webhooks-ingest-"))
    admin = None
    if args.database:
        name = f"webhooks_ingest_{secrets.token_hex(3)}"
        admin = create_engine(make_url(args.database), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        database_url = make_url(args.database).set(database=name).render_as_string(False)
    else:
        database_url = f"sqlite:///{tmp / 'ingest.db'}"
    env = {
        **os.environ,
        "WEBHOOKS_INSTANCE_PATH": str(tmp),
        "DATABASE_URL": database_url,
        "WEBHOOKS_SECRET_KEY": "bench",
        "WEBHOOKS_EMBEDDED_WORKER": "false",
    }
    os.environ.update(env)
    try:
        subprocess.run(
            [BIN / "flask", "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        from webhooks import create_app
        from webhooks.extensions import db
        from webhooks.models import Delivery, Event, Webhook
        from webhooks.tokens import create_token

        app = create_app()
        with app.app_context():
            for number in range(10):
                db.session.add(
                    Webhook(
                        name=f"r{number}",
                        url=f"https://r{number}.example.com/hook",
                        event="payment_received",
                    )
                )
            _, token = create_token("bench")
            db.session.commit()
        script = tmp / "post.lua"
        script.write_text(LUA.format(token=token))
        url = f"http://127.0.0.1:{args.port}/api/v1/events"

        rounds = []
        for _ in range(args.rounds):  # alternately, so a slow spell of the machine hits both
            bare = measure(serve("bare_app:app", args.port, env), url, script, args)
            site = measure(serve("wsgi:app", args.port, env), url, script, args)
            rounds.append((bare, site))
        bare_rate, bare_cpu, _ = (median(bare[i] for bare, _ in rounds) for i in range(3))
        site_rate, site_cpu, site_db = (median(site[i] for _, site in rounds) for i in range(3))
        ratio = median(site[0] / bare[0] for bare, site in rounds)
        each = ", ".join(f"{site[0] / bare[0]:.0%}" for bare, site in rounds)
        load_after = Path("/proc/loadavg").read_text().split()[:3]
        with app.app_context():
            events = db.session.query(Event).count()
            deliveries = db.session.query(Delivery).count()
            db.engine.dispose()
    finally:
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    database = "PostgreSQL 127.0.0.1:5432" if args.database else "SQLite"
    # SQLite works inside gunicorn, so its share is already in the row above.
    database_row = (
        f"| PostgreSQL server CPU per request | — | {site_db:.2f} ms | | |\n"
        if args.database
        else ""
    )
    report = f"""# Ingestion benchmark ({database})

Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} ({os.cpu_count()} cores,
Python {platform.python_version()}).

Command: `python bench/ingest.py {" ".join(sys.argv[1:])}`

gunicorn with 2 processes × 8 threads (`gthread`, as `gunicorn.conf.py`) for both;
wrk with 2 threads and {args.connections} connections for {args.seconds} s after a 3 s warm-up,
{args.rounds} rounds of the bare endpoint then the product; medians below (ratio of each
round: {each}).
Each event is fanned out to 10 webhooks: {events} events and {deliveries} deliveries were
stored during the runs. The worker was off, so only ingestion is measured.

Load average (1, 5, 15 min) before the runs: {" ".join(load_before)}; after:
{" ".join(load_after)}. Other work on the machine slows both endpoints, not always alike.

| | bare Flask JSON endpoint | `POST /api/v1/events` (10 deliveries each) | ratio | target |
| --- | --- | --- | --- | --- |
| requests/s | {bare_rate:.0f}/s | {site_rate:.0f}/s | {ratio:.0%} | ≥ 50 % |
| gunicorn CPU per request | {bare_cpu:.2f} ms | {site_cpu:.2f} ms | | |
{database_row}"""
    print(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()

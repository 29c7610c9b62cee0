"""Delivery throughput of the scale-out engine: 1, 2 and 4 Celery worker processes on
PostgreSQL, beside the embedded engine on SQLite and a bare keep-alive ``requests.Session``
loop, for the same N queued deliveries to the same local receiver, in one run.

    .venv/bin/python bench/delivery_scaleout.py --out bench/results-delivery-scaleout.md

Needs a PostgreSQL server (``--database``; the run creates a database of its own on it and
drops it) and a Redis database it may empty (``--broker``; flushed before and after each run).
Everything else runs on 127.0.0.1: bench/receiver.py, `flask worker` (embedded engine, SQLite in
a temporary folder), `celery worker` and one `celery beat`. Every wait is bounded, and every
process the run starts is stopped at the end, also on Ctrl-C or SIGTERM.
"""

import argparse
import json
import os
import platform
import re
import resource
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import redis
from delivery import BIN, ROOT, Bench
from sqlalchemy import create_engine, func, make_url, select, text

CELERY = BIN / "celery"
TICKS = os.sysconf("SC_CLK_TCK")
TASK_DONE = re.compile(r"Task (webhooks\.\w+)\[[^\]]+\] succeeded in [\d.e-]+s: (.*)$")
# Set by Ctrl-C or SIGTERM. A library may swallow the KeyboardInterrupt the signal raises
# (while a query or a broker call runs), so every wait and every process start checks it too.
STOP = threading.Event()


def stop_requested(signum, frame) -> None:
    if STOP.is_set():  # a second Ctrl-C must not cut the clean-up short
        return
    STOP.set()
    raise KeyboardInterrupt(f"signal {signum}")


def check_stop() -> None:
    if STOP.is_set():
        raise KeyboardInterrupt("stopped")


def wait_for(check, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``check`` until it is truthy; False when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_stop()
        if check():
            return True
        time.sleep(interval)
    return bool(check())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, from /proc; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def children_cpu() -> float:
    """CPU time of this script's ended and reaped child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def check_deliveries(app, after_id: int, seen: dict[str, int], expected: int) -> list[str]:
    """What is wrong with this run's deliveries: each must have succeeded with exactly one
    attempt, and the receiver must have seen each webhook-id exactly once."""
    from webhooks.extensions import db
    from webhooks.models import Attempt, Delivery

    with app.app_context():
        rows = db.session.execute(
            select(Delivery.msg_id, Delivery.status, Delivery.attempt_count).where(
                Delivery.id > after_id
            )
        ).all()
        attempts = db.session.scalar(
            select(func.count()).select_from(Attempt).where(Attempt.delivery_id > after_id)
        )
        db.session.remove()
    problems = []
    if len(rows) != expected:
        problems.append(f"{len(rows)} deliveries instead of {expected}")
    statuses = Counter(row.status for row in rows)
    if statuses["succeeded"] != len(rows):
        problems.append(f"statuses {dict(statuses)}")
    counts = Counter(row.attempt_count for row in rows)
    if set(counts) != {1}:
        problems.append(f"attempt_count {dict(counts)}")
    if attempts != len(rows):
        problems.append(f"{attempts} attempt rows")
    ids = {row.msg_id for row in rows}
    if missing := len(ids - set(seen)):
        problems.append(f"{missing} never reached the receiver")
    if unknown := len(set(seen) - ids):
        problems.append(f"{unknown} unknown webhook-ids at the receiver")
    if twice := sum(1 for times in seen.values() if times > 1):
        problems.append(f"{twice} webhook-ids received more than once")
    return problems


class Scaleout:
    """The Celery engine on a PostgreSQL database of its own, fed through a Redis database."""

    def __init__(self, bench: Bench, args) -> None:
        self.bench = bench
        self.args = args
        self.path = bench.tmp / "celery"
        self.path.mkdir()
        self.server = make_url(args.database)
        self.name = f"webhooks_bench_{os.getpid()}_{secrets.token_hex(3)}"
        self.url = self.server.set(database=self.name).render_as_string(hide_password=False)
        self.env = {
            **bench.env,
            "DATABASE_URL": self.url,
            "WEBHOOKS_QUEUE": "celery",
            "WEBHOOKS_CELERY_BROKER_URL": args.broker,
            "WEBHOOKS_INSTANCE_PATH": str(self.path),
        }
        if not args.default_pool:
            # One pooled connection per thread: with SQLAlchemy's default pool (5, plus 10
            # opened and closed again for every transaction beyond them) most threads would
            # connect to PostgreSQL anew for each of an attempt's transactions.
            options = {"pool_pre_ping": True, "pool_size": args.celery_threads}
            self.env["WEBHOOKS_SQLALCHEMY_ENGINE_OPTIONS"] = json.dumps(options)
        self.broker = redis.Redis.from_url(args.broker, socket_timeout=10)
        self.processes: list[subprocess.Popen] = []
        self.created = False
        self.app = None

    # ------------------------------------------------------------ set-up and tear-down

    def setup(self) -> None:
        admin = create_engine(self.server, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
            self.versions = {
                "postgresql": connection.scalar(text("SHOW server_version")),
                "redis": self.broker.info("server")["redis_version"],
            }
        admin.dispose()
        self.created = True
        subprocess.run(
            [BIN / "flask", "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        from webhooks import create_app
        from webhooks.extensions import db
        from webhooks.models import Webhook

        self.app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": self.url,
                "QUEUE": "celery",
                "CELERY_BROKER_URL": self.args.broker,
                "ALLOWED_NETWORKS": "127.0.0.0/8",
                "SECRET_KEY": "bench",
            }
        )
        with self.app.app_context():
            db.session.add(
                Webhook(
                    name="bench", url=f"{self.bench.receiver_url}/hook", event="payment_received"
                )
            )
            db.session.commit()
        self.redis_pid = int(self.broker.info("server")["process_id"])

    def close(self) -> None:
        for process in list(self.processes):
            self.stop(process)
        try:
            self.broker.flushdb()
        except redis.RedisError as error:
            print(f"could not flush {self.args.broker}: {error}", file=sys.stderr)
        if self.app is not None:
            from webhooks.extensions import db

            with self.app.app_context():
                db.engine.dispose()
        if self.created:
            admin = create_engine(self.server, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            admin.dispose()

    def start(self, args: list[str], log: Path) -> subprocess.Popen:
        """A Celery process in a session of its own, so stopping it stops its children too."""
        check_stop()
        with log.open("w") as out:
            process = subprocess.Popen(
                [CELERY, "-A", "webhooks.celery_worker", *args, "--loglevel", "INFO"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        except ProcessLookupError:  # already gone
            process.wait(10)
        if process in self.processes:
            self.processes.remove(process)

    # ------------------------------------------------------------ one run

    def waiting_messages(self) -> int:
        """Messages in the broker: queued, and taken by a worker but not yet acknowledged."""
        return self.broker.llen("celery") + self.broker.hlen("unacked")

    def queue(self) -> dict:
        """N pending deliveries committed in one transaction, then one `webhooks.attempt`
        message each, sent as `dispatch` sends them after its commit."""
        from webhooks.extensions import db
        from webhooks.models import Delivery
        from webhooks.outbox import enqueue
        from webhooks.worker.celery_engine import send_attempts

        self.broker.flushdb()
        with self.app.app_context():
            db.session.execute(text("TRUNCATE attempts, deliveries, events RESTART IDENTITY"))
            db.session.commit()
            started = time.perf_counter()
            for seq in range(self.args.deliveries):
                enqueue("payment_received", {"seq": seq, "payment_total": "$9"}, source="cli")
            db.session.commit()
            inserted = time.perf_counter() - started
            ids = db.session.scalars(select(Delivery.id).order_by(Delivery.id)).all()
            started = time.perf_counter()
            sent = send_attempts(self.app, ids)
            messages = time.perf_counter() - started
            db.session.remove()
            db.engine.dispose()  # its server process would be counted as the workers' below
        check_stop()
        assert sent == len(ids) == self.args.deliveries, (sent, len(ids))
        return {"insert": inserted, "messages": messages}

    def database_stats(self) -> dict:
        """Sessions opened and transactions committed on this database so far."""
        admin = create_engine(self.server, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_stat_clear_snapshot()"))
            sessions, commits = connection.execute(
                text("SELECT sessions, xact_commit FROM pg_stat_database WHERE datname = :name"),
                {"name": self.name},
            ).one()
        admin.dispose()
        return {"sessions": sessions, "commits": commits}

    def run(self, processes: int) -> dict:
        n = self.args.deliveries
        queued = self.queue()
        self.bench.reset_receiver()
        folder = self.path / f"run-{processes}"
        folder.mkdir()
        load = os.getloadavg()[0]
        receiver_cpu = cpu_seconds(self.bench.receiver.pid)
        redis_cpu = cpu_seconds(self.redis_pid)
        own_cpu = children_cpu()
        stats = self.database_stats()
        started = time.perf_counter()
        if self.args.beat:
            self.start(["beat", "--schedule", str(folder / "beat-schedule")], folder / "beat.log")
        for number in range(processes):
            self.start(
                [
                    "worker",
                    "--pool",
                    "threads",
                    "--concurrency",
                    str(self.args.celery_threads),
                    "--hostname",
                    f"bench{number}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                folder / f"worker-{number}.log",
            )
        finished = wait_for(
            lambda: (
                self.bench.receiver_count()["ids"] >= n
                or any(process.poll() is not None for process in self.processes)
            ),
            self.args.timeout,
        )
        wall = time.perf_counter() - started
        delivered = self.bench.receiver_count()["ids"] >= n
        # Messages still queued or unacknowledged once all were delivered: the sweep's repeats.
        left = self.waiting_messages()
        drained_started = time.perf_counter()
        drained = wait_for(lambda: self.waiting_messages() == 0, 60, 0.1) if delivered else False
        drain = time.perf_counter() - drained_started
        time.sleep(0.5)  # time enough for a second send of anything to show
        for process in list(self.processes):
            self.stop(process)
        cpu = {
            "workers": children_cpu() - own_cpu,
            "receiver": cpu_seconds(self.bench.receiver.pid) - receiver_cpu,
            "redis": cpu_seconds(self.redis_pid) - redis_cpu,
        }
        time.sleep(1.0)  # server processes report their figures within a second
        database = {name: value - stats[name] for name, value in self.database_stats().items()}
        tasks: Counter[tuple[str, str]] = Counter()
        tracebacks = 0
        for log in folder.glob("*.log"):
            for line in log.read_text().splitlines():
                if match := TASK_DONE.search(line):
                    task, result = match.group(1), match.group(2).strip("'")
                    tasks[task, result if task == "webhooks.attempt" else "done"] += 1
                    if task == "webhooks.sweep":
                        tasks["swept", "messages"] += int(result)
                tracebacks += "Traceback" in line
        seen = requests_ids(self.bench)
        problems = check_deliveries(self.app, 0, seen, n)
        if not finished or not delivered:
            problems.insert(0, f"not all delivered within {self.args.timeout:.0f} s")
        if tracebacks:
            problems.append(f"{tracebacks} tracebacks in the Celery logs ({folder})")
        return {
            "processes": processes,
            "load": load,
            "queued": queued,
            "wall": wall,
            "left": left,
            "drain": drain if drained else None,
            "tasks": tasks,
            "cpu": cpu,
            "database": database,
            "problems": problems,
            **attempt_span(self.app, 0, n),
        }


def requests_ids(bench: Bench) -> dict[str, int]:
    import requests

    return requests.get(f"{bench.receiver_url}/ids", timeout=30).json()["ids"]


def attempt_span(app, after_id: int, expected: int) -> dict:
    """First → last recorded attempt of this run's deliveries, and the rate over that span."""
    from webhooks.extensions import db
    from webhooks.models import Attempt

    with app.app_context():
        first, last = db.session.execute(
            select(func.min(Attempt.created_at), func.max(Attempt.created_at)).where(
                Attempt.delivery_id > after_id
            )
        ).one()
        db.session.remove()
    busy = (last - first).total_seconds() if first else float("nan")
    return {"busy": busy, "rate": expected / busy if busy else float("nan")}


def bare(bench: Bench) -> dict:
    rate = bench.bare_loop()
    stats = bench.receiver_stats()
    n = bench.args.deliveries
    problems = []
    if stats["count"] != n or len(stats["arrivals"]) != n:
        problems.append(f"{stats['count']} requests, {len(stats['arrivals'])} distinct bodies")
    return {"rate": rate, "problems": problems}


def embedded(bench: Bench, timeout: float) -> dict:
    load = os.getloadavg()[0]
    receiver_cpu = cpu_seconds(bench.receiver.pid)
    own_cpu = children_cpu()
    result = bench.worker(timeout)
    time.sleep(0.5)
    cpu = {
        "workers": children_cpu() - own_cpu,
        "receiver": cpu_seconds(bench.receiver.pid) - receiver_cpu,
    }
    n = bench.args.deliveries
    problems = check_deliveries(bench.app, result["after_id"], requests_ids(bench), n)
    span = attempt_span(bench.app, result["after_id"], n)
    return {**result, **span, "load": load, "cpu": cpu, "problems": problems}


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = Path("/proc/meminfo").read_text().split()[1]
    return (
        f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {int(memory) // 1024**2} GB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def per_delivery(cpu: dict, n: int) -> str:
    return ", ".join(f"{name} {seconds * 1000 / n:.2f}" for name, seconds in cpu.items())


def verdict(problems: list[str]) -> str:
    return "✓ all once" if not problems else "✗ " + "; ".join(problems)


def report(args, command: str, facts: dict) -> str:
    n = args.deliveries
    before, after = facts["bare"], facts["bare_after"]
    reference = (before["rate"] + after["rate"]) / 2
    embedded_run = facts["embedded"]
    rows = [
        f"| bare loop (before, after) | 1 × 1 | — | {before['rate']:.0f}/s, {after['rate']:.0f}/s "
        f"| — | 100 % | {verdict(before['problems'] + after['problems'])} | — |",
        f"| embedded, SQLite | 1 × {args.threads} | {embedded_run['busy']:.1f} s "
        f"| {embedded_run['rate']:.0f}/s | {n / embedded_run['wall']:.0f}/s "
        f"| {embedded_run['rate'] / reference:.0%} | {verdict(embedded_run['problems'])} "
        f"| {embedded_run['load']:.2f} |",
    ]
    for run in facts["celery"]:
        rows.append(
            f"| Celery, PostgreSQL | {run['processes']} × {args.celery_threads} "
            f"| {run['busy']:.1f} s | {run['rate']:.0f}/s | {n / run['wall']:.0f}/s "
            f"| {run['rate'] / reference:.0%} | {verdict(run['problems'])} | {run['load']:.2f} |"
        )
    cpu_rows = [
        f"| embedded, SQLite | 1 × {args.threads} | {per_delivery(embedded_run['cpu'], n)} "
        "| — | — |"
    ]
    extra_rows = []
    for run in facts["celery"]:
        cpu_rows.append(
            f"| Celery, PostgreSQL | {run['processes']} × {args.celery_threads} "
            f"| {per_delivery(run['cpu'], n)} | {run['database']['commits'] / n:.1f} "
            f"| {run['database']['sessions']} |"
        )
        tasks = run["tasks"]
        drain = f"{run['drain']:.1f} s" if run["drain"] is not None else "not within 60 s"
        extra_rows.append(
            f"| {run['processes']} × {args.celery_threads} | {run['queued']['insert']:.1f} s "
            f"+ {run['queued']['messages']:.1f} s | {tasks['webhooks.sweep', 'done']} "
            f"| {tasks['swept', 'messages']} | {tasks['webhooks.attempt', 'succeeded']} "
            f"| {tasks['webhooks.attempt', 'not due']} | {run['left']} | {drain} |"
        )
    beat = (
        f"one `celery beat` (sweep every {facts['sweep_interval']:g} s, as in production)"
        if args.beat
        else "no beat (`--no-beat`)"
    )
    pool = (
        "SQLAlchemy's default pool (`--default-pool`): 5 connections kept, up to 10 more "
        "opened and closed per transaction."
        if args.default_pool
        else f'`WEBHOOKS_SQLALCHEMY_ENGINE_OPTIONS=\'{{"pool_pre_ping": true, "pool_size": '
        f"{args.celery_threads}}}'`: one kept connection per thread ({4 * args.celery_threads} "
        "for 4 processes), as a deployment should set it; the default pool (5) would open and "
        "close a connection per transaction for the threads beyond 5."
    )
    cores = os.cpu_count() or 1
    ceilings = ", ".join(
        f"{run['processes']} × {args.celery_threads}: {run['cpu']['workers'] * 1000 / n:.1f} ms "
        f"→ {cores * n / run['cpu']['workers']:.0f}/s"
        for run in facts["celery"]
        if run["cpu"]["workers"]
    )
    fastest = max(facts["celery"], key=lambda run: run["rate"], default=None)
    if fastest and fastest["rate"] < embedded_run["rate"]:
        verdict_line = (
            f"On this machine the embedded engine ({embedded_run['rate']:.0f}/s) is "
            f"{embedded_run['rate'] / fastest['rate']:.1f} × the fastest Celery set-up "
            f"({fastest['processes']} processes, {fastest['rate']:.0f}/s). What the Celery "
            "engine buys is workers on more machines (or cores), not speed on one small machine."
        )
    elif fastest:
        verdict_line = (
            f"The fastest Celery set-up ({fastest['processes']} processes, "
            f"{fastest['rate']:.0f}/s) outran the embedded engine ({embedded_run['rate']:.0f}/s)."
        )
    else:
        verdict_line = "No Celery run."
    nl = "\n"
    return f"""# Delivery throughput: Celery engine (scale-out) beside the embedded engine

Run {facts["started"]:%Y-%m-%d %H:%M} UTC on {facts["machine"]}; PostgreSQL
{facts["versions"]["postgresql"]}, Redis {facts["versions"]["redis"]}; everything on 127.0.0.1.

Command: `{command}`

Load (`uptime`) before: `{facts["uptime_before"]}`
after: `{facts["uptime_after"]}`

## Set-up

- **Load**: {n} deliveries of one `payment_received` event each to one webhook, whose URL is
  bench/receiver.py (a threading HTTP server answering 200 at once). Every run queues the same
  bodies.
- **Bare loop**: one keep-alive `requests.Session` POSTing those bodies one after another (before
  and after the engines; the mean is the reference).
- **Embedded**: the deliveries committed on SQLite, then `flask worker --threads {args.threads}`
  started (as bench/delivery.py does).
- **Celery**: on a PostgreSQL database of the run's own, the deliveries are committed in one
  transaction, then one `webhooks.attempt` message per delivery is sent to Redis (db
  `{make_url_safe(args.broker)}`) with `send_attempts`, as `dispatch` does after its commit. Then
  the workers start: N `celery -A webhooks.celery_worker worker --pool threads --concurrency
  {args.celery_threads} --without-gossip --without-mingle --without-heartbeat` processes, and
  {beat}. Threads, not prefork: an attempt mostly waits (receiver, PostgreSQL); with
  prefork each child makes one attempt at a time, so a 2-core machine would need dozens of
  children (each a full interpreter with its own connection pool) to overlap the waits.
  {pool}
- **Measured**: *first → last attempt* from the `attempts` rows (start-up excluded); *wall*
  from starting the worker processes to the receiver having every webhook-id (start-up
  included). **Checked** in every run: each delivery `succeeded` with `attempt_count` 1 and one
  attempt row, and the receiver saw each `webhook-id` exactly once (0.5 s after the last, and for
  Celery after the broker's queue was empty).

## Throughput

| engine | processes × threads | first → last attempt | deliveries/s | deliveries/s incl. start-up | vs bare loop | correctness | load (1 min) at start |
| --- | --- | --- | --- | --- | --- | --- | --- |
{nl.join(rows)}

## CPU per delivery (ms)

*workers*: the worker processes (and beat), SQLite included for the embedded engine;
*receiver*: bench/receiver.py; *redis*: the whole Redis server (shared with other users of this
machine). PostgreSQL's own CPU is not split out (its server processes are shared); instead, the
transactions committed on the run's database per delivery, and the sessions (connections)
opened during the run.

| engine | processes × threads | CPU ms per delivery | PostgreSQL commits per delivery | PostgreSQL sessions opened |
| --- | --- | --- | --- | --- |
{nl.join(cpu_rows)}

## Celery messages

Queueing (commit + messages); beat's sweeps during the run and how many attempt messages they
queued; attempt tasks that sent (`succeeded`) or found their delivery already done (`not due`);
messages still in the broker when the receiver had every delivery, and how long they took to drain.

| processes × threads | queueing | sweeps | messages queued by sweeps | attempts sent | attempts `not due` | left at the end | drained in |
| --- | --- | --- | --- | --- | --- | --- | --- |
{nl.join(extra_rows)}

## Reading the figures

- Everything shares {cores} cores: the workers, the receiver, PostgreSQL, Redis and this
  script (and, on a shared machine, whatever else runs; see the load). More worker processes
  than cores do not add capacity: they compete with each other and with the receiver and
  PostgreSQL for the same cores, and each delivery then costs more CPU (context switches,
  cache), as the CPU table shows.
- CPU caps the Celery engine here: its worker CPU per delivery bounds it to about
  {cores} cores ÷ that CPU even if the receiver, PostgreSQL and Redis cost nothing
  ({ceilings}). The embedded engine spends
  {embedded_run["cpu"].get("workers", float("nan")) * 1000 / n:.1f} ms per delivery: it claims
  and records in batches (one transaction for up to a hundred), where each Celery task runs its
  own transactions (claim, load, record: the commits per delivery above) plus Celery's own
  per-message work (receive, acknowledge, log).
- {verdict_line}
"""


def make_url_safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=10000, help="deliveries per run")
    parser.add_argument(
        "--threads", type=int, default=32, help="threads of the embedded `flask worker`"
    )
    parser.add_argument(
        "--processes",
        default="1,2,4",
        help="Celery worker process counts to run, comma-separated",
    )
    parser.add_argument(
        "--celery-threads", type=int, default=8, help="threads of each Celery worker process"
    )
    parser.add_argument(
        "--no-beat", dest="beat", action="store_false", help="run the workers without beat"
    )
    parser.add_argument(
        "--database",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server URL; the run creates and drops a database of its own there",
    )
    parser.add_argument(
        "--broker",
        default="redis://127.0.0.1:6379/14",
        help="a Redis database the run may empty (flushed before and after)",
    )
    parser.add_argument(
        "--timeout", type=float, default=150, help="seconds each engine may take at most"
    )
    parser.add_argument(
        "--default-pool",
        action="store_true",
        help="leave the Celery workers SQLAlchemy's default pool (5 + 10 overflow)",
    )
    parser.add_argument("--skip-embedded", action="store_true", help="Celery and bare loop only")
    parser.add_argument("--receiver-port", type=int, default=8765)
    parser.add_argument("--out", type=Path, help="write the results (Markdown) to this file")
    args = parser.parse_args()
    processes = [int(count) for count in args.processes.split(",") if count]

    signal.signal(signal.SIGINT, stop_requested)
    signal.signal(signal.SIGTERM, stop_requested)
    facts = {
        "started": datetime.now(UTC),
        "machine": machine(),
        "uptime_before": uptime(),
        "celery": [],
    }
    bench = Bench(args)
    scaleout = Scaleout(bench, args)
    try:
        bench.setup()
        bench.receiver = bench.processes[0]
        scaleout.setup()
        facts["versions"] = scaleout.versions
        facts["sweep_interval"] = float(scaleout.app.config["SWEEP_INTERVAL"])
        log(f"bare loop, {args.deliveries} requests")
        facts["bare"] = bare(bench)
        if not args.skip_embedded:
            log(f"embedded engine, 1 × {args.threads} threads")
            facts["embedded"] = embedded(bench, args.timeout)
        for count in processes:
            check_stop()
            log(f"Celery engine, {count} × {args.celery_threads} threads")
            facts["celery"].append(scaleout.run(count))
            log(str({k: v for k, v in facts["celery"][-1].items() if k != "tasks"}))
        log("bare loop again")
        facts["bare_after"] = bare(bench)
    finally:
        scaleout.close()
        bench.close()
    facts["uptime_after"] = uptime()
    if args.skip_embedded:
        facts["embedded"] = {
            "busy": float("nan"),
            "rate": float("nan"),
            "wall": float("nan"),
            "load": float("nan"),
            "cpu": {},
            "problems": ["skipped"],
        }
    command = ".venv/bin/python bench/delivery_scaleout.py " + " ".join(sys.argv[1:])
    text_out = report(args, command.strip(), facts)
    print(text_out)
    if args.out:
        args.out.write_text(text_out)


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()

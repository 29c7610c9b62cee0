"""Ingestion benchmark: `POST /api/v1/events` against a bare Flask JSON endpoint
(bench/bare_app.py), both under the same gunicorn settings, in alternating rounds.

- **storing**: the product with fan-out 0, 10 and 1,000 (that many active webhooks subscribed
  to `payment_received`), no worker running: only storing the event is measured (the events
  pile up unexpanded). Targets: each rate at least 0.5 times the bare endpoint's, and the three
  within 10 % of each other.
- **delivering**: the product with fan-out 10 while a `flask worker` process expands the events
  and sends them to bench/async_receiver.py on 127.0.0.1. Target: at least 0.4 times the bare
  endpoint's rate. The deliveries the worker sent during the measured window, and whether it
  kept up, are reported beside it.

    .venv/bin/python bench/ingest.py --out bench/results-ingest-sqlite.md
    .venv/bin/python bench/ingest.py --out bench/results-ingest-postgresql.md \\
        --database postgresql+psycopg://postgres@127.0.0.1:5432/test

Both servers run with the settings of gunicorn.conf.py (gthread, its threads, its access log),
with WEB_CONCURRENCY=--processes; the bare endpoint's copy leaves out the two hooks that start
the product's embedded worker. The load comes from wrk (Debian package `wrk`) on 127.0.0.1,
after a warm-up. Each round measures the bare endpoint, then each variant of the product (the
fan-outs in a rotated order), each on a newly started gunicorn and an emptied event log; each
ratio is against the bare endpoint of its own round. The CPU time the gunicorn workers spent per request is read from /proc (wrk, the
receiver and the database server share the machine, so the rate alone hides where the time
went), and so is the PostgreSQL server's: the backends of the run's database and the server's
own processes, not other databases' backends. With --database, a database of the run's own is
made on that server and dropped at the end. Every process the run starts is stopped, and its
temporary folder removed (kept, and named, if the run fails).

With the defaults (3 rounds of 15 s) a run takes about 7 minutes; run it on a quiet machine.
`--only storing` or `--only delivering` runs one section.
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests
from engine import (
    BIN,
    ROOT,
    Deployment,
    Receiver,
    ServerDatabase,
    load,
    machine,
    spread,
    sqlite_deployment,
    wait_until,
)
from sqlalchemy import delete, func, make_url, select, text, update

FAN_OUTS = (0, 10, 1000)
DELIVERING_FAN_OUT = 10
WARM_UP = 3  # seconds of load before each measured window
KEPT_UP = 0.95  # the worker kept up if it sent this share of the window's deliveries
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.body = '{{"type": "payment_received", "data": {{"payment_id": 7, "payment_total": "$29.00", "customer_user_email": "ada@example.com"}}}}'
"""
# The bare endpoint's gunicorn settings: gunicorn.conf.py's, without the hooks that start the
# product's embedded worker (the bare app has none).
BARE_CONFIG = """
exec(compile(open({path!r}).read(), {path!r}, "exec"))
del post_worker_init, worker_exit
"""
# A PostgreSQL backend's title names its client, e.g. "postgres: 15/main: postgres db
# 127.0.0.1(41234) idle"; the server's own processes (WAL writer, checkpointer...) name none.
BACKEND = re.compile(r"\(\d+\)|\[local\]|autovacuum worker|parallel worker")


# ---------------------------------------------------------------- measuring


@dataclass
class Load:
    """What wrk reported for one run."""

    rate: float  # answered requests (2xx) per second
    answered: int
    errors: int  # non-2xx answers and socket errors


def wrk(url: str, script: Path, seconds: int, connections: int) -> Load:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    done = int(re.search(r"(\d+) requests in", out).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(failed.group(1)) if failed else 0
    broken = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if broken:
        errors += sum(int(count) for count in broken.groups())
    answered = max(0, done - (int(failed.group(1)) if failed else 0))
    return Load(rate * answered / done if done else 0.0, answered, errors)


def ticks(stat: str) -> int:
    """utime + stime of a /proc/PID/stat line."""
    fields = stat.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process, all its threads."""
    return ticks(Path(f"/proc/{pid}/stat").read_text()) / os.sysconf("SC_CLK_TCK")


def gunicorn_cpu(master: subprocess.Popen) -> float:
    """CPU seconds used so far by the gunicorn master's worker processes."""
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    return sum(process_cpu(int(pid)) for pid in children)


def postgres_cpu(database: str | None) -> float:
    """CPU seconds used so far by the PostgreSQL server's processes on this machine that work
    for ``database``: its backends, and the server's own processes; 0 without a server."""
    if database is None:
        return 0.0
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            line = stat.read_text()
            if "(postgres)" not in line:
                continue
            title = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):  # the process ended meanwhile
            continue
        if database in title.split() or not BACKEND.search(title):
            total += ticks(line)
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class Measure:
    """One server's measured window."""

    rate: float
    errors: int
    cpu_ms: float  # gunicorn workers' CPU per answered request
    database_ms: float  # the PostgreSQL server's CPU per answered request (0 on SQLite)
    stored: int = 0  # events in the log afterwards (the product)
    answered: int = 0  # 2xx answers, warm-up included
    # While delivering: the measured window as the worker saw it.
    window_events: int = 0
    sent: int = 0
    worker_ms: float = 0.0  # the worker's CPU per delivery sent
    unexpanded: int = 0  # at the end of the window
    unsent: int = 0  # deliveries written, not yet answered, at the end of the window


class Bench:
    def __init__(self, args, deployment: Deployment, database: str | None, receiver) -> None:
        self.args = args
        self.deployment = deployment
        self.database = database  # the PostgreSQL database's name, None on SQLite
        self.receiver = receiver
        self.url = f"http://127.0.0.1:{args.port}/api/v1/events"
        folder = deployment.folder
        self.bare_config = folder / "bare.gunicorn.conf.py"
        self.bare_config.write_text(BARE_CONFIG.format(path=str(ROOT / "gunicorn.conf.py")))
        self.script = folder / "post.lua"
        self.script.write_text(LUA.format(token=deployment.token()))
        self.webhook_ids = deployment.webhooks(
            [f"{receiver.url}/fast/w{n}" for n in range(max(FAN_OUTS))]
        )
        deployment.env["WEB_CONCURRENCY"] = str(args.processes)

    # -- the servers ---------------------------------------------------------------------------
    def serve(self, product: bool) -> subprocess.Popen:
        config = ROOT / "gunicorn.conf.py" if product else self.bare_config
        command = [BIN / "gunicorn", "--config", config, "--bind", f"127.0.0.1:{self.args.port}"]
        if product:
            command.append("wsgi:app")
        else:
            command += ["--pythonpath", "bench", "bare_app:app"]
        process = self.deployment.start(command, "site.log" if product else "bare.log")
        base = f"http://127.0.0.1:{self.args.port}/"

        def up() -> bool:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {self.deployment.folder}")
            return requests.get(base, timeout=2) is not None

        wait_until(up, 60, "gunicorn")
        return process

    def bare(self) -> Measure:
        server = self.serve(product=False)
        try:
            wrk(self.url, self.script, WARM_UP, self.args.connections)
            cpu = gunicorn_cpu(server)
            done = wrk(self.url, self.script, self.args.seconds, self.args.connections)
            cpu = gunicorn_cpu(server) - cpu
        finally:
            Deployment.stop(server)
        return Measure(done.rate, done.errors, cpu * 1000 / max(done.answered, 1), 0.0)

    def product(self, fan_out: int, deliver: bool = False) -> Measure:
        """The product's rate with ``fan_out`` webhooks subscribed; with ``deliver``, while a
        `flask worker` delivers the events to the receiver."""
        self.empty_log()
        self.subscribe(fan_out)
        self.receiver.reset()
        worker = self.deployment.worker() if deliver else None
        server = self.serve(product=True)
        try:
            warm = wrk(self.url, self.script, WARM_UP, self.args.connections)
            start = self.backlog() if deliver else None
            cpu = (gunicorn_cpu(server), postgres_cpu(self.database))
            worker_cpu = process_cpu(worker.pid) if worker else 0.0
            done = wrk(self.url, self.script, self.args.seconds, self.args.connections)
            worker_cpu = process_cpu(worker.pid) - worker_cpu if worker else 0.0
            cpu = (gunicorn_cpu(server) - cpu[0], postgres_cpu(self.database) - cpu[1])
            end = self.backlog() if deliver else None
        finally:
            Deployment.stop(server)
            if worker is not None:
                Deployment.stop(worker)
        answered = max(done.answered, 1)
        measure = Measure(
            done.rate,
            warm.errors + done.errors,
            cpu[0] * 1000 / answered,
            cpu[1] * 1000 / answered,
            stored=self.stored(),
            answered=warm.answered + done.answered,
        )
        if start and end:
            measure.window_events = end[0] - start[0]
            measure.sent = end[3] - start[3]
            measure.worker_ms = worker_cpu * 1000 / max(measure.sent, 1)
            measure.unexpanded, measure.unsent = end[1], end[2]
        return measure

    # -- the data ------------------------------------------------------------------------------
    def subscribe(self, count: int) -> None:
        """Make the first ``count`` webhooks active, the others inactive."""
        from webhooks.extensions import db
        from webhooks.models import Webhook

        with self.deployment.app.app_context():
            db.session.execute(
                update(Webhook).values(active=Webhook.id.in_(self.webhook_ids[:count]))
            )
            db.session.commit()

    def empty_log(self) -> None:
        """No events, deliveries or attempts: each variant starts from the same database."""
        from webhooks.extensions import db
        from webhooks.models import Attempt, Delivery, Event

        with self.deployment.app.app_context():
            if self.database:
                db.session.execute(text("TRUNCATE events, deliveries, attempts"))
            else:
                for model in (Attempt, Delivery, Event):
                    db.session.execute(delete(model))
            db.session.commit()
            if not self.database:  # and the write-ahead log back to empty, as at the start
                db.session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
                db.session.commit()

    def stored(self) -> int:
        from webhooks.extensions import db
        from webhooks.models import Event

        with self.deployment.app.app_context():
            events = db.session.scalar(select(func.count()).select_from(Event))
            db.session.commit()
        return events

    def backlog(self) -> tuple[int, int, int, int]:
        """Events stored, events not yet expanded, deliveries written and not yet sent, and
        the requests the receiver has had."""
        from webhooks.extensions import db
        from webhooks.models import Delivery, DeliveryStatus, Event

        received = self.receiver.count()["count"]
        with self.deployment.app.app_context():
            count = select(func.count())
            events = db.session.scalar(count.select_from(Event))
            unexpanded = db.session.scalar(
                count.select_from(Event).where(Event.expanded_at.is_(None))
            )
            unsent = db.session.scalar(
                count.select_from(Delivery).where(Delivery.status == DeliveryStatus.PENDING)
            )
            db.session.commit()
        return events, unexpanded, unsent, received


# ---------------------------------------------------------------- sections


def storing(bench: Bench, rounds: int) -> dict:
    facts: dict = {"load_before": load(), "bare": [], **{n: [] for n in FAN_OUTS}}
    for round_ in range(rounds):
        facts["bare"].append(bench.bare())
        # Each round starts with another fan-out, so none always runs first on the database.
        shift = round_ % len(FAN_OUTS)
        for fan_out in FAN_OUTS[shift:] + FAN_OUTS[:shift]:
            facts[fan_out].append(bench.product(fan_out))
    facts["load_after"] = load()
    return facts


def delivering(bench: Bench, rounds: int) -> dict:
    facts: dict = {"load_before": load(), "bare": [], "delivering": []}
    for _round in range(rounds):
        facts["bare"].append(bench.bare())
        facts["delivering"].append(bench.product(DELIVERING_FAN_OUT, deliver=True))
    facts["load_after"] = load()
    return facts


# ---------------------------------------------------------------- report


def verdict(passes: bool) -> str:
    return "**pass**" if passes else "**FAIL**"


def ratios(measures: list[Measure], bare: list[Measure]) -> list[float]:
    return [m.rate / b.rate for m, b in zip(measures, bare, strict=True)]


def row(
    name: str, measures: list[Measure], bare: list[Measure], target: float | None, postgresql: bool
) -> str:
    """A table row: the rates, their ratios to the bare endpoint's (``target`` None: this is
    the bare endpoint), the CPU per request and the errors."""
    rates = spread([m.rate for m in measures], 0)
    cpu = spread([m.cpu_ms for m in measures])
    errors = sum(m.errors for m in measures)
    if target is None:
        database = "| — " if postgresql else ""
        return f"| {name} | {rates}/s | — | | | {cpu} ms {database}| {errors} |"
    each = ratios(measures, bare)
    median = statistics.median(each)
    database = f"| {spread([m.database_ms for m in measures])} ms " if postgresql else ""
    return (
        f"| {name} | {rates}/s | {spread(each)} | ≥ {target:.2f} | {verdict(median >= target)} "
        f"| {cpu} ms {database}| {errors} |"
    )


def report(args, command: str, results: dict) -> str:
    postgresql = args.database is not None
    if postgresql:
        url = make_url(args.database)
        where = f"PostgreSQL {url.host}:{url.port or 5432}"
        database = f"{where}, a database of the run's own, dropped at the end"
    else:
        where = "SQLite"
        database = "SQLite, a file in a temporary folder"
    parts = [
        f"# Ingestion benchmark ({where})",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; everything on 127.0.0.1.",
        "",
        f"Command: `{command}`",
        "",
        "`POST /api/v1/events` against a bare Flask JSON endpoint (bench/bare_app.py), both "
        "served by gunicorn with the settings of gunicorn.conf.py: "
        f"{args.processes} processes (WEB_CONCURRENCY) × 8 threads (`gthread`), access log on "
        "(to a file), the bare endpoint without the hooks that start the product's embedded "
        f"worker. Load from wrk: 2 threads, {args.connections} connections, {args.seconds} s "
        f"after a {WARM_UP} s warm-up. Database: {database}.",
        "",
        "Each round measures the bare endpoint, then each variant of the product (the fan-outs "
        "in a rotated order, each on a newly started gunicorn and an emptied event log), then "
        "the next round; each ratio is "
        "against the bare endpoint of its own round. The median comes first, every round in "
        "brackets. Rates count 2xx answers only; *errors* are non-2xx answers and socket errors, "
        "warm-ups included. CPU per request: the gunicorn worker processes' user + system time "
        "during the measured window over the requests answered"
        + (
            "; PostgreSQL: the backends of the run's database and the server's own processes "
            "(WAL writer, checkpointer...), which also serve any other database's load."
            if postgresql
            else "; SQLite works inside gunicorn, so its share is in that figure."
        ),
    ]
    header = [
        "| | requests/s | / bare endpoint | target | | gunicorn CPU / request "
        + ("| PostgreSQL CPU / request " if postgresql else "")
        + "| errors |",
        "| --- " * (8 if postgresql else 7) + "|",
    ]
    if "storing" in results:
        facts = results["storing"]
        bare = facts["bare"]
        spreads = [
            max(trio) / min(trio)
            for trio in zip(*(ratios(facts[n], bare) for n in FAN_OUTS), strict=True)
        ]
        median_spread = statistics.median(spreads)
        # wrk stops with a request in flight on each connection, which is stored all the same.
        stored = [
            f"fan-out {n}, round {r + 1}: {m.stored} stored, {m.answered} answered"
            for n in FAN_OUTS
            for r, m in enumerate(facts[n])
            if not 0 <= m.stored - m.answered <= 2 * args.connections
        ]
        parts += [
            "",
            "## Storing events (worker off)",
            "",
            "Fan-out N: N active webhooks subscribed to `payment_received` (of 1,000; the "
            "others inactive). No worker runs, so only storing the event is measured; the events "
            "pile up unexpanded. *Fastest / slowest*: of the three fan-outs' rates in each round. "
            f"Load: {facts['load_before']} → {facts['load_after']}.",
            "",
            *header,
            row("bare Flask endpoint", bare, bare, None, postgresql),
            *(row(f"fan-out {n:,}", facts[n], bare, 0.5, postgresql) for n in FAN_OUTS),
            f"| fastest / slowest fan-out | | {spread(spreads)} | ≤ 1.10 "
            f"| {verdict(median_spread <= 1.10)} | |{' |' if postgresql else ''} |",
            "",
            "Events in the log after each variant = the requests answered 2xx (warm-up "
            "included), plus at most those wrk left in flight when it stopped (one per "
            "connection, twice): "
            + ("yes, in every measurement." if not stored else "**no**: " + "; ".join(stored)),
        ]
    if "delivering" in results:
        facts = results["delivering"]
        bare, runs = facts["bare"], facts["delivering"]
        worker_rows, kept = [], 0
        for number, m in enumerate(runs, 1):
            due = m.window_events * DELIVERING_FAN_OUT
            kept_up = m.sent >= KEPT_UP * due
            kept += kept_up
            worker_rows.append(
                f"| {number} | {m.window_events} | {due} | {m.sent} "
                f"| {m.sent / args.seconds:.0f}/s | {m.sent / max(due, 1):.2f} "
                f"| {'yes' if kept_up else '**no**'} | {m.worker_ms:.2f} ms "
                f"| {m.unexpanded} / {m.unsent} |"
            )
        parts += [
            "",
            "## Storing while delivering",
            "",
            f"Fan-out {DELIVERING_FAN_OUT}: webhooks on bench/async_receiver.py at 127.0.0.1 "
            "(`WEBHOOKS_ALLOWED_NETWORKS=127.0.0.0/8`), and one `flask worker` process, started "
            "before gunicorn as `make run` runs it beside the site, expanding the events into "
            "deliveries and sending them meanwhile. The gunicorn figure leaves the worker out"
            + ("; the PostgreSQL one includes the worker's queries. " if postgresql else ". ")
            + f"Load: {facts['load_before']} → {facts['load_after']}.",
            "",
            *header,
            row("bare Flask endpoint", bare, bare, None, postgresql),
            row(f"fan-out {DELIVERING_FAN_OUT}, delivering", runs, bare, 0.4, postgresql),
            "",
            f"The worker during each round's measured window ({args.seconds} s): the events "
            f"stored in it and their deliveries (× {DELIVERING_FAN_OUT}), the requests the "
            "receiver had from the worker in it, and what was left at its end. It *kept up* "
            f"if it sent at least {KEPT_UP:.0%} of the window's deliveries.",
            "",
            "| round | events stored | their deliveries | sent | sent/s | sent / theirs "
            "| kept up | worker CPU / delivery | left: unexpanded events / unsent deliveries |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *worker_rows,
            "",
            f"The worker kept up in {kept} of {len(runs)} rounds.",
        ]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database",
        help="a PostgreSQL server URL (a database of the run's own is made on it and dropped); "
        "default: SQLite",
    )
    parser.add_argument("--seconds", type=int, default=15, help="measured window (default 15)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per section (default 3)")
    parser.add_argument(
        "--connections", type=int, default=16, help="wrk's connections (default 16)"
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="gunicorn processes, WEB_CONCURRENCY (default 2)"
    )
    parser.add_argument(
        "--only", default="storing,delivering", help="sections (default storing,delivering)"
    )
    parser.add_argument("--port", type=int, default=5097, help="gunicorn's (default 5097)")
    parser.add_argument(
        "--receiver-port", type=int, default=8768, help="the receiver's (default 8768)"
    )
    parser.add_argument("--out", type=Path, help="write the results (Markdown) to this file")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    if not wanted <= {"storing", "delivering"}:
        parser.error("--only takes storing, delivering or both")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    for port in (args.port, args.receiver_port):
        # Another benchmark's server there would be measured (or reset) instead of this one's.
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise SystemExit(f"port {port} is in use; choose another") from None
    base = Path(tempfile.mkdtemp(prefix="webhooks-ingest-"))
    started = time.monotonic()
    processes: list[subprocess.Popen] = []
    results: dict = {}
    server = deployment = None
    try:
        receiver = Receiver(args.receiver_port, processes)
        settings = {"EMBEDDED_WORKER": "false"}
        if args.database:
            server = ServerDatabase(args.database)
            deployment = Deployment(base / "ingest", server.url, settings)
        else:
            deployment = sqlite_deployment(base, "ingest", settings)
        bench = Bench(args, deployment, server.name if server else None, receiver)
        if "storing" in wanted:
            results["storing"] = storing(bench, args.rounds)
        if "delivering" in wanted:
            results["delivering"] = delivering(bench, args.rounds)
    except BaseException:
        print(f"The run's folder (logs, SQLite database) is kept: {base}", file=sys.stderr)
        raise
    finally:
        if deployment is not None:
            deployment.close()
        for process in processes:
            Deployment.stop(process)
        if server is not None:
            server.drop()
    shutil.rmtree(base)  # the access logs and the database: hundreds of MB after a full run
    command = "python bench/ingest.py " + " ".join(sys.argv[1:])
    text_out = report(args, command, results)
    print(text_out)
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    if args.out:
        args.out.write_text(text_out)


if __name__ == "__main__":
    main()

"""Benchmarks of the Celery engine (WEBHOOKS_QUEUE=celery, docs/delivery-engine.md) on
PostgreSQL and Redis, each figure beside its reference in the same run, in alternating rounds:

- **throughput and CPU per delivery**: one Celery worker process sending N deliveries, with
  the pool `flask worker` runs (threads) and with prefork, against a bare keep-alive
  ``requests.Session`` loop POSTing as many to the same receiver; the CPU each delivery cost
  the worker, the PostgreSQL server and Redis.
- **two processes against one**: deliveries per CPU second of two `flask worker` processes
  against one.
- **idle latency**: an event POSTed to the API of the site as `make run` serves it (gunicorn
  and `flask worker`, here a Celery worker) until the receiver has it, against a bare POST.

    .venv/bin/python bench/celery_engine.py --out bench/results-celery.md \\
        --database postgresql+psycopg://postgres@127.0.0.1:5432/test --broker redis://127.0.0.1:6379/14

Each section makes a database of its own on the --database server (dropped at the end) and
empties the --broker Redis database before and after. The helpers come from bench/engine.py
(bench/ is on sys.path when this file runs as a script); the receiver is bench/async_receiver.py.
Every process the run starts is stopped at the end.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import redis
from engine import (
    BIN,
    Deployment,
    Receiver,
    ServerDatabase,
    bare_requests_loop,
    idle_latency,
    load,
    machine,
    spread,
    wait_until,
)
from sqlalchemy import create_engine, delete, text

CLOCK = os.sysconf("SC_CLK_TCK")
# The options `flask worker` gives its Celery worker (webhooks/worker/celery_engine.py).
CELERY_FLAGS = ["--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
POOLS = ("threads", "prefork")
STARTED = "delivery worker started"
SETTLE = 1.0  # seconds a started worker is left idle before its CPU is read


# ---------------------------------------------------------------- CPU from /proc


def ticks(pid: int | str) -> int:
    """utime + stime of a process, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def family(pid: int) -> list[int]:
    """A process and all its descendants (a prefork worker's children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(child) for child in children.read_text().split())
            except OSError:  # the thread ended meanwhile
                continue
    return found


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds used so far by these processes and their descendants."""
    total = 0
    for pid in pids:
        for member in family(pid):
            try:
                total += ticks(member)
            except OSError:
                continue
    return total / CLOCK


def named_cpu(comm: str) -> float:
    """CPU seconds used so far by the processes of this name (``redis-server``)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            content = stat.read_text()
        except OSError:
            continue
        if f"({comm})" in content:
            fields = content.rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK


def database_cpu() -> float:
    """CPU seconds used so far by every PostgreSQL server process on this machine (as
    bench/ingest.py counted them when this was written)."""
    return named_cpu("postgres")


def backend_ticks(database: str) -> dict[int, int]:
    """Ticks of each PostgreSQL backend connected to ``database`` (its title names it)."""
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            title = cmdline.read_bytes().decode(errors="replace")
            if title.startswith("postgres:") and f" {database} " in title:
                found[int(cmdline.parent.name)] = ticks(cmdline.parent.name)
        except OSError:
            continue
    return found


class Meter:
    """CPU seconds of the worker processes, every PostgreSQL process, the backends connected to
    the run's database (those still there at the end) and Redis, between ``start`` and
    ``read``."""

    def __init__(self, pids: list[int], database: str) -> None:
        self.pids, self.database = pids, database

    def start(self) -> None:
        self.before = self._now()
        self.backends = backend_ticks(self.database)

    def read(self) -> dict[str, float]:
        after = self._now()
        figures = {name: after[name] - self.before[name] for name in after}
        backends = backend_ticks(self.database)
        figures["backends"] = (
            sum(value - self.backends.get(pid, 0) for pid, value in backends.items()) / CLOCK
        )
        return figures

    def _now(self) -> dict[str, float]:
        return {
            "worker": tree_cpu(self.pids),
            "postgres": database_cpu(),
            "redis": named_cpu("redis-server"),
        }


# ---------------------------------------------------------------- the deployment


class CeleryDeployment(Deployment):
    """A deployment with the Celery engine, in a database of its own on the --database
    server; its commits announce work on the --broker database."""

    def __init__(self, folder: Path, database: ServerDatabase, broker: str) -> None:
        self.database = database
        super().__init__(folder, database.url, {"QUEUE": "celery", "CELERY_BROKER_URL": broker})

    def celery_worker(self, pool: str, log: str) -> subprocess.Popen:
        """One worker process that sends: `flask worker` (a Celery worker with two threads in
        its own process) for ``threads``; for ``prefork`` the Celery command with one child,
        which sends, beside the parent, which takes the messages."""
        if pool == "threads":
            command = [BIN / "flask", "--app", "wsgi", "worker"]
        else:
            command = [BIN / "celery", "-A", "webhooks.celery_worker", "worker"]
            command += ["--pool", "prefork", "--concurrency", "1", *CELERY_FLAGS]
        process = self.start(command, log)
        wait_until(lambda: STARTED in (self.folder / log).read_text(), 60, f"the {pool} worker")
        return process

    def burst(self, events: int, ready: Callable[[], None]) -> None:
        """Store ``events`` events in one transaction; call ``ready`` once they are written but
        not committed (no worker sees them yet), then commit: the workers find them all at
        once, and the commit sends one ``webhooks.wake`` message."""
        from webhooks.extensions import db
        from webhooks.outbox import enqueue

        with self.app.app_context():
            for seq in range(events):
                enqueue("payment_received", {"seq": f"q{seq}", "payment_total": "$9"}, source="cli")
            ready()
            db.session.commit()


def celery_deployment(args, base: Path, name: str) -> tuple[CeleryDeployment, ServerDatabase]:
    database = ServerDatabase(args.database)
    try:
        return CeleryDeployment(base / name, database, args.broker), database
    except BaseException:
        database.drop()
        raise


def empty_broker(url: str) -> None:
    broker = redis.Redis.from_url(url)
    broker.flushdb()
    broker.close()


def send_burst(
    args, deployment: CeleryDeployment, receiver: Receiver, processes: list[subprocess.Popen]
) -> dict:
    """--deliveries deliveries (events to --webhooks webhooks) sent by workers already running
    and idle: rates, CPU and the receiver's count."""
    deployment.clear_log()
    receiver.reset()
    time.sleep(SETTLE)
    meter = Meter([process.pid for process in processes], deployment.database.name)
    committed: list[float] = []

    def ready() -> None:
        meter.start()
        committed.append(time.perf_counter())

    deployment.burst(args.deliveries // args.webhooks, ready)
    total = args.deliveries // args.webhooks * args.webhooks
    wait_until(lambda: receiver.count()["count"] >= total, 300, "the deliveries")
    wait_until(lambda: deployment.attempt_span()[0] >= total, 60, "the results recorded")
    wall = time.perf_counter() - committed[0]
    cpu = meter.read()
    sent, busy = deployment.attempt_span()
    counted = receiver.count()
    for process in processes:
        deployment.stop(process)
    return {
        "sent": sent,
        "rate": sent / busy,
        "wall": sent / wall,
        "cpu": cpu,
        "repeats": counted["repeats"],
        "count": counted["count"],
    }


# ---------------------------------------------------------------- sections


def throughput(args, base: Path, receiver: Receiver) -> dict:
    """One worker process of each pool beside the bare loop: its rate and CPU per delivery."""
    facts: dict = {"load_before": load(), "bare": [], "order": []}
    for pool in POOLS:
        facts[pool] = {"rate": [], "wall": [], "ratio": [], "cpu": [], "repeats": 0}
    empty_broker(args.broker)
    deployment, database = celery_deployment(args, base, "throughput")
    try:
        deployment.webhooks([f"{receiver.url}/fast/w{n}" for n in range(args.webhooks)])
        for round_number in range(args.rounds):
            receiver.reset()
            bare = bare_requests_loop(f"{receiver.url}/fast/bare", args.deliveries)
            facts["bare"].append(bare)
            order = POOLS if round_number % 2 == 0 else POOLS[::-1]
            facts["order"].append(" → ".join(order))
            for pool in order:
                worker = deployment.celery_worker(pool, f"{pool}-{round_number}.log")
                run = send_burst(args, deployment, receiver, [worker])
                figures = facts[pool]
                figures["rate"].append(run["rate"])
                figures["wall"].append(run["wall"])
                figures["ratio"].append(run["rate"] / bare)
                figures["cpu"].append({k: v / run["sent"] for k, v in run["cpu"].items()})
                figures["repeats"] += run["repeats"]
    finally:
        deployment.close()
        empty_broker(args.broker)
        database.drop()
    facts["load_after"] = load()
    return facts


def scaling(args, base: Path, receiver: Receiver) -> dict:
    """Two `flask worker` processes against one: rates and deliveries per CPU second."""
    facts: dict = {"load_before": load(), "order": []}
    for count in (1, 2):
        facts[count] = {"rate": [], "wall": [], "cpu": [], "per_cpu": [], "repeats": 0}
    empty_broker(args.broker)
    deployment, database = celery_deployment(args, base, "scaling")
    try:
        deployment.webhooks([f"{receiver.url}/fast/w{n}" for n in range(args.webhooks)])
        for round_number in range(args.rounds):
            order = (1, 2) if round_number % 2 == 0 else (2, 1)
            facts["order"].append(" → ".join(map(str, order)))
            for count in order:
                workers = [
                    deployment.celery_worker("threads", f"scaling-{round_number}-{count}-{n}.log")
                    for n in range(count)
                ]
                run = send_burst(args, deployment, receiver, workers)
                figures = facts[count]
                figures["rate"].append(run["rate"])
                figures["wall"].append(run["wall"])
                figures["cpu"].append(run["cpu"]["worker"])
                figures["per_cpu"].append(run["sent"] / run["cpu"]["worker"])
                figures["repeats"] += run["repeats"]
    finally:
        deployment.close()
        empty_broker(args.broker)
        database.drop()
    facts["per_cpu_ratio"] = [
        two / one for one, two in zip(facts[1]["per_cpu"], facts[2]["per_cpu"], strict=True)
    ]
    facts["rate_ratio"] = [
        two / one for one, two in zip(facts[1]["rate"], facts[2]["rate"], strict=True)
    ]
    facts["load_after"] = load()
    return facts


def stop_site(deployment: Deployment) -> None:
    """Stop the site and its worker, and forget the worker's check-in, so that the next site
    waits for a worker of its own."""
    from webhooks.extensions import db
    from webhooks.models import WorkerProcess

    for process in deployment.processes:
        deployment.stop(process)
    deployment.processes.clear()
    with deployment.app.app_context():
        db.session.execute(delete(WorkerProcess))
        db.session.commit()


def latency(args, base: Path, receiver: Receiver) -> dict:
    """engine.py's idle latency on the site as `make run` serves it, with the Celery engine;
    beside it, rounds with the embedded engine on the same PostgreSQL server, which tell
    Celery's share from the database's."""
    facts: dict = {"load_before": load(), "celery": [], "embedded": [], "order": []}
    empty_broker(args.broker)
    made: list[tuple[Deployment, ServerDatabase]] = []
    try:
        made.append(celery_deployment(args, base, "latency-celery"))
        database = ServerDatabase(args.database)
        made.append((Deployment(base / "latency-embedded", database.url, {}), database))
        kinds = {"celery": made[0][0], "embedded": made[1][0]}
        for deployment in kinds.values():
            deployment.webhooks([f"{receiver.url}/fast/latency"])
        for round_number in range(args.rounds):
            order = ("celery", "embedded") if round_number % 2 == 0 else ("embedded", "celery")
            facts["order"].append(" → ".join(order))
            for kind in order:
                facts[kind].append(idle_latency(args, kinds[kind], receiver))
                stop_site(kinds[kind])
    finally:
        for deployment, database in made:
            deployment.close()
            database.drop()
        empty_broker(args.broker)
    facts["load_after"] = load()
    return facts


# ---------------------------------------------------------------- report


def servers(args) -> str:
    admin = create_engine(args.database)
    with admin.connect() as connection:
        postgres = connection.execute(text("SHOW server_version")).scalar()
    admin.dispose()
    broker = redis.Redis.from_url(args.broker)
    version = broker.info("server")["redis_version"]
    broker.close()
    import celery

    return f"PostgreSQL {postgres.split()[0]}, Redis {version}, Celery {celery.__version__}"


def ms(value: float) -> str:
    return f"{value * 1000:.2f}"


def cpu_row(cpu: list[dict[str, float]], key: str, digits: int = 2) -> str:
    return spread([round_[key] * 1000 for round_ in cpu], digits)


def report(args, command: str, results: dict) -> str:
    events = args.deliveries // args.webhooks
    total = events * args.webhooks
    parts = [
        "# Celery engine benchmark",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; {servers(args)}; "
        "everything on 127.0.0.1, the receiver is bench/async_receiver.py (aiohttp, one "
        "process). `WEBHOOKS_QUEUE=celery` throughout, each section in a PostgreSQL database of "
        "its own.",
        "",
        f"Command: `{command}`",
        "",
        "Each figure is measured beside its reference in the same run, in alternating rounds; "
        "the median comes first, every round in brackets. *Load* is the 1, 5 and 15 minute "
        "load average before and after the section.",
        "",
        "**The pool.** `flask --app wsgi worker` (the Procfile's `worker`, so `make run`) always "
        "runs a Celery worker with `--pool threads --concurrency 2` in its own process "
        "(`CeleryEngine.run_worker`): one process, one dispatcher; its `--concurrency` is "
        "requests in flight (`WEBHOOKS_WORKER_CONCURRENCY`, 1,000), not Celery's. No option or "
        "setting chooses prefork: that takes the Celery command, `celery -A "
        "webhooks.celery_worker worker --pool prefork --concurrency N`, whose N children each run "
        "a dispatcher (the parent only takes the messages). The Celery command without `--pool` "
        "is Celery's own default, prefork with a child per core.",
    ]
    if "throughput" in results:
        facts = results["throughput"]
        parts += [
            "",
            "## Throughput and CPU per delivery: one worker process, threads and prefork",
            "",
            f"{total} deliveries: {events} events to {args.webhooks} webhooks (each at its default "
            f"limit of 10 requests at once, across all workers: up to {10 * args.webhooks} in "
            "flight, beside a worker's own 1,000), stored in "
            "one transaction and committed while the worker is idle; the worker expands them "
            "into deliveries, claims, signs, sends and records. *threads*: `flask --app wsgi "
            "worker`. *prefork*: `celery -A webhooks.celery_worker worker --pool prefork "
            "--concurrency 1` with the options `flask worker` gives it, one child that sends "
            "beside the parent. A fresh worker each time, left idle "
            f"{SETTLE:.0f} s after it logs `{STARTED}`. Worker rate: first → last attempt "
            "recorded; *commit → recorded* also counts the wait for the first expansion and the "
            "last batch of results. The reference is a bare keep-alive `requests.Session` loop "
            "POSTing as many to the same receiver, one after another, each round "
            f"(orders: {'; '.join(facts['order'])}).",
            "",
            "| pool | bare loop | worker | commit → recorded | worker / bare loop | target "
            "| repeats |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for pool in POOLS:
            figures = facts[pool]
            parts.append(
                f"| {pool} | {spread(facts['bare'], 0)}/s | {spread(figures['rate'], 0)}/s "
                f"| {spread(figures['wall'], 0)}/s | {spread(figures['ratio'])} | ≥ 0.80 "
                f"| {figures['repeats']} |"
            )
        parts += [
            "",
            "CPU (user + system, from /proc) per delivery, in ms, from the commit until every "
            "result is recorded: the worker's processes (with prefork, parent and child); every "
            "PostgreSQL server process on the machine, and of these the backends connected to "
            "this run's database (including this script's few count queries); the "
            "`redis-server` process. Other databases' work counts in *all*, and a process that "
            "ends meanwhile takes its CPU out of it: on a busy server the two columns part.",
            "",
            "| pool | worker | PostgreSQL, all | PostgreSQL, this database | Redis | "
            "worker + PostgreSQL + Redis |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for pool in POOLS:
            cpu = facts[pool]["cpu"]
            for round_ in cpu:
                round_["sum"] = round_["worker"] + round_["postgres"] + round_["redis"]
            parts.append(
                f"| {pool} | {cpu_row(cpu, 'worker')} | {cpu_row(cpu, 'postgres')} "
                f"| {cpu_row(cpu, 'backends')} | {cpu_row(cpu, 'redis', 3)} | {cpu_row(cpu, 'sum')} |"
            )
        parts += ["", f"Load: {facts['load_before']} → {facts['load_after']}."]
    if "scaling" in results:
        facts = results["scaling"]
        parts += [
            "",
            "## Two worker processes against one, per CPU second",
            "",
            f"The same {total} deliveries ({events} events to {args.webhooks} webhooks, committed "
            "at once), sent by one `flask --app wsgi worker` (threads) or by two of them, started "
            f"and idle beforehand (orders: {'; '.join(facts['order'])}). Deliveries per CPU second "
            "divides the deliveries by the user + system CPU seconds of the worker processes, "
            "from the commit until every result is recorded.",
            "",
            "| worker processes | worker rate (first → last attempt) | commit → recorded "
            "| worker CPU | deliveries per CPU second | repeats |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for count in (1, 2):
            figures = facts[count]
            parts.append(
                f"| {count} | {spread(figures['rate'], 0)}/s | {spread(figures['wall'], 0)}/s "
                f"| {spread(figures['cpu'])} s | {spread(figures['per_cpu'], 0)} "
                f"| {figures['repeats']} |"
            )
        parts += [
            "",
            "The issue's target, \"two processes make at least 1.6× one process's deliveries per "
            'CPU second", is read as: two processes may use twice the CPU, and should get at '
            "least 1.6× the deliveries for it, so the two processes' deliveries per CPU second "
            "must be at least 0.8× one process's (on 2 cores, beside PostgreSQL, Redis and the "
            "receiver, the rate itself cannot double).",
            "",
            "| two / one, deliveries per CPU second | target | two / one, rate | load |",
            "| --- | --- | --- | --- |",
            f"| {spread(facts['per_cpu_ratio'])} | ≥ 0.80 | {spread(facts['rate_ratio'])} "
            f"| {facts['load_before']} → {facts['load_after']} |",
        ]
    if "latency" in results:
        facts = results["latency"]
        parts += [
            "",
            "## Idle latency",
            "",
            f"{args.latency_events} events POSTed one at a time, {args.gap * 1000:.0f} ms apart, to "
            "the API of the site as `make run` serves it (the Procfile run by honcho: gunicorn and "
            "`flask worker`, here a Celery worker with two threads) for one webhook, until the "
            "receiver has them; beside each, a bare POST to the receiver (bench/engine.py's "
            "`idle_latency`). Each round starts the site afresh. The reference rounds run the "
            "same site with the embedded engine (`flask worker` woken by its doorbell) on the same "
            "PostgreSQL server: the difference is what Celery and Redis add "
            f"(orders: {'; '.join(facts['order'])}).",
            "",
            "| engine | p50 | p90 | p99 | max | bare POST p50 / p99 | target |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for kind, title, target in (
            ("celery", "Celery (PostgreSQL, Redis)", "p50 < 15 ms, p99 < 50 ms"),
            ("embedded", "embedded (PostgreSQL), reference", "–"),
        ):
            rounds = facts[kind]

            def of(key: str, rounds: list[dict] = rounds) -> str:
                return spread([round_[key] for round_ in rounds], 1)

            parts.append(
                f"| {title} | {of('p50')} ms | {of('p90')} ms | {of('p99')} ms | {of('max')} ms "
                f"| {statistics.median(r['bare_p50'] for r in rounds):.1f} / "
                f"{statistics.median(r['bare_p99'] for r in rounds):.1f} ms | {target} |"
            )
        ratio = {
            key: [c[key] / e[key] for c, e in zip(facts["celery"], facts["embedded"], strict=True)]
            for key in ("p50", "p99")
        }
        parts += [
            "",
            f"Celery / embedded: p50 {spread(ratio['p50'])}, p99 {spread(ratio['p99'])}. "
            f"Load: {facts['load_before']} → {facts['load_after']}.",
        ]
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="At the default sizes a full run takes about 8 minutes on 2 quiet cores.",
    )
    parser.add_argument(
        "--database",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL server (URL of any database on it): each section makes a database of "
        "its own there and drops it (default: %(default)s)",
    )
    parser.add_argument(
        "--broker",
        default="redis://127.0.0.1:6379/14",
        help="a Redis database the run may empty, the Celery broker (default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, help="write the results (Markdown) to this file")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of each section (default: %(default)s)"
    )
    parser.add_argument(
        "--only",
        default="throughput,scaling,latency",
        help="sections to run, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--deliveries",
        type=int,
        default=10000,
        help="deliveries per worker run, and POSTs of the bare loop (default: %(default)s)",
    )
    parser.add_argument(
        "--webhooks",
        type=int,
        default=100,
        help="webhooks subscribed to the events: each event is a delivery to each. A webhook has "
        "at most 10 requests in flight (its default max_in_flight, across all workers): 100 "
        "make 1,000, a worker's own WORKER_CONCURRENCY, so their limits never hold the workers "
        "back; 1 is bench/engine.py's setting (default: %(default)s)",
    )
    parser.add_argument(
        "--latency-events",
        type=int,
        default=300,
        help="events per engine and round, idle latency (default: %(default)s)",
    )
    parser.add_argument(
        "--gap", type=float, default=0.05, help="seconds between events (default: %(default)s)"
    )
    parser.add_argument(
        "--receiver-port", type=int, default=8767, help="the receiver's (default: %(default)s)"
    )
    parser.add_argument(
        "--site-port",
        type=int,
        default=5099,
        help="the site's, idle latency (default: %(default)s)",
    )
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    base = Path(tempfile.mkdtemp(prefix="webhooks-celery-"))
    processes: list[subprocess.Popen] = []
    results: dict = {}
    try:
        receiver = Receiver(args.receiver_port, processes)
        if "throughput" in wanted:
            results["throughput"] = throughput(args, base, receiver)
        if "scaling" in wanted:
            results["scaling"] = scaling(args, base, receiver)
        if "latency" in wanted:
            results["latency"] = latency(args, base, receiver)
    finally:
        for process in processes:
            Deployment.stop(process)
    command = "python bench/celery_engine.py " + " ".join(sys.argv[1:])
    text_out = report(args, command, results)
    print(text_out)
    if args.out:
        args.out.write_text(text_out)


if __name__ == "__main__":
    main()

"""Benchmarks of the delivery engine (docs/delivery-engine.md), each figure beside its reference
in the same run, in alternating rounds:

- **fast receiver**: one `flask worker` sending N queued deliveries, against a bare keep-alive
  ``requests.Session`` loop POSTing as many to the same receiver; and the idle latency of an
  event POSTed to the API of the site as `make run` serves it, against a bare POST's round trip.
- **slow receivers**: 200 webhooks whose receiver answers after 500 ms, 10,000 deliveries, one
  `flask worker`; against a bare aiohttp loop holding as many requests in flight.
- **noisy neighbour**: 20 webhooks whose receiver accepts and never answers, 1,000 deliveries
  queued for them; meanwhile 50 events, one at a time, to a healthy webhook. Its event →
  receiver p99 against rounds without the hung receivers; on the embedded engine (SQLite) and,
  with ``--database`` and ``--broker``, on the Celery engine (PostgreSQL, Redis).
- **memory**: a `flask worker` holding 1,000 requests in flight with 100,000 deliveries due,
  against the same worker idle.

    .venv/bin/python bench/engine.py --out bench/results-engine.md \\
        --database postgresql+psycopg://postgres@127.0.0.1:5432/test --broker redis://127.0.0.1:6379/14

Everything runs on 127.0.0.1 (bench/async_receiver.py is the receiver). Every process the run
starts is stopped at the end; a database made on the PostgreSQL server is dropped.
"""

import argparse
import asyncio
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import redis
import requests
from sqlalchemy import create_engine, delete, func, make_url, select, text

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOUR_GLASS = 0.05


# ---------------------------------------------------------------- helpers


def wait_until(check, timeout: float, what: str, interval: float = HOUR_GLASS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def spread(values: list[float], digits: int = 2) -> str:
    """The median and, in brackets, every round."""
    rounds = ", ".join(f"{value:.{digits}f}" for value in values)
    return f"{statistics.median(values):.{digits}f} ({rounds})"


def load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def memory_of(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0]) * 1024
    return figures


class Receiver:
    def __init__(self, port: int, processes: list) -> None:
        self.url = f"http://127.0.0.1:{port}"
        processes.append(
            subprocess.Popen([sys.executable, str(ROOT / "bench" / "async_receiver.py"), str(port)])
        )
        wait_until(lambda: requests.get(f"{self.url}/count", timeout=2).ok, 10, "the receiver")

    def count(self) -> dict:
        return requests.get(f"{self.url}/count", timeout=10).json()

    def arrivals(self) -> dict[str, float]:
        return requests.get(f"{self.url}/arrivals", timeout=10).json()["arrivals"]

    def reset(self) -> None:
        requests.post(f"{self.url}/reset", timeout=10)

    def release(self) -> None:
        requests.post(f"{self.url}/release", timeout=10)


class Deployment:
    """A deployment in a folder of its own: its settings (environment), its database, the
    processes it starts, and an app in this process for setting up data."""

    def __init__(self, folder: Path, database_url: str, settings: dict[str, str]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "WEBHOOKS_INSTANCE_PATH": str(folder),
            "DATABASE_URL": database_url,
            "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.0/8",
            "WEBHOOKS_SECRET_KEY": "bench",
            **{f"WEBHOOKS_{name}": str(value) for name, value in settings.items()},
        }
        self.folder = folder
        self.processes: list[subprocess.Popen] = []
        subprocess.run(
            [BIN / "flask", "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )
        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            from webhooks import create_app

            self.app = create_app()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def start(self, command: list, log: str) -> subprocess.Popen:
        with (self.folder / log).open("w") as out:
            process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        return process

    def worker(self, concurrency: int = 1000) -> subprocess.Popen:
        process = self.start(
            [BIN / "flask", "--app", "wsgi", "worker", "--concurrency", str(concurrency)],
            "worker.log",
        )
        wait_until(
            lambda: "worker started" in (self.folder / "worker.log").read_text(), 20, "the worker"
        )
        return process

    def site(self, port: int) -> str:
        """The site and its worker as `make run` serves them (the Procfile, run by honcho), on
        ``port``; with the Celery engine the worker is a Celery worker."""
        self.env["PORT"] = str(port)
        self.start([BIN / "honcho", "start"], "site.log")
        base = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: requests.get(f"{base}/healthz", timeout=2).json()["worker"] == "running",
            30,
            "the site and its worker",
        )
        return base

    @staticmethod
    def stop(process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def close(self) -> None:
        for process in self.processes:
            self.stop(process)
        with self.app.app_context():
            from webhooks.extensions import db

            db.session.remove()
            db.engine.dispose()

    # -- data ----------------------------------------------------------------------------------
    def webhooks(self, urls: list[str], event: str = "payment_received", **fields) -> list[int]:
        from webhooks.extensions import db
        from webhooks.models import Webhook

        with self.app.app_context():
            made = [
                Webhook(name=f"bench {n}", url=url, events=[event], **fields)
                for n, url in enumerate(urls)
            ]
            db.session.add_all(made)
            db.session.commit()
            return [webhook.id for webhook in made]

    def remove_webhooks(self, ids: list[int]) -> None:
        from webhooks.extensions import db
        from webhooks.models import Webhook

        with self.app.app_context():
            db.session.execute(delete(Webhook).where(Webhook.id.in_(ids)))
            db.session.commit()

    def enqueue(self, event: str, count: int, start: int = 0) -> None:
        """``count`` events, committed 50 at a time (each has a delivery per subscriber)."""
        from webhooks.extensions import db
        from webhooks.outbox import enqueue

        with self.app.app_context():
            for seq in range(start, start + count):
                enqueue(event, {"seq": f"q{seq}", "payment_total": "$9"}, source="cli")
                if seq % 50 == 49:
                    db.session.commit()
            db.session.commit()

    def token(self) -> str:
        from webhooks.extensions import db
        from webhooks.tokens import create_token

        with self.app.app_context():
            _row, plain = create_token("bench")
            db.session.commit()
            return plain

    def attempt_span(self) -> tuple[int, float]:
        """Succeeded attempts, and the seconds from the first to the last."""
        from webhooks.extensions import db
        from webhooks.models import Attempt

        with self.app.app_context():
            first, last, count = db.session.execute(
                select(
                    func.min(Attempt.created_at), func.max(Attempt.created_at), func.count()
                ).where(Attempt.succeeded.is_(True))
            ).one()
            db.session.commit()
            return count, (last - first).total_seconds() if count else 0.0

    def clear_log(self) -> None:
        from webhooks.extensions import db
        from webhooks.models import Delivery, Event

        with self.app.app_context():
            db.session.execute(delete(Delivery))
            db.session.execute(delete(Event))
            db.session.commit()


def sqlite_deployment(base: Path, name: str, settings: dict) -> Deployment:
    folder = base / name
    return Deployment(folder, f"sqlite:///{folder / 'bench.db'}", settings)


class ServerDatabase:
    """A database of the run's own on the --database server, dropped at the end."""

    def __init__(self, url: str) -> None:
        self.admin = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
        self.name = f"webhooks_bench_{secrets.token_hex(3)}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = make_url(url).set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


# ---------------------------------------------------------------- fast receiver


def bare_requests_loop(url: str, count: int) -> float:
    session = requests.Session()
    body = b'{"type":"payment_received","timestamp":"2026-12-04T12:00:00.000Z","data":{"seq":1}}'
    headers = {"Content-Type": "application/json"}
    started = time.perf_counter()
    for _ in range(count):
        session.post(url, data=body, headers=headers, timeout=15).raise_for_status()
    return count / (time.perf_counter() - started)


def fast_receiver(args, base: Path, receiver: Receiver) -> dict:
    facts: dict = {"load_before": load(), "bare": [], "worker": [], "ratio": []}
    deployment = sqlite_deployment(base, "fast", {})
    try:
        deployment.webhooks([f"{receiver.url}/fast/one"])
        for _round in range(args.rounds):
            receiver.reset()
            bare = bare_requests_loop(f"{receiver.url}/fast/bare", args.deliveries)
            deployment.clear_log()
            receiver.reset()
            deployment.enqueue("payment_received", args.deliveries)
            worker = deployment.worker()
            wait_until(
                lambda: receiver.count()["count"] >= args.deliveries, 300, "the fast deliveries"
            )
            deployment.stop(worker)
            sent, busy = deployment.attempt_span()
            rate = sent / busy
            facts["bare"].append(bare)
            facts["worker"].append(rate)
            facts["ratio"].append(rate / bare)
            counted = receiver.count()
            facts.setdefault("repeats", 0)
            facts["repeats"] += counted["repeats"]
        facts["latency"] = idle_latency(args, deployment, receiver)
    finally:
        deployment.close()
    facts["load_after"] = load()
    return facts


def idle_latency(args, deployment: Deployment, receiver: Receiver) -> dict:
    """Events POSTed one at a time to the API of an idle site (as `make run` serves it), time
    until the receiver; beside each, a bare POST to the receiver."""
    base = deployment.site(args.site_port)
    receiver.reset()
    token = deployment.token()
    session = requests.Session()
    bare_session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    sent: dict[str, float] = {}
    bare: list[float] = []
    for seq in range(args.latency_events):
        started = time.perf_counter()
        bare_session.post(f"{receiver.url}/fast/bare", data=b"{}", timeout=10)
        bare.append((time.perf_counter() - started) * 1000)
        time.sleep(args.gap / 2)
        sent[f"l{seq}"] = time.time()
        response = session.post(
            f"{base}/api/v1/events",
            json={"type": "payment_received", "data": {"seq": f"l{seq}", "payment_total": "$9"}},
            headers=headers,
            timeout=10,
        )
        assert response.status_code == 202, response.text
        time.sleep(args.gap / 2)
    wait_until(lambda: receiver.count()["count"] >= 2 * args.latency_events, 30, "every event")
    arrivals = receiver.arrivals()
    latencies = [(arrivals[seq] - moment) * 1000 for seq, moment in sent.items()]
    return {
        "events": len(latencies),
        "p50": statistics.median(latencies),
        "p90": percentile(latencies, 0.9),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies),
        "bare_p50": statistics.median(bare),
        "bare_p99": percentile(bare, 0.99),
    }


# ---------------------------------------------------------------- slow receivers


async def bare_aiohttp_loop(url: str, count: int, in_flight: int) -> float:
    body = b'{"type":"payment_received","timestamp":"2026-12-04T12:00:00.000Z","data":{"seq":1}}'
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        gate = asyncio.Semaphore(in_flight)

        async def one(number: int) -> None:
            async with gate:
                async with session.post(f"{url}/{number % 200}", data=body) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(one(number) for number in range(count)))
        return count / (time.perf_counter() - started)


def slow_receivers(args, base: Path, receiver: Receiver) -> dict:
    facts: dict = {"load_before": load(), "bare": [], "worker": [], "wall": [], "ratio": []}
    facts["exact"] = []
    deployment = sqlite_deployment(base, "slow", {"DELIVERY_TIMEOUT": 15})
    events = args.slow_deliveries // args.slow_webhooks
    try:
        deployment.webhooks([f"{receiver.url}/slow/w{n}" for n in range(args.slow_webhooks)])
        for _round in range(args.rounds):
            receiver.reset()
            bare = asyncio.run(
                bare_aiohttp_loop(f"{receiver.url}/slow/bare", args.slow_deliveries, 1000)
            )
            deployment.clear_log()
            receiver.reset()
            deployment.enqueue("payment_received", events)
            started = time.perf_counter()
            worker = deployment.worker(concurrency=1000)
            total = events * args.slow_webhooks
            wait_until(lambda t=total: receiver.count()["count"] >= t, 300, "the slow deliveries")
            wall = time.perf_counter() - started
            time.sleep(1)  # room for a repeat to show
            counted = receiver.count()
            deployment.stop(worker)
            sent, busy = deployment.attempt_span()
            facts["bare"].append(bare)
            facts["worker"].append(sent / busy)
            facts["wall"].append(total / wall)
            facts["ratio"].append(sent / busy / bare)
            facts["exact"].append(
                (counted["count"], counted["ids"], counted["repeats"], counted["most_in_flight"])
            )
    finally:
        deployment.close()
    facts["load_after"] = load()
    return facts


# ---------------------------------------------------------------- noisy neighbour


def noisy_rounds(args, deployment: Deployment, receiver: Receiver, base_url: str) -> dict:
    """Baseline and noisy rounds, alternating: the healthy webhook's event → receiver latency."""
    token = deployment.token()
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    facts: dict = {"load_before": load(), "quiet": [], "noisy": [], "hung_held": []}
    facts["quiet_p50"], facts["noisy_p50"], facts["missing"] = [], [], 0
    for round_number in range(args.rounds):
        for noisy in (False, True):
            receiver.reset()
            hung: list[int] = []
            if noisy:
                hung = deployment.webhooks(
                    [f"{receiver.url}/hang/w{n}" for n in range(args.hung_webhooks)],
                    event="invoice_sent",
                )
                deployment.enqueue("invoice_sent", args.hung_deliveries // args.hung_webhooks)
                wanted = args.hung_webhooks * 10
                wait_until(lambda w=wanted: receiver.count()["hung"] >= w, 60, "the hung requests")
                facts["hung_held"].append(receiver.count()["hung"])
            sent: dict[str, float] = {}
            for seq in range(args.noisy_events):
                key = f"n{round_number}{'h' if noisy else 'q'}{seq}"
                sent[key] = time.time()
                response = session.post(
                    f"{base_url}/api/v1/events",
                    json={"type": "payment_received", "data": {"seq": key}},
                    headers=headers,
                    timeout=30,
                )
                assert response.status_code == 202, response.text
                time.sleep(args.gap)
            try:
                wait_until(
                    lambda s=sent: set(s) <= set(receiver.arrivals()), 60, "the healthy events"
                )
            except SystemExit:
                facts["missing"] += len(set(sent) - set(receiver.arrivals()))
            arrivals = receiver.arrivals()
            latencies = [(arrivals[k] - t) * 1000 for k, t in sent.items() if k in arrivals]
            facts["noisy" if noisy else "quiet"].append(percentile(latencies, 0.99))
            facts["noisy_p50" if noisy else "quiet_p50"].append(statistics.median(latencies))
            if noisy:
                deployment.remove_webhooks(hung)
                receiver.release()
                wait_until(lambda: receiver.count()["in_flight"] == 0, 60, "released requests")
    facts["ratio"] = [n / q for n, q in zip(facts["noisy"], facts["quiet"], strict=True)]
    facts["load_after"] = load()
    return facts


def noisy_embedded(args, base: Path, receiver: Receiver) -> dict:
    deployment = sqlite_deployment(base, "noisy-embedded", {})
    try:
        deployment.webhooks([f"{receiver.url}/fast/healthy"])
        base_url = deployment.site(args.site_port)
        return noisy_rounds(args, deployment, receiver, base_url)
    finally:
        deployment.close()


def noisy_celery(args, base: Path, receiver: Receiver) -> dict:
    database = ServerDatabase(args.database)
    broker = redis.Redis.from_url(args.broker)
    broker.flushdb()
    deployment = None
    try:
        deployment = Deployment(
            base / "noisy-celery",
            database.url,
            {"QUEUE": "celery", "CELERY_BROKER_URL": args.broker},
        )
        deployment.webhooks([f"{receiver.url}/fast/healthy"])
        base_url = deployment.site(args.site_port + 1)
        return noisy_rounds(args, deployment, receiver, base_url)
    finally:
        if deployment is not None:
            deployment.close()
        broker.flushdb()
        broker.close()
        database.drop()


# ---------------------------------------------------------------- memory


def memory(args, base: Path, receiver: Receiver) -> dict:
    facts: dict = {"load_before": load(), "idle": [], "busy": []}
    # The requests must stay in flight while memory is read: no timeout meanwhile.
    deployment = sqlite_deployment(base, "memory", {"DELIVERY_TIMEOUT": 300})
    try:
        webhooks = 100
        deployment.webhooks([f"{receiver.url}/hang/m{n}" for n in range(webhooks)])
        for _round in range(2):
            receiver.reset()
            deployment.clear_log()
            worker = deployment.worker(concurrency=1000)
            time.sleep(3)
            facts["idle"].append(memory_of(worker.pid)["VmHWM"])
            deployment.stop(worker)
            deployment.enqueue("payment_received", args.memory_deliveries // webhooks)
            worker = deployment.worker(concurrency=1000)
            wait_until(lambda: receiver.count()["hung"] >= 1000, 120, "1,000 requests in flight")
            time.sleep(5)  # claims keep looking at the 99,000 waiting meanwhile
            figures = memory_of(worker.pid)
            facts["busy"].append(figures["VmHWM"])
            facts["in_flight"] = receiver.count()["hung"]
            deployment.stop(worker)
            receiver.release()
    finally:
        deployment.close()
    facts["load_after"] = load()
    return facts


# ---------------------------------------------------------------- report


def machine() -> str:
    return (
        f"{platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()})"
    )


def mib(value: float) -> str:
    return f"{value / 2**20:.0f} MiB"


def report(args, command: str, results: dict) -> str:
    parts = [
        "# Delivery engine benchmark",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; everything on 127.0.0.1,",
        "the receiver is bench/async_receiver.py (aiohttp, one process).",
        "",
        f"Command: `{command}`",
        "",
        "Each figure is measured beside its reference in the same run, in alternating rounds; "
        "the median comes first, every round in brackets. *Load* is the 1, 5 and 15 minute "
        "load average before and after the section.",
    ]
    if "fast" in results:
        fast = results["fast"]
        lat = fast["latency"]
        parts += [
            "",
            "## Fast receiver",
            "",
            f"{args.deliveries} queued deliveries to one webhook (its default limit, 10 at once), "
            "one `flask worker`; the reference is a bare keep-alive `requests.Session` loop POSTing "
            "as many to the same receiver, one after another. Worker rate: first → last attempt.",
            "",
            "| bare loop | worker | worker / bare loop | target | repeats | load |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| {spread(fast['bare'], 0)}/s | {spread(fast['worker'], 0)}/s "
            f"| {spread(fast['ratio'])} | ≥ 0.80 | {fast['repeats']} "
            f"| {fast['load_before']} → {fast['load_after']} |",
            "",
            f"Idle latency: {lat['events']} events POSTed one at a time, {args.gap * 1000:.0f} ms "
            "apart, to the API of the site as `make run` serves it (gunicorn and `flask worker`, "
            "two processes, SQLite), until the receiver has them; beside each, a bare POST to "
            "the receiver.",
            "",
            "| p50 | p90 | p99 | max | bare POST p50 / p99 | target |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| {lat['p50']:.1f} ms | {lat['p90']:.1f} ms | {lat['p99']:.1f} ms "
            f"| {lat['max']:.1f} ms | {lat['bare_p50']:.1f} / {lat['bare_p99']:.1f} ms "
            "| p50 < 10 ms, p99 < 25 ms |",
        ]
    if "slow" in results:
        slow = results["slow"]
        exact = "; ".join(
            f"{count} requests, {ids} webhook-ids, {repeats} repeats, {most} at once at most"
            for count, ids, repeats, most in slow["exact"]
        )
        parts += [
            "",
            "## Slow receivers",
            "",
            f"{args.slow_webhooks} webhooks on a receiver that answers 200 after 500 ms, "
            f"{args.slow_deliveries} deliveries, one `flask worker --concurrency 1000` (SQLite). "
            "The reference is a bare aiohttp loop with 1,000 requests in flight to the same "
            "receiver. Before this engine a worker process had 32 threads: at most 64 such "
            "deliveries a second.",
            "",
            "| bare aiohttp loop | worker (first → last attempt) | worker (incl. start-up) "
            "| worker / bare loop | target | load |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| {spread(slow['bare'], 0)}/s | {spread(slow['worker'], 0)}/s "
            f"| {spread(slow['wall'], 0)}/s | {spread(slow['ratio'])} | ≥ 1,000/s "
            f"| {slow['load_before']} → {slow['load_after']} |",
            "",
            f"Exactly once, as the receiver counted them: {exact}.",
        ]
    for key, title in (
        ("noisy_embedded", "embedded engine, SQLite"),
        ("noisy_celery", "Celery engine, PostgreSQL + Redis"),
    ):
        if key not in results:
            continue
        noisy = results[key]
        parts += [
            "",
            f"## Noisy neighbour: {title}",
            "",
            f"{args.hung_webhooks} webhooks whose receiver accepts and never answers, "
            f"{args.hung_deliveries} deliveries queued for them; once their requests are held "
            f"({spread(noisy['hung_held'], 0)} at once), {args.noisy_events} events are POSTed "
            f"one at a time, {args.gap * 1000:.0f} ms apart, to the API for a healthy webhook. "
            "Quiet rounds are the same without the hung webhooks.",
            "",
            "| healthy p99, quiet | healthy p99, noisy | noisy / quiet | target "
            "| p50 quiet / noisy | events missing | load |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            f"| {spread(noisy['quiet'], 1)} ms | {spread(noisy['noisy'], 1)} ms "
            f"| {spread(noisy['ratio'])} | ≤ 2 "
            f"| {statistics.median(noisy['quiet_p50']):.1f} / "
            f"{statistics.median(noisy['noisy_p50']):.1f} ms | {noisy['missing']} "
            f"| {noisy['load_before']} → {noisy['load_after']} |",
        ]
    if "memory" in results:
        mem = results["memory"]
        parts += [
            "",
            "## Memory",
            "",
            f"`flask worker --concurrency 1000` with {args.memory_deliveries} deliveries due to 100 "
            "webhooks whose receiver never answers: 1,000 requests in flight "
            f"({mem['in_flight']} seen by the receiver), the rest waiting behind the webhooks' "
            "limits. Peak resident memory (VmHWM) after 5 s of it, against the same worker idle.",
            "",
            "| idle | 100,000 due, 1,000 in flight | target | load |",
            "| --- | --- | --- | --- |",
            f"| {' / '.join(mib(v) for v in mem['idle'])} "
            f"| {' / '.join(mib(v) for v in mem['busy'])} | < 200 MiB "
            f"| {mem['load_before']} → {mem['load_after']} |",
        ]
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="fast,slow,noisy,memory")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--deliveries", type=int, default=5000, help="fast receiver run")
    parser.add_argument("--latency-events", type=int, default=300)
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between events")
    parser.add_argument("--slow-webhooks", type=int, default=200)
    parser.add_argument("--slow-deliveries", type=int, default=10000)
    parser.add_argument("--hung-webhooks", type=int, default=20)
    parser.add_argument("--hung-deliveries", type=int, default=1000)
    parser.add_argument("--noisy-events", type=int, default=50)
    parser.add_argument("--memory-deliveries", type=int, default=100000)
    parser.add_argument("--receiver-port", type=int, default=8766)
    parser.add_argument("--site-port", type=int, default=5098)
    parser.add_argument("--database", help="a PostgreSQL server for the Celery engine's rounds")
    parser.add_argument("--broker", help="a Redis database the run may empty, for Celery")
    parser.add_argument("--out", type=Path, help="write the results (Markdown) to this file")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    base = Path(tempfile.mkdtemp(prefix="webhooks-engine-"))
    processes: list[subprocess.Popen] = []
    results: dict = {}
    try:
        receiver = Receiver(args.receiver_port, processes)
        if "fast" in wanted:
            results["fast"] = fast_receiver(args, base, receiver)
        if "slow" in wanted:
            results["slow"] = slow_receivers(args, base, receiver)
        if "noisy" in wanted:
            results["noisy_embedded"] = noisy_embedded(args, base, receiver)
            if args.database and args.broker:
                results["noisy_celery"] = noisy_celery(args, base, receiver)
        if "memory" in wanted:
            results["memory"] = memory(args, base, receiver)
    finally:
        for process in processes:
            Deployment.stop(process)
    command = "python bench/engine.py " + " ".join(sys.argv[1:])
    text_out = report(args, command, results)
    print(text_out)
    if args.out:
        args.out.write_text(text_out)


if __name__ == "__main__":
    main()

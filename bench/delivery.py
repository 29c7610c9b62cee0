"""Delivery benchmarks: event-to-receiver latency through the API with the embedded worker,
and the throughput of one worker process beside a bare keep-alive ``requests.Session`` loop.

    .venv/bin/python bench/delivery.py --out bench/results-delivery.md

Everything runs on this machine: gunicorn (as `make run` starts it), `flask worker`, and the
receiver in bench/receiver.py, all on 127.0.0.1, with SQLite in a temporary folder.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


class Bench:
    def __init__(self, args) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="webhooks-bench-"))
        self.env = {
            **os.environ,
            "WEBHOOKS_INSTANCE_PATH": str(self.tmp),
            "DATABASE_URL": f"sqlite:///{self.tmp / 'bench.db'}",
            "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.0/8",
            "WEBHOOKS_SECRET_KEY": "bench",
        }
        os.environ.update(self.env)
        self.receiver_url = f"http://127.0.0.1:{args.receiver_port}"
        self.processes: list[subprocess.Popen] = []

    def start(self, command: list[str], **kwargs) -> subprocess.Popen:
        kwargs.setdefault("env", self.env)
        process = subprocess.Popen(command, cwd=ROOT, **kwargs)
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.stop(process)

    def setup(self) -> None:
        subprocess.run(
            [BIN / "flask", "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )
        from webhooks import create_app
        from webhooks.extensions import db
        from webhooks.models import Webhook
        from webhooks.tokens import create_token

        self.app = create_app()
        with self.app.app_context():
            db.session.add(
                Webhook(name="bench", url=f"{self.receiver_url}/hook", event="payment_received")
            )
            _, self.token = create_token("bench")
            db.session.commit()
        self.start([sys.executable, "bench/receiver.py", str(self.args.receiver_port)])
        wait_until(lambda: requests.get(self.receiver_url).ok, 10, "the receiver")

    def receiver_stats(self) -> dict:
        return requests.get(self.receiver_url, timeout=10).json()

    def receiver_count(self) -> dict:
        """Requests received so far and their distinct webhook-ids; cheap enough to poll."""
        return requests.get(f"{self.receiver_url}/count", timeout=10).json()

    def reset_receiver(self) -> None:
        requests.post(f"{self.receiver_url}/reset", timeout=10)

    def latency(self) -> dict:
        """Events POSTed one at a time to the API of an idle site; time until the receiver."""
        port = str(self.args.site_port)
        site = self.start(
            [BIN / "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
            env={**self.env, "PORT": port, "HOST": "127.0.0.1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: requests.get(f"{base}/login").ok, 20, "the site")
        self.reset_receiver()
        session = requests.Session()
        headers = {"Authorization": f"Bearer {self.token}"}
        sent: dict[str, float] = {}
        api: list[float] = []
        for seq in range(self.args.events):
            started = time.time()
            response = session.post(
                f"{base}/api/v1/events",
                json={"type": "payment_received", "data": {"seq": seq, "payment_total": "$9"}},
                headers=headers,
            )
            api.append((time.time() - started) * 1000)
            assert response.status_code == 202, response.text
            sent[str(seq)] = started
            time.sleep(self.args.gap)
        wait_until(lambda: self.receiver_stats()["count"] >= self.args.events, 30, "every event")
        arrivals = self.receiver_stats()["arrivals"]
        self.stop(site)
        latencies = [(arrivals[seq] - sent[seq]) * 1000 for seq in sent]
        return {
            "events": len(latencies),
            "p50": statistics.median(latencies),
            "p90": percentile(latencies, 0.90),
            "p99": percentile(latencies, 0.99),
            "max": max(latencies),
            "api_p50": statistics.median(api),
        }

    def bodies(self) -> list[bytes]:
        return [
            json.dumps(
                {
                    "type": "payment_received",
                    "timestamp": "2026-11-30T12:00:00.000Z",
                    "data": {"seq": seq, "payment_total": "$9"},
                },
                separators=(",", ":"),
            ).encode()
            for seq in range(self.args.deliveries)
        ]

    def bare_loop(self) -> float:
        """The reference: one keep-alive session POSTing the same bodies, one after another."""
        self.reset_receiver()
        session = requests.Session()
        url = f"{self.receiver_url}/hook"
        headers = {"Content-Type": "application/json"}
        started = time.perf_counter()
        for body in self.bodies():
            session.post(url, data=body, headers=headers, timeout=15).raise_for_status()
        return self.args.deliveries / (time.perf_counter() - started)

    def worker(self, timeout: float = 600) -> dict:
        """N queued deliveries, one `flask worker` process; deliveries per second."""
        from sqlalchemy import func, select

        from webhooks.extensions import db
        from webhooks.models import Attempt, Delivery
        from webhooks.outbox import enqueue

        self.reset_receiver()
        with self.app.app_context():
            before = db.session.scalar(select(func.coalesce(func.max(Delivery.id), 0)))
            for seq in range(self.args.deliveries):
                enqueue("payment_received", {"seq": seq, "payment_total": "$9"}, source="cli")
            db.session.commit()
        started = time.perf_counter()
        worker = self.start(
            [BIN / "flask", "--app", "wsgi", "worker", "--threads", str(self.args.threads)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: self.receiver_count()["count"] >= self.args.deliveries, timeout, "the worker"
        )
        wall = time.perf_counter() - started
        self.stop(worker)
        with self.app.app_context():
            first, last, succeeded = db.session.execute(
                select(func.min(Attempt.created_at), func.max(Attempt.created_at), func.count())
                .join(Delivery)
                .where(Delivery.status == "succeeded", Delivery.id > before)
            ).one()
        busy = (last - first).total_seconds()
        return {
            "succeeded": succeeded,
            "rate": succeeded / busy if busy else float("nan"),
            "wall_rate": self.args.deliveries / wall,
            "busy": busy,
            "wall": wall,
            "after_id": before,  # this run's deliveries are those with a greater id
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300, help="events for the latency run")
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between those events")
    parser.add_argument(
        "--deliveries", type=int, default=5000, help="deliveries per throughput run"
    )
    parser.add_argument("--threads", type=int, default=4, help="threads of the worker process")
    parser.add_argument("--receiver-port", type=int, default=8765)
    parser.add_argument("--site-port", type=int, default=5099)
    parser.add_argument("--out", type=Path, help="write the results (Markdown) to this file")
    args = parser.parse_args()
    bench = Bench(args)
    try:
        bench.setup()
        latency = bench.latency()
        bare = bench.bare_loop()
        worker = bench.worker()
        bare_after = bench.bare_loop()
    finally:
        bench.close()
    reference = (bare + bare_after) / 2
    command = "python bench/delivery.py " + " ".join(sys.argv[1:])
    report = f"""# Delivery benchmark

Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} ({os.cpu_count()} cores,
Python {platform.python_version()}), SQLite, everything on 127.0.0.1.

Command: `{command}`

## Latency: event POSTed to the API → payload at the receiver

gunicorn as `make run` starts it (1 process, embedded worker), {latency["events"]} events one at
a time, {args.gap * 1000:.0f} ms apart (an idle worker each time).

| p50 | p90 | p99 | max | API answer (p50) | target |
| --- | --- | --- | --- | --- | --- |
| {latency["p50"]:.1f} ms | {latency["p90"]:.1f} ms | {latency["p99"]:.1f} ms | {latency["max"]:.1f} ms | {latency["api_p50"]:.1f} ms | p50 < 50 ms, p99 < 250 ms |

## Throughput: one worker process → local receiver

{args.deliveries} queued deliveries, `flask worker --threads {args.threads}`; beside it a bare
keep-alive `requests.Session` loop POSTing the same bodies to the same receiver (run before and
after the worker; the mean is the reference).

| bare loop | worker (first → last attempt) | worker (incl. start-up) | ratio | target |
| --- | --- | --- | --- | --- |
| {reference:.0f}/s ({bare:.0f}, {bare_after:.0f}) | {worker["rate"]:.0f}/s | {worker["wall_rate"]:.0f}/s | {worker["rate"] / reference:.0%} | ≥ 80 % |
"""
    print(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()

"""The production front under slow clients: how fast the site answers while nginx holds 1,000
clients that each send a header byte a second, against the same site with none.

    .venv/bin/python bench/front.py --out bench/results-front.md

The front is the one tests/test_nginx_front.py tests (tests/nginx_front.py): Debian's nginx with
deploy/nginx/webhooks.conf in front of gunicorn with gunicorn.conf.py and its embedded worker,
on SQLite, everything on 127.0.0.1. A probe is a GET of /healthz over HTTPS on one kept
connection, one after another. Rounds alternate: quiet (no slow clients), then held (the slow
clients connected, in a process of their own, before the probes start); each figure is the
median over the rounds, with every round in brackets.

The target is the issue's: /healthz p99 under 100 ms while the slow clients are held. The
quiet rounds are its reference on the same machine at the same time.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.nginx_front import SlowClients, probe, quantile, serve_front  # noqa: E402

TARGET_P99_MS = 100.0


@dataclass
class Round:
    quiet: list[float]
    held: list[float]
    held_at_start: int
    held_at_end: int


def p99(timings: list[float]) -> float:
    return quantile(timings, 0.99) * 1000


def p50(timings: list[float]) -> float:
    return quantile(timings, 0.5) * 1000


def held_round(front, clients: int, probes: int) -> tuple[list[float], int, int]:
    with SlowClients(front, clients) as slow:
        slow.wait_connected()
        if slow.failed:
            raise SystemExit(f"slow clients failed to connect: {slow.failed[:5]}")
        held_at_start = slow.open()
        timings = probe(front, probes)
        return timings, held_at_start, slow.open()


def figures(values: list[float], digits: int = 1) -> str:
    rounds = ", ".join(f"{value:.{digits}f}" for value in values)
    return f"{statistics.median(values):.{digits}f} ({rounds})"


def load_text(load: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in load)


def report(args, rounds: list[Round], load_before, load_after) -> str:
    quiet_p99 = [p99(r.quiet) for r in rounds]
    held_p99 = [p99(r.held) for r in rounds]
    ratios = [held / quiet for held, quiet in zip(held_p99, quiet_p99, strict=True)]
    met = statistics.median(held_p99) < TARGET_P99_MS and max(held_p99) < TARGET_P99_MS
    command = " ".join(["python", "bench/front.py", *sys.argv[1:]])
    lines = [
        "# The front under slow clients",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Linux {platform.release()}); everything on 127.0.0.1.",
        "",
        f"Command: `{command}`",
        "",
        f"nginx (deploy/nginx/webhooks.conf) in front of gunicorn (gunicorn.conf.py, embedded "
        f"worker, SQLite). Each round: {args.probes} GETs of `/healthz` over HTTPS on one kept "
        f"connection, quiet (no slow clients), then the same with {args.slow_clients} slow "
        "clients connected and each sending a header byte a second, in a process of their own. "
        f"{len(rounds)} rounds, alternating; the median comes first, every round in brackets. "
        "*Load* is the 1, 5 and 15 minute load average before and after the run.",
        "",
        "| quiet p50 | quiet p99 | held p50 | held p99 | held p99 / quiet p99 | target | met | "
        "slow clients held (start → end) | load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {figures([p50(r.quiet) for r in rounds])} ms | {figures(quiet_p99)} ms "
        f"| {figures([p50(r.held) for r in rounds])} ms | {figures(held_p99)} ms "
        f"| {figures(ratios, 2)} | held p99 < {TARGET_P99_MS:.0f} ms in every round "
        f"| {'yes' if met else 'no'} "
        f"| {', '.join(f'{r.held_at_start} → {r.held_at_end}' for r in rounds)} "
        f"| {load_text(load_before)} → {load_text(load_after)} |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each kind (default 5)")
    parser.add_argument("--probes", type=int, default=400, help="probes a round (default 400)")
    parser.add_argument(
        "--slow-clients", type=int, default=1000, help="slow clients held (default 1000)"
    )
    parser.add_argument("--out", type=Path, help="write the results here (Markdown)")
    args = parser.parse_args()

    load_before = os.getloadavg()
    rounds = []
    with tempfile.TemporaryDirectory(prefix="bench-front-") as folder:
        with serve_front(Path(folder)) as front:
            probe(front, 50)  # warm-up: the first requests of each gunicorn thread
            for number in range(1, args.rounds + 1):
                quiet = probe(front, args.probes)
                held, at_start, at_end = held_round(front, args.slow_clients, args.probes)
                rounds.append(Round(quiet, held, at_start, at_end))
                print(
                    f"round {number}: quiet p99 {p99(quiet):.1f} ms, "
                    f"held p99 {p99(held):.1f} ms ({at_start} → {at_end} held)",
                    flush=True,
                )
                time.sleep(2)  # the slow clients' connections, closed, leave nginx
    text = report(args, rounds, load_before, os.getloadavg())
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()

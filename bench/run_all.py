"""Every benchmark of bench/ in one run (`make bench`), with a summary of figure, limit and ratio.

Each benchmark runs as a child process, one after the other (they measure the machine, so never
two at once), with its full output kept in a log folder; the summary at the end repeats every line
in which a benchmark compared a figure with the limit it measured in the same run (the lines
`bench.common.report` prints: figure, unit, limit, ratio), grouped by benchmark, with how long
each took. A benchmark that fails is reported as failed and the others still run; the exit status
is non-zero if any failed.

Everything runs on loopback; each benchmark starts its own servers (a private Redis, an SMTP sink,
scratch PostgreSQL databases that it creates and drops, never the test suite's `test`) and stops
what it started by pid, also when this harness is stopped (the child is stopped with SIGTERM).

    .venv/bin/python bench/run_all.py [--quick] [--only render,launch] [--logs DIR]

--quick runs smaller sizes for a first look; the figures in docs/performance.md come from the
full sizes. The benchmarks that send (send, scale, memory) are given Postfix's smtp-sink from
build/postfix/ when `sh .ci/fetch-smtp-sink` has unpacked it and the system has none.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name: (script, full-size arguments, quick arguments)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "audience": ("audience_bench.py", [], ["--contacts", "20000"]),
    "import": ("import_bench.py", [], ["--rows", "20000"]),
    "render": ("render_bench.py", [], ["--copies", "2000"]),
    "launch": ("launch_bench.py", [], ["--officials", "20000"]),
    "progress": ("progress_bench.py", [], ["--deliveries", "20000"]),
    "send": ("send_bench.py", [], ["--small"]),
    "sign": ("sign_bench.py", [], ["--requests", "300"]),
    "admin-pages": ("admin_pages_bench.py", [], ["--deliveries", "20000", "--requests", "5"]),
    "report-pages": ("report_pages_bench.py", [], ["--deliveries", "20000"]),
    # Throughput against worker processes on one PostgreSQL (a scratch database bench_scale).
    "scale": (
        "scale_bench.py",
        [],
        ["--messages", "1000", "--processes", "1,2,4", "--rounds", "1"],
    ),
    # Peak RSS of web (10,000 and 100,000 deliveries) and worker (10,000 and 100,000 letters).
    "memory": (
        "memory_bench.py",
        ["--worker-letters", "10000,100000"],
        ["--deliveries", "2000,20000", "--requests", "2", "--worker-letters", "1000,5000"],
    ),
}
# The benchmarks that send through an SMTP sink: given Postfix's smtp-sink unpacked by
# .ci/fetch-smtp-sink when the system has none (else they fall back to a slower Python sink).
USES_SINK = {"send", "scale", "memory"}
SYSTEM_SINK = Path("/usr/sbin/smtp-sink")
FETCHED_SINK = ROOT / "build" / "postfix" / "smtp-sink"

# A report line: "<name> <figure> <unit> <limit label>: <limit> <unit> ratio <ratio>".
_REPORT = re.compile(r"ratio\s+-?[\d.]+(?:inf)?\s*$")


@dataclass
class Outcome:
    name: str
    seconds: float = 0.0
    status: int = 0
    lines: list[str] = field(default_factory=list)


def run_one(name: str, script: str, args: list[str], logs: Path) -> Outcome:
    outcome = Outcome(name)
    log_path = logs / f"{name}.log"
    command = [sys.executable, str(ROOT / "bench" / script), *args]
    print(f"--- {name}: {' '.join(command[1:])}  (log: {log_path})", flush=True)
    start = time.perf_counter()
    with log_path.open("w") as log:
        child = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT
        )
        try:
            assert child.stdout is not None
            for line in child.stdout:
                log.write(line)
                if _REPORT.search(line):
                    outcome.lines.append(line.rstrip())
                    print(f"    {line.rstrip()}", flush=True)
            outcome.status = child.wait()
        except BaseException:
            child.send_signal(signal.SIGTERM)  # the benchmark stops what it started
            child.wait(timeout=60)
            raise
    outcome.seconds = time.perf_counter() - start
    if outcome.status:
        print(f"    FAILED with exit status {outcome.status}: see {log_path}", flush=True)
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a few minutes")
    parser.add_argument("--only", default="", help=f"comma-separated, of {', '.join(BENCHMARKS)}")
    parser.add_argument("--logs", default=None, help="folder for the full outputs")
    args = parser.parse_args()
    chosen = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    logs = Path(args.logs or tempfile.mkdtemp(prefix="outreach-bench-"))
    logs.mkdir(parents=True, exist_ok=True)
    # A SIGTERM to the harness becomes KeyboardInterrupt, which stops the running child cleanly.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    started = datetime.datetime.now(datetime.UTC)
    outcomes = []
    for name in chosen:
        script, full, quick = BENCHMARKS[name]
        chosen_args = list(quick if args.quick else full)
        if name in USES_SINK and not SYSTEM_SINK.exists() and FETCHED_SINK.exists():
            chosen_args += ["--smtp-sink", str(FETCHED_SINK)]
        outcomes.append(run_one(name, script, chosen_args, logs))

    print()
    print(f"=== summary ({'quick' if args.quick else 'full'} sizes) ===")
    print(
        f"{started:%Y-%m-%d %H:%M} UTC, {platform.python_version()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f} at the end; logs in {logs}"
    )
    for outcome in outcomes:
        state = "ok" if outcome.status == 0 else f"FAILED ({outcome.status})"
        print(f"{outcome.name} ({outcome.seconds:.0f} s, {state})")
        for line in outcome.lines:
            print(f"  {line.strip()}")
    if any(o.status for o in outcomes):
        sys.exit(1)


if __name__ == "__main__":
    main()

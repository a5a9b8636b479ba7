"""Shared set-up for the benchmarks: a throw-away app on a fresh, migrated SQLite database."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import upgrade

from outreach import create_app


def fresh_app(database_url: str | None = None) -> tuple[Flask, Path]:
    folder = Path(tempfile.mkdtemp(prefix="outreach-bench-"))
    app = create_app(
        {
            "instance_path": str(folder),
            "database_url": database_url or f"sqlite:///{folder / 'bench.db'}",
        }
    )
    with app.app_context():
        upgrade()
    return app, folder


def median_seconds(fn: Callable[[], Any], repeat: int = 7) -> float:
    """The median wall time of `repeat` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(name: str, figure: float, unit: str, limit: float, limit_label: str) -> None:
    ratio = figure / limit if limit else float("inf")
    print(
        f"{name:<44} {figure:>10.4f} {unit:<6} {limit_label}: {limit:.4f} {unit}  ratio {ratio:6.2f}"
    )

"""Shared plumbing of the benchmarks: fresh-process measurement, machine info, reports.

Every implementation is measured in a fresh Python process (``python -m <module> child
...``) so that its peak resident memory is its own: the child records
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the high-water mark of the whole process,
native memory of DuckDB/Arrow included) and its wall time around the measured call only
(interpreter start and imports excluded, and reported separately). Results go to
``reports/bench/<name>.json`` and ``reports/bench/<name>.md``.

Timings on a shared machine are noisy: benchmarks interleave the implementations
(A B C, A B C, ...) and report ratios of the best-of-N wall times measured in the same run,
with the machine load before and after.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "REPO",
    "child_env",
    "cpu_seconds",
    "machine_info",
    "markdown_table",
    "peak_rss_bytes",
    "rss_now_bytes",
    "run_child",
    "write_report",
]

#: the repository root (benchmarks/ lives directly under it)
REPO = Path(__file__).resolve().parent.parent
#: default output folder (gitignored)
DEFAULT_OUT = REPO / "reports" / "bench"

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # Linux reports KiB


def cpu_seconds() -> float:
    """User + system CPU time of this process so far, all its threads included (seconds).

    Less sensitive than wall time to other processes competing for the cores (what it
    cannot remove: cache and memory-bandwidth contention)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_now_bytes() -> int | None:
    """Current resident set size (Linux ``/proc``; None elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child: this one, BLAS pinned to one thread, the repo importable,
    and PySpark workers on this interpreter."""
    env = dict(os.environ)
    for var in _THREAD_VARS:
        env.setdefault(var, "1")
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + path if path else "")
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    env.update(extra or {})
    return env


def run_child(module: str, args: Sequence[str], *, timeout: float | None = None) -> dict[str, Any]:
    """Run ``python -m module child *args --result FILE`` in a fresh process; return the
    JSON the child wrote to FILE (plus ``process_s``, the wall time of the whole process).

    A failing child raises ``RuntimeError`` with the tail of its stderr.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dearstats-bench-") as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", module, "child", *args, "--result", str(result)]
        start = time.perf_counter()
        proc = subprocess.run(
            cmd,
            cwd=REPO,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0 or not result.exists():
            tail = "\n".join(proc.stderr.strip().splitlines()[-25:])
            raise RuntimeError(
                f"benchmark child failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}"
            )
        out: dict[str, Any] = json.loads(result.read_text())
    out["process_s"] = elapsed
    return out


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def machine_info() -> dict[str, Any]:
    """Where and with what a benchmark ran (versions, cores, memory, load, git commit)."""
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        mem = None
    return {
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": mem,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "env": {v: os.environ.get(v) for v in _THREAD_VARS},
        "versions": {
            d: _version(d)
            for d in ("dearstats", "duckdb", "narwhals", "pandas", "pyarrow", "polars", "pyspark")
        },
        "git": _git(),
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "**NO**"
    if isinstance(value, float):
        if value != value:  # NaN
            return "—"
        if value != 0 and abs(value) < 0.01:
            return f"{value:.1e}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A Markdown table of ``rows`` with ``columns`` given as ``(key, header)`` pairs."""
    lines = [
        "| " + " | ".join(h for _, h in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(k)) for k, _ in columns) + " |")
    return "\n".join(lines)


def write_report(name: str, payload: dict[str, Any], markdown: str, out_dir: Path) -> list[Path]:
    """Write ``<out_dir>/<name>.json`` and ``<out_dir>/<name>.md``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{name}.json"
    md_path = out_dir / f"{name}.md"
    json_path.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
    md_path.write_text(markdown.rstrip() + "\n")
    return [json_path, md_path]

"""``python -m benchmarks [features] [--size smoke|quick|full] ...``: run the benchmarks.

Results: ``reports/bench/<benchmark>-<size>.json`` and ``.md`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks._common import DEFAULT_OUT

BENCHMARKS = ("features",)


def main(argv: list[str] | None = None) -> int:
    from benchmarks import features

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of dearstats against baselines measured in the same run.",
    )
    parser.add_argument(
        "benchmark",
        nargs="*",
        metavar="BENCHMARK",
        help=f"which benchmarks: {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument(
        "--size",
        choices=sorted(features.SIZES),
        default="quick",
        help="book size: smoke (~0.2 M usage rows, CI), quick (~10 M, default), full (~100 M)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per implementation")
    parser.add_argument(
        "--impl",
        action="append",
        choices=features.IMPLEMENTATIONS,
        help="implementations to run (repeatable; default: all, pandas not at full size)",
    )
    parser.add_argument(
        "--workload",
        action="append",
        choices=sorted(features.WORKLOADS),
        help="workloads (repeatable; default: all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="simulator seed of the book")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report folder")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where generated books are cached (default: <out>/data)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also time each dearstats part and profile its SQL (DuckDB JSON profiler)",
    )
    parser.add_argument(
        "--validate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time read_book(validate=True), informational (default: not at full size)",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    unknown = sorted(set(args.benchmark) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {BENCHMARKS}")
    chosen = args.benchmark or list(BENCHMARKS)
    if "features" in chosen:
        features.run(
            args.size,
            repeat=args.repeat,
            impls=args.impl,
            workloads=args.workload,
            seed=args.seed,
            out_dir=args.out,
            data_dir=args.data_dir,
            profile=args.profile,
            validate=args.validate,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

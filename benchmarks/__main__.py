"""``python -m benchmarks [features|bayes] ...``: run the benchmarks.

``features [--size smoke|quick|full]``: results ``reports/bench/features-<size>.json``/``.md``.
``bayes --rows 5000 [--rows 50000]``: results ``reports/bench/bayes-<rows>.json``/``.md``.
``--out`` changes the folder. Without a name only ``features`` runs (``bayes`` takes minutes
per size and is opt-in).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks._common import DEFAULT_OUT

BENCHMARKS = ("features", "bayes")
DEFAULT_BENCHMARKS = ("features",)


def main(argv: list[str] | None = None) -> int:
    from benchmarks import bayes, features

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of dearstats against baselines measured in the same run.",
    )
    parser.add_argument(
        "benchmark",
        nargs="*",
        metavar="BENCHMARK",
        help=f"which benchmarks: {', '.join(BENCHMARKS)} (default: features)",
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
        metavar="IMPL",
        help="implementations to run (repeatable; default: all, pandas not at full size). "
        f"features: {', '.join(features.IMPLEMENTATIONS)}; "
        f"bayes: {', '.join(bayes.IMPLEMENTATIONS)}",
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
    bay = parser.add_argument_group("bayes")
    bay.add_argument(
        "--rows",
        type=int,
        action="append",
        help="rows of the simulated renewal book (repeatable; default: 5000)",
    )
    bay.add_argument("--draws", type=int, default=1000, help="kept draws per chain")
    bay.add_argument("--tune", type=int, default=1000, help="warm-up steps per chain")
    bay.add_argument("--chains", type=int, default=4, help="chains")
    bay.add_argument(
        "--ref-draws", type=int, default=5000, help="draws per chain of the reference run"
    )
    bay.add_argument(
        "--slow-repeat",
        type=int,
        default=None,
        help="cap on the runs of the slow implementations (bambi, pymc_nuts, nutpie_pymc, "
        "fast_low_rank); default: --repeat",
    )
    bay.add_argument(
        "--no-gradcost",
        action="store_true",
        help="skip the gradient-cost section (ns per row of one logp+gradient)",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    unknown = sorted(set(args.benchmark) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {BENCHMARKS}")
    chosen = args.benchmark or list(DEFAULT_BENCHMARKS)
    for name, module in (("features", features), ("bayes", bayes)):
        bad = sorted(set(args.impl or ()) - set(module.IMPLEMENTATIONS))
        if name in chosen and bad:
            parser.error(f"--impl {', '.join(bad)}: not an implementation of {name}")
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
    if "bayes" in chosen:
        for rows in args.rows or [5000]:
            bayes.run(
                rows,
                repeat=args.repeat,
                impls=args.impl,
                seed=args.seed,
                draws=args.draws,
                tune=args.tune,
                chains=args.chains,
                ref_draws=args.ref_draws,
                gradcost=not args.no_gradcost,
                out_dir=args.out,
                slow_repeat=args.slow_repeat,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m experiments NAME [--seed N] [--small] [--data PATH] [--out DIR] ...``

Runs one experiment and writes its results and ``provenance.json`` under
``reports/experiments/NAME/`` (``--out`` to change). ``python -m experiments`` lists the
experiments; ``python -m experiments NAME --help`` shows an experiment's options.

The runner pins ``PYTHONHASHSEED=0`` (re-executing itself when it is not set): with
randomised string hashing, two runs of the PyMC model with the same seed were seen to
give different draws (an order that depends on string hashes somewhere in model building
or compilation, amplified by MCMC), which would break "same seed, same results".
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import warnings
from pathlib import Path
from types import ModuleType

from experiments import EXPERIMENTS

DEFAULT_ROOT = Path("reports/experiments")  # = experiments._common.DEFAULT_ROOT


def _module(name: str) -> ModuleType:
    return importlib.import_module(EXPERIMENTS[name])


def _list() -> int:
    print("experiments (run one with `nox -s experiment -- NAME` or `python -m experiments NAME`):")
    for name in EXPERIMENTS:
        print(f"  {name:<22} {_module(name).DESCRIPTION}")
    return 0


def _parser(name: str, module: ModuleType) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m experiments {name}",
        description=module.DESCRIPTION,
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed of the experiment (bootstrap, sampler, forecast draws); default 0",
    )
    p.add_argument(
        "--small",
        action="store_true",
        help="small configuration (a 300-account simulated book, fewer draws): seconds, "
        "for tests; the results are not the experiment's findings",
    )
    p.add_argument(
        "--data",
        default=None,
        metavar="PATH",
        help="a book folder or .duckdb file (default: the demo book — data/demo when "
        "present, else ds.simulate(2000 accounts, 6 years, seed 0), the same book)",
    )
    p.add_argument(
        "--book-seed",
        type=int,
        default=0,
        help="simulator seed when the book is simulated (default 0, the demo book)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"results folder (default {DEFAULT_ROOT}/{name}; replaced on every run)",
    )
    module.add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-l", "--list"):
        return _list()
    if argv[0] in ("-h", "--help"):
        print(__doc__)
        return _list()
    name, rest = argv[0], argv[1:]
    if name not in EXPERIMENTS:
        print(
            f"experiments: unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}.",
            file=sys.stderr,
        )
        return 2
    from experiments._common import (
        environment,
        file_digests,
        git_info,
        load_book,
        now,
        package_versions,
        prepare_folder,
        publish,
        write_json,
    )

    module = _module(name)
    args = _parser(name, module).parse_args(rest)
    out = args.out if args.out is not None else DEFAULT_ROOT / name
    started_at, t0 = now(), time.perf_counter()
    config = {"experiment": name, "seed": args.seed, "small": args.small, **module.configure(args)}
    stage = prepare_folder(out, name)
    print(f"[{name}] seed {args.seed}{' (small configuration)' if args.small else ''} → {out}")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t_book = time.perf_counter()
        book, info = load_book(args.data, small=args.small, book_seed=args.book_seed)
        book_seconds = time.perf_counter() - t_book
        print(f"[{name}] book: {info.source} ({book_seconds:.1f} s), sha256 {info.sha256[:16]}…")
        extra = module.run(config, book, stage) or {}
    seen: dict[str, str] = {}
    for w in caught:
        seen.setdefault(f"{w.category.__name__}: {w.message}", "")
    for msg in seen:
        print(f"[{name}] warning: {msg}")

    results = sorted(p for p in stage.rglob("*") if p.is_file())
    seconds = time.perf_counter() - t0
    provenance = {
        "experiment": name,
        "description": module.DESCRIPTION,
        "command": ["python", "-m", "experiments", *argv],
        "config": config,
        "seed": args.seed,
        "data": info.as_dict(),
        "packages": package_versions(),
        "environment": environment() | {"PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED")},
        "git": git_info(),
        "results": file_digests(results, stage),
        "warnings": list(seen),
        "started_at": started_at,
        "finished_at": now(),
        "seconds": {"total": round(seconds, 1), "book": round(book_seconds, 1)}
        | {k: round(float(v), 1) for k, v in extra.pop("seconds", {}).items()},
        **extra,
    }
    write_json(stage / "provenance.json", provenance)
    publish(stage, out)
    print(f"[{name}] done in {seconds:.0f} s; wrote {out}/:")
    for p in [*results, stage / "provenance.json"]:
        print(f"    {p.relative_to(stage)}")
    return 0


def _pin_hash_seed() -> None:
    """Re-execute this process with PYTHONHASHSEED=0 to run an experiment, unless it is set
    already (before any heavy import)."""
    running = len(sys.argv) > 1 and sys.argv[1] in EXPERIMENTS
    if not running or os.environ.get("PYTHONHASHSEED") == "0":
        return
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "experiments", *sys.argv[1:]], env)


if __name__ == "__main__":
    _pin_hash_seed()
    sys.exit(main())

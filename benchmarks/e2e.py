"""End-to-end backtest benchmark (issue 7, item 5): a rolling-origin backtest of five fiscal
years on a 20,000-account simulated book, with the full Bayesian model, as a user runs it.

``python -m benchmarks.e2e [--accounts 20000] [--years 2022 ... 2026] [--model ...]``

The book (8 simulated years from 2020, so FY2022-2026 each have a training year with a
full year of health history behind its snapshot and settled actuals) is written once to
Parquet under ``reports/bench/data/`` and read back through ``ds.read_book(engine="duckdb")``
in a fresh process, where ``ds.backtest`` runs: the feature panel (one DuckDB pass over
every snapshot date), then per year and model the fit and the predictive draws. The child
records the wall and CPU time of each stage, the peak resident memory, and each
hierarchical fit's convergence gate. Results: ``reports/bench/e2e-a<accounts>.json``/``.md``.
The target in issue 7 is a wall time under 10 minutes for 20,000 accounts × 5 years.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from benchmarks._common import (
    DEFAULT_OUT,
    cpu_seconds,
    machine_info,
    markdown_table,
    peak_rss_bytes,
    run_child,
    write_report,
)
from benchmarks.features import Size, ensure_book

TARGET_S = 600.0


def _sampler_config(draws: int | None, tune: int | None, target: float | None) -> dict:
    """The overrides of the forecast's sampler settings that were given."""
    cfg = {"draws": draws, "tune": tune, "target_accept": target}
    return {k: v for k, v in cfg.items() if v is not None}


def _child(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="benchmarks.e2e child")
    p.add_argument("folder")
    p.add_argument("--years", type=int, nargs="+", required=True)
    p.add_argument("--model", action="append", required=True)
    p.add_argument("--draws", type=int, default=None)
    p.add_argument("--tune", type=int, default=None)
    p.add_argument("--target-accept", type=float, default=None)
    p.add_argument("--result", required=True)
    a = p.parse_args(argv)

    import dearstats as ds
    from dearstats.errors import ConvergenceWarning

    t0, c0 = time.perf_counter(), cpu_seconds()
    book = ds.read_book(a.folder, engine="duckdb", validate=False)
    read_s = time.perf_counter() - t0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        bt = ds.backtest(
            book,
            a.years,
            models=a.model,
            sampler_config=_sampler_config(a.draws, a.tune, a.target_accept),
            random_seed=0,
        )
    total_s = time.perf_counter() - t0
    fits = []
    for (year, model), fc in sorted(bt.forecasts.items()):
        d = fc.diagnostics or {}
        fits.append(
            {
                "fiscal_year": year,
                "model": model,
                "seconds": fc.settings["seconds"],
                "n_train": fc.training["n_renewal_accounts"],
                "n_target": len(fc.accounts),
                "gate_passed": d.get("passed"),
                "rhat_max": d.get("rhat_max"),
                "ess_bulk_min": d.get("ess_bulk_min"),
                "divergences": d.get("divergences"),
                "sampler": f"{d.get('tune')} + {d.get('draws')} × {d.get('chains')}, "
                f"target {d.get('target_accept')}"
                if d
                else "",
                "ess_bulk_lowest": ", ".join(d.get("ess_bulk_lowest", [])),
                "log_density": d.get("log_density"),
            }
        )
    m = bt.frame()
    overall = m[m["segment"] == "All"]
    result = {
        "read_s": read_s,
        "total_s": total_s,
        "forecasts_s": sum(f["seconds"] for f in fits),
        "cpu_s": cpu_seconds() - c0,
        "peak_rss_bytes": peak_rss_bytes(),
        "fits": fits,
        "gate_warnings": [str(w.message)[:300] for w in caught],
        "metrics": overall[
            ["fiscal_year", "model", "metric", "forecast", "actual", "error_pts", "crps_pts"]
        ].to_dict("records"),
    }
    Path(a.result).write_text(json.dumps(result, default=float))


def run(
    *,
    accounts: int,
    years: list[int],
    models: list[str],
    seed: int,
    out: Path,
    data_dir: Path,
    draws: int | None = None,
    tune: int | None = None,
    target_accept: float | None = None,
) -> dict[str, Any]:
    size = Size(f"e2e-a{accounts}", accounts, years=8)
    t = time.perf_counter()
    folder, rows = ensure_book(size, seed, data_dir)
    gen_s = time.perf_counter() - t
    args = [str(folder), "--years", *map(str, years)]
    for flag, val in (("--draws", draws), ("--tune", tune), ("--target-accept", target_accept)):
        if val is not None:
            args += [flag, str(val)]
    for m in models:
        args += ["--model", m]
    res = run_child("benchmarks.e2e", args)
    payload = {
        "benchmark": "e2e",
        "accounts": accounts,
        "fiscal_years": years,
        "models": models,
        "draws": draws,
        "tune": tune,
        "target_accept": target_accept,
        "book_rows": rows,
        "book_ready_s": gen_s,
        "result": res,
        "target_s": TARGET_S,
        "holds": res["total_s"] < TARGET_S,
        "machine": machine_info(),
    }
    write_report(f"e2e-a{accounts}", payload, _markdown(payload), out)
    return payload


def _markdown(p: dict[str, Any]) -> str:
    r = p["result"]
    fits = [{**f, "fiscal_year": str(f["fiscal_year"])} for f in r["fits"]]
    metrics = [{**m, "fiscal_year": str(m["fiscal_year"])} for m in r["metrics"]]
    overrides = _sampler_config(p["draws"], p["tune"], p["target_accept"])
    with_overrides = f" with {overrides}" if overrides else ""
    lines = [
        f"# End-to-end backtest — {p['accounts']:,} accounts, FY{p['fiscal_years'][0]}"
        f"–{p['fiscal_years'][-1]}",
        "",
        f"Book: {p['book_rows'].get('usage', 0):,} usage rows, "
        f"{p['book_rows'].get('contracts', 0):,} contracts (Parquet, read with DuckDB). "
        f"Models: {', '.join(p['models'])}; sampler (tuning + draws × chains, target "
        f"acceptance) per fit below: the forecast's defaults{with_overrides}.",
        "",
        f"**Wall time {r['total_s']:.0f} s** (read {r['read_s']:.1f} s; forecasts "
        f"{r['forecasts_s']:.0f} s; the rest is the feature panel and the scoring); CPU "
        f"{r['cpu_s']:.0f} s; peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB. Target: under "
        f"{p['target_s']:.0f} s — **{'holds' if p['holds'] else 'missed'}**.",
        "",
        markdown_table(
            fits,
            [
                ("fiscal_year", "FY"),
                ("model", "model"),
                ("seconds", "seconds"),
                ("n_train", "training renewals"),
                ("n_target", "accounts"),
                ("gate_passed", "gate"),
                ("rhat_max", "max R-hat"),
                ("ess_bulk_min", "min bulk ESS"),
                ("divergences", "divergences"),
                ("sampler", "sampler"),
                ("ess_bulk_lowest", "slowest parameters"),
                ("log_density", "log density"),
            ],
        ),
        "",
        markdown_table(
            metrics,
            [
                ("fiscal_year", "FY"),
                ("model", "model"),
                ("metric", "metric"),
                ("forecast", "forecast"),
                ("actual", "actual"),
                ("error_pts", "error (pts)"),
                ("crps_pts", "CRPS (pts)"),
            ],
        ),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "child":
        _child(argv[1:])
        return 0
    p = argparse.ArgumentParser(prog="python -m benchmarks.e2e", description=__doc__)
    p.add_argument("--accounts", type=int, default=20_000)
    p.add_argument("--years", type=int, nargs="+", default=[2022, 2023, 2024, 2025, 2026])
    p.add_argument("--model", action="append", help="default: hierarchical")
    p.add_argument("--draws", type=int, default=None, help="default: the forecast's")
    p.add_argument("--tune", type=int, default=None, help="default: the forecast's")
    p.add_argument(
        "--target-accept", type=float, default=None, help="default: the forecast's (0.95)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--data-dir", type=Path, default=None)
    a = p.parse_args(argv)
    res = run(
        accounts=a.accounts,
        years=a.years,
        models=a.model or ["hierarchical"],
        draws=a.draws,
        tune=a.tune,
        target_accept=a.target_accept,
        seed=a.seed,
        out=a.out,
        data_dir=a.data_dir or a.out / "data",
    )
    r = res["result"]
    print(f"e2e: {r['total_s']:.0f} s wall, peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

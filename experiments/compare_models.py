"""Compare the forecasting models in a year-over-year backtest of GRR and NRR.

Question: forecasting each fiscal year from its first day, how close is each model's GRR
and NRR to what happened, are its intervals honest (coverage), and are its account-level
renewal probabilities well ranked and calibrated? Against two baselines every CS team
has: last year's actual (``last_year``) and historical outcomes per health colour
(``colour_rate``, the practitioners' plan).

Method (:func:`dearstats.backtest`): for each fiscal year Y (default FY2022–FY2024), every
model is fitted on the book cut at 1 January of Y with horizon-matched training (features
as of 1 January of Y − k → outcomes of FY Y − k, k = 1..3) and its predictive distribution
of GRR and NRR is scored against the actual: error (points), 50/80/95 % interval coverage
and CRPS; and per renewal account, Brier score, log loss, AUC and ECE of P(renew).

Models: ``logit``, ``colour_rate``, ``last_year`` by default; ``--hierarchical`` adds the
PyMC model (slow: a full NUTS run per year unless ``--draws/--tune/--chains`` shorten it;
its convergence gate is reported in ``diagnostics.json``).

Results: ``summary.csv`` (per model and segment, across years), ``metrics.csv`` (per year,
model, segment, metric), ``accounts.csv`` and ``reliability.csv`` (account level),
``forecasts.csv`` (each forecast's quantiles), ``diagnostics.json``, ``summary.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import pandas as pd

from experiments._common import markdown_table, write_csv, write_json, write_text

DESCRIPTION = "backtest GRR/NRR forecasts by fiscal year: logit vs colour rates vs last year"
DEFAULT_YEARS = (2022, 2023, 2024)
SMALL_YEARS = (2023,)
DEFAULT_MODELS = ("logit", "colour_rate", "last_year")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--years",
        type=int,
        nargs="+",
        default=None,
        help=f"fiscal years to backtest (default {' '.join(map(str, DEFAULT_YEARS))}; "
        f"small {' '.join(map(str, SMALL_YEARS))})",
    )
    p.add_argument(
        "--models",
        nargs="+",
        default=None,
        choices=("hierarchical", "logit", "colour_rate", "last_year"),
        help=f"models (default {' '.join(DEFAULT_MODELS)})",
    )
    p.add_argument(
        "--hierarchical", action="store_true", help="also backtest the hierarchical model"
    )
    p.add_argument("--training-years", type=int, default=3, help="training years per fold (3)")
    p.add_argument("--n-draws", type=int, default=None, help="predictive draws (4000; small 1000)")
    p.add_argument("--draws", type=int, default=None, help="hierarchical: posterior draws/chain")
    p.add_argument("--tune", type=int, default=None, help="hierarchical: tuning steps/chain")
    p.add_argument("--chains", type=int, default=None, help="hierarchical: chains")


def configure(args: argparse.Namespace) -> dict[str, Any]:
    models = list(args.models or DEFAULT_MODELS)
    if args.hierarchical and "hierarchical" not in models:
        models.append("hierarchical")
    sampler = {
        k: v
        for k, v in (("draws", args.draws), ("tune", args.tune), ("chains", args.chains))
        if v is not None
    }
    years = args.years or (SMALL_YEARS if args.small else DEFAULT_YEARS)
    return {
        "fiscal_years": sorted(set(years)),
        "models": models,
        "training_years": args.training_years,
        "n_draws": args.n_draws if args.n_draws is not None else (1000 if args.small else 4000),
        "sampler_config": (sampler or None) if "hierarchical" in models else None,
    }


def run(config: dict[str, Any], book: Any, out: Path) -> dict[str, Any]:
    import dearstats as ds

    t0 = time.perf_counter()
    bt = ds.backtest(
        book,
        fiscal_years=config["fiscal_years"],
        models=config["models"],
        training_years=config["training_years"],
        n_draws=config["n_draws"],
        sampler_config=config["sampler_config"],
        random_seed=config["seed"],
    )
    seconds = time.perf_counter() - t0

    segments = list(dict.fromkeys(bt.metrics["segment"]))
    summary = pd.concat(
        [bt.summary(segment=s).assign(segment=s) for s in segments], ignore_index=True
    )
    summary = summary[["segment", *[c for c in summary.columns if c != "segment"]]]
    write_csv(out / "summary.csv", summary)
    write_csv(out / "metrics.csv", bt.metrics)
    write_csv(out / "accounts.csv", bt.accounts)
    write_csv(out / "reliability.csv", bt.reliability)
    forecasts = pd.concat(
        [
            fc.frame().assign(fiscal_year=y, model=m)
            for (y, m), fc in sorted(bt.forecasts.items(), key=lambda kv: (kv[0][0], kv[0][1]))
        ],
        ignore_index=True,
    )
    lead = ["fiscal_year", "model", "segment", "metric"]
    write_csv(out / "forecasts.csv", forecasts[[*lead, *[c for c in forecasts if c not in lead]]])

    diagnostics: dict[str, Any] = {}
    fit_seconds: dict[str, float] = {}
    for (y, m), fc in sorted(bt.forecasts.items()):
        diag = {k: v for k, v in fc.diagnostics.items() if "seconds" not in k}
        fit_seconds.update(
            {f"FY{y} {m} {k}": float(v) for k, v in fc.diagnostics.items() if "seconds" in k}
        )
        fit_seconds[f"FY{y} {m} forecast"] = float(fc.settings.get("seconds", 0.0))
        diagnostics[f"FY{y}/{m}"] = {
            "diagnostics": diag,
            "training": fc.training,
            "cohort_accounts": len(fc.accounts),
            "cohort_gap": fc.cohort_gap,
        }
    write_json(out / "diagnostics.json", diagnostics)
    failed = sorted(k for k, v in diagnostics.items() if v["diagnostics"].get("passed") is False)
    write_text(out / "summary.md", _summary(config, summary, bt.metrics, failed))
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(summary[summary["segment"] == "All"].round(4).to_string(index=False))
    return {"seconds": {"backtest": seconds, **fit_seconds}}


def _summary(
    config: dict[str, Any], summary: pd.DataFrame, metrics: pd.DataFrame, failed: list[str]
) -> str:
    overall = summary[summary["segment"] == "All"].drop(columns="segment")
    cols = ["fiscal_year", "model", "metric", "forecast", "lo80", "hi80", "actual", "error_pts"]
    by_year = metrics.loc[metrics["segment"] == "All", cols]
    ranked = overall.sort_values("grr_crps_pts", kind="stable")["model"].tolist()
    n = len(config["fiscal_years"])
    warning = (
        [
            f"**Convergence gate failed** for {', '.join(failed)} (see `diagnostics.json`): "
            "those forecasts come from unconverged chains; rerun with longer chains before "
            "reading them as results."
        ]
        if failed
        else []
    )
    return "\n\n".join(
        [
            "# Model comparison: year-over-year backtest",
            *warning,
            f"Fiscal years {', '.join(map(str, config['fiscal_years']))}, each forecast as of "
            f"its 1 January with {config['training_years']} horizon-matched training years; "
            f"{config['n_draws']} predictive draws; seed {config['seed']}.",
            "## Across years (all segments together)",
            "MAE and CRPS in percentage points (lower is better); coverage = share of year × "
            "metric whose actual fell inside the central interval (honest intervals cover at "
            "their level); Brier, log loss, ECE (lower is better) and AUC (higher) score each "
            "renewal account's P(renew). `last_year` is a point forecast: no coverage, no "
            "account scores. "
            f"With {n} year(s) × 2 metrics, coverage moves in steps of 1/{2 * n}: read it "
            "as a sanity check, not a measurement.",
            markdown_table(overall),
            f"Ranked by GRR CRPS, best first: {', '.join(ranked)}.",
            "## Per year: forecast vs actual",
            markdown_table(by_year),
        ]
    )

"""Year-over-year backtest of GRR/NRR forecasts (issue 5, item 2).

For each fiscal year Y the planning date is P = the first day of Y and every model is fitted
by :func:`dearstats.forecast` on the book cut at P — each fold sees only what was known
on its own P (the feature panel is built once for all snapshot dates; each of its rows
reads only records dated before its own ``as_of``, and a fold is handed only the rows
dated up to its P). The forecast is then compared with what happened, read from the whole
book:

Per year and model (overall and by segment)
    forecast mean vs actual GRR and NRR, the error in points (forecast − actual, × 100),
    whether the central 50 / 80 / 95 % predictive intervals cover the actual, and the CRPS
    (continuous ranked probability score, in points; for an ensemble of draws
    ``CRPS = E|X − y| − ½ E|X − X'|``; for a point forecast it is the absolute error).
Per account (the renewal accounts of the year: ARR up for renewal)
    Brier score, log loss, AUC and ECE (10 equal-count bins) of ``p_renew`` against
    whether the account kept any of the ARR up for renewal, and the reliability curve.

Baselines sit in the same table: ``last_year`` (last year's actual as seen on P),
``colour_rate`` (the practitioners' plan: historical outcomes per overall colour),
``logit`` and ``hierarchical``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dearstats.book import Book
from dearstats.errors import DearstatsWarning, InputError
from dearstats.forecast import (
    ALL,
    FORECAST_MODELS,
    LEVELS,
    Forecast,
    _snapshot,
    forecast,
    year_units,
)
from dearstats.retention import fiscal_year_bounds, retention
from dearstats.scorecard import ScoreCard

__all__ = ["Backtest", "backtest", "crps_ensemble"]

_EPS = 1e-6


def crps_ensemble(draws: Any, y: float) -> float:
    """CRPS of the ensemble ``draws`` for the outcome ``y``:
    ``E|X − y| − ½ E|X − X'|`` (exact for the empirical distribution, O(n log n))."""
    x = np.sort(np.asarray(draws, dtype=float))
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0 or not np.isfinite(y):
        return float("nan")
    first = np.mean(np.abs(x - y))
    # E|X - X'| = 2/n² Σ_i (2i - n - 1) x_(i) for sorted x (i = 1..n)
    i = np.arange(1, n + 1)
    spread = 2.0 * np.sum((2 * i - n - 1) * x) / n**2
    return float(first - 0.5 * spread)


@dataclass(eq=False, repr=False)
class Backtest:
    """Results of :func:`backtest`.

    Attributes
    ----------
    metrics
        One row per fiscal year, model, segment and metric (``grr``/``nrr``): ``forecast``
        (predictive mean), ``actual``, ``error_pts``, ``lo50``…``hi95``, ``covered50``,
        ``covered80``, ``covered95``, ``crps_pts``.
    accounts
        One row per fiscal year and model: ``n``, ``renewal_rate``, ``mean_p``, ``brier``,
        ``log_loss``, ``auc``, ``ece``.
    reliability
        Reliability curve per year and model: ``bin``, ``n``, ``mean_p``, ``observed``.
    forecasts
        The :class:`~dearstats.forecast.Forecast` of every (year, model).
    """

    metrics: pd.DataFrame
    accounts: pd.DataFrame
    reliability: pd.DataFrame
    forecasts: dict[tuple[int, str], Forecast] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        """The per-year metrics table (a copy)."""
        return self.metrics.copy()

    def summary(self, segment: str = ALL) -> pd.DataFrame:
        """Across years, per model: mean absolute error (points), coverage of the
        50/80/95 % intervals (share of year × metric), mean CRPS (points) for GRR and NRR,
        and the mean account-level Brier score, log loss, AUC and ECE."""
        m = self.metrics[self.metrics["segment"] == segment]
        rows = []
        for model, g in m.groupby("model", sort=False):
            row: dict[str, Any] = {"model": model, "years": int(g["fiscal_year"].nunique())}
            for metric in ("grr", "nrr"):
                h = g[g["metric"] == metric]
                row[f"{metric}_mae_pts"] = float(h["error_pts"].abs().mean())
                row[f"{metric}_crps_pts"] = float(h["crps_pts"].mean())
            for lvl in LEVELS:
                row[f"coverage{int(lvl * 100)}"] = float(g[f"covered{int(lvl * 100)}"].mean())
            a = self.accounts[self.accounts["model"] == model]
            for col in ("brier", "log_loss", "auc", "ece"):
                row[col] = float(a[col].mean()) if len(a) else float("nan")
            rows.append(row)
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        years = sorted(self.metrics["fiscal_year"].unique())
        models = list(dict.fromkeys(self.metrics["model"]))
        head = f"Backtest(fiscal_years={years}, models={models})"
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            return f"{head}\n{self.summary().round(4).to_string(index=False)}"


def backtest(
    book: Book,
    fiscal_years: Iterable[int],
    models: Sequence[str] = ("hierarchical", "logit", "colour_rate", "last_year"),
    *,
    training_years: int = 3,
    scorecard: ScoreCard | None = None,
    n_draws: int = 4000,
    sampler_config: Mapping[str, Any] | None = None,
    grace_days: int = 30,
    fy_start_month: int = 1,
    random_seed: int = 0,
    progress: bool = False,
) -> Backtest:
    """Rolling-origin backtest: for each fiscal year, forecast it as of its first day with
    every model and score the forecasts against the actuals (module docstring).

    The years must be final in the book (the year ended more than ``grace_days`` before
    the last contract start), so the actuals are settled.
    """
    years = sorted({int(y) for y in fiscal_years})
    if not years:
        raise InputError("backtest: fiscal_years is empty; pass e.g. [2022, 2023, 2024].")
    models = list(dict.fromkeys(models))
    if bad := [m for m in models if m not in FORECAST_MODELS]:
        raise InputError(
            f"backtest: unknown model(s) {bad}; expected some of {list(FORECAST_MODELS)}."
        )
    card = ScoreCard.default() if scorecard is None else scorecard
    contracts, accounts = book.frame("contracts"), book.frame("accounts")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DearstatsWarning)
        try:
            actual = retention(
                book, years, grace_days=grace_days, fy_start_month=fy_start_month
            ).frame()
        except DearstatsWarning as w:
            raise InputError(
                f"backtest: some of fiscal_years {years} are not final in this book ({w}); "
                "backtest only settled years."
            ) from None
    end_of_data = pd.Timestamp(contracts["start_date"].max()) + pd.Timedelta(days=1)

    started = time.perf_counter()
    panel = None
    if any(m != "last_year" for m in models):
        from dearstats.features import build_panel

        dates = sorted(
            {
                _snapshot(fiscal_year_bounds(y, fy_start_month)[0], k)
                for y in years
                for k in range(training_years + 1)
            }
        )
        panel = build_panel(book.embedded(), dates=dates)

    bar = _progress(len(years) * len(models), progress)
    rows, acc_rows, rel_rows = [], [], []
    fcs: dict[tuple[int, str], Forecast] = {}
    for y in years:
        t0, _ = fiscal_year_bounds(y, fy_start_month)
        outcome = year_units(
            contracts, accounts, y, cut=end_of_data, grace_days=grace_days,
            fy_start_month=fy_start_month,
        )  # fmt: skip
        act = actual[actual["fiscal_year"] == y].set_index("segment")
        for m in models:
            feats = None if panel is None else panel[panel["as_of"] <= t0]
            fc = forecast(
                book, y, model=m, scorecard=card, training_years=training_years,
                n_draws=n_draws, grace_days=grace_days, fy_start_month=fy_start_month,
                sampler_config=sampler_config, features=feats, random_seed=random_seed,
            )  # fmt: skip
            fcs[(y, m)] = fc
            rows += _year_rows(fc, act, y, m)
            acc, rel = _account_scores(fc, outcome)
            if acc is not None:
                acc_rows.append({"fiscal_year": y, "model": m, **acc})
                rel_rows += [{"fiscal_year": y, "model": m, **r} for r in rel]
            bar(f"FY{y} {m}")
    bar(None)
    return Backtest(
        metrics=pd.DataFrame(rows),
        accounts=pd.DataFrame(acc_rows),
        reliability=pd.DataFrame(rel_rows),
        forecasts=fcs,
        settings={
            "fiscal_years": years,
            "models": models,
            "training_years": training_years,
            "n_draws": n_draws,
            "grace_days": grace_days,
            "fy_start_month": fy_start_month,
            "random_seed": random_seed,
            "seconds": round(time.perf_counter() - started, 1),
        },
    )


def _year_rows(fc: Forecast, act: pd.DataFrame, y: int, m: str) -> list[dict[str, Any]]:
    out = []
    for seg, g in fc.draws.groupby("segment", sort=False):
        if seg not in act.index:
            continue
        for metric in ("grr", "nrr"):
            x = g[metric].to_numpy(dtype=float)
            truth = float(act.loc[seg, metric])
            row: dict[str, Any] = {
                "fiscal_year": y,
                "model": m,
                "segment": seg,
                "metric": metric,
                "forecast": float(np.mean(x)),
                "actual": truth,
                "error_pts": 100 * (float(np.mean(x)) - truth),
            }
            for lvl in LEVELS:
                a = (1 - lvl) / 2
                lo, hi = np.quantile(x, [a, 1 - a])
                k = int(lvl * 100)
                row[f"lo{k}"], row[f"hi{k}"] = float(lo), float(hi)
                row[f"covered{k}"] = bool(lo <= truth <= hi)
            row["crps_pts"] = 100 * crps_ensemble(x, truth)
            out.append(row)
    return out


def _account_scores(
    fc: Forecast, outcome: pd.DataFrame, n_bins: int = 10
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    from dearstats.calibrate import _auc, expected_calibration_error

    if "p_renew" not in fc.accounts:
        return None, []
    a = fc.accounts[fc.accounts["arr_up"] > 0]
    got = outcome["arr_next"].reindex(a.index)
    ok = got.notna().to_numpy() & np.isfinite(a["p_renew"].to_numpy(dtype=float))
    y = (got.to_numpy(dtype=float)[ok] > 0).astype(float)
    p = a["p_renew"].to_numpy(dtype=float)[ok]
    pc = np.clip(p, _EPS, 1 - _EPS)
    scores = {
        "n": len(y),
        "renewal_rate": float(y.mean()),
        "mean_p": float(p.mean()),
        "brier": float(np.mean((p - y) ** 2)),
        "log_loss": float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))),
        "auc": _auc(y, p),
        "ece": expected_calibration_error(y, p, n_bins),
    }
    order = np.argsort(p, kind="stable")
    rel = [
        {
            "bin": i,
            "n": len(idx),
            "mean_p": float(p[idx].mean()),
            "observed": float(y[idx].mean()),
        }
        for i, idx in enumerate(np.array_split(order, min(n_bins, len(y))))
        if len(idx)
    ]
    return scores, rel


def _progress(total: int, on: bool) -> Any:
    if not on:
        return lambda label: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="backtest", unit="fold")

    def step(label: str | None) -> None:
        if label is None:
            bar.close()
        else:
            bar.set_postfix_str(label)
            bar.update(1)

    return step

"""The tidy tables behind the report: one function per table, inputs → DataFrame.

Every figure of the report is drawn from one of these tables, and every table is written
to ``tables/<name>.csv``. The functions only read the objects they are given (a forecast,
a backtest, retention results, a scored feature panel…); nothing here fits a model.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import platform
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from dearstats._schema import TABLE_NAMES, TABLES
from dearstats.errors import DearstatsWarning, InputError
from dearstats.forecast import ALL, DIMENSIONS, Forecast
from dearstats.report._style import COLOUR_ORDER
from dearstats.retention import retention

WATERFALL_STEPS: tuple[str, ...] = ("arr_start", "churn", "contraction", "expansion", "arr_end")
HEALTH_DIMENSIONS: tuple[str, ...] = (*DIMENSIONS, "overall")
PACKAGES: tuple[str, ...] = (
    "dearstats",
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "pymc",
    "nutpie",
    "arviz",
    "narwhals",
    "duckdb",
    "polars",
    "pyarrow",
    "matplotlib",
)
_HISTORY_COLUMNS = (
    "fiscal_year",
    "segment",
    "provisional",
    "n_accounts",
    "arr_start",
    "churn",
    "contraction",
    "expansion",
    "arr_end",
    "grr",
    "nrr",
    "new_logo_arr",
    "arr_up_for_renewal",
    "gross_renewal_rate",
    "net_renewal_rate",
)


# ---------------------------------------------------------------------------------------
# history and the forecast
def retention_history(
    book: Any, fiscal_year: int, as_of: pd.Timestamp, *, grace_days: int, fy_start_month: int
) -> pd.DataFrame:
    """GRR, NRR and the waterfall of every fiscal year before ``fiscal_year`` as known on
    ``as_of`` (contracts starting before it), overall and by segment. The year just before
    the forecast year is included even when it is still provisional on ``as_of`` (its last
    ``grace_days`` of late renewals may still arrive), flagged ``provisional``."""
    kw = {"as_of": as_of, "grace_days": grace_days, "fy_start_month": fy_start_month}
    frames = []
    try:
        final = retention(book, None, **kw).frame()
        frames.append(final[final["fiscal_year"] < fiscal_year])
    except InputError:
        final = None
    done = set() if final is None else set(final["fiscal_year"])
    if fiscal_year - 1 not in done:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DearstatsWarning)  # provisional, flagged below
            with contextlib.suppress(InputError):
                frames.append(retention(book, fiscal_year - 1, **kw).frame())
    if not frames:
        return pd.DataFrame(columns=list(_HISTORY_COLUMNS))
    out = pd.concat(frames, ignore_index=True)
    out = out[list(_HISTORY_COLUMNS)].assign(_all=lambda f: f["segment"] != ALL)
    out = out.sort_values(["fiscal_year", "_all", "segment"], kind="stable")
    return out.drop(columns="_all").reset_index(drop=True)


def reference_year(history: pd.DataFrame) -> int | None:
    """The latest final fiscal year in ``history`` (the "actual" the forecast is compared
    with), or None."""
    h = history[(history["segment"] == ALL) & ~history["provisional"].astype(bool)]
    return int(h["fiscal_year"].max()) if len(h) else None


def outlook(fc: Forecast, history: pd.DataFrame, plan: Mapping[str, float]) -> pd.DataFrame:
    """Overall GRR and NRR per fiscal year: actuals (``basis = actual`` or
    ``provisional``) then the forecast year's predictive mean and 50/80/95 % intervals,
    with the plan where given."""
    h = history[history["segment"] == ALL]
    rows = []
    for _, r in h.iterrows():
        for metric in ("grr", "nrr"):
            rows.append(
                {
                    "fiscal_year": int(r["fiscal_year"]),
                    "metric": metric,
                    "basis": "provisional" if bool(r["provisional"]) else "actual",
                    "value": float(r[metric]),
                }
            )
    f = fc.frame()
    f = f[(f["segment"] == ALL) & f["metric"].isin(["grr", "nrr"])]
    for _, r in f.iterrows():
        row = {
            "fiscal_year": fc.fiscal_year,
            "metric": r["metric"],
            "basis": "forecast",
            "value": float(r["mean"]),
        }
        for k in ("lo50", "hi50", "lo80", "hi80", "lo95", "hi95"):
            row[k] = float(r[k])
        rows.append(row)
    out = pd.DataFrame(rows)
    out["plan"] = out["metric"].map(lambda m: plan.get(m, np.nan)).astype(float)
    return out.sort_values(["metric", "fiscal_year"], kind="stable", ignore_index=True)


def distribution(fc: Forecast, plan: Mapping[str, float], bins: int = 40) -> pd.DataFrame:
    """Histogram of the overall GRR and NRR draws (``bin_low``, ``bin_high``, ``share``)
    and, per bin, whether it is at or above plan."""
    d = fc.draws[fc.draws["segment"] == ALL]
    rows = []
    for metric in ("grr", "nrr"):
        x = d[metric].to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        if len(x) == 0:
            continue
        lo, hi = float(x.min()), float(x.max())
        if hi - lo < 1e-9:
            lo, hi = lo - 0.005, hi + 0.005
        target = plan.get(metric, np.nan)
        width = (hi - lo) / bins
        if np.isfinite(target) and lo < target < hi:
            # shift the grid so the plan is a bin edge: bins are wholly below or above it
            lo = target - np.ceil((target - lo) / width) * width
        n_bins = int(np.ceil((hi - lo) / width - 1e-9))
        counts, edges = np.histogram(x, bins=n_bins, range=(lo, lo + n_bins * width))
        for i, c in enumerate(counts):
            rows.append(
                {
                    "metric": metric,
                    "bin_low": float(edges[i]),
                    "bin_high": float(edges[i + 1]),
                    "draws": int(c),
                    "share": float(c / len(x)),
                    "plan": float(target),
                    "at_or_above_plan": bool(np.isfinite(target) and edges[i] >= target - 1e-9),
                }
            )
    return pd.DataFrame(rows)


def waterfall(fc: Forecast, history: pd.DataFrame, year: int | None) -> pd.DataFrame:
    """ARR waterfall (start, churn, contraction, expansion, end) of the reference year
    (actual) and of the forecast year (predictive mean and 80 % interval)."""
    rows = []
    if year is not None:
        r = history[(history["fiscal_year"] == year) & (history["segment"] == ALL)].iloc[0]
        for step in WATERFALL_STEPS:
            rows.append(
                {
                    "fiscal_year": year,
                    "basis": "actual",
                    "step": step,
                    "value": float(r[step]),
                    "lo80": np.nan,
                    "hi80": np.nan,
                }
            )
    f = fc.frame().set_index(["segment", "metric"])
    for step in WATERFALL_STEPS:
        r = f.loc[(ALL, step)]
        rows.append(
            {
                "fiscal_year": fc.fiscal_year,
                "basis": "forecast",
                "step": step,
                "value": float(r["mean"]),
                "lo80": float(r["lo80"]),
                "hi80": float(r["hi80"]),
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------
# health
def health_mix(scored_panel: pd.DataFrame) -> pd.DataFrame:
    """Share of ARR (and of accounts) red / yellow / green / unknown per dimension and
    overall, per snapshot date (``as_of``)."""
    rows = []
    for as_of, g in scored_panel.groupby("as_of", sort=True):
        arr = g["arr"].to_numpy(dtype=float)
        total = float(arr.sum())
        for dim in HEALTH_DIMENSIONS:
            col = g[f"{dim}_colour"].astype("object").where(g[f"{dim}_colour"].notna(), "unknown")
            col = col.to_numpy()
            for colour in COLOUR_ORDER:
                mask = col == colour
                a = float(arr[mask].sum())
                rows.append(
                    {
                        "as_of": pd.Timestamp(as_of).date().isoformat(),
                        "dimension": dim,
                        "colour": colour,
                        "arr": a,
                        "share": a / total if total > 0 else np.nan,
                        "accounts": int(mask.sum()),
                    }
                )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------
# track record
def track_record(metrics: pd.DataFrame) -> pd.DataFrame:
    """The backtest's overall rows: forecast mean, intervals and actual per year, model and
    metric."""
    cols = [
        "fiscal_year",
        "model",
        "metric",
        "forecast",
        "actual",
        "error_pts",
        "lo50",
        "hi50",
        "lo80",
        "hi80",
        "lo95",
        "hi95",
        "covered50",
        "covered80",
        "covered95",
        "crps_pts",
    ]
    m = metrics[metrics["segment"] == ALL]
    return m[[c for c in cols if c in m]].reset_index(drop=True)


def reliability(rel: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """Reliability curve per model, pooled over the backtest years: the years' equal-count
    bins of ``p_renew`` are pooled bin by bin (means weighted by the bin sizes). ``ece`` is
    the model's mean expected calibration error over the years (:mod:`dearstats.backtest`)."""
    if rel.empty:
        return pd.DataFrame(columns=["model", "bin", "n", "mean_p", "observed", "ece"])
    rows = []
    for (model, b), g in rel.groupby(["model", "bin"], sort=False):
        n = g["n"].to_numpy(dtype=float)
        rows.append(
            {
                "model": model,
                "bin": int(b),
                "n": int(n.sum()),
                "mean_p": float(np.average(g["mean_p"], weights=n)),
                "observed": float(np.average(g["observed"], weights=n)),
            }
        )
    out = pd.DataFrame(rows)
    ece = accounts.groupby("model", sort=False)["ece"].mean()
    out["ece"] = out["model"].map(ece).astype(float)
    order = {m: i for i, m in enumerate(dict.fromkeys(rel["model"]))}
    out["_order"] = out["model"].map(order)
    out = out.sort_values(["_order", "bin"], kind="stable", ignore_index=True)
    return out.drop(columns="_order")


# ---------------------------------------------------------------------------------------
# drivers
def drivers(card: Any, calibration: Any | None) -> pd.DataFrame:
    """Dimension weights: the card's (share of the overall score) and, with a calibration,
    the calibrated weights with their intervals and the logit coefficients."""
    total = sum(d.weight for d in card.dimensions)
    out = pd.DataFrame(
        {
            "dimension": [d.name for d in card.dimensions],
            "card_weight": [d.weight / total for d in card.dimensions],
        }
    )
    if calibration is not None:
        w = calibration.weights.rename(
            columns={"weight": "calibrated_weight", "coef": "coef_per_point"}
        )
        keep = [
            "dimension",
            "calibrated_weight",
            "ci_low",
            "ci_high",
            "coef_per_point",
            "coef_ci_low",
            "coef_ci_high",
        ]
        out = out.merge(w[[c for c in keep if c in w]], on="dimension", how="left")
    return out


def effects_table(effects: Any) -> pd.DataFrame:
    """The precomputed activity-effects table, checked: a DataFrame (or an object with
    ``.frame()``) with at least ``activity`` and ``estimate``; ``outcome``, ``estimator``,
    ``ci_low`` and ``ci_high`` are used when present."""
    frame = effects.frame() if hasattr(effects, "frame") and callable(effects.frame) else effects
    if not isinstance(frame, pd.DataFrame):
        raise InputError(
            f"report: effects must be a DataFrame (columns activity, outcome, estimator, "
            f"estimate, ci_low, ci_high) or an object with .frame(); found "
            f"{type(effects).__name__}."
        )
    if missing := [c for c in ("activity", "estimate") if c not in frame]:
        raise InputError(
            f"report: the effects table has no column(s) {missing}; found "
            f"{list(frame.columns)}. Expected activity, outcome, estimator, estimate, "
            "ci_low, ci_high (as from dearstats.effects)."
        )
    out = frame.reset_index(drop=True).copy()
    for c in ("outcome", "estimator"):
        if c not in out:
            out[c] = ""
    for c in ("ci_low", "ci_high"):
        if c not in out:
            out[c] = np.nan
    first = ["activity", "outcome", "estimator", "estimate", "ci_low", "ci_high"]
    return out[first + [c for c in out.columns if c not in first]]


# ---------------------------------------------------------------------------------------
# campaigns and accounts
def scenario_effects(runs: Sequence[tuple[str, Any]]) -> pd.DataFrame:
    """Every campaign's effects table (``campaign`` label first; ``base`` and
    ``with_campaign`` are the means without and with it)."""
    frames = []
    for label, sc in runs:
        e = sc.effects.rename(columns={"scenario": "with_campaign"})
        frames.append(e.assign(campaign=label, treated=len(sc.targets)))
    if not frames:
        return pd.DataFrame(columns=["campaign", "segment", "metric", "mean", "lo80", "hi80"])
    out = pd.concat(frames, ignore_index=True)
    first = ["campaign", "treated", "segment", "metric"]
    return out[first + [c for c in out.columns if c not in first]]


def targets(runs: Sequence[tuple[str, Any]]) -> pd.DataFrame:
    """The ranked target lists of the campaigns (``campaign`` label first)."""
    frames = [sc.targets.assign(campaign=label) for label, sc in runs]
    if not frames:
        return pd.DataFrame(columns=["campaign", "rank", "account_id"])
    out = pd.concat(frames, ignore_index=True)
    return out[["campaign", *[c for c in out.columns if c != "campaign"]]]


def at_risk(fc: Forecast, n: int | None = None) -> pd.DataFrame:
    """The forecast's account table, highest expected gross ARR loss first (top ``n``)."""
    a = fc.accounts.reset_index()
    keep = [
        "account_id",
        "segment",
        "csm_id",
        "arr_start",
        "arr_up",
        "first_renewal",
        "overall_score",
        "overall_colour",
        *(f"{d}_colour" for d in DIMENSIONS),
        "p_renew",
        "expected_arr_end",
        "arr_at_risk",
    ]
    a = a[[c for c in keep if c in a]]
    if "first_renewal" in a:
        a["first_renewal"] = pd.to_datetime(a["first_renewal"]).dt.strftime("%Y-%m-%d")
    for c in a.columns:
        if c.endswith("_colour"):
            a[c] = a[c].astype("object").where(a[c].notna(), "unknown")
    if "arr_at_risk" in a:
        a = a.sort_values(["arr_at_risk", "account_id"], ascending=[False, True], kind="stable")
    a = a.reset_index(drop=True)
    return a if n is None else a.head(n)


def segment_forecast(fc: Forecast) -> pd.DataFrame:
    """GRR and NRR by segment: mean, 80 % and 95 % intervals, P(≥ plan)."""
    f = fc.frame()
    f = f[f["metric"].isin(["grr", "nrr"])]
    cols = ["segment", "metric", "mean", "lo80", "hi80", "lo95", "hi95", "plan", "p_plan"]
    return f[[c for c in cols if c in f]].reset_index(drop=True)


# ---------------------------------------------------------------------------------------
# appendix
def headline(
    fc: Forecast,
    history: pd.DataFrame,
    ref: int | None,
    plan: Mapping[str, float],
    random_seed: int,
) -> dict[str, Any]:
    """The executive numbers: forecast GRR/NRR mean and 50/80/95 % intervals, plan and
    P(hit plan), the reference (last final) year's actuals, the expected waterfall, the
    expected gross ARR loss, convergence and the seed."""
    f = fc.frame().set_index(["segment", "metric"])
    h: dict[str, Any] = {
        "fiscal_year": int(fc.fiscal_year),
        "as_of": fc.as_of.date().isoformat(),
        "model": fc.model,
        "n_accounts": len(fc.accounts),
    }
    for metric in ("grr", "nrr"):
        r = f.loc[(ALL, metric)]
        h[metric] = float(r["mean"])
        for k in ("lo50", "hi50", "lo80", "hi80", "lo95", "hi95"):
            h[f"{metric}_{k}"] = float(r[k])
    for metric in ("grr", "nrr"):
        if metric in plan:
            h[f"plan_{metric}"] = float(plan[metric])
            h[f"p_plan_{metric}"] = fc.prob_at_least(float(plan[metric]), metric)
        else:
            h[f"plan_{metric}"] = None
            h[f"p_plan_{metric}"] = None
    h["reference_year"] = ref
    if ref is not None:
        r = history[(history["fiscal_year"] == ref) & (history["segment"] == ALL)].iloc[0]
        h["grr_reference"] = float(r["grr"])
        h["nrr_reference"] = float(r["nrr"])
    else:
        h["grr_reference"] = h["nrr_reference"] = None
    prev = history[(history["fiscal_year"] == fc.fiscal_year - 1) & (history["segment"] == ALL)]
    h["previous_year_provisional"] = bool(prev["provisional"].iloc[0]) if len(prev) else None
    for step in ("arr_start", "churn", "contraction", "expansion", "arr_end"):
        h[f"expected_{step}"] = float(f.loc[(ALL, step), "mean"])
    risk = fc.accounts.get("arr_at_risk")
    h["arr_at_risk"] = float(risk.sum()) if risk is not None else None
    passed = fc.diagnostics.get("passed")
    h["converged"] = None if passed is None else bool(passed)
    h["random_seed"] = int(random_seed)
    return h


def settings(
    fc: Forecast,
    bt: Any,
    cal: Any,
    p: pd.Timestamp,
    seed: int,
    training_years: int,
    trend_years: int,
    specs: Sequence[Mapping[str, int]],
) -> dict[str, Any]:
    """Settings, sizes and seeds behind the report (the appendix table)."""
    s: dict[str, Any] = {
        "planning_date": p.date().isoformat(),
        "fiscal_year": fc.fiscal_year,
        "model": fc.model,
        "random_seed": seed,
        "forecast_random_seed": fc.settings.get("random_seed"),
        "n_draws": fc.settings.get("n_draws"),
        "training_years": fc.settings.get("training_years", training_years),
        "training_fiscal_years": fc.training.get("fiscal_years", []),
        "training_renewal_accounts": fc.training.get("n_renewal_accounts"),
        "training_unsettled_left_out": fc.training.get("unsettled"),
        "grace_days": fc.settings.get("grace_days"),
        "fy_start_month": fc.settings.get("fy_start_month"),
        "cohort_gap": fc.cohort_gap,
        "health_trend_years": trend_years,
        "campaigns": [dict(s) for s in specs],
    }
    if bt is not None:
        s["backtest_years"] = [int(y) for y in bt.settings.get("fiscal_years", [])]
        s["backtest_models"] = list(bt.settings.get("models", []))
        s["backtest_random_seed"] = bt.settings.get("random_seed")
    if cal is not None:
        s["calibration_period"] = list(cal.train_period)
        s["calibration_n_boot"] = cal.n_boot
        s["calibration_random_seed"] = cal.random_seed
    return s


def data_period(cut: Any) -> pd.DataFrame:
    """Rows and first/last date of every dated table of the book as cut on ``as_of``."""
    rows = []
    for name in TABLE_NAMES:
        col = TABLES[name].date_column
        lf = cut.lazy(name)
        if col is None:
            n = lf.select(nw.len()).collect().item()
            rows.append({"table": name, "date_column": "", "rows": int(n), "first": "", "last": ""})
            continue
        res = lf.select(
            nw.len().alias("n"), nw.col(col).min().alias("lo"), nw.col(col).max().alias("hi")
        ).collect()
        n, lo, hi = (res.item(0, k) for k in ("n", "lo", "hi"))
        rows.append(
            {
                "table": name,
                "date_column": col,
                "rows": int(n),
                "first": "" if lo is None else pd.Timestamp(lo).date().isoformat(),
                "last": "" if hi is None else pd.Timestamp(hi).date().isoformat(),
            }
        )
    return pd.DataFrame(rows)


def diagnostics(fc: Forecast, bt: Any | None) -> pd.DataFrame:
    """Convergence and fit diagnostics of the forecast (and of every backtest fold) as
    ``source, model, key, value`` rows (values as text)."""
    rows = [("forecast", fc.model, k, v) for k, v in _flat(fc.diagnostics)]
    if bt is not None:
        for (year, model), f in sorted(bt.forecasts.items(), key=lambda kv: kv[0]):
            rows += [(f"backtest FY{year}", model, k, v) for k, v in _flat(f.diagnostics)]
    return pd.DataFrame(rows, columns=["source", "model", "key", "value"])


def _flat(d: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out += _flat(v, f"{key}.")
        elif isinstance(v, float):
            out.append((key, f"{v:.6g}"))
        elif isinstance(v, list | tuple):
            out.append((key, "; ".join(map(str, v)) if v else "none"))
        else:
            out.append((key, str(v)))
    return out


def versions() -> pd.DataFrame:
    """Python and the versions of the packages the numbers depend on."""
    rows = [{"package": "python", "version": platform.python_version()}]
    for p in PACKAGES:
        try:
            v = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            v = _dearstats_version() if p == "dearstats" else "not installed"
        rows.append({"package": p, "version": v})
    return pd.DataFrame(rows)


def _dearstats_version() -> str:
    import dearstats

    return f"{dearstats.__version__} (source tree, not installed)"


def key_values(d: Mapping[str, Any]) -> pd.DataFrame:
    """A dict as a two-column ``key, value`` table (values as they are)."""
    return pd.DataFrame({"key": list(d), "value": [_plain(v) for v in d.values()]})


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, list | tuple):
        return "; ".join(str(_plain(x)) for x in v)
    if isinstance(v, Mapping):
        return "; ".join(f"{k}={_plain(x)}" for k, x in v.items())
    return v

"""Tables formatted for reading (HTML and PDF): chosen columns, labels, %, money.

The CSVs under ``tables/`` keep the raw numbers; these are their printed views.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from dearstats.report._style import money, pct, pct_range, pts

Row = Any
Column = tuple[str, Callable[[Row], str]]


def _num(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x


def _p(col: str, digits: int = 1) -> Column:
    return (col, lambda r: pct(_num(r[col]), digits))


def _m(col: str) -> Callable[[Row], str]:
    return lambda r: money(_num(r[col]))


def _rng(lo: str, hi: str, digits: int = 1) -> Callable[[Row], str]:
    def f(r: Row) -> str:
        a, b = _num(r[lo]), _num(r[hi])
        return "" if not (math.isfinite(a) and math.isfinite(b)) else pct_range(a, b, digits)

    return f


def _txt(col: str) -> Callable[[Row], str]:
    return lambda r: "" if _missing(r[col]) else str(r[col])


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _f(col: str, fmt: str) -> Callable[[Row], str]:
    def f(r: Row) -> str:
        x = _num(r[col])
        return "" if not math.isfinite(x) else format(x, fmt)

    return f


def _metric(r: Row) -> str:
    return (
        str(r["metric"])
        .upper()
        .replace("ARR_RETAINED", "ARR retained")
        .replace("ARR_END", "ARR end")
    )


def _delta(r: Row) -> str:
    x = _num(r["mean"])
    return pts(x, 2) if r["metric"] in ("grr", "nrr") else ("+" if x > 0 else "") + money(x)


def _delta_rng(r: Row) -> str:
    lo, hi = _num(r["lo80"]), _num(r["hi80"])
    if r["metric"] in ("grr", "nrr"):
        return f"{pts(lo, 2)} to {pts(hi, 2)}"
    return f"{money(lo)} to {money(hi)}"


def _level(col: str) -> Callable[[Row], str]:
    def f(r: Row) -> str:
        x = _num(r[col])
        return pct(x) if r["metric"] in ("grr", "nrr") else money(x)

    return f


def _effect(col: str) -> Callable[[Row], str]:
    def f(r: Row) -> str:
        x = _num(r[col])
        if not math.isfinite(x):
            return ""
        if r.get("unit", "") == "probability":
            return f"{100 * x:+.1f} pts"
        return f"{x:+.2f}"

    return f


SPECS: dict[str, list[Column]] = {
    "forecast_by_segment": [
        ("Segment", _txt("segment")),
        ("Metric", _metric),
        ("Mean", _p("mean")[1]),
        ("80% interval", _rng("lo80", "hi80")),
        ("95% interval", _rng("lo95", "hi95")),
        (
            "Plan",
            lambda r: (
                pct(_num(r["plan"])) if "plan" in r and math.isfinite(_num(r["plan"])) else ""
            ),
        ),
        (
            "P(≥ plan)",
            lambda r: (
                pct(_num(r["p_plan"]), 0)
                if "p_plan" in r and math.isfinite(_num(r["p_plan"]))
                else ""
            ),
        ),
    ],
    "retention_history": [
        ("FY", _txt("fiscal_year")),
        ("Segment", _txt("segment")),
        ("Accounts", _txt("n_accounts")),
        ("ARR start", _m("arr_start")),
        ("Churn", _m("churn")),
        ("Contraction", _m("contraction")),
        ("Expansion", _m("expansion")),
        ("ARR end", _m("arr_end")),
        ("GRR", _p("grr")[1]),
        ("NRR", _p("nrr")[1]),
        ("Status", lambda r: "provisional" if bool(r["provisional"]) else "final"),
    ],
    "waterfall": [
        ("FY", _txt("fiscal_year")),
        ("Basis", _txt("basis")),
        ("Step", lambda r: str(r["step"]).replace("arr_", "ARR ").replace("_", " ")),
        ("Value", _m("value")),
        (
            "80% interval",
            lambda r: (
                ""
                if not math.isfinite(_num(r["lo80"]))
                else f"{money(_num(r['lo80']))} to {money(_num(r['hi80']))}"
            ),
        ),
    ],
    "backtest_summary": [
        ("Model", _txt("model")),
        ("Years", _txt("years")),
        ("GRR MAE (pts)", _f("grr_mae_pts", ".2f")),
        ("NRR MAE (pts)", _f("nrr_mae_pts", ".2f")),
        ("GRR CRPS (pts)", _f("grr_crps_pts", ".2f")),
        ("80% coverage", _p("coverage80", 0)[1]),
        ("95% coverage", _p("coverage95", 0)[1]),
        ("Brier", _f("brier", ".3f")),
        ("AUC", _f("auc", ".3f")),
        ("ECE", _f("ece", ".3f")),
    ],
    "track_record": [
        ("FY", _txt("fiscal_year")),
        ("Model", _txt("model")),
        ("Metric", _metric),
        ("Forecast", _p("forecast")[1]),
        ("80% interval", _rng("lo80", "hi80")),
        ("Actual", _p("actual")[1]),
        ("Error (pts)", _f("error_pts", "+.2f")),
        ("In 80%?", lambda r: "yes" if bool(r["covered80"]) else "no"),
    ],
    "drivers": [
        ("Dimension", _txt("dimension")),
        ("Card weight", _p("card_weight", 0)[1]),
        (
            "Calibrated weight",
            lambda r: (
                pct(_num(r["calibrated_weight"]), 0)
                if "calibrated_weight" in r
                else "not calibrated"
            ),
        ),
        ("95% interval", lambda r: _rng("ci_low", "ci_high", 0)(r) if "ci_low" in r else ""),
        (
            "Logit coef. per point",
            lambda r: _f("coef_per_point", "+.4f")(r) if "coef_per_point" in r else "",
        ),
    ],
    "calibrated_thresholds": [
        ("Boundary", _txt("boundary")),
        ("Target P(renew)", _p("target_p", 0)[1]),
        ("Overall score", _f("score", ".1f")),
        ("95% interval", lambda r: f"{_num(r['ci_low']):.1f}–{_num(r['ci_high']):.1f}"),
    ],
    "effects": [
        ("Activity", _txt("activity")),
        ("Outcome", _txt("outcome")),
        ("Estimator", _txt("estimator")),
        ("Estimate", _effect("estimate")),
        ("95% low", _effect("ci_low")),
        ("95% high", _effect("ci_high")),
    ],
    "scenarios": [
        ("Campaign", _txt("campaign")),
        ("Treated", _txt("treated")),
        ("Segment", _txt("segment")),
        ("Metric", _metric),
        ("Change (mean)", _delta),
        ("80% interval", _delta_rng),
        ("Without", _level("base")),
        ("With", _level("with_campaign")),
    ],
    "targets": [
        ("Rank", _txt("rank")),
        ("Account", _txt("account_id")),
        ("Segment", _txt("segment")),
        ("Dimension", _txt("dimension")),
        ("ARR up", _m("arr_up")),
        ("Score", lambda r: f"{_num(r['score_before']):.0f} → {_num(r['score_after']):.0f}"),
        (
            "P(renew)",
            lambda r: f"{pct(_num(r['p_renew_before']), 0)} → {pct(_num(r['p_renew_after']), 0)}",
        ),
        ("Gross ARR saved", _m("arr_saved")),
        ("Campaign", _txt("campaign")),
    ],
    "at_risk": [
        ("Account", _txt("account_id")),
        ("Segment", _txt("segment")),
        ("CSM", _txt("csm_id")),
        ("ARR", _m("arr_start")),
        ("Up for renewal", _m("arr_up")),
        ("Renews", _txt("first_renewal")),
        ("Overall", _txt("overall_colour")),
        ("P(renew)", lambda r: pct(_num(r["p_renew"]), 0)),
        ("Expected loss", _m("arr_at_risk")),
    ],
}


def display(frame: pd.DataFrame, name: str, *, rows: int | None = None) -> pd.DataFrame:
    """The printed view of table ``name`` (all columns as text). Tables without a spec
    are shown as they are."""
    f = frame if rows is None else frame.head(rows)
    spec = SPECS.get(name)
    if spec is None:
        return f.astype("object").where(f.notna(), "").astype(str)
    records = [r for _, r in f.iterrows()]
    return pd.DataFrame({label: [fn(r) for r in records] for label, fn in spec}, dtype=object)


def health_pivot(mix: pd.DataFrame) -> pd.DataFrame:
    """Health mix as dimension × colour shares of ARR (printed)."""
    wide = mix.pivot(index="dimension", columns="colour", values="share")
    dims = list(dict.fromkeys(mix["dimension"]))
    cols = [c for c in ("red", "yellow", "green", "unknown") if c in wide]
    wide = wide.reindex(dims)[cols]
    out = pd.DataFrame({"Dimension": dims}, dtype=object)
    for c in cols:
        out[f"{c} share of ARR"] = [pct(float(v), 0) for v in wide[c]]
    return out


def draw_table(ax: Any, frame: pd.DataFrame, fontsize: float = 9.0) -> None:
    """``frame`` (text cells) as a matplotlib table filling the top of ``ax``; rows are at
    most 0.26 inch high and the first column is left-aligned."""
    if frame.empty:
        ax.text(0, 1, "(empty)", va="top")
        return
    cells = frame.astype(str).to_numpy().tolist()
    table = ax.table(
        cellText=cells,
        colLabels=[str(c) for c in frame.columns],
        loc="upper center",
        cellLoc="right",
        colLoc="right",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(fontsize)
    table.auto_set_column_width(list(range(frame.shape[1])))
    n = len(cells) + 1
    fig = ax.get_figure()
    inches = ax.get_position().height * fig.get_figheight()
    height = min(0.26 / inches, 0.98 / n)  # rows of at most 0.26 in
    for (r, c), cell in table.get_celld().items():
        cell.set_height(height)
        cell.set_edgecolor("#DDDDDD")
        if c == 0:
            cell.set_text_props(ha="left")
        if r == 0:
            cell.set_facecolor("#EEF2F7")
            cell.set_text_props(fontweight="bold")

"""The report's figures: one function per figure, tidy table in → :class:`ReportFigure` out.
This module: the forecast, the waterfall and health; :mod:`._figures_evidence`: track
record, drivers, campaigns and ARR at risk.

Each function takes the table the figure is drawn from (see :mod:`._tables`) and returns
the matplotlib figure, that table (``.frame()``) and a title that states the finding,
composed from the numbers (never written by hand). Figures are built with
:class:`matplotlib.figure.Figure` directly (no pyplot state) at the PDF page size, inside
the report style (:mod:`._style`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from dearstats.report._style import (
    ACTUAL,
    COLOUR_ORDER,
    FORECAST,
    HATCH,
    HEALTH,
    PLAN,
    money,
    new_figure,
    pct,
    pct_range,
    pts,
    signed_money,
    style,
)

_LOSS = "#8C8C8C"
_GAIN = "#56B4E9"
_DIM_LABEL = {
    "deployment": "Deployment",
    "engagement": "Engagement",
    "adoption": "Adoption",
    "roi": "ROI",
    "overall": "Overall",
}
_STEP_LABEL = {
    "arr_start": "ARR start",
    "churn": "Churn",
    "contraction": "Contraction",
    "expansion": "Expansion",
    "arr_end": "ARR end",
}


@dataclass(frozen=True, eq=False)
class ReportFigure:
    """One figure of the report: the matplotlib ``figure``, the finding ``title`` and the
    tidy numbers it is drawn from (:meth:`frame`, also written to ``tables/<name>.csv``)."""

    name: str
    section: str
    title: str
    figure: Figure
    data: pd.DataFrame

    def frame(self) -> pd.DataFrame:
        """The numbers behind the figure (a copy)."""
        return self.data.copy()

    def plot(self) -> Figure:
        """The matplotlib figure."""
        return self.figure

    def __repr__(self) -> str:
        return f"ReportFigure({self.name!r}: {self.title})"


def _dim(name: str) -> str:
    return _DIM_LABEL.get(name, name)


def _compare(value: float, target: float, *, tol: float = 5e-4) -> str:
    if value > target + tol:
        return "above"
    if value < target - tol:
        return "below"
    return "at"


# ---------------------------------------------------------------------------------------
# executive: outlook and plan
def _metric_sentence(h: Mapping[str, Any], metric: str) -> str:
    m = metric.upper()
    lo, hi = h[f"{metric}_lo80"], h[f"{metric}_hi80"]
    spread = f"80%: {pct_range(lo, hi)}" if hi - lo > 5e-5 else "a point forecast"
    s = f"{m} forecast {pct(h[metric])} ({spread})"
    if h.get(f"plan_{metric}") is not None:
        s += (
            f", {_compare(h[metric], h[f'plan_{metric}'])} plan {pct(h[f'plan_{metric}'])} "
            f"(P(hit plan) {pct(h[f'p_plan_{metric}'], 0)})"
        )
    elif h.get("reference_year") is not None:
        s += (
            f", {pts(h[metric] - h[f'{metric}_reference'])} on FY{h['reference_year']} "
            f"({pct(h[f'{metric}_reference'])})"
        )
    return s


def headline_title(h: Mapping[str, Any]) -> str:
    """``FY2025 GRR forecast 91.6% (80%: 86.2–95.6%), below plan 92.0% (P(hit plan) 45%)``
    — or against the last final year when there is no GRR plan."""
    return f"FY{h['fiscal_year']} {_metric_sentence(h, 'grr')}"


def nrr_sentence(h: Mapping[str, Any]) -> str:
    """The NRR counterpart of :func:`headline_title`."""
    return _metric_sentence(h, "nrr")


def outlook_figure(table: pd.DataFrame, h: Mapping[str, Any]) -> ReportFigure:
    """GRR and NRR by fiscal year: actuals, then the forecast with 50/80/95 % intervals and
    the plan."""
    title = f"{headline_title(h)}; {nrr_sentence(h)}"
    with style():
        fig = new_figure(title)
        axes = fig.subplots(1, 2)
        for ax, metric in zip(axes, ("grr", "nrr"), strict=True):
            _outlook_panel(ax, table[table["metric"] == metric], metric)
    return ReportFigure("outlook", "Executive summary", title, fig, table)


def _outlook_panel(ax: Axes, t: pd.DataFrame, metric: str) -> None:
    act = t[t["basis"] != "forecast"]
    fc = t[t["basis"] == "forecast"]
    if len(act):
        ax.plot(
            act["fiscal_year"], act["value"], color=ACTUAL, lw=1.8, marker="o", ms=6, label="actual"
        )
        prov = act[act["basis"] == "provisional"]
        if len(prov):
            ax.plot(
                prov["fiscal_year"],
                prov["value"],
                ls="none",
                marker="o",
                ms=9,
                mfc="white",
                mec=ACTUAL,
                label="provisional (late renewals may arrive)",
            )
        last = act.iloc[-1]
        ax.annotate(
            pct(last["value"]),
            (last["fiscal_year"], last["value"]),
            textcoords="offset points",
            xytext=(-8, 10),
            ha="right",
            fontsize=10,
        )
    for _, r in fc.iterrows():
        x = r["fiscal_year"]
        for lo, hi, lw, alpha, lab in (
            ("lo95", "hi95", 3, 0.35, "95% interval"),
            ("lo80", "hi80", 7, 0.55, "80% interval"),
            ("lo50", "hi50", 12, 0.9, "50% interval"),
        ):
            ax.vlines(x, r[lo], r[hi], color=FORECAST, lw=lw, alpha=alpha, label=lab)
        ax.plot(
            [x],
            [r["value"]],
            marker="D",
            ms=9,
            color="white",
            mec=FORECAST,
            mew=2,
            ls="none",
            label="forecast mean",
        )
        ax.annotate(
            f"{pct(r['value'])}\n80%: {pct_range(r['lo80'], r['hi80'])}",
            (x, r["value"]),
            textcoords="offset points",
            xytext=(14, -4),
            ha="left",
            va="center",
            fontsize=10,
            color=FORECAST,
        )
        if np.isfinite(r["plan"]):
            ax.hlines(
                r["plan"],
                x - 0.45,
                x + 0.45,
                color=PLAN,
                lw=2,
                ls="--",
                label=f"plan {pct(r['plan'])}",
            )
    years = sorted(t["fiscal_year"].unique())
    if years:
        ax.set_xlim(years[0] - 0.5, years[-1] + 1.3)
        ax.set_xticks(years, [f"FY{y}" for y in years])
    ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
    ax.set_title(metric.upper())
    ax.legend(loc="lower left", fontsize=8.5)


def distribution_figure(table: pd.DataFrame, h: Mapping[str, Any]) -> ReportFigure:
    """Histograms of the GRR and NRR predictive draws, the plan and P(hit plan)."""
    parts = []
    for metric in ("grr", "nrr"):
        plan = h.get(f"plan_{metric}")
        if plan is not None:
            parts.append(f"{metric.upper()} ≥ {pct(plan)} in {pct(h[f'p_plan_{metric}'], 0)}")
    if parts:
        title = f"P(hit plan) for FY{h['fiscal_year']}: " + "; ".join(parts) + " of outcomes"
    else:
        title = (
            f"FY{h['fiscal_year']} outcomes (95% of simulations): GRR "
            f"{pct_range(h['grr_lo95'], h['grr_hi95'])}, NRR "
            f"{pct_range(h['nrr_lo95'], h['nrr_hi95'])}; no plan given"
        )
    with style():
        fig = new_figure(title)
        axes = fig.subplots(1, 2)
        for ax, metric in zip(axes, ("grr", "nrr"), strict=True):
            t = table[table["metric"] == metric]
            if t.empty:
                continue
            left = t["bin_low"].to_numpy()
            width = (t["bin_high"] - t["bin_low"]).to_numpy()
            above = t["at_or_above_plan"].to_numpy(dtype=bool)
            ax.bar(
                left[~above],
                t["share"].to_numpy()[~above],
                width=width[~above],
                align="edge",
                color="#BDBDBD",
                edgecolor="white",
                hatch="//",
                label="below plan" if above.any() else "simulated outcomes",
            )
            if above.any():
                ax.bar(
                    left[above],
                    t["share"].to_numpy()[above],
                    width=width[above],
                    align="edge",
                    color=FORECAST,
                    edgecolor="white",
                    label="at or above plan",
                )
            plan = h.get(f"plan_{metric}")
            if plan is not None:
                ax.axvline(plan, color=PLAN, ls="--", lw=2, label=f"plan {pct(plan)}")
                ax.text(
                    0.02,
                    0.70,
                    f"P({metric.upper()} ≥ plan) = {pct(h[f'p_plan_{metric}'], 0)}",
                    transform=ax.transAxes,
                    ha="left",
                    va="top",
                    fontsize=12,
                    color=FORECAST,
                    fontweight="bold",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9},
                )
            ax.axvline(h[metric], color=ACTUAL, lw=1.2, label=f"mean {pct(h[metric])}")
            ax.xaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
            ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.1f}%")
            ax.set_ylabel("share of simulations")
            ax.set_title(f"{metric.upper()}: predictive distribution")
            ax.legend(loc="upper left", fontsize=8.5)
    return ReportFigure("distribution", "Executive summary", title, fig, table)


# ---------------------------------------------------------------------------------------
# waterfall
def waterfall_figure(table: pd.DataFrame, h: Mapping[str, Any]) -> ReportFigure:
    """ARR waterfall: the reference year's actual and the forecast year's expected."""
    f = table[table["basis"] == "forecast"].set_index("step")["value"]
    y = h["fiscal_year"]
    if np.isfinite(f["churn"]):
        title = (
            f"FY{y} expected: churn {money(f['churn'])}, contraction "
            f"{money(f['contraction'])}, expansion {signed_money(f['expansion'])}; cohort ARR "
            f"{money(f['arr_start'])} → {money(f['arr_end'])}"
        )
    else:
        title = f"FY{y} expected cohort ARR {money(f['arr_start'])} → {money(f['arr_end'])}"
    a = table[table["basis"] == "actual"]
    if len(a):
        av = a.set_index("step")["value"]
        title += (
            f" (FY{int(a['fiscal_year'].iloc[0])} actual: churn {money(av['churn'])}, "
            f"expansion {signed_money(av['expansion'])})"
        )
    with style():
        fig = new_figure(title)
        groups = [g for _, g in table.groupby(["fiscal_year", "basis"], sort=True)]
        axes = np.atleast_1d(fig.subplots(1, len(groups), sharey=True))
        for ax, g in zip(axes, groups, strict=True):
            _waterfall_panel(ax, g)
    return ReportFigure("waterfall", "ARR waterfall", title, fig, table)


def _waterfall_panel(ax: Axes, g: pd.DataFrame) -> None:
    g = g.set_index("step")
    level = 0.0
    for i, step in enumerate(g.index):
        v = float(g.loc[step, "value"])
        if not np.isfinite(v):
            continue
        if step in ("arr_start", "arr_end"):
            bottom, height, colour, hatch = 0.0, v, FORECAST, ""
            level = v
        else:
            bottom = level + min(v, 0.0)
            height = abs(v)
            colour, hatch = (_LOSS, "\\\\") if v < 0 else (_GAIN, "")
            level += v
        ax.bar(i, height, bottom=bottom, color=colour, hatch=hatch, edgecolor="white", width=0.65)
        lo, hi = g.loc[step, "lo80"], g.loc[step, "hi80"]
        top = bottom + height
        if np.isfinite(lo) and np.isfinite(hi) and step != "arr_start":
            # interval of the step's own size, drawn at the bar's outer edge
            edge = top if v >= 0 else bottom
            ax.errorbar(
                i,
                edge,
                yerr=[[max(v - lo, 0.0)], [max(hi - v, 0.0)]],
                color=ACTUAL,
                capsize=4,
                lw=1.2,
            )
        label = money(v) if step in ("arr_start", "arr_end") else signed_money(v)
        ax.annotate(
            label, (i, top), textcoords="offset points", xytext=(14, 4), ha="left", fontsize=10
        )
    ax.set_xticks(range(len(g.index)), [_STEP_LABEL[s] for s in g.index])
    ax.yaxis.set_major_formatter(lambda v, _: money(v))
    basis = g["basis"].iloc[0]
    year = int(g["fiscal_year"].iloc[0])
    ax.set_title(f"FY{year} " + ("actual" if basis == "actual" else "forecast (mean, 80% bars)"))
    ax.legend(
        handles=[
            Patch(color=FORECAST, label="cohort ARR"),
            Patch(facecolor=_LOSS, hatch="\\\\", edgecolor="white", label="loss"),
            Patch(color=_GAIN, label="gain"),
        ],
        loc="upper left",
        fontsize=8.5,
    )


# ---------------------------------------------------------------------------------------
# health
def health_mix_figure(table: pd.DataFrame) -> ReportFigure:
    """Share of ARR red / yellow / green per dimension on the planning date."""
    as_of = table["as_of"].iloc[0]
    red = table[(table["colour"] == "red") & (table["dimension"] != "overall")]
    top = red.sort_values(["share", "dimension"], ascending=[False, True]).iloc[0]
    ov = table[table["dimension"] == "overall"].set_index("colour")["share"]
    title = (
        f"{_dim(top['dimension'])} has the largest red share of ARR: {pct(top['share'], 0)} "
        f"(as of {as_of}); overall {pct(ov['red'], 0)} red, {pct(ov['green'], 0)} green"
    )
    with style():
        fig = new_figure(title)
        ax = fig.subplots()
        dims = list(dict.fromkeys(table["dimension"]))
        _stacked(ax, table, dims, horizontal=True)
        ax.set_yticks(range(len(dims)), [_dim(d) for d in dims])
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
        ax.set_xlabel("share of ARR")
        ax.grid(axis="x")
        ax.grid(axis="y", visible=False)
        ax.legend(
            handles=_health_handles(table), loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=4
        )
    return ReportFigure("health_mix", "Health mix", title, fig, table)


def _health_handles(table: pd.DataFrame) -> list[Patch]:
    present = [c for c in COLOUR_ORDER if table.loc[table["colour"] == c, "arr"].sum() > 0]
    return [Patch(facecolor=HEALTH[c], hatch=HATCH[c], edgecolor="white", label=c) for c in present]


def _stacked(
    ax: Axes, table: pd.DataFrame, keys: Sequence[Any], *, horizontal: bool, key: str = "dimension"
) -> None:
    base = np.zeros(len(keys))
    for colour in COLOUR_ORDER:
        t = table[table["colour"] == colour].set_index(key)["share"]
        v = t.reindex(keys).fillna(0.0).to_numpy(dtype=float)
        pos = np.arange(len(keys))
        kw: dict[str, Any] = {"color": HEALTH[colour], "hatch": HATCH[colour], "edgecolor": "white"}
        if horizontal:
            ax.barh(pos, v, left=base, height=0.62, **kw)
        else:
            ax.bar(pos, v, bottom=base, width=0.7, **kw)
        for p, val, b in zip(pos, v, base, strict=True):
            if val >= 0.05:
                x, y = (b + val / 2, float(p)) if horizontal else (float(p), b + val / 2)
                ax.text(
                    x,
                    y,
                    f"{100 * val:.0f}%",
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="black" if colour in ("yellow", "unknown") else "white",
                    fontweight="bold",
                    bbox={"facecolor": HEALTH[colour], "edgecolor": "none", "pad": 1},
                )
        base = base + v


def health_trend_figure(table: pd.DataFrame) -> ReportFigure:
    """Health mix by ARR per dimension over the yearly snapshots."""
    dates = sorted(table["as_of"].unique())
    red = table[table["colour"] == "red"].pivot(index="dimension", columns="as_of", values="share")
    first, last = dates[0], dates[-1]
    change = (red[last] - red[first]).drop("overall", errors="ignore")
    big = change.abs().sort_values(ascending=False, kind="stable").index[0]
    verb = "fell" if change[big] < 0 else "rose"
    title = (
        f"Red share of ARR {first[:4]}→{last[:4]} {verb} most on {_dim(big)}: "
        f"{pct(red.loc[big, first], 0)} → {pct(red.loc[big, last], 0)}"
    )
    if "overall" in red.index:
        title += (
            f"; overall {pct(red.loc['overall', first], 0)} → {pct(red.loc['overall', last], 0)}"
        )
    with style():
        fig = new_figure(title)
        dims = list(dict.fromkeys(table["dimension"]))
        axes = fig.subplots(1, len(dims), sharey=True)
        for ax, d in zip(np.atleast_1d(axes), dims, strict=True):
            t = table[table["dimension"] == d]
            _stacked(ax, t, dates, horizontal=False, key="as_of")
            ax.set_xticks(range(len(dates)), [s[:4] for s in dates])
            ax.set_title(_dim(d))
            ax.set_ylim(0, 1)
            ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
        np.atleast_1d(axes)[0].set_ylabel("share of ARR (snapshot on 1 Jan of each year)")
        fig.legend(handles=_health_handles(table), loc="outside lower center", ncol=4)
    return ReportFigure("health_trend", "Health mix", title, fig, table)

"""The report's figures, part 2: track record, drivers, campaigns and ARR at risk (the
conventions are those of :mod:`._figures`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from dearstats.report._display import display, draw_table
from dearstats.report._figures import ReportFigure, _dim
from dearstats.report._style import (
    ACTUAL,
    COLOUR_ORDER,
    FORECAST,
    HATCH,
    HEALTH,
    HEALTH_LABEL,
    MARKER,
    MODEL_COLOURS,
    MODEL_MARKERS,
    NEUTRAL,
    money,
    new_figure,
    pct,
    pct_range,
    pts,
    style,
    wrap,
)


# ---------------------------------------------------------------------------------------
# track record
def track_record_figure(table: pd.DataFrame, main: str) -> ReportFigure:
    """Forecast (mean, 80 % and 95 % intervals) vs actual per backtest year and model."""
    years = sorted(table["fiscal_year"].unique())
    models = list(dict.fromkeys(table["model"]))
    if main in models:  # the report's model first: the same colour in every figure
        models = [main, *(x for x in models if x != main)]
    m = table[(table["model"] == main) & (table["metric"] == "grr")]
    span = f"FY{years[0]}" + (f"–FY{years[-1]}" if len(years) > 1 else "")
    title = (
        f"Track record {span}: the {main} model's 80% interval covered actual GRR in "
        f"{int(m['covered80'].sum())} of {len(m)} years, mean abs. error "
        f"{m['error_pts'].abs().mean():.1f} pts"
    )
    base = [b for b in models if b != main]
    if base:
        maes = {
            b: table[(table["model"] == b) & (table["metric"] == "grr")]["error_pts"].abs().mean()
            for b in base
        }
        pick = "last_year" if "last_year" in maes else min(maes, key=lambda k: maes[k])
        title += f" ({pick} baseline: {maes[pick]:.1f} pts)"
    with style():
        fig = new_figure(title)
        axes = fig.subplots(1, 2)
        width = 0.7 / max(len(models), 1)
        for ax, metric in zip(axes, ("grr", "nrr"), strict=True):
            t = table[table["metric"] == metric]
            for j, model in enumerate(models):
                g = t[t["model"] == model].set_index("fiscal_year").reindex(years)
                x = np.arange(len(years)) + (j - (len(models) - 1) / 2) * width
                c, mk = MODEL_COLOURS[j % len(MODEL_COLOURS)], MODEL_MARKERS[j % len(MODEL_MARKERS)]
                ax.vlines(x, g["lo95"], g["hi95"], color=c, lw=1.5, alpha=0.6)
                ax.vlines(x, g["lo80"], g["hi80"], color=c, lw=5, alpha=0.8)
                ax.plot(
                    x, g["forecast"], ls="none", marker=mk, ms=7, color=c, mec="white", label=model
                )
            act = t.drop_duplicates("fiscal_year").set_index("fiscal_year").reindex(years)
            ax.hlines(
                act["actual"],
                np.arange(len(years)) - 0.45,
                np.arange(len(years)) + 0.45,
                color=ACTUAL,
                lw=2.2,
                label="actual",
            )
            ax.set_xticks(range(len(years)), [f"FY{y}" for y in years])
            ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
            ax.set_title(f"{metric.upper()}: forecast (80% thick, 95% thin) vs actual")
            ax.legend(loc="lower left", fontsize=8.5, ncol=2)
    return ReportFigure("track_record", "Track record", title, fig, table)


def calibration_figure(table: pd.DataFrame, main: str) -> ReportFigure:
    """Reliability diagram of the per-account renewal probabilities in the backtest."""
    ece = table.drop_duplicates("model").set_index("model")["ece"]
    models = [main, *(m for m in ece.index if m != main)] if main in ece.index else list(ece.index)
    e = float(ece.get(main, np.nan))
    if e <= 0.03:
        verdict = "well calibrated"
    elif e <= 0.07:
        verdict = "roughly calibrated"
    else:
        verdict = f"off by {100 * e:.0f} pts on average"
    title = f"Renewal probabilities of the {main} model are {verdict}: ECE {e:.3f}"
    others = [m for m in models if m != main]
    if others:
        title += " (" + ", ".join(f"{m} {ece[m]:.3f}" for m in others) + ")"
    with style():
        fig = new_figure(title)
        ax = fig.subplots()
        lo = float(min(table["mean_p"].min(), table["observed"].min(), 0.5))
        ax.plot([lo, 1], [lo, 1], color=NEUTRAL, ls="--", lw=1, label="perfect calibration")
        for j, model in enumerate(models):
            g = table[table["model"] == model].sort_values("mean_p", kind="stable")
            c, mk = MODEL_COLOURS[j % len(MODEL_COLOURS)], MODEL_MARKERS[j % len(MODEL_MARKERS)]
            ax.plot(
                g["mean_p"],
                g["observed"],
                color=c,
                marker=mk,
                ms=7,
                lw=1,
                alpha=0.85,
                label=f"{model} (ECE {ece[model]:.3f})",
            )
        ax.set_xlim(lo - 0.02, 1.01)
        ax.set_ylim(lo - 0.02, 1.01)
        ax.set_aspect("equal")
        ax.xaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
        ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
        ax.set_xlabel("predicted P(renew), mean of the bin")
        ax.set_ylabel("observed renewal rate in the bin")
        ax.grid(axis="x")
        ax.legend(loc="upper left")
    return ReportFigure("calibration", "Track record", title, fig, table)


# ---------------------------------------------------------------------------------------
# drivers
def drivers_figure(table: pd.DataFrame) -> ReportFigure:
    """Dimension weights: the card's and the calibrated ones with 95 % intervals."""
    calibrated = "calibrated_weight" in table and table["calibrated_weight"].notna().any()
    if calibrated:
        top = table.sort_values(["calibrated_weight", "dimension"], ascending=[False, True])
        r = top.iloc[0]
        title = (
            f"{_dim(r['dimension'])} weighs most in predicting renewal: "
            f"{pct(r['calibrated_weight'], 0)} (95%: {pct_range(r['ci_low'], r['ci_high'], 0)}) "
            f"against {pct(r['card_weight'], 0)} on the current card"
        )
    else:
        top = table.sort_values(["card_weight", "dimension"], ascending=[False, True]).iloc[0]
        w = pct(top["card_weight"], 0)
        if table["card_weight"].round(6).nunique() == 1:
            who = f"all {len(table)} dimensions weigh {w}"
        else:
            who = f"{_dim(top['dimension'])} weighs most, {w}"
        title = f"Current card weights (not calibrated on renewals): {who}"
    with style():
        fig = new_figure(title)
        ax = fig.subplots()
        dims = list(table["dimension"])
        y = np.arange(len(dims))
        ax.plot(
            table["card_weight"],
            y + (0.12 if calibrated else 0),
            ls="none",
            marker="D",
            ms=9,
            color=NEUTRAL,
            label="current card weight",
        )
        if calibrated:
            ax.hlines(
                y - 0.12,
                table["ci_low"],
                table["ci_high"],
                color=FORECAST,
                lw=4,
                alpha=0.7,
                label="95% interval",
            )
            ax.plot(
                table["calibrated_weight"],
                y - 0.12,
                ls="none",
                marker="o",
                ms=10,
                color=FORECAST,
                label="calibrated weight",
            )
            for yy, w in zip(y, table["calibrated_weight"], strict=True):
                ax.annotate(
                    pct(w, 0),
                    (w, yy - 0.12),
                    textcoords="offset points",
                    xytext=(0, 9),
                    ha="center",
                    color=FORECAST,
                )
        ax.set_yticks(y, [_dim(d) for d in dims])
        ax.invert_yaxis()
        ax.set_xlim(
            0,
            max(
                0.6,
                float(np.nanmax(table.filter(like="ci_high").to_numpy(dtype=float), initial=0.0))
                + 0.05,
            ),
        )
        ax.xaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
        ax.set_xlabel("weight of the dimension in the overall health score")
        ax.grid(axis="x")
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower right")
    return ReportFigure("drivers", "Drivers", title, fig, table)


def effects_figure(table: pd.DataFrame) -> ReportFigure:
    """Forest plot of the adjusted activity effects (one panel per outcome)."""
    pref = "dr" if (table["estimator"] == "dr").any() else table["estimator"].iloc[0]
    head = table[table["estimator"] == pref].copy()
    unit = head["unit"] if "unit" in head else pd.Series("", index=head.index)
    head["_scaled"] = np.where(unit == "probability", 100 * head["estimate"], head["estimate"])
    sig = head[(head["ci_low"] > 0) | (head["ci_high"] < 0)]
    if len(sig):
        r = sig.loc[sig["_scaled"].abs().sort_values(ascending=False, kind="stable").index[0]]
        u = "pts" if r.get("unit", "") == "probability" else "points" if r.get("unit") else ""
        s = 100 if r.get("unit", "") == "probability" else 1
        title = (
            f"Largest adjusted activity effect ({pref}): one more {r['activity']} moves "
            f"{r['outcome']} by {s * r['estimate']:+.1f} {u} "
            f"(95%: {s * r['ci_low']:+.1f} to {s * r['ci_high']:+.1f})"
        ).replace("  ", " ")
    else:
        title = f"No adjusted activity effect ({pref}) is distinguishable from zero at 95%"
    outcomes = list(dict.fromkeys(table["outcome"]))[:6]
    estimators = list(dict.fromkeys(table["estimator"]))
    estimators = [pref, *(e for e in estimators if e != pref)]  # the headline one in blue
    with style():
        fig = new_figure(title)
        axes = np.atleast_1d(fig.subplots(1, len(outcomes), sharey=True))
        for ax, outcome in zip(axes, outcomes, strict=True):
            t = table[table["outcome"] == outcome]
            acts = list(dict.fromkeys(table["activity"]))
            unit = str(t["unit"].iloc[0]) if "unit" in t and len(t) else ""
            k = 100.0 if unit == "probability" else 1.0  # probabilities in points
            for j, est in enumerate(estimators):
                g = t[t["estimator"] == est].set_index("activity").reindex(acts)
                yy = np.arange(len(acts)) + (j - (len(estimators) - 1) / 2) * 0.16
                c, mk = MODEL_COLOURS[j % len(MODEL_COLOURS)], MODEL_MARKERS[j % len(MODEL_MARKERS)]
                ax.hlines(yy, k * g["ci_low"], k * g["ci_high"], color=c, lw=2)
                ax.plot(k * g["estimate"], yy, ls="none", marker=mk, color=c, ms=6, label=est)
            ax.set_xlabel(
                "percentage points" if unit == "probability" else (f"{unit}" if unit else "")
            )
            ax.axvline(0, color=NEUTRAL, lw=1)
            ax.set_yticks(range(len(acts)), acts)
            ax.set_title(str(outcome), fontsize=10.5)
            ax.grid(axis="x")
            ax.grid(axis="y", visible=False)
        axes[0].invert_yaxis()
        axes[0].legend(loc="best", fontsize=8.5)
    return ReportFigure("effects", "Drivers", title, fig, table)


# ---------------------------------------------------------------------------------------
# campaigns and accounts
def scenarios_figure(table: pd.DataFrame) -> ReportFigure:
    """Change in GRR and NRR per campaign (mean, 80 % and 95 % intervals)."""
    t = table[table["segment"] == "All"]
    grr = t[t["metric"] == "grr"].set_index("campaign")
    best = grr["mean"].sort_values(ascending=False, kind="stable").index[0]
    r = grr.loc[best]
    saved = t[(t["metric"] == "arr_retained") & (t["campaign"] == best)]["mean"]
    title = f"{best}: GRR {pts(r['mean'], 2)} (80%: {pts(r['lo80'], 2)} to {pts(r['hi80'], 2)})"
    if len(saved):
        title += f", gross ARR saved {money(float(saved.iloc[0]))}"
    campaigns = list(dict.fromkeys(t["campaign"]))
    with style():
        fig = new_figure(title)
        grid = fig.add_gridspec(2, 2, height_ratios=[1.0 + 0.5 * len(campaigns), 1.4])
        axes = [fig.add_subplot(grid[0, 0])]
        axes.append(fig.add_subplot(grid[0, 1], sharey=axes[0]))
        y = np.arange(len(campaigns))
        for ax, metric in zip(axes, ("grr", "nrr"), strict=True):
            g = t[t["metric"] == metric].set_index("campaign").reindex(campaigns)
            ax.hlines(
                y,
                100 * g["lo95"],
                100 * g["hi95"],
                color=FORECAST,
                lw=1.5,
                alpha=0.6,
                label="95% interval",
            )
            ax.hlines(
                y,
                100 * g["lo80"],
                100 * g["hi80"],
                color=FORECAST,
                lw=6,
                alpha=0.8,
                label="80% interval",
            )
            ax.plot(
                100 * g["mean"],
                y,
                ls="none",
                marker="D",
                ms=9,
                color="white",
                mec=FORECAST,
                mew=2,
                label="mean change",
            )
            for yy, v in zip(y, g["mean"], strict=True):
                ax.annotate(
                    pts(v, 2),
                    (100 * v, yy),
                    textcoords="offset points",
                    xytext=(0, 10),
                    ha="center",
                    color=FORECAST,
                )
            ax.axvline(0, color=NEUTRAL, lw=1)
            ax.set_yticks(y, [wrap(c, 28) for c in campaigns])
            ax.set_ylim(len(campaigns) - 0.4, -0.6)
            ax.set_xlabel(f"change in {metric.upper()} (percentage points)")
            ax.set_title(f"Δ{metric.upper()}")
            ax.grid(axis="x")
            ax.grid(axis="y", visible=False)
        axes[1].tick_params(labelleft=False)
        axes[0].legend(loc="lower left", fontsize=8.5)
        tab = fig.add_subplot(grid[1, :])
        tab.axis("off")
        draw_table(tab, display(t, "scenarios"), fontsize=9)
    return ReportFigure("scenarios", "Campaigns", title, fig, table)


def targets_figure(table: pd.DataFrame, n: int = 15) -> ReportFigure:
    """The best campaign's ranked targets: expected gross ARR saved per account."""
    campaign = table["campaign"].iloc[0]
    t = table[table["campaign"] == campaign]
    total = float(t["arr_saved"].sum())
    top = t.head(n)
    share = float(top["arr_saved"].sum()) / total if total > 0 else np.nan
    title = (
        f"'{campaign}': the top {len(top)} of {len(t)} targets hold {pct(share, 0)} of the "
        f"{money(total)} expected gross ARR saved (each account's own gain)"
    )
    with style():
        fig = new_figure(title)
        ax = fig.subplots()
        y = np.arange(len(top))
        ax.barh(y, top["arr_saved"], color=FORECAST, height=0.65)
        labels = [
            f"#{int(r['rank'])} {r['account_id']} ({r['segment']})" for _, r in top.iterrows()
        ]
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        for yy, (_, r) in zip(y, top.iterrows(), strict=True):
            ax.annotate(
                f"{money(r['arr_saved'])}   P(renew) {pct(r['p_renew_before'], 0)} → "
                f"{pct(r['p_renew_after'], 0)}, {r['dimension']} score "
                f"{r['score_before']:.0f} → {r['score_after']:.0f}",
                (r["arr_saved"], yy),
                textcoords="offset points",
                xytext=(5, 0),
                va="center",
                fontsize=9,
            )
        ax.set_xlim(0, float(top["arr_saved"].max()) * 2.1 if len(top) else 1)
        ax.xaxis.set_major_formatter(lambda v, _: money(v))
        ax.set_xlabel("expected gross ARR saved (E[min(ARR end, ARR start)] gain)")
        ax.grid(axis="x")
        ax.grid(axis="y", visible=False)
    return ReportFigure("targets", "Campaigns", title, fig, table)


def at_risk_figure(table: pd.DataFrame, total_risk: float, n: int = 15) -> ReportFigure:
    """The accounts with the largest expected gross ARR loss, coloured by overall health."""
    top = table.head(n)
    share = float(top["arr_at_risk"].sum()) / total_risk if total_risk > 0 else np.nan
    colour = top["overall_colour"].astype(str) if "overall_colour" in top else None
    title = (
        f"The top {len(top)} accounts carry {money(float(top['arr_at_risk'].sum()))} "
        f"({pct(share, 0)}) of the {money(total_risk)} expected gross ARR loss"
    )
    if colour is not None:
        k = int((colour == "red").sum())
        title += f"; {k} of them {'is' if k == 1 else 'are'} red overall"
    with style():
        fig = new_figure(title)
        ax = fig.subplots()
        y = np.arange(len(top))
        cols = list(colour) if colour is not None else ["unknown"] * len(top)
        for yy, (_, r), c in zip(y, top.iterrows(), cols, strict=True):
            ax.barh(
                yy,
                r["arr_at_risk"],
                color=HEALTH.get(c, HEALTH["unknown"]),
                hatch=HATCH.get(c, ""),
                edgecolor="white",
                height=0.65,
            )
            ax.plot(
                [r["arr_at_risk"]], [yy], ls="none", marker=MARKER.get(c, "s"), color="black", ms=6
            )
            p = r.get("p_renew", np.nan)
            ax.annotate(
                f"{money(r['arr_at_risk'])} of {money(r['arr_start'])}"
                + (f"   P(renew) {pct(p, 0)}" if np.isfinite(p) else "")
                + f"   renews {r.get('first_renewal', '') or '—'}",
                (r["arr_at_risk"], yy),
                textcoords="offset points",
                xytext=(8, 0),
                va="center",
                fontsize=9,
            )
        ax.set_yticks(y, [f"{r['account_id']} ({r['segment']})" for _, r in top.iterrows()])
        ax.invert_yaxis()
        ax.set_xlim(0, float(top["arr_at_risk"].max()) * 2.0 if len(top) else 1)
        ax.xaxis.set_major_formatter(lambda v, _: money(v))
        ax.set_xlabel("expected gross ARR loss this year (ARR start − E[min(ARR end, ARR start)])")
        ax.grid(axis="x")
        ax.grid(axis="y", visible=False)
        present = [c for c in COLOUR_ORDER if c in cols]
        ax.legend(
            handles=[
                Patch(
                    facecolor=HEALTH[c],
                    hatch=HATCH[c],
                    edgecolor="white",
                    label=f"overall {HEALTH_LABEL[c]}",
                )
                for c in present
            ],
            loc="lower right",
        )
    return ReportFigure("at_risk", "ARR at risk", title, fig, table)

"""``report.pdf``: the board pack on landscape A4 pages (matplotlib ``PdfPages``).

Pages: the executive page (headline, sentences, forecast by segment), one page per figure
(its title is the finding), table pages (targets, ARR at risk, track record), then the
appendix (methodology, data period, settings, diagnostics, versions). No creation date is
written, so the same report gives the same file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from dearstats.report._display import display, draw_table, health_pivot
from dearstats.report._figures import headline_title, nrr_sentence
from dearstats.report._style import FORECAST, PAGE, style, wrap
from dearstats.report._text import convergence_warning, executive_bullets, methodology

_ORDER = (
    "outlook",
    "distribution",
    "waterfall",
    "health_mix",
    "health_trend",
    "track_record",
    "calibration",
    "drivers",
    "effects",
    "scenarios",
    "targets",
    "at_risk",
)


class _Writer:
    def __init__(self, pdf: PdfPages, footer: str) -> None:
        self.pdf = pdf
        self.footer = footer
        self.page = 0

    def save(self, fig: Figure) -> None:
        self.page += 1
        t = fig.text(
            0.99,
            0.008,
            f"{self.footer} · page {self.page}",
            ha="right",
            va="bottom",
            fontsize=8,
            color="#7F7F7F",
        )
        self.pdf.savefig(fig)
        t.remove()


def _page() -> Figure:
    return Figure(figsize=PAGE)


def _text_page(title: str, paragraphs: list[tuple[str, str]], width: int = 150) -> list[Figure]:
    """Pages of wrapped paragraphs (split over pages when long)."""
    pages: list[Figure] = []
    fig, y = None, 0.0
    for head, body in paragraphs:
        lines = wrap(body, width).split("\n")
        need = 0.032 * (len(lines) + 1.6)
        if fig is None or y - need < 0.05:
            fig = _page()
            fig.text(0.04, 0.94, title, fontsize=18, fontweight="bold", va="top")
            pages.append(fig)
            y = 0.87
        if head:
            fig.text(0.04, y, head, fontsize=11.5, fontweight="bold", va="top")
            y -= 0.034
        fig.text(0.04, y, "\n".join(lines), fontsize=10, va="top", linespacing=1.45)
        y -= 0.0305 * len(lines) + 0.025
    return pages


def _table_page(title: str, frame: pd.DataFrame, *, subtitle: str = "") -> Figure:
    fig = _page()
    fig.text(0.03, 0.95, wrap(title, 110), fontsize=15, fontweight="bold", va="top")
    if subtitle:
        fig.text(0.03, 0.875, subtitle, fontsize=10, color="#5A5A5A", va="top")
    ax = fig.add_axes((0.03, 0.05, 0.94, 0.8))
    ax.axis("off")
    draw_table(ax, frame)
    return fig


def _executive_page(ctx: dict[str, Any]) -> Figure:
    h = ctx["headline"]
    fig = _page()
    fig.patches.append(
        Rectangle((0, 0.78), 1, 0.22, transform=fig.transFigure, color="#0B2545", zorder=0)
    )
    fig.text(
        0.04,
        0.965,
        f"FY{h['fiscal_year']} RETENTION FORECAST · AS OF {h['as_of']} · "
        f"MODEL {h['model'].upper()}",
        color="#BCD3F2",
        fontsize=10.5,
        va="top",
    )
    fig.text(
        0.04,
        0.925,
        wrap(headline_title(h), 64),
        color="white",
        fontsize=21,
        fontweight="bold",
        va="top",
        linespacing=1.25,
    )
    fig.text(0.04, 0.815, nrr_sentence(h), color="#E7EEF8", fontsize=13, va="top")
    bullets = executive_bullets(ctx)[2:]
    y, step = 0.76, 0.026  # figure fraction per text line at 10.5 pt
    if warn := convergence_warning(ctx):
        bullets = [b for b in bullets if not b.startswith("Warning: ")]
        lines = wrap("Warning: " + warn, 120)
        fig.text(
            0.04,
            y,
            lines,
            fontsize=10.5,
            va="top",
            fontweight="bold",
            bbox={"facecolor": "#E69F00", "edgecolor": "none", "pad": 4},
        )
        y -= step * (lines.count("\n") + 1) + 0.02
    top, shown = y, []
    for b in bullets:
        text = "• " + wrap(b, 110).replace("\n", "\n   ")
        need = step * (text.count("\n") + 1)
        if y - need < 0.29:
            break
        shown.append(text)
        y -= need
    fig.text(0.04, top, "\n".join(shown), fontsize=10.5, va="top", linespacing=1.4)
    ax = fig.add_axes((0.04, 0.03, 0.92, 0.22))
    ax.axis("off")
    seg = display(ctx["frames"]["forecast_by_segment"], "forecast_by_segment")
    draw_table(ax, seg, fontsize=8.5)
    fig.text(0.04, 0.265, "Forecast by segment", fontsize=11, fontweight="bold", color=FORECAST)
    return fig


def render_pdf(ctx: dict[str, Any], path: Path) -> None:
    """Write the board pack to ``path``."""
    h = ctx["headline"]
    frames = ctx["frames"]
    top = ctx["top_n"]
    footer = (
        f"dearstats · FY{h['fiscal_year']} forecast as of {h['as_of']} · seed {h['random_seed']}"
    )
    meta = {
        "Title": f"FY{h['fiscal_year']} retention forecast",
        "Creator": "dearstats",
        "Producer": "dearstats (matplotlib)",
        "CreationDate": None,
    }
    with style(), PdfPages(path, metadata=meta) as pdf:
        w = _Writer(pdf, footer)
        w.save(_executive_page(ctx))
        for name in _ORDER:
            fig = ctx["plots"].get(name)
            if fig is None:
                continue
            w.save(fig.figure)
            if name == "health_mix":
                w.save(
                    _table_page(
                        fig.title,
                        health_pivot(frames["health_mix"]),
                        subtitle="Share of ARR by colour (tables/health_mix.csv)",
                    )
                )
            if name == "track_record":
                w.save(
                    _table_page(
                        "Backtest summary across years",
                        display(frames["backtest_summary"], "backtest_summary"),
                        subtitle="MAE and CRPS in percentage points; coverage = share "
                        "of years × metrics inside the interval",
                    )
                )
            if name == "targets":
                w.save(
                    _table_page(
                        f"Ranked target list (top {top} of {len(frames['targets'])})",
                        display(frames["targets"], "targets", rows=top),
                        subtitle="All targets in tables/targets.csv",
                    )
                )
            if name == "at_risk":
                w.save(
                    _table_page(
                        f"Top {top} accounts by expected gross ARR loss",
                        display(frames["at_risk"], "at_risk", rows=top),
                        subtitle="All cohort accounts in tables/forecast_accounts.csv",
                    )
                )
        notes = ctx["notes"]
        if notes:
            for fig in _text_page("Sections not computed", [(k, v) for k, v in notes.items()]):
                w.save(fig)
        for fig in _text_page("Appendix: methodology", methodology(ctx)):
            w.save(fig)
        w.save(
            _table_page(
                f"Appendix: data period (records dated before {h['as_of']})",
                display(frames["data_period"], "data_period"),
            )
        )
        w.save(_table_page("Appendix: settings and seed", display(frames["settings"], "settings")))
        diag = frames["diagnostics"]
        if len(diag):
            for i in range(0, len(diag), 24):
                w.save(
                    _table_page(
                        "Appendix: convergence and fit diagnostics",
                        display(diag.iloc[i : i + 24], "diagnostics"),
                    )
                )
        else:
            for fig in _text_page(
                "Appendix: convergence diagnostics",
                [
                    (
                        "",
                        (
                            f"No sampler diagnostics: the {h['model']} model is not fitted by MCMC "
                            "(nothing to converge)."
                        ),
                    )
                ],
            ):
                w.save(fig)
        w.save(_table_page("Appendix: package versions", display(frames["versions"], "versions")))

"""``report.html``: one self-contained page.

Figures are embedded as ``data:image/png;base64`` URIs, the CSS is inline, there is no
script and no reference to anything outside the file (the favicon is an empty data URI so
a browser does not go looking for one). Collapsible tables use ``<details>``, which needs
no JavaScript.
"""

from __future__ import annotations

import base64
import html
from typing import Any

import pandas as pd

from dearstats.report._display import display, health_pivot
from dearstats.report._figures import headline_title, nrr_sentence
from dearstats.report._style import FORECAST, money, pct, pct_range
from dearstats.report._text import convergence_warning, executive_bullets, methodology

_CSS = """
:root { --ink:#1b1b1b; --muted:#5a5a5a; --line:#dddddd; --accent:%(accent)s; }
* { box-sizing:border-box; }
body { margin:0; font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif;
       color:var(--ink); background:#ffffff; line-height:1.45; }
main { max-width:1240px; margin:0 auto; padding:0 24px 48px; }
#headline { background:#0b2545; color:#ffffff; padding:28px 32px 24px; }
#headline .inner { max-width:1240px; margin:0 auto; }
#headline .kicker { font-size:15px; letter-spacing:.06em; text-transform:uppercase;
                    color:#bcd3f2; margin:0 0 8px; }
#headline h1 { font-size:34px; line-height:1.2; margin:0 0 10px; }
#headline p.sub { font-size:20px; margin:0 0 18px; color:#e7eef8; }
#headline p.warn { background:#E69F00; color:#000000; padding:8px 12px; border-radius:4px;
                   font-weight:bold; margin:0 0 16px; }
.kpis { display:flex; flex-wrap:wrap; gap:14px; }
.kpi { background:#ffffff; color:var(--ink); border-radius:6px; padding:12px 16px;
       min-width:200px; }
.kpi .label { font-size:12px; text-transform:uppercase; color:var(--muted); }
.kpi .value { font-size:28px; font-weight:bold; color:var(--accent); }
.kpi .note { font-size:12.5px; color:var(--muted); }
nav { margin:18px 0 6px; font-size:14px; }
nav a { margin-right:14px; color:var(--accent); }
h2 { font-size:24px; margin:36px 0 6px; border-bottom:2px solid var(--line);
     padding-bottom:4px; }
h3 { font-size:17px; margin:22px 0 4px; }
p.finding { font-size:17px; font-weight:bold; margin:8px 0 10px; }
p.note { color:var(--muted); font-style:italic; }
figure { margin:8px 0 14px; }
figure img { width:100%%; height:auto; border:1px solid var(--line); }
figcaption { font-size:12.5px; color:var(--muted); }
table { border-collapse:collapse; font-size:13px; margin:8px 0 12px; }
th, td { border-bottom:1px solid var(--line); padding:4px 10px; text-align:right;
         white-space:nowrap; }
th { background:#f3f5f8; }
td:first-child, th:first-child { text-align:left; }
details summary { cursor:pointer; color:var(--accent); margin:6px 0; }
ul.bullets li { margin:4px 0; }
.appendix p { max-width:980px; }
""" % {"accent": FORECAST}  # noqa: UP031  (literal CSS braces make % the clearer choice)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(ctx: dict[str, Any], name: str) -> str:
    fig = ctx["plots"].get(name)
    if fig is None:
        return ""
    data = base64.b64encode(ctx["png"][name]).decode("ascii")
    return (
        f'<figure id="fig-{_e(name)}"><img alt="{_e(fig.title)}" '
        f'src="data:image/png;base64,{data}">'
        f"<figcaption>Figure data: tables/{_e(name)}.csv · figures/{_e(name)}.png / .svg"
        "</figcaption></figure>"
    )


def _details(summary: str, frame: pd.DataFrame, *, open_: bool = False) -> str:
    attr = " open" if open_ else ""
    return f"<details{attr}><summary>{_e(summary)}</summary>{_table(frame)}</details>"


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def render_html(ctx: dict[str, Any]) -> str:
    """The whole page as a string."""
    h = ctx["headline"]
    frames = ctx["frames"]
    notes = ctx["notes"]
    top = ctx["top_n"]
    parts: list[str] = []

    # -- headline block ------------------------------------------------------------------
    kpis = [
        ("GRR forecast", pct(h["grr"]), f"80%: {pct_range(h['grr_lo80'], h['grr_hi80'])}"),
        ("NRR forecast", pct(h["nrr"]), f"80%: {pct_range(h['nrr_lo80'], h['nrr_hi80'])}"),
    ]
    for m in ("grr", "nrr"):
        if h.get(f"plan_{m}") is not None:
            kpis.append(
                (f"P({m.upper()} ≥ plan)", pct(h[f"p_plan_{m}"], 0), f"plan {pct(h[f'plan_{m}'])}")
            )
    if h.get("reference_year") is not None:
        kpis.append(
            (
                f"FY{h['reference_year']} actual GRR",
                pct(h["grr_reference"]),
                f"NRR {pct(h['nrr_reference'])} (last final year)",
            )
        )
    if h.get("arr_at_risk") is not None:
        kpis.append(
            (
                "Expected gross ARR loss",
                money(h["arr_at_risk"]),
                f"of {money(h['expected_arr_start'])} cohort ARR",
            )
        )
    tiles = "".join(
        f'<div class="kpi"><div class="label">{_e(a)}</div><div class="value">{_e(b)}</div>'
        f'<div class="note">{_e(c)}</div></div>'
        for a, b, c in kpis
    )
    parts.append(
        '<header id="headline"><div class="inner">'
        f'<p class="kicker">FY{h["fiscal_year"]} retention forecast · as of {_e(h["as_of"])} · '
        f"model {_e(h['model'])}</p>"
        f'<h1 id="headline-text">{_e(headline_title(h))}</h1>'
        f'<p class="sub">{_e(nrr_sentence(h))}</p>'
        + (
            f'<p class="warn" id="convergence-warning">Warning: {_e(warn)}</p>'
            if (warn := convergence_warning(ctx))
            else ""
        )
        + f'<div class="kpis">{tiles}</div></div></header>'
    )
    sections = [
        ("summary", "Executive summary"),
        ("waterfall", "ARR waterfall"),
        ("health", "Health mix"),
        ("track", "Track record"),
        ("drivers", "Drivers"),
        ("campaigns", "Campaigns"),
        ("risk", "ARR at risk"),
        ("appendix", "Appendix"),
    ]
    parts.append(
        "<main><nav>" + "".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in sections) + "</nav>"
    )

    # -- executive summary -----------------------------------------------------------------
    parts.append('<section id="summary"><h2>Executive summary</h2><ul class="bullets">')
    parts += [f"<li>{_e(b)}</li>" for b in executive_bullets(ctx)]
    parts.append("</ul>")
    parts.append(_figure(ctx, "outlook"))
    parts.append(_figure(ctx, "distribution"))
    parts.append("<h3>Forecast by segment</h3>")
    parts.append(_table(display(frames["forecast_by_segment"], "forecast_by_segment")))
    parts.append("</section>")

    # -- waterfall -----------------------------------------------------------------------
    parts.append('<section id="waterfall"><h2>ARR waterfall</h2>')
    parts.append(_figure(ctx, "waterfall"))
    parts.append(_table(display(frames["waterfall"], "waterfall")))
    if len(frames["retention_history"]):
        parts.append(
            _details(
                f"GRR, NRR and waterfall by fiscal year and segment (as of {h['as_of']})",
                display(frames["retention_history"], "retention_history"),
            )
        )
    parts.append("</section>")

    # -- health --------------------------------------------------------------------------
    parts.append('<section id="health"><h2>Health mix by ARR</h2>')
    if "health_mix" in frames and len(frames["health_mix"]):
        parts.append(_figure(ctx, "health_mix"))
        parts.append(_table(health_pivot(frames["health_mix"])))
        parts.append(_figure(ctx, "health_trend"))
    else:
        parts.append(_note(notes.get("health", "not computed")))
    parts.append("</section>")

    # -- track record ----------------------------------------------------------------------
    parts.append('<section id="track"><h2>Track record</h2>')
    if "track_record" in frames:
        parts.append(_figure(ctx, "track_record"))
        parts.append(_table(display(frames["backtest_summary"], "backtest_summary")))
        parts.append(
            _details(
                "Every backtest year and model", display(frames["track_record"], "track_record")
            )
        )
        parts.append(_figure(ctx, "calibration"))
    else:
        parts.append(_note(f"Track record {notes.get('track_record', 'not run')}."))
    parts.append("</section>")

    # -- drivers -------------------------------------------------------------------------
    parts.append('<section id="drivers"><h2>Drivers</h2>')
    parts.append(_figure(ctx, "drivers"))
    parts.append(_table(display(frames["drivers"], "drivers")))
    if "calibration" in notes:
        parts.append(_note(f"Calibration {notes['calibration']}."))
    if "calibrated_thresholds" in frames:
        parts.append("<h3>Calibrated overall colour thresholds</h3>")
        parts.append(_table(display(frames["calibrated_thresholds"], "calibrated_thresholds")))
    parts.append("<h3>Adjusted activity effects</h3>")
    if "effects" in frames:
        parts.append(_figure(ctx, "effects"))
        parts.append(
            _details("Every activity, outcome and estimator", display(frames["effects"], "effects"))
        )
    else:
        parts.append(_note(f"Adjusted activity effects: {notes.get('effects', 'not computed')}."))
    parts.append("</section>")

    # -- campaigns -----------------------------------------------------------------------
    parts.append('<section id="campaigns"><h2>Campaign scenarios</h2>')
    if "scenarios" in frames:
        parts.append(_figure(ctx, "scenarios"))
        sc = frames["scenarios"]
        parts.append(_table(display(sc[sc["segment"] == "All"], "scenarios")))
        parts.append(_details("By segment", display(sc, "scenarios")))
        parts.append(_figure(ctx, "targets"))
        parts.append(f"<h3>Ranked target list (top {top}; all in tables/targets.csv)</h3>")
        parts.append(_table(display(frames["targets"], "targets", rows=top)))
    for key, text in notes.items():
        if key.startswith("campaign"):
            parts.append(_note(f"{key}: {text}."))
    parts.append("</section>")

    # -- at risk -------------------------------------------------------------------------
    parts.append('<section id="risk"><h2>Top ARR at risk</h2>')
    if "at_risk" in frames:
        parts.append(_figure(ctx, "at_risk"))
        parts.append(
            f"<h3>Top {top} accounts by expected gross ARR loss "
            "(all in tables/forecast_accounts.csv)</h3>"
        )
        parts.append(_table(display(frames["at_risk"], "at_risk", rows=top)))
    else:
        parts.append(_note(notes.get("at_risk", "not computed")))
    parts.append("</section>")

    # -- appendix ------------------------------------------------------------------------
    parts.append('<section id="appendix" class="appendix"><h2>Appendix</h2>')
    parts.append("<h3>Methodology</h3>")
    for title, text in methodology(ctx):
        parts.append(f"<p><strong>{_e(title)}.</strong> {_e(text)}</p>")
    parts.append(f"<h3>Data period (records dated before {_e(h['as_of'])})</h3>")
    parts.append(_table(display(frames["data_period"], "data_period")))
    parts.append("<h3>Settings and seed</h3>")
    parts.append(_table(display(frames["settings"], "settings")))
    parts.append("<h3>Convergence and fit diagnostics</h3>")
    diag = frames["diagnostics"]
    if len(diag):
        parts.append(_table(display(diag, "diagnostics")))
    else:
        parts.append(
            _note(
                f"No sampler diagnostics: the {h['model']} model is not fitted by "
                "MCMC (nothing to converge)."
            )
        )
    if notes:
        parts.append("<h3>Sections not computed</h3><ul>")
        parts += [f"<li>{_e(k)}: {_e(v)}</li>" for k, v in notes.items()]
        parts.append("</ul>")
    parts.append("<h3>Package versions</h3>")
    parts.append(_table(display(frames["versions"], "versions")))
    parts.append("</section></main>")

    title = f"FY{h['fiscal_year']} retention forecast — dearstats board pack"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(p for p in parts if p)
        + "</body></html>\n"
    )

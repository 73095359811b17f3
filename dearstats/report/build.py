"""``report(book, fiscal_year, out=...)``: the board pack (issue 6, item 1).

One call runs (or reuses) the forecast, the backtest, the scorecard calibration and the
campaign scenarios, then writes a folder::

    out/
      report.html      one self-contained file: figures embedded as data: URIs, inline
                       CSS, no script, no external request — opens offline
      report.pdf       the board pack: landscape A4 pages (title page, one figure per page,
                       tables, appendix)
      figures/         every figure as PNG and SVG
      tables/          every table behind a figure (and the appendix) as CSV

Everything is **as of the planning date** P (the forecast's ``as_of``, by default the
first day of the fiscal year): health, history and the calibration read only records
dated before P; the track record uses only fiscal years that were final on P (unless
``backtest_years`` says otherwise). Same inputs and ``random_seed`` → the same numbers,
the same CSV bytes (numbers written to :data:`CSV_DIGITS` significant digits).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dearstats.book import Book, to_date
from dearstats.errors import DearstatsError, InputError
from dearstats.forecast import ALL, FORECAST_MODELS, Forecast
from dearstats.report import _figures as F
from dearstats.report import _figures_evidence as E
from dearstats.report import _tables as T
from dearstats.report._figures import ReportFigure
from dearstats.retention import fiscal_year_bounds
from dearstats.scorecard import ScoreCard

__all__ = ["ReportResult", "report"]

#: how many rows of the ranked lists the HTML and PDF show (the CSVs have them all)
TOP_N = 20


@dataclass(frozen=True, eq=False, repr=False)
class ReportResult:
    """What :func:`report` wrote and the numbers in it.

    Attributes
    ----------
    out, html, pdf
        The folder, ``report.html`` and ``report.pdf``.
    figures
        ``{name: {"png": path, "svg": path}}``.
    tables
        ``{name: path}`` of the CSV tables.
    headline
        The executive numbers (forecast GRR/NRR with intervals, plan and P(hit plan), the
        reference year's actuals, the expected waterfall, ARR at risk, seed…).
    findings
        ``{figure name: title}``: each figure's finding, as printed on it.
    plots
        ``{name: ReportFigure}``: the matplotlib figures with ``.frame()``.
    notes
        Sections that were not computed and why (e.g. ``effects``: not given).
    forecast, backtest, scenarios, calibration
        The objects the report was built from (reuse them, e.g. in a notebook).
    seconds
        Wall time of each step (features, forecast, backtest, …); not part of the tables.
    """

    out: Path
    html: Path
    pdf: Path
    figures: dict[str, dict[str, Path]]
    tables: dict[str, Path]
    headline: dict[str, Any]
    findings: dict[str, str]
    plots: dict[str, ReportFigure] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    forecast: Forecast | None = None
    backtest: Any = None
    scenarios: tuple[Any, ...] = ()
    calibration: Any = None
    seconds: dict[str, float] = field(default_factory=dict)

    def frame(self, name: str) -> pd.DataFrame:
        """The table ``name`` (as written to ``tables/<name>.csv``), a copy."""
        if name not in self.frames:
            raise InputError(f"report has no table {name!r}; tables: {sorted(self.frames)}.")
        return self.frames[name].copy()

    def __repr__(self) -> str:
        lines = [
            f"ReportResult({self.out})",
            f"  {F.headline_title(self.headline)}",
            f"  {F.nrr_sentence(self.headline)}",
            f"  html: {self.html}",
            f"  pdf:  {self.pdf}",
            f"  {len(self.figures)} figures, {len(self.tables)} tables",
        ]
        lines += [f"  not computed: {k} ({v})" for k, v in self.notes.items()]
        return "\n".join(lines)


def report(
    book: Book,
    fiscal_year: int,
    *,
    out: str | Path,
    model: str = "hierarchical",
    plan: Mapping[str, float] | None = None,
    as_of: Any = None,
    backtest_years: Sequence[int] | None = None,
    backtest_models: Sequence[str] | None = None,
    scenarios: Sequence[Mapping[str, int]] = ({"adoption": 50},),
    effects: Any = None,
    calibration: Any = True,
    forecast: Forecast | None = None,
    backtest: Any = None,
    scorecard: ScoreCard | None = None,
    training_years: int = 3,
    trend_years: int = 4,
    n_draws: int = 4000,
    random_seed: int = 0,
    sampler_config: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> ReportResult:
    """Write the board pack for ``fiscal_year``'s GRR/NRR forecast to the folder ``out``.

    Parameters
    ----------
    book
        The book of business (any engine).
    fiscal_year
        The year forecast.
    out
        Output folder (created; ``report.html``, ``report.pdf``, ``figures/`` and
        ``tables/`` inside are replaced).
    model
        Forecast model (:func:`dearstats.forecast`); ignored when ``forecast`` is given.
    plan
        Targets, e.g. ``{"grr": 0.92, "nrr": 1.05}``: the report states P(hit plan).
        Default: the forecast's own plan, if any.
    as_of
        Planning date (default the first day of the year; the forecast's when given).
    backtest_years, backtest_models
        The track record: fiscal years and models of :func:`dearstats.backtest`. Default
        years: the (up to) three latest fiscal years final on the planning date, after the
        earliest one in the book (which has no history to train on); ``()`` skips the
        track record. Default models: the report's model, ``colour_rate`` and
        ``last_year`` (the baselines).
    scenarios
        Campaigns for :func:`dearstats.scenario`, e.g. ``({"adoption": 50},)``; ``()``
        for none.
    effects
        Optional precomputed adjusted activity effects: a DataFrame with ``activity``,
        ``outcome``, ``estimator``, ``estimate``, ``ci_low``, ``ci_high`` (as
        ``dearstats.effects``'s ``.frame()``), or an object with ``.frame()``. Without it
        the section reads "not computed".
    calibration
        ``True`` (default): calibrate the scorecard's dimension weights on the renewals
        settled before the planning date (:func:`dearstats.calibrate_scorecard`) and show
        them with their intervals; a ``Calibration`` to show; ``False`` to show the card's
        weights only.
    forecast, backtest
        Precomputed :class:`~dearstats.forecast.Forecast` / ``Backtest`` to reuse (the
        demo and tests do). The forecast must be for ``fiscal_year``.
    scorecard
        Card for scores and colours (default the forecast's card, else
        :meth:`ScoreCard.default`).
    training_years, n_draws, sampler_config
        Passed to the forecast and the backtest.
    trend_years
        Years of health-mix history (snapshots on the planning date's anniversaries).
    random_seed
        Seeds every fit and draw (forecast, backtest, calibration bootstrap, scenarios).
    progress
        Show a progress bar over the steps (and the backtest folds).
    """
    out = Path(out)
    if isinstance(fiscal_year, bool) or not isinstance(fiscal_year, int | np.integer):
        raise InputError(f"report: fiscal_year={fiscal_year!r}; expected an int such as 2025.")
    fiscal_year = int(fiscal_year)
    if model not in FORECAST_MODELS:
        raise InputError(
            f"report: model={model!r}; expected one of {', '.join(map(repr, FORECAST_MODELS))}."
        )
    if isinstance(trend_years, bool) or not isinstance(trend_years, int) or trend_years < 0:
        raise InputError(f"report: trend_years={trend_years!r}; expected an int ≥ 0.")
    scenario_specs = [dict(s) for s in scenarios]
    if forecast is not None:
        if not isinstance(forecast, Forecast):
            raise InputError(
                f"report: forecast must be a dearstats Forecast; found {type(forecast).__name__}."
            )
        if forecast.fiscal_year != fiscal_year:
            raise InputError(
                f"report: the forecast given is for FY{forecast.fiscal_year}, the report for "
                f"FY{fiscal_year}; pass the matching forecast or fiscal_year."
            )
        if as_of is not None and pd.Timestamp(to_date(as_of)) != pd.Timestamp(forecast.as_of):
            raise InputError(
                f"report: as_of={pd.Timestamp(to_date(as_of)).date()} but the forecast given is "
                f"as of {pd.Timestamp(forecast.as_of).date()}; leave as_of out to use the "
                "forecast's planning date."
            )
    bar = _Steps(progress, 9)
    notes: dict[str, str] = {}

    # -- the planning date, the cut book and the feature panel -------------------------
    grace = int(forecast.settings.get("grace_days", 30)) if forecast is not None else 30
    fy_month = int(forecast.settings.get("fy_start_month", 1)) if forecast is not None else 1
    t0, _ = fiscal_year_bounds(fiscal_year, fy_month)
    if forecast is not None:
        p = pd.Timestamp(forecast.as_of)
    else:
        p = t0 if as_of is None else pd.Timestamp(to_date(as_of, name="as_of"))
    emb = book.embedded()
    cut = emb.as_of(p)
    card = scorecard
    if card is None and forecast is not None:
        card = forecast._state.get("card")
    card = ScoreCard.default() if card is None else card
    years_back = max(trend_years, training_years)
    dates = sorted({p - pd.DateOffset(years=k) for k in range(years_back + 1)})
    bar.step("features")
    from dearstats.features import build_panel

    panel = build_panel(cut, dates=dates)

    # -- forecast ------------------------------------------------------------------------
    bar.step("forecast")
    if forecast is None:
        from dearstats.forecast import forecast as run_forecast

        fc = run_forecast(
            book,
            fiscal_year,
            as_of=p,
            model=model,
            plan=plan,
            scorecard=card,
            training_years=training_years,
            n_draws=n_draws,
            sampler_config=sampler_config,
            features=panel,
            random_seed=random_seed,
        )
    else:
        fc = forecast
    plan_used = {str(k): float(v) for k, v in (fc.plan if plan is None else plan).items()}
    if bad := sorted(set(plan_used) - {"grr", "nrr"}):
        raise InputError(f"report: plan keys {bad}; expected 'grr' and/or 'nrr'.")

    # -- history and headline --------------------------------------------------------------
    history = T.retention_history(book, fiscal_year, p, grace_days=grace, fy_start_month=fy_month)
    ref = T.reference_year(history)
    head = T.headline(fc, history, ref, plan_used, random_seed)
    scored = card.score(panel)
    scored = scored[pd.to_datetime(scored["as_of"]) <= p]

    # -- backtest ------------------------------------------------------------------------
    bar.step("backtest")
    bt = backtest
    if bt is None:
        bt, note = _run_backtest(
            book,
            history,
            fiscal_year,
            fc.model,
            backtest_years,
            backtest_models,
            card=card,
            training_years=training_years,
            n_draws=n_draws,
            sampler_config=sampler_config,
            random_seed=random_seed,
            progress=progress,
        )
        if note:
            notes["track_record"] = note

    # -- calibration -------------------------------------------------------------------
    bar.step("calibration")
    cal = None
    if calibration is True:
        from dearstats.calibrate import calibrate_scorecard

        try:
            cal = calibrate_scorecard(cut, scorecard=card, random_seed=random_seed)
        except DearstatsError as exc:
            notes["calibration"] = f"not computed: {exc}"
    elif calibration not in (False, None):
        if not hasattr(calibration, "weights"):
            raise InputError(
                "report: calibration must be True, False or a Calibration from "
                f"dearstats.calibrate_scorecard; found {type(calibration).__name__}."
            )
        cal = calibration
    else:
        notes["calibration"] = "not computed (calibration=False): the card's own weights are shown"

    # -- scenarios -----------------------------------------------------------------------
    bar.step("scenarios")
    runs: list[tuple[str, Any]] = []
    if scenario_specs:
        from dearstats.scenarios import scenario

        for spec in scenario_specs:
            label = _campaign_label(spec)
            try:
                runs.append((label, scenario(fc, turn_green=spec)))
            except InputError as exc:
                notes[f"campaign: {label}"] = f"not computed: {exc}"
    else:
        notes["campaigns"] = "not computed: no scenarios were asked for (scenarios=())"

    eff = None
    if effects is not None:
        eff = T.effects_table(effects)
    else:
        notes["effects"] = (
            "not computed: pass effects= (the .frame() of dearstats.effects.activity_effects) "
            "to show confounding-adjusted activity effects"
        )

    # -- tables and figures --------------------------------------------------------------
    bar.step("figures")
    frames: dict[str, pd.DataFrame] = {}
    plots: dict[str, ReportFigure] = {}
    frames["headline"] = T.key_values(head)
    frames["forecast_by_segment"] = T.segment_forecast(fc)
    frames["retention_history"] = history
    frames["outlook"] = T.outlook(fc, history, plan_used)
    plots["outlook"] = F.outlook_figure(frames["outlook"], head)
    if fc.model != "last_year":
        frames["distribution"] = T.distribution(fc, plan_used)
        plots["distribution"] = F.distribution_figure(frames["distribution"], head)
    frames["waterfall"] = T.waterfall(fc, history, ref)
    plots["waterfall"] = F.waterfall_figure(frames["waterfall"], head)
    mix_all = T.health_mix(scored)
    if len(mix_all):
        frames["health_mix"] = mix_all[mix_all["as_of"] == p.date().isoformat()].reset_index(
            drop=True
        )
        frames["health_trend"] = mix_all
        if len(frames["health_mix"]):
            plots["health_mix"] = F.health_mix_figure(frames["health_mix"])
        if mix_all["as_of"].nunique() > 1:
            plots["health_trend"] = F.health_trend_figure(mix_all)
    else:
        notes["health"] = f"not computed: no account has ARR on the snapshot dates up to {p.date()}"
    if bt is not None:
        main = (
            fc.model if fc.model in set(bt.metrics["model"]) else str(bt.metrics["model"].iloc[0])
        )
        frames["track_record"] = T.track_record(bt.metrics)
        frames["backtest_summary"] = bt.summary()
        plots["track_record"] = E.track_record_figure(frames["track_record"], main)
        frames["calibration"] = T.reliability(bt.reliability, bt.accounts)
        if len(frames["calibration"]):
            plots["calibration"] = E.calibration_figure(frames["calibration"], main)
    frames["drivers"] = T.drivers(card, cal)
    plots["drivers"] = E.drivers_figure(frames["drivers"])
    if cal is not None:
        frames["calibrated_thresholds"] = cal.thresholds.copy()
    if eff is not None:
        frames["effects"] = eff
        if len(eff):
            plots["effects"] = E.effects_figure(eff)
    if runs:
        frames["scenarios"] = T.scenario_effects(runs)
        plots["scenarios"] = E.scenarios_figure(frames["scenarios"])
        best = _best_campaign(frames["scenarios"])
        tg = T.targets(runs)
        frames["targets"] = tg
        ordered = pd.concat([tg[tg["campaign"] == best], tg[tg["campaign"] != best]])
        if len(ordered):
            plots["targets"] = E.targets_figure(ordered.reset_index(drop=True))
    frames["forecast_accounts"] = T.at_risk(fc)
    if "arr_at_risk" in frames["forecast_accounts"]:
        frames["at_risk"] = frames["forecast_accounts"].head(TOP_N * 5)
        plots["at_risk"] = E.at_risk_figure(frames["at_risk"], head["arr_at_risk"])
    else:
        notes["at_risk"] = f"not computed: the {fc.model} model gives no per-account forecast"
    frames["diagnostics"] = T.diagnostics(fc, bt)
    frames["data_period"] = T.data_period(cut)
    frames["settings"] = T.key_values(
        T.settings(fc, bt, cal, p, random_seed, training_years, trend_years, scenario_specs)
    )
    frames["versions"] = T.versions()
    for name, fig in plots.items():
        frames[name] = fig.data

    # -- write -----------------------------------------------------------------------------
    from dearstats.report._html import render_html
    from dearstats.report._pdf import render_pdf

    out.mkdir(parents=True, exist_ok=True)
    fig_dir, tab_dir = out / "figures", out / "tables"
    for d in (fig_dir, tab_dir):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir()
    tables = {}
    for name, frame in frames.items():
        path = tab_dir / f"{name}.csv"
        _write_csv(frame, path)
        tables[name] = path
    bar.step("png+svg")
    figures: dict[str, dict[str, Path]] = {}
    png: dict[str, bytes] = {}
    from dearstats.report._style import DPI_PNG, style

    engines = {}
    with style():
        for name, fig in plots.items():
            paths = {"png": fig_dir / f"{name}.png", "svg": fig_dir / f"{name}.svg"}
            fig.figure.savefig(paths["png"], dpi=DPI_PNG, metadata={"Software": None})
            # the constrained layout is solved by the first draw; the SVG and PDF pages
            # reuse it (same size in inches) instead of solving it again
            engines[name] = fig.figure.get_layout_engine()
            fig.figure.set_layout_engine("none")
            fig.figure.savefig(paths["svg"], metadata={"Date": None, "Creator": None})
            png[name] = paths["png"].read_bytes()
            figures[name] = paths
    ctx = {
        "headline": head,
        "frames": frames,
        "plots": plots,
        "png": png,
        "notes": notes,
        "forecast": fc,
        "calibration": cal,
        "backtest": bt,
        "as_of": p,
        "top_n": TOP_N,
    }
    bar.step("html")
    html_path = out / "report.html"
    html_path.write_text(render_html(ctx), encoding="utf-8")
    bar.step("pdf")
    pdf_path = out / "report.pdf"
    render_pdf(ctx, pdf_path)
    for name, engine in engines.items():
        plots[name].figure.set_layout_engine(engine)
    bar.close()
    return ReportResult(
        out=out,
        html=html_path,
        pdf=pdf_path,
        figures=figures,
        tables=tables,
        headline=head,
        findings={k: v.title for k, v in plots.items()},
        plots=plots,
        notes=notes,
        frames=frames,
        forecast=fc,
        backtest=bt,
        scenarios=tuple(sc for _, sc in runs),
        calibration=cal,
        seconds=bar.seconds,
    )


# ---------------------------------------------------------------------------------------
def _run_backtest(
    book: Book,
    history: pd.DataFrame,
    fiscal_year: int,
    model: str,
    years: Sequence[int] | None,
    models: Sequence[str] | None,
    **kw: Any,
) -> tuple[Any, str]:
    from dearstats.backtest import backtest as run_backtest

    models = list(dict.fromkeys(models or (model, "colour_rate", "last_year")))
    if years is not None:
        years = [int(y) for y in years]
        if not years:
            return None, "not run (backtest_years=())"
        return run_backtest(book, years, models, scorecard=kw.pop("card"), **kw), ""
    final = history[(history["segment"] == ALL) & ~history["provisional"].astype(bool)]
    cand = sorted(int(y) for y in final["fiscal_year"] if y < fiscal_year)[1:][-3:]
    card = kw.pop("card")
    while cand:
        try:
            return run_backtest(book, cand, models, scorecard=card, **kw), ""
        except InputError:
            cand = cand[1:]  # the earliest year had too little history to train on
    return None, "not run: no fiscal year before the forecast year has the history to backtest"


def _campaign_label(spec: Mapping[str, int]) -> str:
    parts = [f"{n} red on {dim}" for dim, n in spec.items()]
    return "Turn " + " + ".join(parts) + " green"


def _best_campaign(table: pd.DataFrame) -> str:
    g = table[(table["segment"] == ALL) & (table["metric"] == "grr")]
    return str(g.sort_values("mean", ascending=False, kind="stable")["campaign"].iloc[0])


#: significant digits of the numbers in the CSV tables. Far beyond what the report shows,
#: and short of the last bits of a double: the feature queries sum floats in parallel
#: (DuckDB), so a feature can differ in its 16th digit from one run to the next, and the
#: tables are meant to be byte-identical for the same inputs and seed.
CSV_DIGITS = 10


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    fmt = f"%.{CSV_DIGITS}g"
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = [fmt % v if isinstance(v, float) else v for v in out[c]]
    out.to_csv(path, index=False, lineterminator="\n", date_format="%Y-%m-%d", float_format=fmt)


class _Steps:
    """A progress bar over the report's steps (shown only when asked) and the seconds each
    step took."""

    def __init__(self, on: bool, total: int) -> None:
        self.bar = None
        self.seconds: dict[str, float] = {}
        self._label: str | None = None
        self._t = time.perf_counter()
        if on:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="report", unit="step")

    def _lap(self) -> None:
        now = time.perf_counter()
        if self._label is not None:
            self.seconds[self._label] = round(now - self._t, 2)
        self._t = now

    def step(self, label: str) -> None:
        self._lap()
        self._label = label
        if self.bar is not None:
            self.bar.set_postfix_str(label)
            self.bar.update(1)

    def close(self) -> None:
        self._lap()
        self._label = None
        if self.bar is not None:
            self.bar.close()

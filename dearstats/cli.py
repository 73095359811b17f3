"""The ``dearstats`` command line.

User errors print one clear line on stderr and exit with status 2; a book that fails
validation exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from dearstats.errors import DearstatsError, InputError

__all__ = ["main"]

DEMO_DIR = Path("data/demo")
DEMO_SEED = 0
DEMO_ACCOUNTS = 2000
DEMO_YEARS = 6


def _write_frame(df: pd.DataFrame, out: str) -> None:
    """Write a frame; a named index (e.g. ``account_id``) becomes a column, never lost."""
    if any(name is not None for name in df.index.names):
        df = df.reset_index()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        raise InputError(f"--out {out}: use a .parquet or .csv file name.")
    print(f"wrote {len(df)} rows to {path}")


def _print_frame(df: pd.DataFrame) -> None:
    with pd.option_context("display.width", 160, "display.max_columns", 30):
        print(df.to_string())


# -- commands -----------------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    from dearstats.simulation import simulate

    t0 = time.perf_counter()
    book = simulate(n_accounts=args.accounts, years=args.years, random_seed=args.random_seed)
    out = Path(args.out)
    if args.format == "parquet":
        book.to_parquet(out)
    elif args.format == "csv":
        book.to_csv(out)
    else:
        out = book.to_duckdb(out if out.suffix == ".duckdb" else out / "book.duckdb")
    counts = book.counts()
    print(
        f"simulated {args.accounts} accounts over {args.years} years "
        f"(seed {args.random_seed}) in {time.perf_counter() - t0:.1f} s → {out}"
    )
    print("rows: " + ", ".join(f"{k}={v:,}" for k, v in counts.items()))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from dearstats.book import read_book

    book = read_book(args.path, validate=False)
    report = book.validate(as_of=args.as_of)
    print(report.render())
    return 0 if report.ok else 1


def cmd_retention(args: argparse.Namespace) -> int:
    from dearstats.book import read_book
    from dearstats.retention import retention

    book = read_book(args.path)
    res = retention(
        book,
        fiscal_year=args.fiscal_year or None,
        by=args.by,
        fy_start_month=args.fy_start_month,
        grace_days=args.grace_days,
    )
    _print_frame(res.summary())
    if args.out:
        _write_frame(res.frame(), args.out)
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from dearstats.book import read_book
    from dearstats.features import build_features

    book = read_book(args.path, engine=args.engine)
    feats = build_features(book, as_of=args.as_of)
    _write_frame(feats, args.out)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from dearstats.scorecard import ScoreCard

    path = Path(args.features)
    if not path.exists():
        raise InputError(f"{path} does not exist; write features first with `dearstats features`.")
    feats = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    card = ScoreCard.from_json(Path(args.scorecard)) if args.scorecard else ScoreCard.default()
    _write_frame(card.score(feats), args.out)
    return 0


def _sampler(args: argparse.Namespace) -> dict[str, int] | None:
    cfg = {k: v for k, v in (("draws", args.draws), ("tune", args.tune)) if v is not None}
    return cfg or None


def _plan(args: argparse.Namespace) -> dict[str, float]:
    return {k: v for k, v in (("grr", args.plan_grr), ("nrr", args.plan_nrr)) if v is not None}


def cmd_forecast(args: argparse.Namespace) -> int:
    from dearstats.book import read_book
    from dearstats.forecast import forecast

    book = read_book(args.path)
    fc = forecast(
        book,
        args.fiscal_year,
        as_of=args.as_of,
        model=args.model,
        plan=_plan(args),
        training_years=args.training_years,
        sampler_config=_sampler(args),
        random_seed=args.random_seed,
    )
    _print_frame(fc.summary())
    if fc.diagnostics:
        ok = fc.diagnostics.get("passed")
        print(f"convergence gate: {'passed' if ok else 'FAILED'} {fc.diagnostics}")
    if args.out:
        out = Path(args.out)
        _write_frame(fc.frame(), str(out / "forecast.csv"))
        _write_frame(fc.accounts, str(out / "accounts.csv"))
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from dearstats.backtest import backtest
    from dearstats.book import read_book

    book = read_book(args.path)
    bt = backtest(
        book,
        args.fiscal_year,
        models=args.model or ("hierarchical", "logit", "colour_rate", "last_year"),
        training_years=args.training_years,
        sampler_config=_sampler(args),
        random_seed=args.random_seed,
        progress=not args.quiet,
    )
    _print_frame(bt.summary().round(4))
    if args.out:
        out = Path(args.out)
        _write_frame(bt.frame(), str(out / "backtest.csv"))
        _write_frame(bt.accounts, str(out / "backtest_accounts.csv"))
        _write_frame(bt.reliability, str(out / "reliability.csv"))
    return 0


def cmd_scenario(args: argparse.Namespace) -> int:
    from dearstats.book import read_book
    from dearstats.forecast import forecast
    from dearstats.scenarios import scenario

    turn: dict[str, int] = {}
    for item in args.turn_green:
        dim, sep, n = item.partition("=")
        if not sep or not n.strip().isdigit():
            raise InputError(f"--turn-green {item!r}: expected DIMENSION=N, e.g. adoption=50.")
        turn[dim.strip()] = int(n)
    book = read_book(args.path)
    fc = forecast(
        book,
        args.fiscal_year,
        model=args.model,
        sampler_config=_sampler(args),
        random_seed=args.random_seed,
    )
    sc = scenario(fc, turn_green=turn, select=args.select)
    print(sc)
    _print_frame(sc.targets.head(args.top))
    if args.out:
        out = Path(args.out)
        _write_frame(sc.frame(), str(out / "scenario.csv"))
        _write_frame(sc.targets, str(out / "targets.csv"))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from dearstats.book import read_book
    from dearstats.report import report as build_report

    book = read_book(args.path)
    res = build_report(
        book,
        args.fiscal_year,
        out=args.out,
        model=args.model,
        plan=_plan(args) or None,
        sampler_config=_sampler(args),
        random_seed=args.random_seed,
        progress=not args.quiet,
    )
    print(f"report: {res.html}")
    print(f"pdf:    {res.pdf}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from dearstats.book import read_book
    from dearstats.calibrate import calibrate_scorecard

    book = read_book(args.path)
    cal = calibrate_scorecard(book.embedded(), days_before=args.days_before,
                              random_seed=args.random_seed)  # fmt: skip
    print(repr(cal))
    cal.scorecard.to_json(args.out)
    print(f"calibrated scorecard → {args.out}")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from dearstats.book import read_book
    from dearstats.calibrate import renewal_frame

    book = read_book(args.path)
    frame = renewal_frame(book.embedded(), days_before=args.days_before)
    preds = [f"{d}_score" for d in ("deployment", "engagement", "adoption", "roi")]
    # a missing ROI score (no success plan due yet) is filled with the mean plus a flag
    frame["roi_score_missing"] = frame["roi_score"].isna().astype("float64")
    for c in preds:
        frame[c] = frame[c].fillna(frame[c].mean())
    preds.append("roi_score_missing")
    if args.model == "logit":
        from dearstats.models import RenewalLogit

        logit = RenewalLogit(preds, outcome="renewed", groups=["segment"], cluster="csm_id").fit(
            frame
        )
        logit.print_summary()
        if args.out:
            _write_frame(logit.summary(), args.out)
        return 0
    from dearstats.models import HierarchicalRenewal

    frame["csm_id"] = frame["csm_id"].astype("object").fillna("(tech-touch)")
    model = HierarchicalRenewal(preds, groups=("segment", "csm_id"), random_seed=args.random_seed)
    model.fit(frame, draws=args.draws, tune=args.tune, progressbar=not args.quiet)
    _print_frame(model.summary().round(4))
    if args.out:
        model.save(args.out)
        print(f"saved the fitted model → {args.out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole pipeline on the demo book: validate → retention → features and scorecard
    → calibrated scorecard → backtest → next year's forecast → scenarios → report."""
    import warnings

    from dearstats.backtest import backtest
    from dearstats.book import read_book
    from dearstats.calibrate import calibrate_scorecard, renewal_frame
    from dearstats.errors import ConvergenceWarning
    from dearstats.features import build_features
    from dearstats.forecast import forecast
    from dearstats.report import report as build_report
    from dearstats.retention import fiscal_year_bounds, renewal_events, retention
    from dearstats.scorecard import ScoreCard
    from dearstats.simulation import simulate

    started = time.perf_counter()
    steps = 8
    data, out = Path(args.data), Path(args.out)
    sampler = {"draws": args.draws, "tune": args.tune} if args.draws else None

    def step(i: int, text: str) -> None:
        print(f"[{i}/{steps}] {text}  (t = {time.perf_counter() - started:.0f} s)", flush=True)

    if not (data / "contracts.parquet").exists():
        step(1, f"simulating the demo book ({DEMO_ACCOUNTS} accounts, {DEMO_YEARS} years, "
                f"seed {DEMO_SEED}) → {data}")  # fmt: skip
        simulate(n_accounts=DEMO_ACCOUNTS, years=DEMO_YEARS, random_seed=DEMO_SEED).to_parquet(data)
    else:
        step(1, f"using the demo book in {data}")
    step(2, "validating")
    book = read_book(data, validate=False)
    checked = book.validate()
    print("      " + checked.render().replace("\n", "\n      "))
    if not checked.ok:
        return 1
    step(3, "gross and net revenue retention by fiscal year and segment")
    ret = retention(book)
    _print_frame(ret.summary())

    last = int(ret.frame()["fiscal_year"].max())
    as_of = f"{last}-01-01"
    step(4, f"DEAR health as of {as_of} (default scorecard) and renewals in FY{last}")
    scored = ScoreCard.default().score(build_features(book, as_of=as_of))
    _print_frame(_health_mix(scored))
    events = renewal_events(book.frame("contracts"), book.frame("accounts"))
    events = events[(events["fiscal_year"] == last) & events["is_final"]]
    _print_frame(_renewal_by_colour(scored, events))

    # the next fiscal year: the one starting after the last contract start in the book
    end = pd.Timestamp(book.frame("contracts")["start_date"].max())
    year = end.year + 1
    plan_date = fiscal_year_bounds(year)[0]
    step(5, f"calibrating the scorecard on renewals settled before {plan_date.date()}")
    frame = renewal_frame(book.embedded(), end=plan_date - pd.Timedelta(days=30))
    cal = calibrate_scorecard(frame, random_seed=DEMO_SEED)
    out.mkdir(parents=True, exist_ok=True)
    cal.scorecard.to_json(out / "scorecard.json")
    print(f"      {cal!r}".replace("\n", "\n      "))
    print(f"      calibrated scorecard → {out / 'scorecard.json'}")

    first = int(ret.frame()["fiscal_year"].min())
    # each backtest year needs a year of history with health data before its own
    years = list(range(max(first + 2, last - 2), last + 1))
    models = list(dict.fromkeys([args.model, "logit", "colour_rate", "last_year"]))
    step(6, f"backtest FY{years[0]}-FY{years[-1]}: {', '.join(models)}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        bt = backtest(book, years, models=models, sampler_config=sampler,
                      random_seed=DEMO_SEED, progress=True)  # fmt: skip
        step(7, f"forecast FY{year} as of {plan_date.date()} ({args.model}) and scenarios")
        fc = forecast(book, year, model=args.model, plan={"grr": 0.9, "nrr": 1.05},
                      sampler_config=sampler, random_seed=DEMO_SEED)  # fmt: skip
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            print(f"      WARNING: {w.message}")
    _print_frame(bt.summary().round(3))
    _print_frame(fc.summary())
    step(8, f"board pack for FY{year} → {out}")
    res = build_report(
        book, year, out=out, forecast=fc, backtest=bt, calibration=cal,
        scenarios=({"adoption": 50}, {"engagement": 50}), random_seed=DEMO_SEED,
    )  # fmt: skip
    print(f"      report: {res.html}")
    print(f"      pdf:    {res.pdf}")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0


def _health_mix(scored: pd.DataFrame) -> pd.DataFrame:
    """Share of ARR that is red / yellow / green on each dimension."""
    rows = {}
    for dim in ("deployment", "engagement", "adoption", "roi", "overall"):
        arr = scored.groupby(f"{dim}_colour", observed=False)["arr"].sum()
        rows[dim] = (arr / arr.sum()).map("{:.0%}".format)
    return pd.DataFrame(rows).T.rename_axis("share of ARR")


def _renewal_by_colour(scored: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Renewal rate (share of renewal events not churned) by the overall colour at as_of."""
    colour = scored["overall_colour"].rename("overall colour at as_of")
    joined = events.join(colour, on="account_id", how="inner")
    grouped = joined.groupby("overall colour at as_of", observed=False)
    return pd.DataFrame(
        {
            "renewal events": grouped.size(),
            "renewal rate": grouped["outcome"].agg(lambda o: f"{(o != 'churn').mean():.1%}"),
            "ARR up for renewal": grouped["arr_before"].sum().map("{:,.0f}".format),
        }
    )


# -- parser -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dearstats",
        description="Forecast SaaS revenue retention (GRR/NRR) from DEAR customer-health data.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=fn)
        return sp

    sp = add("simulate", cmd_simulate, "Simulate a book of business with known truth.")
    sp.add_argument("--accounts", type=int, default=DEMO_ACCOUNTS, help="number of accounts")
    sp.add_argument("--years", type=int, default=DEMO_YEARS, help="simulated years")
    sp.add_argument("--random-seed", type=int, default=DEMO_SEED)
    sp.add_argument("--out", required=True, help="folder (parquet/csv) or .duckdb file")
    sp.add_argument("--format", choices=["parquet", "csv", "duckdb"], default="parquet")

    sp = add("validate", cmd_validate, "Check a book against the data contract.")
    sp.add_argument("path", help="folder of Parquet/CSV tables or a .duckdb file")
    sp.add_argument("--as-of", help="also flag records dated on or after this date")

    sp = add("retention", cmd_retention, "GRR, NRR and the ARR waterfall by fiscal year.")
    sp.add_argument("path")
    sp.add_argument("--fiscal-year", type=int, action="append", help="repeatable; default all")
    sp.add_argument("--by", default="segment", help="account column to break down by")
    sp.add_argument("--fy-start-month", type=int, default=1)
    sp.add_argument("--grace-days", type=int, default=30)
    sp.add_argument("--out", help="write the tidy table (.csv or .parquet)")

    sp = add("features", cmd_features, "Build point-in-time DEAR features as of a date.")
    sp.add_argument("path")
    sp.add_argument("--as-of", required=True)
    sp.add_argument("--engine", choices=["duckdb", "polars", "pandas", "pyspark"], default="duckdb")
    sp.add_argument("--out", required=True, help=".parquet or .csv")

    sp = add("score", cmd_score, "Score features into 0-100 DEAR scores and colours.")
    sp.add_argument("features", help="features file (.parquet or .csv)")
    sp.add_argument("--scorecard", help="scorecard JSON (default: the built-in scorecard)")
    sp.add_argument("--out", required=True, help=".parquet or .csv")

    def model_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--training-years", type=int, default=3)
        sp.add_argument("--draws", type=int, help="posterior draws per chain (hierarchical)")
        sp.add_argument("--tune", type=int, help="warm-up steps per chain (hierarchical)")
        sp.add_argument("--random-seed", type=int, default=0)

    models = ["hierarchical", "logit", "colour_rate", "last_year"]
    sp = add("forecast", cmd_forecast, "Predictive distribution of GRR and NRR for a year.")
    sp.add_argument("path", help="folder of Parquet/CSV tables or a .duckdb file")
    sp.add_argument("--fiscal-year", type=int, required=True)
    sp.add_argument("--as-of", help="planning date (default: first day of the year)")
    sp.add_argument("--model", choices=models, default="hierarchical")
    sp.add_argument("--plan-grr", type=float, help="GRR plan, e.g. 0.9: report P(GRR ≥ plan)")
    sp.add_argument("--plan-nrr", type=float, help="NRR plan, e.g. 1.05")
    sp.add_argument("--out", help="folder for forecast.csv and accounts.csv")
    model_args(sp)

    sp = add("backtest", cmd_backtest, "Rolling-origin backtest of the forecasts by year.")
    sp.add_argument("path")
    sp.add_argument("--fiscal-year", type=int, action="append", required=True,
                    help="repeatable, e.g. --fiscal-year 2022 --fiscal-year 2023")  # fmt: skip
    sp.add_argument("--model", choices=models, action="append", help="repeatable; default all")
    sp.add_argument("--out", help="folder for backtest.csv, backtest_accounts.csv, reliability.csv")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    model_args(sp)

    sp = add("scenario", cmd_scenario, "What-if: turn N red accounts green on a dimension.")
    sp.add_argument("path")
    sp.add_argument("--fiscal-year", type=int, required=True)
    sp.add_argument("--turn-green", action="append", required=True, metavar="DIMENSION=N",
                    help="repeatable, e.g. --turn-green adoption=50")  # fmt: skip
    sp.add_argument("--select", choices=["uplift", "arr", "score"], default="uplift")
    sp.add_argument("--model", choices=models[:3], default="hierarchical")
    sp.add_argument("--top", type=int, default=20, help="rows of the target list to print")
    sp.add_argument("--out", help="folder for scenario.csv and targets.csv")
    model_args(sp)

    sp = add("fit", cmd_fit, "Fit a renewal model on the book's settled renewals.")
    sp.add_argument("path")
    sp.add_argument("--model", choices=["logit", "hierarchical"], default="logit")
    sp.add_argument("--days-before", type=int, default=90, help="snapshot days before renewal")
    sp.add_argument("--draws", type=int, help="posterior draws per chain (hierarchical)")
    sp.add_argument("--tune", type=int, help="warm-up steps per chain (hierarchical)")
    sp.add_argument("--random-seed", type=int, default=0)
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--out", help="logit: summary table (.csv/.parquet); hierarchical: model file")

    sp = add("report", cmd_report, "Board pack (HTML, PDF, figures, CSVs) for a fiscal year.")
    sp.add_argument("path")
    sp.add_argument("--fiscal-year", type=int, required=True)
    sp.add_argument("--out", required=True, help="output folder")
    sp.add_argument("--model", choices=models[:3], default="hierarchical")
    sp.add_argument("--plan-grr", type=float)
    sp.add_argument("--plan-nrr", type=float)
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    model_args(sp)

    sp = add("calibrate", cmd_calibrate, "Calibrate scorecard weights and thresholds on renewals.")
    sp.add_argument("path")
    sp.add_argument("--days-before", type=int, default=90, help="snapshot days before renewal")
    sp.add_argument("--random-seed", type=int, default=0)
    sp.add_argument("--out", required=True, help="scorecard JSON to write")

    sp = add("demo", cmd_demo, "Run the main job on the embedded demo book.")
    sp.add_argument("--data", default=str(DEMO_DIR), help="where the demo book lives")
    sp.add_argument("--out", default="reports/demo", help="folder for the report")
    sp.add_argument("--draws", type=int, help="posterior draws per chain (default 1000)")
    sp.add_argument("--tune", type=int, help="warm-up steps per chain (default 1000)")
    sp.add_argument("--model", choices=["hierarchical", "logit", "colour_rate"],
                    default="hierarchical", help="forecast model")  # fmt: skip
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except DearstatsError as exc:
        print(f"dearstats: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"dearstats: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Calibrate the DEAR scorecard on the demo book's renewals and export it as JSON.

Question: which dimension weights and overall colour thresholds does the renewal history
support, how sure is that, and does the calibrated card rank and calibrate renewals
better than the expert default card on a year it was not fitted on?

Method (:func:`dearstats.calibrate_scorecard`): one row per settled renewal with the
account's features as of ``days_before`` days before it (:func:`dearstats.renewal_frame`,
point in time); a logistic regression of renewed on the four dimension scores adjusted for
segment, cluster-robust by CSM; weights ∝ max(coefficient, 0); overall thresholds where
the fitted P(renew) crosses the targets (yellow 0.75, green 0.90); 95 % parametric
bootstrap intervals. Fitted on every fiscal year but the last, evaluated on the last one
(held out), beside the default card's practitioners' baseline (renewal rate per colour on
the training years).

Results: ``scorecard.json`` (the calibrated card, the portable export), ``weights.csv``,
``thresholds.csv``, ``evaluation.json``, ``renewal_rate_by_colour.csv``, ``summary.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import pandas as pd

from experiments._common import markdown_table, write_csv, write_json, write_text

DESCRIPTION = "calibrate the scorecard's weights and thresholds on renewals; export its JSON"
_COLOURS = ("red", "yellow", "green")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days-before", type=int, default=90, help="snapshot days before renewal (90)")
    p.add_argument(
        "--targets",
        type=float,
        nargs=2,
        default=(0.75, 0.90),
        metavar=("P_YELLOW", "P_GREEN"),
        help="P(renew) where yellow and green start (0.75 0.90)",
    )
    p.add_argument("--n-boot", type=int, default=None, help="bootstrap draws (2000; small 300)")
    p.add_argument(
        "--test-years",
        type=int,
        nargs="*",
        default=None,
        help="held-out fiscal years (default: the last one with renewals); the others train",
    )


def configure(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "days_before": args.days_before,
        "targets": [float(t) for t in args.targets],
        "n_boot": args.n_boot if args.n_boot is not None else (300 if args.small else 2000),
        "test_years": None if args.test_years is None else sorted(args.test_years),
        "adjust_for": ["segment"],
        "cluster": "csm_id",
    }


def run(config: dict[str, Any], book: Any, out: Path) -> dict[str, Any]:
    import dearstats as ds
    from dearstats.calibrate import ece_null_quantiles, evaluate

    t0 = time.perf_counter()
    frame = ds.renewal_frame(book, days_before=config["days_before"])
    t_frame = time.perf_counter() - t0
    years = sorted(int(y) for y in frame["fiscal_year"].unique())
    test_years = config["test_years"] or years[-1:]
    train_years = [y for y in years if y not in test_years]
    if not train_years:
        raise SystemExit(f"calibrate_scorecard: no training years left (renewals in {years}).")
    print(
        f"[calibrate_scorecard] {len(frame)} settled renewals in FY{years[0]}–FY{years[-1]} "
        f"({t_frame:.0f} s); train FY{_years(train_years)}, test FY{_years(test_years)}"
    )

    cal = ds.calibrate_scorecard(
        frame,
        train_years=train_years,
        test_years=test_years,
        days_before=config["days_before"],
        targets=tuple(config["targets"]),
        n_boot=config["n_boot"],
        random_seed=config["seed"],
        cluster=config["cluster"],
        adjust_for=tuple(config["adjust_for"]),
    )
    train = frame[frame["fiscal_year"].isin(train_years)]
    test = frame[frame["fiscal_year"].isin(test_years)]
    default = ds.ScoreCard.default()
    baseline = {
        "train": evaluate(default, train, reference=train),
        "test": evaluate(default, test, reference=train),
    }

    # ECE is biased upward by noise: the reference is the ECE a perfectly calibrated model
    # with the same predictions would show (outcomes drawn from them, seeded)
    ece_null = {
        "test": ece_null_quantiles(cal.predict_proba(test), random_seed=config["seed"]),
    }

    card = cal.scorecard
    card.to_json(out / "scorecard.json")
    # the export must round-trip (schema-validated on read)
    assert ds.ScoreCard.from_json(out / "scorecard.json").to_json() == card.to_json()
    write_csv(out / "weights.csv", cal.weights)
    write_csv(out / "thresholds.csv", cal.thresholds)
    evaluation = {
        "fiscal_years": {"train": train_years, "test": test_years},
        "renewal_events": {"train": len(train), "test": len(test)},
        "train_period": list(cal.train_period),
        "calibrated_card": dict(cal.evaluation),
        "default_card_colour_rates": baseline,
        "ece_if_perfectly_calibrated": ece_null,
        "note": (
            "calibrated_card: P(renew) from the fitted logit; default_card_colour_rates: the "
            "practitioners' baseline, P(renew) = the training years' renewal rate of the "
            "default card's overall colour (AUC from its overall score); "
            "ece_if_perfectly_calibrated: quantiles of the ECE that outcomes drawn from the "
            "calibrated card's own test predictions would show (the noise floor of ECE)."
        ),
    }
    write_json(out / "evaluation.json", evaluation)
    by_colour = _by_colour(cal.evaluation, baseline)
    write_csv(out / "renewal_rate_by_colour.csv", by_colour)
    write_text(
        out / "summary.md", _summary(cal, baseline, train_years, test_years, by_colour, ece_null)
    )
    print(f"[calibrate_scorecard] {cal!r}")
    return {"seconds": {"renewal_frame": t_frame, "experiment": time.perf_counter() - t0}}


def _by_colour(calibrated: dict[str, Any], baseline: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for card, ev in (("calibrated", calibrated), ("default", baseline)):
        for split in ("train", "test"):
            if split not in ev:
                continue
            rates, counts = (
                ev[split].get("renewal_rate_by_colour", {}),
                ev[split].get("n_by_colour", {}),
            )
            for colour in _COLOURS:
                if colour in counts:
                    rows.append(
                        {
                            "card": card,
                            "split": split,
                            "colour": colour,
                            "n": int(counts[colour]),
                            "renewal_rate": float(rates[colour]),
                        }
                    )
    return pd.DataFrame(rows)


def _summary(
    cal: Any,
    baseline: dict[str, Any],
    train_years: list[int],
    test_years: list[int],
    by_colour: pd.DataFrame,
    ece_null: dict[str, Any],
) -> str:
    ev = cal.evaluation
    metrics = pd.DataFrame(
        [
            {
                "card": card,
                "split": split,
                **{k: e[split][k] for k in ("n", "auc", "brier", "log_loss", "ece")},
            }
            for card, e in (("calibrated", ev), ("default (colour rates)", baseline))
            for split in ("train", "test")
            if split in e
        ]
    )
    w = cal.weights[["dimension", "weight", "ci_low", "ci_high", "coef"]]
    t = cal.thresholds[["boundary", "target_p", "score", "ci_low", "ci_high"]]
    pivot = by_colour.pivot_table(
        index=["card", "split"], columns="colour", values="renewal_rate", sort=False
    ).reset_index()
    return "\n\n".join(
        [
            "# Scorecard calibration",
            f"Trained on the settled renewals of FY{', FY'.join(map(str, train_years))}; "
            f"evaluated on FY{', FY'.join(map(str, test_years))} (held out). The calibrated "
            "card is `scorecard.json` (load it with `ds.ScoreCard.from_json`).",
            "## Dimension weights (95 % bootstrap intervals)",
            markdown_table(w),
            "## Overall colour thresholds (score where the fitted P(renew) reaches the target)",
            markdown_table(t),
            "## Discrimination and calibration",
            "AUC: higher is better; Brier, log loss, ECE: lower is better. ECE is biased "
            "upward by noise: a perfectly calibrated model with the calibrated card's test "
            f"predictions would show a median ECE of {ece_null['test']['q50']:.3f} (95th "
            f"percentile {ece_null['test']['q95']:.3f}) on this test set "
            "(`dearstats.calibrate.ece_null_quantiles`).",
            markdown_table(metrics),
            "## Renewal rate by overall colour",
            "A useful card separates the colours: red renews least, green most.",
            markdown_table(pivot),
        ]
    )


def _years(years: list[int]) -> str:
    return ", FY".join(map(str, years))

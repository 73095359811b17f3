"""The report's prose: executive bullets and the methodology appendix, composed from the
numbers and settings (shared by the HTML and the PDF)."""

from __future__ import annotations

from typing import Any

from dearstats.report._figures import headline_title, nrr_sentence
from dearstats.report._style import money, pct

_MODEL_TEXT = {
    "hierarchical": (
        "Bayesian hierarchical renewal model (PyMC): churn, contraction/flat/expansion and the "
        "size of the change, with partial pooling by segment and CSM. The forecast draws come "
        "from its posterior predictive distribution, so the intervals include parameter "
        "uncertainty and outcome noise. Convergence (R-hat, effective sample size, "
        "divergences) is checked after every fit; see the diagnostics below."
    ),
    "logit": (
        "Two-part logistic model (statsmodels) with segment effects: the churn logit's "
        "coefficients are drawn from their asymptotic normal (cluster-robust by account), "
        "renewer classes from a multinomial logit, and sizes from log-ratio regressions "
        "with resampled residuals. Fitted by maximum likelihood: there is no sampler to "
        "converge, so the convergence table is empty for this model."
    ),
    "colour_rate": (
        "The practitioners' plan: each account's renewal ratio is resampled from the "
        "training accounts of its overall colour (ARR-weighted), i.e. historical outcomes "
        "per colour."
    ),
    "last_year": (
        "Last year's GRR and NRR as seen on the planning date (a point forecast with no "
        "interval; a baseline)."
    ),
}


def convergence_warning(ctx: dict[str, Any]) -> str | None:
    """A sentence when the forecast's (or a backtest fold's) sampler failed its
    convergence checks, else None."""
    fc, bt = ctx["forecast"], ctx.get("backtest")
    parts = []
    if fc.diagnostics.get("passed") is False:
        problems = "; ".join(fc.diagnostics.get("problems", [])) or "see the diagnostics"
        parts.append(
            f"The {fc.model} model failed its convergence checks ({problems}): treat its "
            "intervals with caution and refit with longer chains."
        )
    if bt is not None:
        bad = [
            f"FY{y} {m}"
            for (y, m), f in sorted(bt.forecasts.items())
            if f.diagnostics.get("passed") is False
        ]
        if bad:
            parts.append(f"Backtest fits that failed their convergence checks: {', '.join(bad)}.")
    return " ".join(parts) or None


def executive_bullets(ctx: dict[str, Any]) -> list[str]:
    """The executive summary as sentences: headline, NRR, convergence, reference year,
    risk, and each figure's finding."""
    h = ctx["headline"]
    out = [headline_title(h) + ".", nrr_sentence(h) + "."]
    if warn := convergence_warning(ctx):
        out.append("Warning: " + warn)
    if h.get("reference_year") is not None:
        s = (
            f"Last final year FY{h['reference_year']}: GRR {pct(h['grr_reference'])}, "
            f"NRR {pct(h['nrr_reference'])}."
        )
        if h.get("previous_year_provisional"):
            s += (
                f" FY{h['fiscal_year'] - 1} is still provisional on {h['as_of']} (renewals "
                "signed late within the grace period may still arrive), so it is not used "
                "as the comparison."
            )
        out.append(s)
    if h.get("arr_at_risk") is not None:
        out.append(
            f"Expected gross ARR loss this year: {money(h['arr_at_risk'])} of "
            f"{money(h['expected_arr_start'])} cohort ARR across {h['n_accounts']} accounts."
        )
    for name, fig in ctx["plots"].items():
        if name != "outlook":
            out.append(fig.title + ".")
    return out


def methodology(ctx: dict[str, Any]) -> list[tuple[str, str]]:
    """(heading, paragraph) pairs for the appendix."""
    fc = ctx["forecast"]
    h = ctx["headline"]
    tr = fc.training
    paras = [
        (
            "Definitions",
            "For fiscal year [t0, t1) the cohort is every account with ARR on t0 (new logos "
            "are outside it). GRR = Σ min(ARR(t1), ARR(t0)) / Σ ARR(t0); NRR = Σ ARR(t1) / "
            "Σ ARR(t0); the waterfall splits the change into churn (accounts at 0 on t1), "
            "contraction and expansion. A renewal signed up to "
            f"{fc.settings.get('grace_days', 30)} days late counts as on time.",
        ),
        (
            "Point in time",
            f"Everything in this report is as of the planning date {h['as_of']}: the "
            "forecast, the health scores, the history and the calibration read only records "
            "dated before it. The model is trained on the same construction for earlier "
            f"years (features as of the same date one, two, … years earlier → outcomes of "
            f"fiscal years {', '.join(str(y) for y in tr.get('fiscal_years', [])) or 'n/a'}; "
            f"{tr.get('n_renewal_accounts', 'n/a')} renewal accounts), never on snapshots "
            "closer to renewal than the planning date.",
        ),
        ("Forecast model", f"{fc.model}: {_MODEL_TEXT.get(fc.model, '')}"),
        (
            "Intervals and P(hit plan)",
            f"{fc.settings.get('n_draws', 'n/a')} joint draws of every account's ARR on t1 "
            "give GRR, NRR and the waterfall per draw; intervals are central quantiles of "
            "those draws and P(hit plan) is the share of draws at or above plan.",
        ),
        (
            "Track record",
            "Rolling-origin backtest: each past year is forecast as of its own first day "
            "from data known then, and compared with what happened. Coverage is the share "
            "of years whose actual fell inside the interval; the calibration plot pools the "
            "years' equal-count bins of per-account renewal probabilities; ECE is the "
            "expected calibration error (mean |predicted − observed| over 10 bins).",
        ),
        (
            "Drivers",
            "Dimension weights come from a logistic regression of renewal on the four "
            "dimension scores (90 days before each renewal settled before the planning date, "
            "adjusted for segment, cluster-robust by CSM); weight ∝ max(coefficient, 0); "
            "95% intervals from a parametric bootstrap. Activity effects, when shown, are "
            "confounding-adjusted estimates from dearstats.effects (doubly robust 'dr' is the "
            "headline estimator).",
        ),
        (
            "Campaigns",
            "A campaign raises the chosen dimension score of N red renewal accounts to the "
            "card's green threshold and re-forecasts them with the same model and the same "
            "random numbers, so the change isolates the campaign from outcome noise. It is "
            "the model's prediction for accounts whose measured health is green — causal "
            "only to the extent the renewal model is. Targets are ranked by expected gross "
            "ARR saved.",
        ),
        (
            "ARR at risk",
            "Per account: ARR on t0 minus the expected min(ARR(t1), ARR(t0)) over the "
            "draws — the expected gross loss (churn plus contraction).",
        ),
        (
            "Colours",
            "Red / yellow / green are drawn in a colour-blind-safe palette (vermillion, "
            "orange, bluish green) with a second cue — hatching on areas (red ///, yellow "
            "dots, green plain) and marker shapes (red ▼, yellow ●, green ▲).",
        ),
        (
            "Reproducibility",
            f"Random seed {h['random_seed']}: the same book, settings and seed give the same "
            "numbers and the same CSV tables. Package versions are listed below.",
        ),
    ]
    return paras

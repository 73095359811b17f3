"""Effects of CSM activities on next-period health and on renewal, adjusted for confounding.

CSMs aim their plays (health checks, trainings, business reviews…) at accounts in trouble,
so a raw comparison makes every play look harmful: the accounts that got one were sicker to
begin with. :func:`activity_effects` estimates what one more activity *does*, beside the
naive regression, with the diagnostics that say how far to trust it.

The data: one row per account × period
--------------------------------------
Periods are ``[t_p, t_{p+1})`` on a calendar grid (``freq``: month starts by default). For
every account with ARR on ``t_p`` (and a CSM, under the default ``population="csm"``; or
exactly the account-periods of a ``population`` frame, e.g. the accounts each CSM actively
managed that month):

* **treatment** ``N_k``: the account's activities of type ``k`` dated in ``[t_p, t_{p+1})``;
* **confounders** ``X``, all as of ``t_p`` (features of :func:`dearstats.build_panel`:
  records dated before ``t_p``): the scorecard's dimension scores (and squares), colours and
  measures, the scores one period earlier, activity counts of the last 90 days, log ARR,
  tenure and days since the first contract (with bands for the first months), days to the
  next renewal of any contract and of the main (largest) contract (with bands), the share
  of ARR renewing within 92 days, products, segment, the CSM (an indicator per CSM),
  calendar time, and any ``extra_confounders`` the user supplies (e.g. a CSM's recorded
  risk assessment or sentiment);
* **outcomes** ``Y``, read as of ``t_{p+horizon}``: ``<dimension>_score`` (0–100),
  ``<dimension>_green`` / ``<dimension>_red`` (0/1), the same for ``overall``, and
  ``renewed``: 1 if no renewal event of the account dated in ``[t_{p+horizon},
  t_{p+horizon} + renewal_days)`` churned, 0 if one did (rows without such an event have no
  renewal outcome). Colour outcomes exist for accounts still customers at
  ``t_{p+horizon}``.

Point in time: every number depends only on records dated before ``cut`` (in
``settings``), the last date any outcome needs. (The book's last record date is read only
to choose the default ``end`` and to refuse an ``end`` whose outcomes it does not hold.)

The estimand
------------
For activity type ``k`` and outcome ``Y``::

    psi_k = E[ Y(N_k + 1) ] - E[ Y(N_k) ]

the average change in the outcome if every account-period in the population had **one
more** activity of type ``k`` in the period than it actually had, at the time of the
period the CSM would naturally have held it, everything else running its natural course.
This is an *incremental* (shift) effect, a modified treatment policy (Haneuse & Rotnitzky
2013, Stat Med 32:5260; Díaz et al. 2023, JASA 118:846). It is what a CS leader asks
("what does one more EBR buy?"), it needs no account to be forced to zero activities, and it
is what the simulator's intervention hook measures: re-simulating the same world with
``Intervention(extra_activities={k: {account: 1}})`` in a period (common random numbers)
and averaging the change in the outcome computed from the book (the recovery test).

Identification needs *no unmeasured confounding*: given ``X``, how many activities an
account gets must not depend on anything else that also moves ``Y``. CSMs act on what they
see during the period (a call, an escalation); the longer the period, the more of that
falls after ``t_p`` and out of ``X``. So monthly periods are the default: they leave less
room for it than quarters. What cannot be measured is bounded by the sensitivity analysis.

The estimators (rows of :meth:`ActivityEffects.frame`)
-------------------------------------------------------
* ``naive``: the slope of ``Y`` on ``N_k`` (ordinary least squares, nothing else) — what a
  dashboard shows.
* ``regression`` (g-computation): an outcome model ``m(n, x) = E[Y | N_k = n, X = x]``
  (linear for scores, logistic for 0/1 outcomes) with terms ``X``, ``N_k``,
  ``1[N_k >= 1]`` and ``N_k`` × the current score of the outcome's dimension;
  ``psi = mean(m(N_k + 1, X) - m(N_k, X))``.
* ``ipw``: inverse-probability weighting for the shift. With ``g(n | x)`` the probability
  of ``n`` activities given ``X``, ``E[Y(N+1)] = E[r Y]`` with the density ratio
  ``r = g(N - 1 | X) / g(N | X)`` (0 when ``N = 0``). ``g`` is a negative binomial (NB2)
  regression: the mean ``mu(X)`` by Poisson quasi-likelihood on ``X``, the dispersion
  ``a`` by maximum likelihood given ``mu``, so ``r = N (1/a + mu) / ((N - 1 + 1/a) mu)``
  (``N / mu`` as ``a -> 0``). Weights are normalised (Hájek) and, only when asked
  (``trim < 1``), capped at their ``trim`` quantile among treated rows (the count capped
  is reported). Not capped by default: in simulated worlds a cap at the 0.99 quantile
  biased ipw by about −0.5 standard errors (coverage 87.5 % instead of 95 %) for a
  standard error only ~5 % smaller, and a fixed-quantile cap keeps its bias as the data
  grow while the interval shrinks; read the overlap diagnostics instead.
* ``dr`` (augmented IPW, doubly robust): ``psi = mean(r (Y - m(N, X)) + m(N + 1, X) - Y)``;
  consistent if either the density ratio or the outcome model is right. The headline.

All models carry a tiny ridge penalty (1 on standardised columns) so that a CSM whose
accounts never got an activity type cannot make a fit diverge.

Intervals are Wald intervals from influence functions **clustered by account** (an
account's periods are not independent): naive — the cluster-robust (CR0) sandwich;
regression — delta method including the outcome model's estimation; ipw — including the
estimation of the propensity mean; dr — the usual AIPW influence function (nuisance
estimation is asymptotically negligible when both models are right). No resampling, so
the numbers are deterministic.

Diagnostics
-----------
* ``overlap`` (one row per activity): treated rows (``N_k >= 1``), the propensity
  ``P(N_k >= 1 | X)`` by arm (5th/50th/95th percentiles), the effective sample size of the
  weights among treated rows ``(sum r)^2 / sum r^2``, the largest weight and the count
  capped. Low ESS or untreated rows with propensity near 0 mean the adjusted estimate rests
  on few accounts.
* ``balance`` (activity × confounder): standardised mean difference of each confounder
  between the treated rows and the whole population, before and after weighting by ``r``.
  Weighted treated rows stand for the whole population under the shift, so after weighting
  every SMD should be near 0 (|SMD| < 0.1 is the usual bar).
* ``sensitivity`` (activity × outcome, for the ``dr`` estimate): the **E-value**
  (VanderWeele & Ding 2017, Ann Intern Med 167:268) of the estimate and of the interval
  bound nearer the null — the risk ratio an unmeasured confounder would need with both the
  activity and the outcome to explain the effect away (risk ratio ``E[Y(N+1)] / E[Y]`` for
  0/1 outcomes; for scores the standardised-difference approximation ``RR = exp(0.91 d)``).
  And **proportional selection** (Altonji, Elder & Taber 2005, J Polit Econ 113:151;
  Oster 2019, J Bus Econ Stat 37:187): the measured confounders moved the estimate from the
  naive slope to ``dr`` (``observed_shift = dr - naive``); if what is not measured pulls
  the same way and is ``delta`` times as strong, the estimate moves a further
  ``delta × observed_shift``. ``ci_low_delta``/``ci_high_delta`` stretch the ``dr``
  interval by that much in that direction (``delta`` = 1, "as much selection on the
  unmeasured as on the measured", by default) and ``delta_to_null`` is the ``delta`` at
  which the estimate reaches 0 (negative: the unmeasured confounding would have to pull
  the other way). CSMs who see more than the book usually target in the same direction;
  on the simulated books the residual bias is about 0.4-0.5 times the observed shift.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import narwhals as nw
import numpy as np
import pandas as pd
import scipy.stats as st
from scipy.optimize import minimize_scalar
from scipy.special import expit, gammaln

from dearstats.book import Book, to_date
from dearstats.errors import InputError
from dearstats.features import FeatureConfig, build_panel
from dearstats.retention import renewal_events
from dearstats.scorecard import ScoreCard

__all__ = ["ESTIMATORS", "ActivityEffects", "activity_effects"]

#: estimators, in the order of every table
ESTIMATORS: tuple[str, ...] = ("naive", "regression", "ipw", "dr")
_RIDGE = 1.0
#: bands of days since the first contract began, entered as indicators: onboarding plays
#: follow the first months
_TENURE_BANDS = ((0, 31), (31, 61), (61, 92), (92, 122), (122, 183), (183, 365))
#: days-to-renewal bands entered as indicators: renewal plays cluster before a renewal
_RENEWAL_BANDS = (31, 61, 92, 183)
_KINDS = ("score", "green", "red")


# ---------------------------------------------------------------------------------------
# result


@dataclass(frozen=True, repr=False)
class ActivityEffects:
    """Activity effects with their diagnostics (see :mod:`dearstats.effects`).

    Attributes
    ----------
    effects
        Tidy: one row per activity × outcome × estimator (:meth:`frame`).
    overlap, balance, sensitivity
        Diagnostics (module docstring).
    skipped
        Activity types left out (too few treated rows) with the reason.
    data
        The analysis rows: ``account_id``, ``as_of`` (``t_p``), ``count_<type>`` (the
        treatment) and ``y_<outcome>`` (NaN where the outcome does not exist).
    settings
        Arguments and sizes: periods, horizon, population, cut, rows, accounts, confounders.
    """

    effects: pd.DataFrame
    overlap: pd.DataFrame
    balance: pd.DataFrame
    sensitivity: pd.DataFrame
    skipped: pd.DataFrame
    data: pd.DataFrame = field(compare=False)
    settings: dict[str, Any] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        """``activity, outcome, estimator, estimate, std_err, ci_low, ci_high, n, n_treated,
        n_accounts, unit`` (``unit``: ``points`` on the 0–100 score scale or
        ``probability``)."""
        return self.effects.copy()

    def summary(self) -> pd.DataFrame:
        """One row per activity × outcome: each estimator's estimate, the ``dr`` interval
        and the naive bias relative to it (``naive − dr``)."""
        wide = self.effects.pivot_table(
            index=["activity", "outcome"], columns="estimator", values="estimate", sort=False
        )[list(ESTIMATORS)]
        dr = self.effects[self.effects["estimator"] == "dr"].set_index(["activity", "outcome"])
        wide["dr_ci_low"] = dr["ci_low"]
        wide["dr_ci_high"] = dr["ci_high"]
        wide["naive_minus_dr"] = wide["naive"] - wide["dr"]
        wide["unit"] = dr["unit"]
        wide.columns.name = None
        return wide.reset_index()

    def sentences(self) -> list[str]:
        """A sentence per activity × outcome a CS leader can read (``dr`` with the naive
        figure beside it)."""
        s = self.settings
        out = []
        for (act, outcome), g in self.effects.groupby(["activity", "outcome"], sort=False):
            row = g.set_index("estimator")
            out.append(
                _sentence(
                    act,
                    outcome,
                    row.loc["dr"],
                    float(row.loc["naive", "estimate"]),
                    period=s["period_word"],
                    horizon=s["horizon"],
                    renewal_days=s["renewal_days"],
                    level=1 - s["alpha"],
                )
            )
        return out

    def plot(self, outcome: str | None = None, *, ax: Any = None) -> Any:
        """Forest plot of one outcome (default: the first): estimate and interval per
        activity and estimator. Returns the matplotlib Axes."""
        import matplotlib.pyplot as plt

        outcomes = list(dict.fromkeys(self.effects["outcome"]))
        outcome = outcomes[0] if outcome is None else outcome
        if outcome not in outcomes:
            raise InputError(
                f"plot: outcome {outcome!r} is not in the results; pick one of "
                f"{', '.join(outcomes)}."
            )
        tab = self.effects[self.effects["outcome"] == outcome]
        acts = list(dict.fromkeys(tab["activity"]))
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.6 + 0.55 * len(acts)))
        for j, est in enumerate(ESTIMATORS):
            sub = tab[tab["estimator"] == est].set_index("activity").loc[acts]
            y = np.arange(len(acts)) + (j - 1.5) * 0.18
            ax.errorbar(
                sub["estimate"],
                y,
                xerr=[sub["estimate"] - sub["ci_low"], sub["ci_high"] - sub["estimate"]],
                fmt="o",
                ms=4,
                capsize=2,
                label=est,
            )
        ax.axvline(0.0, color="grey", lw=0.8)
        ax.set_yticks(np.arange(len(acts)), acts)
        ax.invert_yaxis()
        unit = tab["unit"].iloc[0] if len(tab) else ""
        ax.set_xlabel(f"effect of one more activity on {outcome} ({unit})")
        ax.legend(fontsize="small", loc="best")
        return ax

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"ActivityEffects({len(s.get('activities', []))} activities × "
            f"{len(s.get('outcomes', []))} outcomes, {s.get('n_rows')} account-"
            f"{s.get('period_word')}s of {s.get('n_accounts')} accounts, periods "
            f"{s.get('start')}..{s.get('end')}, horizon {s.get('horizon')}; "
            "call .summary(), .sentences(), .overlap, .balance, .sensitivity)"
        )


# ---------------------------------------------------------------------------------------
# public entry point


def activity_effects(
    book: Book,
    *,
    start: Any = None,
    end: Any = None,
    freq: str = "MS",
    horizon: int = 2,
    activities: Sequence[str] | None = None,
    outcomes: Sequence[str] | None = None,
    scorecard: ScoreCard | None = None,
    feature_config: FeatureConfig | None = None,
    population: Literal["csm", "all"] | pd.DataFrame = "csm",
    extra_confounders: pd.DataFrame | None = None,
    renewal_days: int = 90,
    grace_days: int = 30,
    trim: float = 1.0,
    alpha: float = 0.05,
    min_treated: int = 20,
    delta: float = 1.0,
) -> ActivityEffects:
    """Confounding-adjusted effect of one more activity of each type (module docstring).

    Parameters
    ----------
    book
        A :class:`dearstats.Book`.
    start, end
        Treatment periods start on the ``freq`` grid in ``[start, end)``. Defaults: the first
        grid date a year after the book's first activity, seat snapshot or usage record (so
        every feature window is filled), and the latest period whose outcomes the book
        already holds. An ``end`` whose outcomes would read past the book's last record is
        an error.
    freq
        Period length as a pandas frequency: ``"MS"`` (month, default) or ``"QS"``
        (quarter).
    horizon
        Outcomes are read as of ``t_{p+horizon}``: 1 = the end of the treatment period, 2
        (default) = the end of the following one, which leaves effects time to show in
        the 30-day usage windows.
    activities
        Activity types (default: every type with at least ``min_treated`` treated rows).
    outcomes
        From ``<dimension>_score``, ``<dimension>_green``, ``<dimension>_red`` (any card
        dimension or ``overall``) and ``renewed``. Default: every dimension's score and
        green, and ``renewed``.
    scorecard, feature_config
        Card for the scores and colours (default :meth:`ScoreCard.default`) and feature
        settings (default :class:`FeatureConfig`).
    population
        ``"csm"`` (default): accounts with a CSM (tech-touch accounts never get CSM plays,
        which breaks overlap); ``"all"``: every account (CSM "none" is its own level); or a
        frame with ``account_id`` and ``as_of`` (period starts): exactly those account-periods
        (of accounts with ARR on ``t_p``), e.g. the accounts a CSM actively manages each
        month as the CRM records it. Use it when some accounts with ARR can never get an
        activity (an account whose main product churned while an add-on runs to its end):
        no weighting can stand for account-periods that never get one, so ``ipw`` (and
        ``dr`` unless the outcome model fits them) is biased by their share times how much
        their outcomes differ.
    extra_confounders
        Optional frame with ``account_id``, ``as_of`` (period starts) and numeric columns
        measured before each period; every analysis row needs a value.
    renewal_days, grace_days
        Window of the ``renewed`` outcome after ``t_{p+horizon}``, and the grace for late
        renewals (:func:`dearstats.renewal_events`).
    trim
        Quantile of the weights (among treated rows) they are capped at; 1 (default) = no
        cap. A cap trades bias for variance (see the module docstring).
    alpha
        1 − interval level.
    min_treated
        Default activity types need at least this many treated rows.
    delta
        Strength of unmeasured relative to measured confounding for the sensitivity
        interval (module docstring).

    Returns
    -------
    ActivityEffects
    """
    if not isinstance(book, Book):
        raise InputError(
            f"activity_effects: expected a dearstats.Book; found {type(book).__name__}. "
            "Load one with ds.read_book(...) or ds.simulate(...)."
        )
    card = ScoreCard.default() if scorecard is None else scorecard
    if not isinstance(card, ScoreCard):
        raise InputError(
            f"activity_effects: scorecard must be a ScoreCard; found {type(card).__name__}."
        )
    _check_settings(horizon, population, renewal_days, grace_days, trim, alpha, min_treated, delta)
    periods_frame = _check_population(population) if isinstance(population, pd.DataFrame) else None
    dims = [*card.dimension_names, "overall"]
    outcome_list = _check_outcomes(outcomes, card.dimension_names, dims)
    step = _offset(freq)
    periods, cut = _periods(book, start, end, step, horizon, outcome_list, renewal_days, grace_days)

    extra = _check_extra(extra_confounders) if extra_confounders is not None else None
    acts = _window_activities(book, periods, step, cut)
    if activities is not None:
        _check_named(activities, acts)
    rows = _analysis_rows(
        book, card, feature_config, periods, step, horizon,
        population if periods_frame is None else periods_frame, cut, outcome_list,
        renewal_days, grace_days, acts,
    )  # fmt: skip
    types, skipped = _check_activities(activities, rows, min_treated)
    X, names, groups = _confounders(rows, card, extra)
    Xs = _standardise(X)
    clusters = pd.factorize(rows["account_id"])[0]

    z = st.norm.ppf(1 - alpha / 2)
    effects, overlap, balance, sens = [], [], [], []
    for k in types:
        n_k = rows[f"count_{k}"].to_numpy(dtype=float)
        prop = _propensity(n_k, Xs, trim)
        overlap.append(_overlap_row(k, n_k, prop))
        balance.append(_balance(k, n_k, prop.r, X, names, groups))
        for o in outcome_list:
            y_all = rows[f"y_{o}"].to_numpy(dtype=float)
            keep = ~np.isnan(y_all)
            inter = _interaction_column(rows, o, card.dimension_names)
            binary = not o.endswith("_score")
            if keep.sum() < 10 or not (n_k[keep] > 0).any() or np.ptp(y_all[keep]) == 0:
                # too few rows, no treated row or a constant outcome: nothing to estimate
                res = dict.fromkeys(ESTIMATORS, (float("nan"), float("nan")))
            else:
                res = _estimate(
                    y_all[keep], n_k[keep], Xs[keep], inter[keep], prop, keep, clusters,
                    binary=binary,
                )  # fmt: skip
            unit = "points" if o.endswith("_score") else "probability"
            n_acc = len(np.unique(clusters[keep]))
            for name in ESTIMATORS:
                est, se = res[name]
                effects.append(
                    {
                        "activity": k,
                        "outcome": o,
                        "estimator": name,
                        "estimate": est,
                        "std_err": se,
                        "ci_low": est - z * se,
                        "ci_high": est + z * se,
                        "n": int(keep.sum()),
                        "n_treated": int((n_k[keep] > 0).sum()),
                        "n_accounts": n_acc,
                        "unit": unit,
                    }
                )
            sens.append(
                _sensitivity_row(k, o, res["dr"], res["naive"][0], y_all[keep], z, unit, delta)
            )

    effects_df = pd.DataFrame(effects, columns=_EFFECT_COLUMNS)
    settings = {
        "freq": freq,
        "period_word": _period_word(freq),
        "horizon": horizon,
        "start": periods[0].date().isoformat(),
        "end": (periods[-1] + step).date().isoformat(),
        "n_periods": len(periods),
        "cut": cut.date().isoformat(),
        "population": population
        if periods_frame is None
        else f"given ({len(periods_frame)} account-periods)",
        "activities": types,
        "outcomes": outcome_list,
        "renewal_days": renewal_days,
        "grace_days": grace_days,
        "trim": trim,
        "alpha": alpha,
        "delta": delta,
        "n_rows": len(rows),
        "n_accounts": int(rows["account_id"].nunique()),
        "n_confounders": X.shape[1],
        "confounder_groups": {g: groups.count(g) for g in sorted(set(groups))},
        "interval": "Wald, influence functions clustered by account",
        "scorecard": card.to_dict(),
    }
    data_cols = ["account_id", "as_of", *[f"count_{k}" for k in types]]
    data_cols += [f"y_{o}" for o in outcome_list]
    return ActivityEffects(
        effects=effects_df,
        overlap=pd.DataFrame(overlap, columns=_OVERLAP_COLUMNS),
        balance=pd.concat(balance, ignore_index=True)
        if balance
        else pd.DataFrame(columns=_BALANCE_COLUMNS),
        sensitivity=pd.DataFrame(sens, columns=_SENS_COLUMNS),
        skipped=skipped,
        data=rows[data_cols].reset_index(drop=True),
        settings=settings,
    )


_EFFECT_COLUMNS = [
    "activity",
    "outcome",
    "estimator",
    "estimate",
    "std_err",
    "ci_low",
    "ci_high",
    "n",
    "n_treated",
    "n_accounts",
    "unit",
]
_OVERLAP_COLUMNS = [
    "activity",
    "n",
    "n_treated",
    "share_treated",
    "mean_count",
    "dispersion",
    "ps_treated_p05",
    "ps_treated_p50",
    "ps_treated_p95",
    "ps_untreated_p05",
    "ps_untreated_p50",
    "ps_untreated_p95",
    "ess",
    "ess_share",
    "max_weight",
    "weight_cap",
    "n_capped",
    "mean_weight",
]
_BALANCE_COLUMNS = ["activity", "confounder", "group", "smd_before", "smd_after"]
_SENS_COLUMNS = [
    "activity",
    "outcome",
    "estimate",
    "ci_low",
    "ci_high",
    "e_value",
    "e_value_ci",
    "naive",
    "observed_shift",
    "delta_to_null",
    "ci_low_delta",
    "ci_high_delta",
]


# ---------------------------------------------------------------------------------------
# argument checks


def _check_settings(
    horizon: Any,
    population: Any,
    renewal_days: Any,
    grace_days: Any,
    trim: Any,
    alpha: Any,
    min_treated: Any,
    delta: Any,
) -> None:
    problems = []
    for name, value, low in (
        ("horizon", horizon, 1),
        ("renewal_days", renewal_days, 1),
        ("grace_days", grace_days, 0),
        ("min_treated", min_treated, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            problems.append(f"{name}={value!r} must be a whole number ≥ {low}")
    if not isinstance(population, pd.DataFrame) and population not in ("csm", "all"):
        problems.append(
            f"population={population!r} must be 'csm', 'all' or a frame of account_id, as_of"
        )
    if not isinstance(trim, int | float) or not 0.5 < float(trim) <= 1.0:
        problems.append(f"trim={trim!r} must be a quantile in (0.5, 1] (1 = no cap)")
    if not isinstance(alpha, int | float) or not 0.0 < float(alpha) < 0.5:
        problems.append(f"alpha={alpha!r} must be in (0, 0.5) (0.05 for 95 % intervals)")
    if isinstance(delta, bool) or not isinstance(delta, int | float) or not delta >= 0:
        problems.append(f"delta={delta!r} must be a number ≥ 0 (1 = as strong as measured)")
    if problems:
        raise InputError("activity_effects: " + "; ".join(problems) + ".")


def _check_outcomes(
    outcomes: Sequence[str] | None, card_dims: Sequence[str], dims: Sequence[str]
) -> list[str]:
    valid = [f"{d}_{kind}" for d in dims for kind in _KINDS] + ["renewed"]
    if outcomes is None:
        return [f"{d}_{kind}" for kind in ("score", "green") for d in card_dims] + ["renewed"]
    if isinstance(outcomes, str) or not isinstance(outcomes, Iterable):
        raise InputError(
            f"activity_effects: outcomes must be a list of names; found {outcomes!r}. "
            f"Pass e.g. outcomes=['adoption_score', 'renewed']."
        )
    out = list(dict.fromkeys(outcomes))
    bad = [o for o in out if o not in valid]
    if bad or not out:
        found = (
            f"{len(bad)} unknown outcome(s): {', '.join(map(repr, bad))}"
            if bad
            else "outcomes is empty"
        )
        raise InputError(
            f"activity_effects: {found}; outcomes are <dimension>_score, <dimension>_green, "
            f"<dimension>_red or renewed: {', '.join(valid)}."
        )
    return out


def _offset(freq: Any) -> pd.DateOffset:
    try:
        step = pd.tseries.frequencies.to_offset(freq)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"activity_effects: freq={freq!r} is not a pandas frequency; use 'MS' (month "
            "starts) or 'QS' (quarter starts)."
        ) from exc
    probe = pd.Timestamp("2024-01-01")
    if not (probe + step > probe) or (probe + step) - probe > pd.Timedelta(days=400):
        raise InputError(
            f"activity_effects: freq={freq!r} must step forward by at most a year; use 'MS' or "
            "'QS'."
        )
    return step


def _period_word(freq: str) -> str:
    f = str(freq).upper()
    if f.startswith("M"):
        return "month"
    if f.startswith("Q"):
        return "quarter"
    if f.startswith("W"):
        return "week"
    return "period"


def _data_range(book: Book) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First day and the day after the last day of the book's dated records (activities,
    seat snapshots, usage)."""
    firsts, lasts = [], []
    for table, col in (("activities", "date"), ("seat_snapshots", "date"), ("usage", "date")):
        lo, hi = (
            book.lazy(table)
            .select(nw.col(col).min().alias("lo"), nw.col(col).max().alias("hi"))
            .collect()
            .row(0)
        )
        if lo is not None and not pd.isna(lo):
            firsts.append(pd.Timestamp(lo))
            lasts.append(pd.Timestamp(hi))
    if not firsts:
        raise InputError(
            "activity_effects: the book has no activities, seat snapshots or usage; it needs "
            "them over at least a year."
        )
    return min(firsts), max(lasts) + pd.Timedelta(days=1)


def _periods(
    book: Book,
    start: Any,
    end: Any,
    step: pd.DateOffset,
    horizon: int,
    outcomes: list[str],
    renewal_days: int,
    grace_days: int,
) -> tuple[list[pd.Timestamp], pd.Timestamp]:
    """The period starts and the cut (last date any outcome reads)."""
    tail = pd.Timedelta(days=renewal_days + grace_days) if "renewed" in outcomes else None

    def cut_of(last: pd.Timestamp) -> pd.Timestamp:
        c = last + horizon * step
        return c + tail if tail is not None else c

    first_day, data_end = _data_range(book)
    s = (
        pd.Timestamp(to_date(start, name="start"))
        if start is not None
        else step.rollforward(first_day + pd.DateOffset(years=1))
    )
    if end is not None:
        e = pd.Timestamp(to_date(end, name="end"))
    else:
        e = s
        while cut_of(e) <= data_end:
            e = e + step
    grid = list(pd.date_range(s, e, freq=step, inclusive="left"))
    if not grid:
        raise InputError(
            f"activity_effects: no period starts in [{s.date()}, {e.date()}) on the "
            f"{step.freqstr} grid; widen start/end (the outcomes need {horizon} period(s) "
            "of data after each period"
            + (f", plus {renewal_days + grace_days} days for renewals" if tail else "")
            + ")."
        )
    cut = cut_of(grid[-1])
    if cut > data_end:
        last = (data_end - pd.Timedelta(days=1)).date()
        raise InputError(
            f"activity_effects: the outcomes of the period starting {grid[-1].date()} are read "
            f"until {cut.date()}, but the book's records end on {last}; pass an earlier end "
            "(or leave end out to use the latest period the book covers)."
        )
    return grid, cut


def _check_activities(
    activities: Sequence[str] | None, rows: pd.DataFrame, min_treated: int
) -> tuple[list[str], pd.DataFrame]:
    present = [c.removeprefix("count_") for c in rows.columns if c.startswith("count_")]
    treated = {k: int((rows[f"count_{k}"] > 0).sum()) for k in present}
    if activities is None:
        types = [k for k in present if treated[k] >= min_treated]
        skipped = [
            (k, treated[k], f"fewer than min_treated={min_treated} treated rows")
            for k in present
            if treated[k] < min_treated
        ]
        if not types:
            seen = ", ".join(f"{k}: {v}" for k, v in treated.items()) or "no activities at all"
            raise InputError(
                f"activity_effects: no activity type has {min_treated} or more account-periods "
                f"with an activity ({seen}); use a longer range, population='all' or a lower "
                "min_treated."
            )
    else:
        if isinstance(activities, str):
            activities = [activities]
        types = list(dict.fromkeys(activities))
        unknown = [k for k in types if k not in treated or treated[k] == 0]
        if unknown or not types:
            avail = ", ".join(f"{k} ({v})" for k, v in treated.items())
            raise InputError(
                f"activity_effects: {len(unknown)} activity type(s) never occur in the "
                f"analysis rows: {', '.join(map(repr, unknown))}; types with their treated "
                f"account-periods: {avail or 'none'}. Check activities.activity_type or the "
                "period range."
            )
        skipped = []
    return types, pd.DataFrame(skipped, columns=["activity", "n_treated", "reason"])


# ---------------------------------------------------------------------------------------
# the analysis rows


def _analysis_rows(
    book: Book,
    card: ScoreCard,
    feature_config: FeatureConfig | None,
    periods: list[pd.Timestamp],
    step: pd.DateOffset,
    horizon: int,
    population: str | pd.DataFrame,
    cut: pd.Timestamp,
    outcomes: list[str],
    renewal_days: int,
    grace_days: int,
    acts: pd.DataFrame,
) -> pd.DataFrame:
    dates = [periods[0] - step, *periods] + [periods[-1] + j * step for j in range(1, horizon + 1)]
    panel = build_panel(book, dates=dates, config=feature_config)
    scored = card.score(panel)
    scored["as_of"] = scored["as_of"].astype("datetime64[us]")
    index = {d: i for i, d in enumerate(pd.DatetimeIndex(dates).astype("datetime64[us]"))}
    scored["_p"] = scored["as_of"].map(index).astype("int64") - 1  # period of t_p

    base = scored[scored["_p"].between(0, len(periods) - 1)].copy()
    if isinstance(population, pd.DataFrame):
        keys = population.assign(
            account_id=population["account_id"].astype(base["account_id"].dtype)
        )
        base = base.merge(keys, on=["account_id", "as_of"], how="inner")
    elif population == "csm":
        base = base[base["csm_id"].notna()]
    dims = [*card.dimension_names, "overall"]
    score_cols = [f"{d}_score" for d in dims]
    # previous period's scores (t_{p-1})
    prev = scored[["account_id", "_p", *score_cols]].copy()
    prev["_p"] = prev["_p"] + 1
    prev = prev.rename(columns={c: f"{c}_prev" for c in score_cols})
    base = base.merge(prev, on=["account_id", "_p"], how="left")
    # outcomes as of t_{p+horizon}
    nxt = scored[["account_id", "_p"]].copy()
    nxt["_p"] = nxt["_p"] - horizon
    for d in dims:
        s = scored[f"{d}_score"].to_numpy(dtype=float)
        colour = scored[f"{d}_colour"]
        known = ~np.isnan(s)
        nxt[f"{d}_score"] = s
        nxt[f"{d}_green"] = np.where(known, (colour == "green").to_numpy(dtype=float), np.nan)
        nxt[f"{d}_red"] = np.where(known, (colour == "red").to_numpy(dtype=float), np.nan)
    wanted = [o for o in outcomes if o != "renewed"]
    nxt = nxt[["account_id", "_p", *wanted]].rename(columns={o: f"y_{o}" for o in wanted})
    base = base.merge(nxt, on=["account_id", "_p"], how="left")
    # activity counts in [t_p, t_{p+1})
    base = _add_counts(base, acts)
    base = _contract_context(base, book, cut)
    if "renewed" in outcomes:
        base["y_renewed"] = _renewed(
            base, book, periods, horizon, step, cut, renewal_days, grace_days
        )
    if base.empty:
        raise InputError(
            f"activity_effects: no account-periods in {periods[0].date()}..{periods[-1].date()}"
            + (
                " in the population frame"
                if isinstance(population, pd.DataFrame)
                else " with a CSM (population='csm')"
                if population == "csm"
                else ""
            )
            + "; check the date range and accounts.csm_id."
        )
    return base.sort_values(["account_id", "as_of"], kind="stable").reset_index(drop=True)


def _window_activities(
    book: Book, periods: list[pd.Timestamp], step: pd.DateOffset, cut: pd.Timestamp
) -> pd.DataFrame:
    """Activities dated in the periods: ``account_id``, ``activity_type``, ``_p`` (the
    period index)."""
    acts = book.frame("activities")[["account_id", "date", "activity_type"]]
    acts = acts[(acts["date"] < cut) & acts["activity_type"].notna()]
    edges = np.array([*periods, periods[-1] + step], dtype="datetime64[us]")
    p = np.searchsorted(edges, acts["date"].to_numpy(dtype="datetime64[us]"), side="right") - 1
    ok = (p >= 0) & (p < len(periods))
    return acts.loc[ok, ["account_id", "activity_type"]].assign(_p=p[ok])


def _check_named(activities: Any, acts: pd.DataFrame) -> None:
    names = [activities] if isinstance(activities, str) else list(activities)
    seen = acts["activity_type"].value_counts()
    unknown = [k for k in names if k not in seen.index]
    if unknown or not names:
        avail = ", ".join(f"{k} ({v})" for k, v in seen.items())
        raise InputError(
            f"activity_effects: {len(unknown)} activity type(s) never occur in the periods: "
            f"{', '.join(map(repr, unknown)) or '(none named)'}; the types with their "
            f"activities in the periods: {avail or 'none'}. Check activities.activity_type "
            "or the period range."
        )


def _add_counts(base: pd.DataFrame, acts: pd.DataFrame) -> pd.DataFrame:
    """``count_<type>``: each row's activities of each type in its period."""
    types = sorted(acts["activity_type"].unique())
    counts = (
        acts.groupby(["account_id", "_p", "activity_type"], observed=True)
        .size()
        .unstack("activity_type", fill_value=0)
        .reindex(columns=types, fill_value=0)
    )
    counts.columns = [f"count_{t}" for t in counts.columns]
    counts = counts.reset_index()
    counts["account_id"] = counts["account_id"].astype(base["account_id"].dtype)
    out = base.merge(counts, on=["account_id", "_p"], how="left")
    for c in counts.columns[2:]:
        out[c] = out[c].fillna(0).astype("int64")
    return out


def _contract_context(base: pd.DataFrame, book: Book, cut: pd.Timestamp) -> pd.DataFrame:
    """Contract timing of each row as of its ``t_p``, from contracts started before it:
    days since the account's first contract began (onboarding plays follow it), days to
    the end of its main (largest-ARR) live contract and the share of live ARR ending
    within 92 days (renewal plays follow those; ``days_to_renewal`` of the features is
    the nearest end of *any* contract, often a small add-on)."""
    c = book.frame("contracts")[["account_id", "start_date", "end_date", "arr"]]
    c = c[c["start_date"] < cut].assign(
        account_id=lambda d: d["account_id"].astype(base["account_id"].dtype)
    )
    first = c.groupby("account_id")["start_date"].min()
    keys = base[["account_id", "as_of"]].assign(_row=np.arange(len(base)))
    m = keys.merge(c, on="account_id", how="inner")
    m = m[(m["start_date"] < m["as_of"]) & (m["as_of"] <= m["end_date"])]
    days = (m["end_date"] - m["as_of"]).dt.days.to_numpy(dtype=float)
    m = m.assign(_days=days, _soon=np.where(days <= 92, m["arr"].to_numpy(dtype=float), 0.0))
    main = m.sort_values(["_row", "arr", "_days"], ascending=[True, False, True])
    main = main.drop_duplicates("_row").set_index("_row")["_days"]
    share = m.groupby("_row")["_soon"].sum() / m.groupby("_row")["arr"].sum().where(lambda a: a > 0)
    out = base.copy()
    since = out["as_of"] - out["account_id"].map(first).astype("datetime64[us]")
    out["_days_since_first_contract"] = since.dt.days.to_numpy(dtype=float)
    out["_days_to_main_renewal"] = main.reindex(np.arange(len(base))).to_numpy(dtype=float)
    out["_arr_share_renewing_92d"] = share.reindex(np.arange(len(base))).to_numpy(dtype=float)
    return out


def _renewed(
    base: pd.DataFrame,
    book: Book,
    periods: list[pd.Timestamp],
    horizon: int,
    step: pd.DateOffset,
    cut: pd.Timestamp,
    renewal_days: int,
    grace_days: int,
) -> np.ndarray:
    """1 / 0 / NaN: no churn / a churn / no event in the renewal window of each row."""
    ev = renewal_events(
        book.frame("contracts"), grace_days=grace_days, as_of=cut.date().isoformat()
    )
    ev = ev[ev["is_final"]]
    ev = pd.DataFrame(
        {
            "account_id": ev["account_id"].astype(base["account_id"].dtype),
            "date": ev["renewal_date"].to_numpy(dtype="datetime64[us]"),
            "churn": (ev["outcome"] == "churn").to_numpy(),
        }
    )
    win_start = np.array(
        [periods[p] + horizon * step for p in range(len(periods))], dtype="datetime64[us]"
    )
    left = pd.DataFrame(
        {
            "account_id": base["account_id"].to_numpy(),
            "_row": np.arange(len(base)),
            "_w0": win_start[base["_p"].to_numpy()],
        }
    )
    m = left.merge(ev, on="account_id", how="inner")
    inside = (m["date"] >= m["_w0"]) & (m["date"] < m["_w0"] + pd.Timedelta(days=renewal_days))
    m = m[inside]
    out = np.full(len(base), np.nan)
    if len(m):
        churned = m.groupby("_row")["churn"].any()
        out[churned.index.to_numpy()] = np.where(churned.to_numpy(), 0.0, 1.0)
    return out


# ---------------------------------------------------------------------------------------
# confounders


def _confounders(
    rows: pd.DataFrame, card: ScoreCard, extra: pd.DataFrame | None
) -> tuple[np.ndarray, list[str], list[str]]:
    """The confounder matrix (no intercept, columns standardised later) and each column's
    group: health, history, lifecycle, segment, csm, extra."""
    cols: list[np.ndarray] = []
    names: list[str] = []
    groups: list[str] = []

    def add(values: Any, name: str, group: str) -> None:
        v = np.asarray(values, dtype=float)
        miss = np.isnan(v)
        if miss.all():
            return
        if miss.any():
            cols.append(miss.astype(float))
            names.append(f"{name}__missing")
            groups.append(group)
            v = np.where(miss, np.nanmean(v), v)
        cols.append(v)
        names.append(name)
        groups.append(group)

    dims = [*card.dimension_names, "overall"]
    for d in dims:
        s = rows[f"{d}_score"].to_numpy(dtype=float) / 100
        add(s, f"{d}_score", "health")
        add(s**2, f"{d}_score_sq", "health")
        add(rows[f"{d}_score_prev"].to_numpy(dtype=float) / 100, f"{d}_score_prev", "health")
        colour = rows[f"{d}_colour"]
        known = colour.notna().to_numpy()
        for c in ("yellow", "green"):
            add(np.where(known, (colour == c).to_numpy(dtype=float), np.nan), f"{d}_{c}", "health")
    for m in card.measures:
        if m.name in rows.columns and m.name not in names:
            add(pd.to_numeric(rows[m.name].astype("float64")), m.name, "health")
    for c in [c for c in rows.columns if c.startswith("act_")]:
        add(np.log1p(rows[c].to_numpy(dtype=float)), f"log1p_{c}", "history")
    tenure = rows["tenure_days"].to_numpy(dtype=float)
    dtr = rows["days_to_renewal"].to_numpy(dtype=float)
    since = rows["_days_since_first_contract"].to_numpy(dtype=float)
    main = rows["_days_to_main_renewal"].to_numpy(dtype=float)
    add(np.log(np.maximum(rows["arr"].to_numpy(dtype=float), 1.0)), "log_arr", "lifecycle")
    add(np.log1p(np.maximum(tenure, 0)), "log1p_tenure", "lifecycle")
    add(np.log1p(np.maximum(since, 0)), "log1p_days_since_first_contract", "lifecycle")
    for lo, hi in _TENURE_BANDS:
        add(((since >= lo) & (since < hi)).astype(float), f"customer_{lo}_{hi}d", "lifecycle")
    add(np.log1p(np.maximum(dtr, 0)), "log1p_days_to_renewal", "lifecycle")
    add(np.log1p(np.maximum(main, 0)), "log1p_days_to_main_renewal", "lifecycle")
    for hi in _RENEWAL_BANDS:
        add((dtr <= hi).astype(float), f"renewal_within_{hi}d", "lifecycle")
        add((main <= hi).astype(float), f"main_renewal_within_{hi}d", "lifecycle")
    add(
        rows["_arr_share_renewing_92d"].to_numpy(dtype=float), "arr_share_renewing_92d", "lifecycle"
    )
    add(rows["n_products"].to_numpy(dtype=float), "n_products", "lifecycle")
    years = (rows["as_of"] - rows["as_of"].min()).dt.days.to_numpy(dtype=float) / 365.25
    add(years, "years_since_start", "lifecycle")
    for col, group in (("segment", "segment"), ("csm_id", "csm")):
        labels = rows[col].astype("object").where(rows[col].notna(), "<none>")
        levels = sorted(pd.unique(labels))
        for lv in levels[1:]:
            add((labels == lv).to_numpy(dtype=float), f"{col}={lv}", group)
    if extra is not None:
        for name, values in _extra_columns(rows, extra).items():
            add(values, name, "extra")
    X = np.column_stack(cols)
    sd = X.std(axis=0)
    keep = sd > 0
    X = X[:, keep]
    names = [c for c, k in zip(names, keep, strict=True) if k]
    groups = [g for g, k in zip(groups, keep, strict=True) if k]
    return X, names, groups


def _check_extra(extra: Any) -> pd.DataFrame:
    """``extra_confounders`` checked and normalised (before any heavy work)."""
    if not isinstance(extra, pd.DataFrame):
        raise InputError(
            f"extra_confounders: expected a pandas DataFrame with account_id, as_of and numeric "
            f"columns; found {type(extra).__name__}."
        )
    missing = [c for c in ("account_id", "as_of") if c not in extra.columns]
    value_cols = [c for c in extra.columns if c not in ("account_id", "as_of")]
    if missing or not value_cols:
        raise InputError(
            f"extra_confounders: expected columns account_id, as_of and at least one numeric "
            f"column; found {list(map(str, extra.columns))}. Add the missing "
            f"{', '.join(missing) or 'value column'}."
        )
    bad = [
        c
        for c in value_cols
        if not (pd.api.types.is_numeric_dtype(extra[c]) or pd.api.types.is_bool_dtype(extra[c]))
    ]
    if bad:
        raise InputError(
            f"extra_confounders: {len(bad)} non-numeric column(s): {', '.join(map(repr, bad))}; "
            "convert them to numbers (one indicator column per category)."
        )
    ex = extra[["account_id", "as_of", *value_cols]].copy()
    ex["account_id"] = ex["account_id"].astype("str")
    ex["as_of"] = pd.to_datetime(ex["as_of"]).astype("datetime64[us]")
    dup = ex.duplicated(["account_id", "as_of"])
    if dup.any():
        first = ex[dup].iloc[0]
        raise InputError(
            f"extra_confounders: {int(dup.sum())} repeated (account_id, as_of) rows (first: "
            f"{first['account_id']!r}, {first['as_of'].date()}); keep one row per account "
            "and period start."
        )
    return ex


def _check_population(frame: pd.DataFrame) -> pd.DataFrame:
    """A ``population`` frame checked and normalised: unique ``account_id``, ``as_of``."""
    missing = [c for c in ("account_id", "as_of") if c not in frame.columns]
    if missing:
        raise InputError(
            f"population: a frame needs columns account_id and as_of (period starts); found "
            f"{list(map(str, frame.columns))}. Add {', '.join(missing)}."
        )
    keys = frame[["account_id", "as_of"]].dropna().copy()
    keys["account_id"] = keys["account_id"].astype("str")
    keys["as_of"] = pd.to_datetime(keys["as_of"]).astype("datetime64[us]")
    return keys.drop_duplicates(ignore_index=True)


def _extra_columns(rows: pd.DataFrame, ex: pd.DataFrame) -> dict[str, np.ndarray]:
    """The checked extra confounders of every analysis row (all must be present)."""
    value_cols = [c for c in ex.columns if c not in ("account_id", "as_of")]
    ex = ex.assign(account_id=ex["account_id"].astype(rows["account_id"].dtype))
    merged = rows[["account_id", "as_of"]].merge(ex, on=["account_id", "as_of"], how="left")
    na = merged[value_cols].isna().any(axis=1).to_numpy()
    if na.any():
        first = merged[na].iloc[0]
        raise InputError(
            f"extra_confounders: {int(na.sum())} of {len(rows)} analysis rows have no value "
            f"(first: account_id={first['account_id']!r}, as_of={first['as_of'].date()}); give "
            "every account in the population a row at every period start (or fill the gaps)."
        )
    return {f"extra:{c}": merged[c].to_numpy(dtype=float) for c in value_cols}


# ---------------------------------------------------------------------------------------
# models


@dataclass(frozen=True)
class _Fit:
    """A ridge-penalised GLM on standardised columns (intercept first, unpenalised)."""

    beta: np.ndarray  # on the design as given (intercept first)
    mu: np.ndarray
    hinv: np.ndarray  # inverse of the penalised observed information (sum over rows)
    resid: np.ndarray  # y - mu (the score of row i is design_i * resid_i)


def _standardise(X: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit sd (the ridge penalty acts on this scale)."""
    s = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(s > 0, s, 1.0)


def _glm(D: np.ndarray, y: np.ndarray, family: str) -> _Fit:
    """Fit a GLM on design ``D`` (first column the intercept, the rest standardised).

    ``family``: ``gaussian`` (identity), ``binomial`` (logit) or ``poisson`` (log). Newton
    steps with step halving on the penalised log-likelihood.
    """
    p = D.shape[1]
    pen = np.full(p, _RIDGE)
    pen[0] = 0.0
    if family == "gaussian":
        H = D.T @ D + np.diag(pen)
        beta = np.linalg.solve(H, D.T @ y)
        mu = D @ beta
        return _Fit(beta, mu, np.linalg.inv(H), y - mu)

    def mean_of(eta: np.ndarray) -> np.ndarray:
        return expit(eta) if family == "binomial" else np.exp(np.minimum(eta, 30.0))

    def objective(b: np.ndarray) -> float:
        eta = D @ b
        if family == "binomial":
            ll = y * eta - np.logaddexp(0.0, eta)
        else:
            ll = y * eta - np.exp(np.minimum(eta, 30.0))
        return float(-ll.sum() + 0.5 * (pen * b * b).sum())

    ybar = float(np.clip(y.mean(), 1e-6, 1 - 1e-6 if family == "binomial" else np.inf))
    beta = np.zeros(p)
    beta[0] = math.log(ybar / (1 - ybar)) if family == "binomial" else math.log(ybar)
    obj = objective(beta)
    for _ in range(100):
        mu = mean_of(D @ beta)
        w = mu * (1 - mu) if family == "binomial" else mu
        grad = D.T @ (y - mu) - pen * beta
        H = (D * w[:, None]).T @ D + np.diag(pen)
        stepv = np.linalg.solve(H, grad)
        t = 1.0
        while True:
            cand = beta + t * stepv
            new = objective(cand)
            if new <= obj + 1e-12 or t < 1e-8:
                break
            t /= 2
        beta, gain, obj = cand, obj - new, new
        if np.max(np.abs(t * stepv)) < 1e-8 or gain < 1e-10 * (1 + abs(obj)):
            break
    mu = mean_of(D @ beta)
    w = mu * (1 - mu) if family == "binomial" else mu
    H = (D * w[:, None]).T @ D + np.diag(pen)
    return _Fit(beta, mu, np.linalg.inv(H), y - mu)


@dataclass(frozen=True)
class _Propensity:
    mu: np.ndarray  # E[N | X]
    dispersion: float  # NB2 a (variance mu + a mu^2)
    r: np.ndarray  # capped density ratio g(N-1|X)/g(N|X)
    capped: np.ndarray  # bool
    cap: float
    ps: np.ndarray  # P(N >= 1 | X)
    dr_factor: np.ndarray  # d r_i / d gamma = dr_factor_i * design_i (0 where capped)
    design: np.ndarray
    fit: _Fit


def _propensity(n: np.ndarray, X: np.ndarray, trim: float) -> _Propensity:
    D = np.column_stack([np.ones(len(n)), X])
    fit = _glm(D, n, "poisson")
    mu = np.maximum(fit.mu, 1e-10)
    a = _nb_dispersion(n, mu)
    size = 1.0 / a if a > 0 else np.inf
    treated = n > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if np.isfinite(size):
            r = np.where(treated, n * (size + mu) / ((n - 1 + size) * mu), 0.0)
            base = np.where(treated, n / (n - 1 + size), 0.0)
            ps = 1 - np.exp(size * (np.log(size) - np.log(size + mu)))
        else:
            r = np.where(treated, n / mu, 0.0)
            base = np.zeros_like(n)
            ps = 1 - np.exp(-mu)
    cap = float(np.quantile(r[treated], trim)) if treated.any() else 0.0
    capped = treated & (r > cap)
    r_c = np.where(capped, cap, r)
    # d r / d gamma = -(r - n / (n - 1 + size)) * design  (a held fixed)
    d = np.where(capped | ~treated, 0.0, -(r - base))
    return _Propensity(mu, a, r_c, capped, cap, ps, d, D, fit)


def _nb_dispersion(n: np.ndarray, mu: np.ndarray) -> float:
    """Maximum-likelihood NB2 dispersion given the means (0 when Poisson fits best)."""

    def nll(log_a: float) -> float:
        s = math.exp(-log_a)
        ll = (
            gammaln(n + s)
            - gammaln(s)
            - gammaln(n + 1)
            + s * (np.log(s) - np.log(s + mu))
            + n * (np.log(mu) - np.log(s + mu))
        )
        return float(-ll.sum())

    res = minimize_scalar(nll, bounds=(math.log(1e-6), math.log(50.0)), method="bounded")
    a = math.exp(float(res.x))
    poisson = float(-(n * np.log(mu) - mu - gammaln(n + 1)).sum())
    return 0.0 if a < 1e-5 or nll(float(res.x)) >= poisson else a


def _interaction_column(rows: pd.DataFrame, outcome: str, card_dims: Sequence[str]) -> np.ndarray:
    """The current score of the outcome's dimension (overall for ``renewed``), 0–1, mean
    filled, centred."""
    dim = outcome.rsplit("_", 1)[0] if outcome != "renewed" else "overall"
    s = rows[f"{dim}_score"].to_numpy(dtype=float) / 100
    s = np.where(np.isnan(s), np.nanmean(s) if (~np.isnan(s)).any() else 0.0, s)
    return s - s.mean()


def _cluster_se(contrib: np.ndarray, clusters: np.ndarray) -> float:
    """sqrt(sum over clusters of (sum of row contributions)^2)."""
    sums = np.bincount(clusters, weights=contrib)
    return float(math.sqrt(float((sums**2).sum())))


def _estimate(
    y: np.ndarray,
    n: np.ndarray,
    X: np.ndarray,
    inter: np.ndarray,
    prop: _Propensity,
    keep: np.ndarray,
    clusters_all: np.ndarray,
    *,
    binary: bool,
) -> dict[str, tuple[float, float]]:
    """naive, regression, ipw and dr estimates with their clustered standard errors."""
    clusters = pd.factorize(clusters_all[keep])[0]
    m = len(y)
    out: dict[str, tuple[float, float]] = {}
    # outcome model m(n, x); X is standardised
    Z = X

    def design(nn: np.ndarray) -> np.ndarray:
        return np.column_stack([np.ones(m), Z, nn, (nn > 0).astype(float), nn * inter])

    D0 = design(n)
    fit = _glm(D0, y, "binomial" if binary else "gaussian")
    D1 = design(n + 1)
    m0 = fit.mu if binary else D0 @ fit.beta
    m1 = expit(D1 @ fit.beta) if binary else D1 @ fit.beta
    r = prop.r[keep]
    phi = r * (y - m0) + m1 - y
    psi_dr = float(phi.mean())
    out["dr"] = (psi_dr, _cluster_se((phi - psi_dr) / m, clusters))

    # naive: OLS slope of y on n
    nc = n - n.mean()
    var = float((nc**2).mean())
    if var > 0:
        b = float((nc * (y - y.mean())).mean() / var)
        e = y - y.mean() - b * nc
        out["naive"] = (b, _cluster_se(nc * e / (m * var), clusters))
    else:
        out["naive"] = (float("nan"), float("nan"))

    # regression (g-computation) with the outcome model's estimation (delta method)
    delta = m1 - m0
    psi_reg = float(delta.mean())
    if binary:
        grad = ((m1 * (1 - m1))[:, None] * D1 - (m0 * (1 - m0))[:, None] * D0).mean(axis=0)
    else:
        grad = (D1 - D0).mean(axis=0)
    lever = D0 @ (fit.hinv @ grad)  # row i's parameter contribution is lever_i * resid_i
    out["regression"] = (
        psi_reg,
        _cluster_se((delta - psi_reg) / m + lever * fit.resid, clusters),
    )

    # ipw (Hajek), with the propensity mean's estimation
    sr = float(r.sum())
    mu1 = float((r * y).sum() / sr)
    psi_ipw = mu1 - float(y.mean())
    contrib = r * (y - mu1) / sr - (y - y.mean()) / m
    dpsi = prop.design[keep].T @ (prop.dr_factor[keep] * (y - mu1)) / sr
    lever_g = prop.design @ (prop.fit.hinv @ dpsi)  # over all propensity rows
    contrib_all = lever_g * prop.fit.resid
    contrib_all[keep] += contrib
    out["ipw"] = (psi_ipw, _cluster_se(contrib_all, clusters_all))
    return out


# ---------------------------------------------------------------------------------------
# diagnostics


def _quantiles(v: np.ndarray, qs: Sequence[float]) -> list[float]:
    return [float(np.quantile(v, q)) if len(v) else float("nan") for q in qs]


def _overlap_row(k: str, n: np.ndarray, prop: _Propensity) -> dict[str, Any]:
    t = n > 0
    r = prop.r[t]
    qs = (0.05, 0.5, 0.95)
    pt = _quantiles(prop.ps[t], qs)
    pu = _quantiles(prop.ps[~t], qs)
    ess = float(r.sum() ** 2 / (r**2).sum()) if t.any() else 0.0
    return {
        "activity": k,
        "n": len(n),
        "n_treated": int(t.sum()),
        "share_treated": float(t.mean()),
        "mean_count": float(n.mean()),
        "dispersion": prop.dispersion,
        "ps_treated_p05": pt[0],
        "ps_treated_p50": pt[1],
        "ps_treated_p95": pt[2],
        "ps_untreated_p05": pu[0],
        "ps_untreated_p50": pu[1],
        "ps_untreated_p95": pu[2],
        "ess": ess,
        "ess_share": ess / max(int(t.sum()), 1),
        "max_weight": float(r.max()) if t.any() else float("nan"),
        "weight_cap": prop.cap,
        "n_capped": int(prop.capped.sum()),
        "mean_weight": float(prop.r.mean()),
    }


_BALANCE_SHOWN = ("health", "lifecycle", "history", "extra")


def _balance(
    k: str, n: np.ndarray, r: np.ndarray, X: np.ndarray, names: list[str], groups: list[str]
) -> pd.DataFrame:
    """SMD of each (non-indicator-group) confounder: treated vs all, before/after weights."""
    t = n > 0
    sd = X.std(axis=0)
    mean_all = X.mean(axis=0)
    before = (X[t].mean(axis=0) - mean_all) / sd if t.any() else np.full(X.shape[1], np.nan)
    after = (r @ X / r.sum() - mean_all) / sd if r.sum() > 0 else np.full(X.shape[1], np.nan)
    out = pd.DataFrame(
        {
            "activity": k,
            "confounder": names,
            "group": groups,
            "smd_before": before,
            "smd_after": after,
        }
    )
    shown = out["group"].isin(_BALANCE_SHOWN) & ~out["confounder"].str.endswith("__missing")
    return out[shown].reset_index(drop=True)


def _e_value(rr: float) -> float:
    if not np.isfinite(rr) or rr <= 0:
        return float("nan")
    rr = rr if rr >= 1 else 1 / rr
    return float(rr + math.sqrt(rr * (rr - 1)))


def _sensitivity_row(
    k: str,
    o: str,
    dr: tuple[float, float],
    naive: float,
    y: np.ndarray,
    z: float,
    unit: str,
    delta: float,
) -> dict[str, Any]:
    est, se = dr
    lo, hi = est - z * se, est + z * se
    near = 0.0 if lo <= 0 <= hi else (lo if est > 0 else hi)

    def rr(effect: float) -> float:
        if unit == "probability":
            base = float(y.mean())
            return (base + effect) / base if base > 0 else float("nan")
        sd = float(y.std())
        return math.exp(0.91 * effect / sd) if sd > 0 else float("nan")

    shift = est - naive
    more = delta * shift
    return {
        "activity": k,
        "outcome": o,
        "estimate": est,
        "ci_low": lo,
        "ci_high": hi,
        "e_value": _e_value(rr(est)),
        "e_value_ci": 1.0 if near == 0.0 else _e_value(rr(near)),
        "naive": naive,
        "observed_shift": shift,
        "delta_to_null": -est / shift if shift != 0 else float("nan"),
        "ci_low_delta": lo + min(more, 0.0),
        "ci_high_delta": hi + max(more, 0.0),
    }


# ---------------------------------------------------------------------------------------
# sentences


def _label(k: str) -> str:
    special = {"ebr": "EBR (executive business review)"}
    return special.get(k, k.replace("_", " "))


def _sentence(
    k: str,
    outcome: str,
    dr: pd.Series,
    naive: float,
    *,
    period: str,
    horizon: int,
    renewal_days: int,
    level: float,
) -> str:
    when = (
        f"at the end of the {period}"
        if horizon == 1
        else f"at the end of the following {period}"
        if horizon == 2
        else f"{horizon - 1} {period}s after the {period} ends"
    )
    est, lo, hi = float(dr["estimate"]), float(dr["ci_low"]), float(dr["ci_high"])
    verb = "raises" if est >= 0 else "lowers"
    if outcome == "renewed":
        what = f"the chance of renewing (renewals in the {renewal_days} days from then)"
    else:
        dim, kind = outcome.rsplit("_", 1)
        what = (
            f"the {dim} score"
            if kind == "score"
            else f"P({dim} {'green' if kind == 'green' else 'red'})"
        )
    if dr["unit"] == "points":
        size = f"{abs(est):.1f} points"
        ci = f"{lo:+.1f} to {hi:+.1f}"
        nv = f"{naive:+.1f}"
    else:
        size = f"{100 * abs(est):.1f} percentage points"
        ci = f"{100 * lo:+.1f} to {100 * hi:+.1f}"
        nv = f"{100 * naive:+.1f}"
    return (
        f"One more {_label(k)} in a {period} {verb} {what} {when} by {size} "
        f"({level:.0%} interval {ci}; doubly robust). The naive regression says {nv}."
    )

"""ColorModel: published ordered-logit numbers, coverage on known truth, effects(), errors.
References and data provenance: tests/models/data/README.md."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st
import xarray as xr
from scipy.special import expit

from dearstats.errors import DearstatsError, InputError
from dearstats.models import ColorModel

DATA = Path(__file__).parent / "data"
SEED = 7_2024
LEVELS = ("red", "yellow", "green")


# -- published numbers ------------------------------------------------------------------
def _ucla() -> ColorModel:
    df = pd.read_csv(DATA / "ologit_ucla.csv")
    return ColorModel(
        "apply",
        ["pared", "public", "gpa"],
        next_colour_col="apply",
        levels=("unlikely", "somewhat likely", "very likely"),
        current_colour="none",
    ).fit(df)


def _agrees(ours: float, published: float, decimals: int) -> bool:
    """Equal to the published value at its printed precision (half a unit in the last place,
    plus 1e-12 for binary rounding)."""
    return abs(ours - published) <= 0.5 * 10.0**-decimals + 1e-12


def test_ucla_ordered_logit_matches_stata_to_every_printed_digit():
    """UCLA OARC "Ordered Logistic Regression | Stata Data Analysis Examples" (Stata 12,
    ``ologit apply pared public gpa, or``): odds ratios, their standard errors and CIs,
    cutpoints and their standard errors, and the log-likelihood, to the digits printed."""
    m = _ucla()
    tab = m.summary().set_index("term")
    stata = {  # term: (odds ratio, std. err. of the odds ratio, CI low, CI high)
        "pared": (2.850982, 0.7577601, 1.69338, 4.799927),
        "public": (0.9430059, 0.2808826, 0.5259888, 1.690645),
        "gpa": (1.851037, 0.4824377, 1.11062, 3.085067),
    }
    for term, (odds, se, lo, hi) in stata.items():
        row = tab.loc[term]
        assert _agrees(row["odds_ratio"], odds, 7 if odds < 1 else 6), term
        assert _agrees(row["odds_ratio"] * row["std_err"], se, 7), term  # delta method
        assert _agrees(row["or_ci_low"], lo, len(str(lo).split(".")[1])), term
        assert _agrees(row["or_ci_high"], hi, 6), term
    cuts = {"unlikely|somewhat likely": (2.203323, 0.7795353),
            "somewhat likely|very likely": (4.298767, 0.8043147)}  # fmt: skip
    for term, (cut, se) in cuts.items():
        assert _agrees(tab.loc[term, "coef"], cut, 6), term
        assert _agrees(tab.loc[term, "std_err"], se, 7), term
    assert _agrees(m.result_.llf, -358.51244, 5)
    assert m.n_obs_ == 400


def test_ucla_ordered_logit_agrees_with_r_polr_within_its_optimiser_tolerance():
    """UCLA OARC "Ordinal Logistic Regression | R Data Analysis Examples" (MASS::polr; the
    script is recorded in statsmodels' results_ordinal_model.py). polr's BFGS stops short of
    the maximum (README), so agreement is to 2.5e-4 (coefficients) and 7e-4 (cutpoints), the
    reported SEs (4 decimals) and deviance (4 decimals) match exactly, and our
    log-likelihood is at least R's."""
    m = _ucla()
    tab = m.summary().set_index("term")
    r_coef = {"pared": 1.04769011, "public": -0.05878572, "gpa": 0.61594057}
    r_se = {"pared": 0.2658, "public": 0.2979, "gpa": 0.2606}
    for term, value in r_coef.items():
        assert abs(tab.loc[term, "coef"] - value) < 2.5e-4, term
        assert _agrees(tab.loc[term, "std_err"], r_se[term], 4), term
    r_cuts = np.array([2.203915, 4.299363])
    np.testing.assert_allclose(m.cutpoints_.to_numpy(), r_cuts, atol=7e-4)
    assert _agrees(-2 * m.result_.llf, 717.0249, 4)
    r_theta = np.r_[list(r_coef.values()), r_cuts[0], np.log(r_cuts[1] - r_cuts[0])]
    assert m.result_.llf >= m.result_.model.loglike(r_theta)


# -- synthetic panels with known truth --------------------------------------------------
TRUE_B = {"act_ebr": 0.35, "act_health_check": 0.0, "log_arr": 0.3}
TRUE_D = {"yellow": 1.5, "green": 3.0}
TRUE_CUTS = np.array([1.0, 3.0])


def panel(rng: np.random.Generator, n: int = 600) -> pd.DataFrame:
    """Latent = 0.35 ebr + 0 health_check + 0.3 log_arr + 1.5 [yellow] + 3 [green] + Logistic;
    next colour by cutpoints (1, 3). ebr ~ Poisson(1), health checks ~ Poisson(2)."""
    cur = rng.choice(LEVELS, size=n, p=[0.3, 0.4, 0.3])
    df = pd.DataFrame(
        {
            "account_id": [f"A-{i // 3:04d}" for i in range(n)],
            "period": np.tile([1, 2, 3], n // 3 + 1)[:n],
            "act_ebr": rng.poisson(1.0, n),
            "act_health_check": rng.poisson(2.0, n),
            "log_arr": rng.normal(size=n),
            "adoption_colour": pd.Categorical(cur, categories=LEVELS, ordered=True),
        }
    )
    eta = _true_eta(df)
    nxt = np.asarray(LEVELS)[np.digitize(eta + rng.logistic(size=n), TRUE_CUTS)]
    df["adoption_colour_next"] = pd.Categorical(nxt, categories=LEVELS, ordered=True)
    return df.set_index(pd.Index([f"row-{i}" for i in range(n)], name="key"))


def _true_eta(df: pd.DataFrame) -> np.ndarray:
    eta = sum(b * df[c].to_numpy(dtype=float) for c, b in TRUE_B.items())
    cur = df["adoption_colour"].astype(object).to_numpy()
    return eta + TRUE_D["yellow"] * (cur == "yellow") + TRUE_D["green"] * (cur == "green")


def true_effect_pts(df: pd.DataFrame, activity: str, colour: str) -> float:
    """Sample average +1 effect under the true parameters (the estimand of effects())."""
    eta0 = _true_eta(df)
    eta1 = eta0 + TRUE_B[activity]
    if colour == "green":
        return 100 * float(np.mean(expit(TRUE_CUTS[1] - eta0) - expit(TRUE_CUTS[1] - eta1)))
    return 100 * float(np.mean(expit(TRUE_CUTS[0] - eta1) - expit(TRUE_CUTS[0] - eta0)))


def model(**kw) -> ColorModel:
    return ColorModel("adoption", ["act_ebr", "act_health_check"], controls=["log_arr"], **kw)


def test_ordinal_coefficient_and_cutpoint_coverage():
    """200 replications × 7 parameters (3 slopes, 2 colour shifts, 2 cutpoints), nominal-90 %
    Wald intervals. Pooled coverage must be in [0.85, 0.95] (independent-interval sd 0.0076,
    perfectly correlated sd 0.021) and every parameter in [0.83, 0.97] (sd 0.021: ±3.3 sd)."""
    rng = np.random.default_rng(SEED)
    truth = np.r_[list(TRUE_B.values()), list(TRUE_D.values()), TRUE_CUTS]
    reps = 200
    hits = np.empty((reps, truth.size), dtype=bool)
    for r in range(reps):
        tab = model().fit(panel(rng, n=300)).summary(alpha=0.10)
        hits[r] = (tab["ci_low"].to_numpy() <= truth) & (truth <= tab["ci_high"].to_numpy())
    per = hits.mean(axis=0)
    print(f"ordinal 90% CI coverage: pooled {hits.mean():.3f}, per parameter {per.round(3)}")
    assert 0.85 <= hits.mean() <= 0.95
    assert np.all((per >= 0.83) & (per <= 0.97))
    assert st.binomtest(int(hits.sum()), hits.size, 0.9).pvalue > 1e-3


def test_effects_recover_a_known_positive_activity_effect():
    df = panel(np.random.default_rng(SEED + 1), n=3000)
    m = model(cluster="account_id", random_seed=11).fit(df)
    eff = m.effects()
    assert list(eff.columns) == [
        "activity", "outcome", "effect_pts", "ci_low", "ci_high", "sentence",
    ]  # fmt: skip
    eff = eff.set_index(["activity", "outcome"])
    for activity in ("act_ebr", "act_health_check"):
        for colour in ("green", "red"):
            row = eff.loc[(activity, f"P({colour})")]
            truth = true_effect_pts(df, activity, colour)
            assert row["ci_low"] <= truth <= row["ci_high"], (activity, colour, truth)
    ebr_green = eff.loc[("act_ebr", "P(green)")]
    assert ebr_green["ci_low"] > 0  # sign recovered: one more EBR raises P(green) ...
    assert eff.loc[("act_ebr", "P(red)"), "ci_high"] < 0  # ... and lowers P(red)
    assert ebr_green["effect_pts"] == pytest.approx(
        true_effect_pts(df, "act_ebr", "green"), abs=1.5
    )
    assert ebr_green["sentence"].startswith("One more ebr in the period moves P(green next period)")
    assert "[95% interval" in ebr_green["sentence"]
    # the delta method agrees with the parametric bootstrap
    delta = m.effects(interval="delta").set_index(["activity", "outcome"])
    np.testing.assert_allclose(delta["effect_pts"], eff["effect_pts"], atol=1e-9)
    np.testing.assert_allclose(delta["ci_low"], eff["ci_low"], atol=0.25)
    np.testing.assert_allclose(delta["ci_high"], eff["ci_high"], atol=0.25)
    # seeded: the same seed gives the same intervals
    again = model(cluster="account_id", random_seed=11).fit(df).effects()
    np.testing.assert_array_equal(again["ci_low"], eff["ci_low"].to_numpy())


@pytest.mark.slow
def test_effect_interval_coverage():
    """100 replications of the sample-average effect of EBR on P(green) and P(red); nominal
    90 % parametric-bootstrap intervals; coverage of the 200 intervals in [0.82, 0.97]."""
    rng = np.random.default_rng(SEED + 2)
    hits = []
    for _ in range(100):
        df = panel(rng, n=400)
        eff = model(n_boot=400, random_seed=int(rng.integers(1 << 31))).fit(df).effects(0.10)
        for colour in ("green", "red"):
            row = eff[(eff["activity"] == "act_ebr") & (eff["outcome"] == f"P({colour})")]
            truth = true_effect_pts(df, "act_ebr", colour)
            hits.append(bool(row["ci_low"].iloc[0] <= truth <= row["ci_high"].iloc[0]))
    cover = float(np.mean(hits))
    print(f"effects() 90% interval coverage: {cover:.3f}")
    assert 0.82 <= cover <= 0.97


def test_predict_proba_keeps_index_and_matches_statsmodels():
    df = panel(np.random.default_rng(SEED + 3), n=900)
    m = model().fit(df)
    new = df.sample(50, random_state=3).drop(columns="adoption_colour_next")
    p = m.predict_proba(new)
    assert list(p.columns) == list(LEVELS)
    assert p.index.equals(new.index)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    ref = m.result_.model.predict(m.result_.params, exog=m.spec_.transform(new).to_numpy())
    np.testing.assert_allclose(p.to_numpy(), ref, atol=1e-12)


def test_interaction_and_by_current_colour():
    df = panel(np.random.default_rng(SEED + 4), n=1500)
    m = model(current_colour="interaction").fit(df)
    assert "act_ebr:adoption_colour[green]" in m.coef_.index
    eff = m.effects(by_current_colour=True, interval="delta")
    assert set(eff["current_colour"]) == set(LEVELS)
    assert len(eff) == 2 * 3 * 2
    assert eff["sentence"].str.contains("for accounts currently").all()
    # the truth has no interaction: every colour's EBR effect on P(green) is positive
    ebr_green = eff[(eff["activity"] == "act_ebr") & (eff["outcome"] == "P(green)")]
    assert (ebr_green["effect_pts"] > 0).all()


def test_print_summary_shows_provenance(capsys):
    df = panel(np.random.default_rng(SEED + 5), n=600)
    df.loc[df.index[:2], "act_ebr"] = np.nan
    m = model(missing="drop", n_boot=200).fit(df)
    assert m.n_dropped_ == 2
    m.print_summary()
    out = capsys.readouterr().out
    assert "598 account-periods; 2 rows dropped" in out
    assert "adoption_colour → adoption_colour_next" in out
    assert "transitions" in out
    assert "One more ebr" in out


# -- clear errors -----------------------------------------------------------------------
def test_error_unseen_colour_level_at_fit_and_predict():
    df = panel(np.random.default_rng(SEED + 6), n=300)
    bad = df.assign(adoption_colour=df["adoption_colour"].astype(object))
    bad.loc[bad.index[5], "adoption_colour"] = "amber"
    with pytest.raises(InputError) as err:
        model().fit(bad)
    msg = str(err.value)
    assert "expected one of the declared levels 'red', 'yellow', 'green'" in msg
    assert "1 rows with other values: 'amber'" in msg
    assert "row 5 (index 'row-5')" in msg
    m = model().fit(df)
    with pytest.raises(InputError, match="unseen levels: 'amber'"):
        m.predict_proba(bad)


def test_error_missing_activity_column_and_non_numeric():
    df = panel(np.random.default_rng(SEED + 7), n=300)
    with pytest.raises(InputError, match="1 missing: 'act_qbr'"):
        ColorModel("adoption", ["act_ebr", "act_qbr"]).fit(df)
    with pytest.raises(InputError, match="1 non-numeric: account_id"):
        ColorModel("adoption", ["act_ebr"], controls=["account_id"]).fit(df)
    with pytest.raises(InputError, match="colour_next"):
        ColorModel("adoption", ["act_ebr"]).fit(df.drop(columns="adoption_colour_next"))


def test_error_nan_rows_and_unobserved_next_level():
    df = panel(np.random.default_rng(SEED + 8), n=300)
    nan = df.copy()
    nan.loc[nan.index[3], "adoption_colour_next"] = np.nan
    with pytest.raises(InputError) as err:
        model().fit(nan)
    msg = str(err.value)
    assert "1 of 300 rows with missing values: adoption_colour_next (1)" in msg
    assert 'missing="drop"' in msg
    assert model(missing="drop").fit(nan).n_obs_ == 299
    no_green = df[df["adoption_colour_next"] != "green"]
    with pytest.raises(InputError, match="no row ends 'green'"):
        model().fit(no_green)


def test_error_settings_and_bayes_delegation():
    df = panel(np.random.default_rng(SEED + 9), n=300)
    with pytest.raises(InputError, match="activities"):
        ColorModel("adoption", []).fit(df)
    with pytest.raises(InputError, match="current_colour"):
        model(current_colour="both").fit(df)
    with pytest.raises(InputError, match="group"):
        model(method="bayes").fit(df)
    with pytest.raises(DearstatsError, match="not fitted"):
        model().predict_proba(df)


# -- method="bayes" delegation ----------------------------------------------------------
class _FakeHierarchicalOrderedLogit:
    """Stands in for dearstats.models.ordinal_bayes.HierarchicalOrderedLogit: records the
    call and returns "posterior draws" that are the true probabilities (one draw)."""

    calls: ClassVar[list[dict]] = []

    def __init__(self, predictors, *, outcome, levels, group, random_seed=None, **kw):
        self.kw = dict(predictors=list(predictors), outcome=outcome, levels=list(levels),
                       group=group, random_seed=random_seed, **kw)  # fmt: skip

    def fit(self, frame, **kw):
        self.calls.append({"init": self.kw, "fit": kw, "frame": frame})
        return self

    def draws(self, frame, *, random_seed=None):
        cols = {f"adoption_colour[{c}]": c for c in ("yellow", "green")}
        eta = sum(b * frame[c].to_numpy() for c, b in TRUE_B.items())
        eta = eta + sum(TRUE_D[c] * frame[col].to_numpy() for col, c in cols.items())
        cdf = expit(TRUE_CUTS[None, :] - eta[:, None])
        p = np.diff(np.column_stack([np.zeros(len(eta)), cdf, np.ones(len(eta))]), axis=1)
        return xr.DataArray(
            p[None, None], dims=("chain", "draw", "row", "level"), coords={"level": list(LEVELS)}
        )

    def predict_proba(self, frame, *, random_seed=None):
        p = self.draws(frame).isel(chain=0, draw=0).to_numpy()
        return pd.DataFrame(p, index=frame.index, columns=list(LEVELS))


def test_bayes_delegates_to_hierarchical_ordered_logit(monkeypatch):
    fake = types.ModuleType("dearstats.models.ordinal_bayes")
    fake.HierarchicalOrderedLogit = _FakeHierarchicalOrderedLogit
    monkeypatch.setitem(sys.modules, "dearstats.models.ordinal_bayes", fake)
    _FakeHierarchicalOrderedLogit.calls.clear()
    df = panel(np.random.default_rng(SEED + 11), n=300)
    df["csm_id"] = np.where(np.arange(300) % 7 == 0, None, [f"C{i % 5}" for i in range(300)])
    m = model(
        method="bayes",
        group="csm_id",
        random_seed=5,
        bayes_kwargs={"priors": {"coef": 0.5}},
        bayes_fit_kwargs={"method": "advi"},
    ).fit(df)
    (call,) = _FakeHierarchicalOrderedLogit.calls
    assert call["init"]["predictors"] == [
        "act_ebr", "act_health_check", "log_arr", "adoption_colour[yellow]",
        "adoption_colour[green]",
    ]  # fmt: skip
    assert call["init"]["outcome"] == "adoption_colour_next"
    assert call["init"]["group"] == "csm_id"
    assert call["init"]["levels"] == list(LEVELS)
    assert call["init"]["random_seed"] == 5
    assert call["init"]["priors"] == {"coef": 0.5}
    assert call["fit"] == {"method": "advi"}
    assert call["frame"]["csm_id"].isna().sum() == 43  # null CSMs passed on, not dropped
    p = m.predict_proba(df.head(4))
    assert p.index.equals(df.index[:4])
    eff = m.effects().set_index(["activity", "outcome"])
    assert eff.attrs["interval"] == "posterior"
    for colour in ("green", "red"):
        truth = true_effect_pts(df, "act_ebr", colour)
        assert eff.loc[("act_ebr", f"P({colour})"), "effect_pts"] == pytest.approx(truth)


def test_bayes_without_the_pymc_model_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "dearstats.models.ordinal_bayes", None)
    df = panel(np.random.default_rng(SEED + 12), n=300)
    with pytest.raises(DearstatsError, match='Use method="ordinal"'):
        model(method="bayes", group="account_id").fit(df)


@pytest.mark.slow
def test_bayes_and_ordinal_effects_agree_on_a_real_fit():
    """The real HierarchicalOrderedLogit (ADVI for speed): the posterior effect of an EBR
    on P(green) is within the statsmodels interval."""
    df = panel(np.random.default_rng(SEED + 13), n=600)
    df["csm_id"] = [f"C{i % 6}" for i in range(600)]
    bayes = model(
        method="bayes", group="csm_id", bayes_fit_kwargs={"method": "advi", "draws": 300}
    ).fit(df)
    eb = bayes.effects().set_index(["activity", "outcome"])
    eo = model().fit(df).effects().set_index(["activity", "outcome"])
    row = eo.loc[("act_ebr", "P(green)")]
    assert row["ci_low"] < eb.loc[("act_ebr", "P(green)"), "effect_pts"] < row["ci_high"]


def test_analytic_score_and_hessian_match_numerical_derivatives():
    from statsmodels.tools.numdiff import approx_fprime

    from dearstats.models.color import _OrderedLogit

    rng = np.random.default_rng(SEED + 10)
    for n_levels in (2, 3, 5):
        X = rng.normal(size=(300, 3))
        cuts = np.linspace(-1.0, 1.5, n_levels - 1)
        y = np.digitize(X @ np.array([0.5, -0.3, 0.8]) + rng.logistic(size=300), cuts)
        mod = _OrderedLogit(y, X)
        theta = mod.start_params + 0.3 * rng.normal(size=3 + n_levels - 1)
        num_score = approx_fprime(theta, mod.loglikeobs, centered=True)
        np.testing.assert_allclose(mod.score_obs(theta), num_score, atol=1e-6)
        num_hess = approx_fprime(theta, mod.score, centered=True)
        np.testing.assert_allclose(mod.hessian(theta), num_hess, rtol=1e-6, atol=1e-5)

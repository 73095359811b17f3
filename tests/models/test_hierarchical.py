"""HierarchicalLogit and HierarchicalRenewal: priors, recovery of known truth, a published
fit (lme4's cbpp), predictions for unseen group levels, and the renewal model's draws.

The logit fits share the structure of ``test_bayes.py`` (2 predictors, 4 segments, 15
CSMs), so the compiled sampler is reused across datasets.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats

from dearstats.errors import ConvergenceWarning, InputError
from dearstats.models import HierarchicalLogit, HierarchicalRenewal
from dearstats.models._bayes import level_effects
from tests.models._synthetic import SEGMENTS, logit_frame

DATA = Path(__file__).parent / "data"


def new_logit(**kw) -> HierarchicalLogit:
    return HierarchicalLogit(["x1", "x2"], outcome="renewed", groups=("segment", "csm_id"), **kw)


# ---- priors -----------------------------------------------------------------------------


def test_prior_predictive_renewal_probabilities_are_not_piled_at_0_or_1():
    """The documented priors imply renewal probabilities spread over (0, 1).

    With α ~ N(0, 1.5), β ~ N(0, 1) on standardised predictors and two HalfNormal(1)
    group sds, logit p has prior sd ≈ √(1.5² + 2·1 + 2·1) ≈ 2.5, so about 7 % of the
    prior mass lies beyond p < 0.01 or p > 0.99 and the middle deciles are all populated.
    A vague N(0, 10) prior would put over 70 % of the mass there (checked below).
    """
    frame, _ = logit_frame(seed=1)
    model = new_logit()
    model.encoding_ = model._prepare(frame, None)[0]

    def implied_p(m: HierarchicalLogit, seed: int) -> np.ndarray:
        prior = m.sample_prior_predictive(frame, draws=400, random_seed=seed)
        draws = prior["prior"].to_dataset().stack(sample=("chain", "draw"))
        _, arrays = m._prepare(frame, model.encoding_)
        eta = m._terms(model.encoding_).draws(
            draws, arrays["z"], arrays["codes"], np.random.default_rng(seed)
        )
        return 1 / (1 + np.exp(-eta.ravel()))

    p = implied_p(model, 2)
    extreme = np.mean((p < 0.01) | (p > 0.99))
    assert extreme < 0.12, extreme
    assert 0.4 < np.median(p) < 0.6
    deciles = np.histogram(p, bins=10, range=(0, 1))[0] / p.size
    assert deciles.min() > 0.03, deciles  # no empty middle
    assert deciles.max() < 0.25, deciles  # no pile at an end

    vague = implied_p(new_logit(priors={"intercept": 10.0, "coef": 10.0}), 3)
    assert np.mean((vague < 0.01) | (vague > 0.99)) > 0.5


# ---- recovery and calibration on known truth --------------------------------------------


@pytest.fixture(scope="module")
def recovery_fits():
    """Four datasets from known truth, each fitted with 4 chains × 1000 draws."""
    out = []
    for seed in (201, 202, 203, 204):
        frame, truth = logit_frame(seed)
        model = new_logit().fit(frame, random_seed=seed, chains=4, draws=1000, tune=1000)
        out.append((frame, truth, model))
    return out


def _covered(model: HierarchicalLogit, truth: dict, prob: float = 0.9) -> list[bool]:
    """Whether each central ``prob`` interval contains its true value."""
    post = model.idata_["posterior"]
    lo, hi = (1 - prob) / 2, 1 - (1 - prob) / 2
    pairs: list[tuple[np.ndarray, float]] = []
    # the sum-to-zero parameterisation's intercept and level effects
    pairs.append(
        (
            post["intercept"].values.ravel(),
            truth["alpha"] + truth["b_seg"].mean() + truth["b_csm"].mean(),
        )
    )
    for j, name in enumerate(("x1", "x2")):
        pairs.append((post["coef"].sel(predictor=name).values.ravel(), truth["beta"][j]))
    pairs.append((post["sigma_segment"].values.ravel(), truth["sd_segment"]))
    pairs.append((post["sigma_csm_id"].values.ravel(), truth["sd_csm"]))
    for group, true_b, labels in (
        ("segment", truth["b_seg"], list(SEGMENTS)),
        ("csm_id", truth["b_csm"], [f"CSM{k:02d}" for k in range(len(truth["b_csm"]))]),
    ):
        eff = level_effects(model.idata_, group)
        for label, b in zip(labels, true_b - true_b.mean(), strict=True):
            pairs.append((eff.sel({group: label}).values.ravel(), b))
    return [bool(np.quantile(d, lo) <= t <= np.quantile(d, hi)) for d, t in pairs]


@pytest.mark.slow
def test_90pct_intervals_cover_the_truth_at_a_rate_consistent_with_90pct(recovery_fits):
    """Pool 24 parameters × 4 datasets = 96 intervals (intercept, 2 slopes, 2 group sds,
    4 segment and 15 CSM effects) and test the coverage count against Binomial(n, 0.9).

    Tolerance: intervals within one dataset are positively correlated (they share the
    group sds and the intercept), so the count is over-dispersed; we use a design effect
    of 2 (effective n = 48) and accept the central 99.8 % range of that binomial, i.e. a
    coverage of about 0.77–1.0. Miscalibration that matters (e.g. 70 % coverage from a
    wrong likelihood or a sampler bug) falls outside it.
    """
    for _, _, model in recovery_fits:
        assert model.diagnostics_.attrs["passed"]
    covered = np.concatenate([_covered(m, t) for _, t, m in recovery_fits])
    n_eff = covered.size / 2
    lo, hi = stats.binom.ppf([0.001, 0.999], n_eff, 0.9) / n_eff
    rate = covered.mean()
    assert lo <= rate <= hi, (rate, lo, hi, covered.size)


def test_numpy_predictions_match_the_pymc_likelihood(recovery_fits):
    """The NumPy twin of the linear predictor reproduces PyMC's pointwise log-likelihood."""
    frame, _, model = recovery_fits[0]
    p = model.predict_draws(frame, random_seed=0).values  # all levels seen: no randomness
    y = frame["renewed"].to_numpy()
    ours = np.where(y == 1, np.log(p), np.log1p(-p))
    pymc_ll = model.idata_["log_likelihood"]["y"].values
    np.testing.assert_allclose(ours, pymc_ll, rtol=1e-6, atol=1e-8)


def test_numpy_twin_of_varying_slopes_matches_pymc():
    """Same check for varying slopes, on prior draws (no sampling needed)."""
    frame, _ = logit_frame(seed=5, n=200, n_csm=6)
    model = new_logit(varying_slopes={"csm_id": ["x1"]})
    pm_model = model.build_model(frame)
    prior = pm.sample_prior_predictive(draws=50, model=pm_model, random_seed=1)
    model.encoding_ = model._prepare(frame, None)[0]
    model.idata_ = prior.copy()
    model.idata_["posterior"] = prior["prior"]
    ll = pm.compute_log_likelihood(
        model.idata_, model=pm_model, extend_inferencedata=False, progressbar=False
    )["y"].values
    p = model.predict_draws(frame, random_seed=0).values
    y = frame["renewed"].to_numpy()
    ours = np.where(y == 1, np.log(p), np.log1p(-p))
    np.testing.assert_allclose(ours, ll, rtol=1e-6, atol=1e-8)


def test_unseen_csm_and_segment_get_wider_predictions(recovery_fits):
    frame, _, model = recovery_fits[0]
    busiest = frame["csm_id"].value_counts().index[0]
    row = frame.iloc[[0, 0, 0, 0]].copy()
    row[["x1", "x2"]] = frame[["x1", "x2"]].mean().to_numpy()
    row["segment"] = ["SMB", "SMB", "Brand-new segment", "Brand-new segment"]
    row["csm_id"] = [busiest, "CSM-new", busiest, "CSM-new"]
    row.index = pd.Index(["seen", "new_csm", "new_segment", "both_new"], name="account_id")
    draws = model.predict_draws(row, random_seed=7)
    assert draws.dims == ("chain", "draw", "account_id")
    width = draws.quantile(0.95, ("chain", "draw")) - draws.quantile(0.05, ("chain", "draw"))
    width = width.to_series()
    assert width["new_csm"] > 1.2 * width["seen"]
    assert width["new_segment"] > width["seen"]
    assert width["both_new"] > width["new_csm"]
    # seeded: the same seed gives the same draws for new levels
    again = model.predict_draws(row, random_seed=7)
    np.testing.assert_array_equal(draws.values, again.values)
    y = model.sample_posterior_predictive(row, random_seed=1)["posterior_predictive"]["y"]
    assert set(np.unique(y.values)) <= {0, 1}


# ---- a published fit: lme4's cbpp -------------------------------------------------------

#: glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial),
#: Laplace ML (lme4 ?cbpp; Bates et al. 2015): estimate, standard error.
CBPP_LME4 = {
    "intercept": (-1.3983, 0.2312),
    "coef[period2]": (-0.9919, 0.3032),
    "coef[period3]": (-1.1282, 0.3228),
    "coef[period4]": (-1.5797, 0.4220),
}
CBPP_HERD_SD = 0.6421


@pytest.mark.slow
def test_cbpp_random_intercept_logit_matches_lme4():
    """Posterior means within 0.5 published SE of lme4's ML estimates.

    With priors this weak relative to the likelihood (prior sd on the original-scale
    coefficients ≈ 2.4, vs SEs ≈ 0.3–0.4), Bernstein–von Mises puts the posterior mean
    within O(SE·prior weight + skewness) of the MLE: a few hundredths here, so 0.5 SE
    is a generous but meaningful tolerance (a wrong period coding or a missing herd
    effect moves estimates by more than 1 SE). The herd SD has no published SE; the
    posterior of a variance component from 15 groups is right-skewed and lies above the
    ML mode, so we ask its median to be within one posterior sd of 0.6421.

    Our intercept is the logit for the average of these 15 herds (sum-to-zero herd
    effects); lme4's is the population mean, whose uncertainty adds σ²/15. Adding that
    term to our posterior variance reproduces lme4's SE (checked within 20 %).
    """
    cbpp = pd.read_csv(DATA / "cbpp.csv", comment="#")
    assert cbpp.shape == (56, 4)
    assert cbpp["size"].sum() == 842  # lme4: "Number of obs: 842" in Bernoulli form
    for k in (2, 3, 4):
        cbpp[f"period{k}"] = (cbpp["period"] == k).astype(int)
    model = HierarchicalLogit(
        ["period2", "period3", "period4"], outcome="incidence", trials="size", groups=("herd",)
    ).fit(cbpp, random_seed=2015, chains=4, draws=1500, tune=1000)
    s = model.summary()
    assert model.diagnostics_.attrs["passed"]
    for name, (estimate, se) in CBPP_LME4.items():
        assert abs(s.loc[name, "mean"] - estimate) < 0.5 * se, (name, s.loc[name, "mean"])
    sigma = model.idata_["posterior"]["sigma_herd"].values.ravel()
    assert abs(np.median(sigma) - CBPP_HERD_SD) < sigma.std(), np.median(sigma)
    population_se = np.sqrt(s.loc["intercept", "sd"] ** 2 + np.mean(sigma**2) / 15)
    assert abs(population_se / CBPP_LME4["intercept"][1] - 1) < 0.2, population_se


# ---- the renewal model ------------------------------------------------------------------

RENEWAL_TRUTH = {
    "churn_intercept": -1.2,
    "churn_coef": np.array([-0.8, 0.3]),
    "tier_beta": np.array([0.6, 0.0]),
    "tier_cut": np.array([-1.0, 1.0]),
    "contraction_intercept": np.log(0.15),
    "expansion_intercept": np.log(0.25),
    "expansion_coef": np.array([0.3, 0.0]),
    "contraction_sigma": 0.4,
    "expansion_sigma": 0.5,
}


def renewal_frame(seed: int, n: int = 800) -> pd.DataFrame:
    """Renewals drawn from the renewal model's own structure with known parameters."""
    t = RENEWAL_TRUTH
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    seg = rng.integers(0, 3, n)
    csm = rng.integers(0, 10, n)
    b_churn = rng.normal(0, 0.5, 10)
    b_tier = rng.normal(0, 0.4, 10)
    s_churn = np.array([0.3, -0.1, -0.2])  # segment effects, summing to zero
    s_tier = np.array([-0.3, 0.0, 0.3])
    eta_churn = t["churn_intercept"] + x @ t["churn_coef"] + b_churn[csm] + s_churn[seg]
    churn = rng.random(n) < 1 / (1 + np.exp(-eta_churn))
    eta = x @ t["tier_beta"] + b_tier[csm] + s_tier[seg]
    cdf = 1 / (1 + np.exp(-(t["tier_cut"][None, :] - eta[:, None])))
    tier = (rng.random((n, 1)) > cdf).sum(axis=1)  # 0 contraction, 1 flat, 2 expansion
    d_c = np.exp(t["contraction_intercept"] + t["contraction_sigma"] * rng.normal(size=n))
    mu_e = t["expansion_intercept"] + x @ t["expansion_coef"]
    d_e = np.exp(mu_e + t["expansion_sigma"] * rng.normal(size=n))
    before = np.round(rng.lognormal(10, 0.8, n), 2)
    ratio = np.select([tier == 0, tier == 1], [np.exp(-d_c), 1.0], default=1.0 + d_e)
    after = np.where(churn, 0.0, before * ratio)
    return pd.DataFrame(
        {
            "x1": x[:, 0],
            "x2": x[:, 1],
            "segment": np.array(["SMB", "Mid", "Ent"])[seg],
            "csm_id": np.where(csm == 9, None, [f"CSM{k}" for k in csm]),  # CSM9 = tech-touch
            "arr_before": before,
            "arr_after": after,
        },
        index=pd.Index([f"R{i:04d}" for i in range(n)], name="account_id"),
    )


@pytest.fixture(scope="module")
def renewal():
    frame = renewal_frame(seed=31)
    model = HierarchicalRenewal(["x1", "x2"], groups=("segment", "csm_id"))
    # three segments leave the group sds weakly identified: a higher target_accept and
    # 4 × 1000 draws keep the gate green (the gate's own advice)
    fitted = model.fit(frame, random_seed=31, chains=4, draws=1000, tune=1000, target_accept=0.95)
    return frame, fitted


@pytest.mark.slow
def test_renewal_recovers_known_parameters(renewal):
    _frame, model = renewal
    assert model.diagnostics_.attrs["passed"]
    s = model.summary(ci_prob=0.95)
    t = RENEWAL_TRUTH
    checks = {
        "churn_intercept": t["churn_intercept"],
        "churn_coef[x1]": t["churn_coef"][0],
        "churn_coef[x2]": t["churn_coef"][1],
        "tier_beta[x1]": t["tier_beta"][0],
        "tier_beta[x2]": t["tier_beta"][1],
        "tier_cut[contraction|flat]": t["tier_cut"][0],
        "tier_cut[flat|expansion]": t["tier_cut"][1],
        "contraction_intercept": t["contraction_intercept"],
        "expansion_intercept": t["expansion_intercept"],
        "expansion_coef[x1]": t["expansion_coef"][0],
        "contraction_sigma": t["contraction_sigma"],
        "expansion_sigma": t["expansion_sigma"],
    }
    # the churn intercept absorbs the mean CSM effect (sum-to-zero), so give it slack
    misses = [k for k, v in checks.items() if not s.loc[k, "eti95_lb"] <= v <= s.loc[k, "eti95_ub"]]
    # 12 intervals at 95 %: P(≥ 3 misses) ≈ 2 % under correct calibration
    assert len(misses) <= 2, (misses, s.loc[list(checks)])


@pytest.mark.slow
def test_renewal_draws_give_grr_and_nrr(renewal, tmp_path):
    frame, model = renewal
    proba = model.predict_proba(frame.head(20))
    assert list(proba.columns) == ["churn", "contraction", "flat", "expansion"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    draws = model.predict_draws(frame, random_seed=3)
    assert draws.dims == ("chain", "draw", "account_id")
    assert (draws.values >= 0).all()
    before = frame["arr_before"].to_numpy()
    nrr = draws.sum("account_id") / before.sum()
    grr = np.minimum(draws, before).sum("account_id") / before.sum()
    obs_nrr = frame["arr_after"].sum() / before.sum()
    obs_grr = np.minimum(frame["arr_after"], frame["arr_before"]).sum() / before.sum()
    for sim, obs in ((nrr, obs_nrr), (grr, obs_grr)):
        lo, hi = np.quantile(sim.values, [0.01, 0.99])
        assert lo <= obs <= hi, (lo, obs, hi)
    assert (grr <= 1 + 1e-12).all()
    # churn and tier shares follow the fitted class probabilities
    churned = (draws == 0).mean().item()
    assert abs(churned - (frame["arr_after"] == 0).mean()) < 0.05
    # pointwise log-likelihood of the whole outcome, for LOO
    ll = model.idata_["log_likelihood"]["renewal_outcome"]
    assert ll.sizes["obs"] == len(frame)
    # an unseen CSM (and the tech-touch level) predict without error
    new = frame.head(3).assign(csm_id=["CSM-new", None, "CSM1"])
    assert model.predict_draws(new, random_seed=1).sizes["account_id"] == 3
    # save / load round trip
    back = HierarchicalRenewal.load(model.save(tmp_path / "renewal.dsm"))
    pd.testing.assert_frame_equal(
        back.predict_proba(new, random_seed=2), model.predict_proba(new, random_seed=2)
    )


def test_renewal_inputs_are_checked():
    frame = renewal_frame(seed=1, n=60)
    model = HierarchicalRenewal(["x1", "x2"], outcome="kind")
    bad = frame.assign(kind="expansion")  # contradicts churned rows
    with pytest.raises(InputError, match="contradicts"):
        model.build_model(bad)
    with pytest.raises(InputError, match="one of"):
        model.build_model(frame.assign(kind="upsell"))
    with pytest.raises(InputError, match="arr_before"):
        HierarchicalRenewal(["x1"]).build_model(frame.assign(arr_before=0.0))
    with pytest.raises(InputError, match="size_groups"):
        HierarchicalRenewal(["x1"], groups=("segment",), size_groups=("csm_id",)).build_model(frame)
    ok = frame.assign(
        kind=np.select(
            [
                frame.arr_after == 0,
                frame.arr_after < frame.arr_before,
                frame.arr_after == frame.arr_before,
            ],
            ["churn", "contraction", "flat"],
            default="expansion",
        )
    )
    assert model.build_model(ok) is not None


def test_fixed_groups_have_no_group_sd_and_the_growth_share_is_the_expansion_size():
    frame = renewal_frame(seed=2, n=300)
    model = HierarchicalRenewal(["x1", "x2"], fixed_groups=("segment",))
    pm_model = model.build_model(frame)
    names = set(pm_model.named_vars)
    for part in ("churn", "tier", "contraction", "expansion"):
        assert f"{part}_u_segment" in names
        assert f"{part}_sigma_segment" not in names  # a fixed effect: no σ over 3 levels
    assert "churn_sigma_csm_id" in names  # the CSMs stay partially pooled
    # the expansion part's data are growth shares after/before − 1, contractions −log ratio
    exp_rows = frame[(frame.arr_after > frame.arr_before)]
    np.testing.assert_allclose(
        np.sort(pm_model["expansion_obs"].get_value()),
        np.sort((exp_rows.arr_after / exp_rows.arr_before - 1).to_numpy()),
    )
    con = frame[(frame.arr_after > 0) & (frame.arr_after < frame.arr_before)]
    np.testing.assert_allclose(
        np.sort(pm_model["contraction_obs"].get_value()),
        np.sort(-np.log(con.arr_after / con.arr_before).to_numpy()),
    )
    assert model.get_config()["fixed_groups"] == ["segment"]
    with pytest.raises(InputError, match="fixed_groups"):
        HierarchicalRenewal(["x1"], groups=("segment",), fixed_groups=("csm_id",)).build_model(
            frame
        )


def test_tech_touch_outside_the_csm_pool_is_a_fixed_effect(tmp_path):
    """``outside_levels``: tech-touch rows leave the CSM pool (no CSM effect) and get an
    indicator predictor, whose churn coefficient estimates the tech-touch effect relative
    to the average human CSM (the truth of :func:`renewal_frame`: b₉ − mean(b₀…b₈), the
    CSM effects being sum-to-zero); their predictions draw no new-level effects."""
    seed, n = 7, 1500
    frame = renewal_frame(seed=seed, n=n)
    frame["csm_id"] = frame["csm_id"].fillna("(tech-touch)")
    rng = np.random.default_rng(seed)
    rng.normal(size=(n, 2)), rng.integers(0, 3, n), rng.integers(0, 10, n)
    b_churn = rng.normal(0, 0.5, 10)
    truth = b_churn[9] - b_churn[:9].mean()
    model = HierarchicalRenewal(
        ["x1", "x2"],
        fixed_groups=("segment",),
        outside_levels={"csm_id": "(tech-touch)"},
        sampler_config={"draws": 500, "tune": 500, "log_likelihood": False},
        random_seed=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(frame)
    post = model.idata_["posterior"]
    assert post.attrs["dearstats_log_density"] == "fused"
    assert list(post["churn_u_csm_id"].coords["csm_id"].values) == [f"CSM{k}" for k in range(9)]
    ind = "csm_id=(tech-touch)"
    assert ind in list(post["churn_coef"].coords["predictor"].values)
    assert model.diagnostics_["r_hat"].max() < 1.02
    coef = post["churn_coef"].sel(predictor=ind).values.ravel()
    lo, hi = np.quantile(coef, [0.005, 0.995])
    assert lo <= truth <= hi, (lo, truth, hi)
    # tech-touch rows have no random part: the same probabilities whatever the seed; an
    # unseen CSM still draws a new effect per draw
    rows = frame.head(6).assign(csm_id=["(tech-touch)"] * 3 + ["CSM-new"] * 3)
    p1 = model.predict_proba(rows, random_seed=1)
    p2 = model.predict_proba(rows, random_seed=2)
    np.testing.assert_array_equal(p1.iloc[:3].to_numpy(), p2.iloc[:3].to_numpy())
    assert not np.allclose(p1.iloc[3:].to_numpy(), p2.iloc[3:].to_numpy())
    assert model.get_config()["outside_levels"] == {"csm_id": "(tech-touch)"}
    back = HierarchicalRenewal.load(model.save(tmp_path / "tt.dsm"))
    pd.testing.assert_frame_equal(back.predict_proba(rows, random_seed=1), p1)
    # all rows tech-touch or none: nothing to split, the label stays an ordinary level
    none = HierarchicalRenewal(["x1"], outside_levels={"csm_id": "(tech-touch)"})
    pm_model = none.build_model(frame[frame["csm_id"] != "(tech-touch)"])
    assert list(pm_model.coords["predictor"]) == ["x1"]
    with pytest.raises(InputError, match="outside_levels"):
        HierarchicalRenewal(
            ["x1"], groups=("segment",), outside_levels={"csm_id": "x"}
        ).build_model(frame)


def test_centred_csm_effects_and_the_fused_log_density_give_the_same_posterior():
    """Centring the CSM effects (``centered_groups``) and nutpie's fused numba log density
    change the sampler's geometry and cost, not the posterior: against the non-centred
    model on PyTensor's log density, predicted class probabilities and CSM effects agree
    within a fraction of their posterior sd (4 × 500 draws each: Monte Carlo error of a
    mean ≈ sd/√ESS ≈ 0.05 sd, so 0.35 sd leaves room for two runs' errors). 2,000 rows
    over 10 CSMs: about 200 per CSM, where centring is the right geometry; short chains,
    so the gate's ESS floor is not the point here (R-hat is checked)."""
    frame = renewal_frame(seed=5, n=2000)
    kw = {"groups": ("segment", "csm_id"), "fixed_groups": ("segment",), "random_seed": 5}
    cfg = {"draws": 500, "tune": 500, "log_likelihood": False, "target_accept": 0.95}
    plain = HierarchicalRenewal(["x1", "x2"], sampler_config={**cfg, "fused": False}, **kw)
    fast = HierarchicalRenewal(["x1", "x2"], centered_groups=("csm_id",), sampler_config=cfg, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain.fit(frame)
        fast.fit(frame)
    assert plain.idata_["posterior"].attrs["dearstats_log_density"] == "pytensor"
    assert fast.idata_["posterior"].attrs["dearstats_log_density"] == "fused"
    assert "churn_e_csm_id" in fast.idata_["posterior"]
    assert "churn_u_csm_id" not in fast.idata_["posterior"]
    for m in (plain, fast):
        assert m.diagnostics_["r_hat"].max() < 1.02, m.diagnostics_.sort_values("r_hat").tail()
    rows = frame.head(40)
    a = plain.predict_class_draws(rows, random_seed=1)
    b = fast.predict_class_draws(rows, random_seed=1)
    sd = a.std(("chain", "draw"))
    z = np.abs((b.mean(("chain", "draw")) - a.mean(("chain", "draw"))) / sd)
    assert float(z.max()) < 0.35, float(z.max())
    for part in ("churn", "tier"):
        ea = level_effects(plain.idata_, "csm_id", prefix=f"{part}_")
        eb = level_effects(fast.idata_, "csm_id", prefix=f"{part}_")
        z = np.abs(eb.mean(("chain", "draw")) - ea.mean(("chain", "draw"))) / ea.std(
            ("chain", "draw")
        )
        assert float(z.max()) < 0.35, (part, z.values)
    with pytest.raises(InputError, match="centered_groups"):
        HierarchicalRenewal(
            ["x1"], fixed_groups=("segment",), centered_groups=("segment",)
        ).build_model(frame)

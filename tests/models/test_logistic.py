"""RenewalLogit: equality with statsmodels, published numbers, CI coverage, two-part model,
input errors. References and data provenance: tests/models/data/README.md."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.optimize as so
import scipy.stats as st
import statsmodels.api as sm
from scipy.special import expit

from dearstats.errors import DearstatsError, InputError
from dearstats.models import RenewalLogit
from dearstats.models._frame import DesignSpec

SEED = 20240611


# -- synthetic data with known truth ----------------------------------------------------
TRUE_BINARY = {"Intercept": 0.8, "x1": 1.0, "x2": -0.6}


def binary_frame(rng: np.random.Generator, n: int = 400) -> pd.DataFrame:
    """logit P(renewed) = 0.8 + 1.0 x1 − 0.6 x2, x1 ~ N(0,1), x2 ~ Bernoulli(0.4)."""
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.4, size=n).astype(float)
    eta = TRUE_BINARY["Intercept"] + TRUE_BINARY["x1"] * x1 + TRUE_BINARY["x2"] * x2
    csm = rng.choice([f"CSM{i:02d}" for i in range(25)], size=n).astype(object)
    csm[rng.random(n) < 0.15] = None  # tech-touch accounts
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "segment": rng.choice(["SMB", "Mid", "Ent"], size=n),
            "csm_id": csm,
            "renewed": (rng.random(n) < expit(eta)).astype(int),
        },
        index=pd.Index([f"A-{i:04d}" for i in range(n)], name="account_id"),
    )


# renewer classes: MNLogit with flat as base; sizes: log-ratio linear in x1
TRUE_CLASSES = {
    "contraction": (-0.4, -0.8, 0.3),  # intercept, x1, x2 vs flat
    "expansion": (-0.2, 0.9, -0.2),
}
TRUE_LOG_RATIO = {"contraction": (-0.35, -0.10), "expansion": (0.30, 0.15)}  # intercept, x1
RATIO_SD = 0.15


def classes_frame(rng: np.random.Generator, n: int = 600) -> pd.DataFrame:
    """Two-part truth: churn logit = TRUE_BINARY; renewers multinomial; sizes log-normal.

    log(after/before) = a + b x1 + N(0, 0.15²), clipped into each class's range.
    """
    df = binary_frame(rng, n)
    x = np.column_stack([np.ones(n), df["x1"], df["x2"]])
    lin = np.column_stack(
        [np.zeros(n), x @ TRUE_CLASSES["contraction"], x @ TRUE_CLASSES["expansion"]]
    )
    q = np.exp(lin - lin.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    u = rng.random(n)[:, None]
    cls = np.array(["flat", "contraction", "expansion"])[(u > q.cumsum(axis=1)).sum(axis=1)]
    out = np.where(df["renewed"].to_numpy() == 1, cls, "churn")
    before = rng.uniform(5_000, 50_000, size=n)
    logr = np.zeros(n)
    for c in ("contraction", "expansion"):
        a, b = TRUE_LOG_RATIO[c]
        m = out == c
        logr[m] = a + b * df["x1"].to_numpy()[m] + RATIO_SD * rng.normal(size=m.sum())
    logr = np.where(out == "contraction", np.minimum(logr, -0.01), logr)
    logr = np.where(out == "expansion", np.maximum(logr, 0.01), logr)
    after = np.where(out == "churn", 0.0, before * np.exp(logr))
    return df.assign(outcome=out, arr_before=before, arr_after=after)


def _null_as_singletons(labels: pd.Series) -> np.ndarray:
    codes, _ = pd.factorize(labels)  # nulls → -1
    nulls = codes < 0
    codes[nulls] = codes.max() + 1 + np.arange(nulls.sum())
    return codes


# -- equality with statsmodels ----------------------------------------------------------
def test_unpenalised_equals_plain_statsmodels_logit():
    df = binary_frame(np.random.default_rng(SEED))
    X = sm.add_constant(df[["x1", "x2"]]).rename(columns={"const": "Intercept"})
    ref = sm.Logit(df["renewed"], X).fit(disp=0)
    ours = RenewalLogit(["x1", "x2"]).fit(df)
    np.testing.assert_allclose(ours.coef_.to_numpy(), ref.params.to_numpy(), rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.result_.bse, ref.bse, rtol=0, atol=1e-8)
    tab = ours.summary().set_index("term")
    np.testing.assert_allclose(tab["std_err"], ref.bse, rtol=0, atol=1e-8)
    np.testing.assert_allclose(tab["p"], ref.pvalues, rtol=0, atol=1e-8)
    mfx = ref.get_margeff(at="overall", dummy=True)
    np.testing.assert_allclose(tab["ame"].iloc[1:], mfx.margeff, rtol=0, atol=1e-8)
    np.testing.assert_allclose(tab["ame_std_err"].iloc[1:], mfx.margeff_se, rtol=0, atol=1e-8)


def test_cluster_se_equals_statsmodels_with_null_csm_as_singletons():
    df = binary_frame(np.random.default_rng(SEED + 1))
    assert df["csm_id"].isna().sum() > 10
    X = sm.add_constant(df[["x1", "x2"]])
    groups = _null_as_singletons(df["csm_id"])
    ref = sm.Logit(df["renewed"], X).fit(disp=0, cov_type="cluster", cov_kwds={"groups": groups})
    ours = RenewalLogit(["x1", "x2"], cluster="csm_id").fit(df)
    np.testing.assert_allclose(ours.result_.params, ref.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.result_.bse, ref.bse, rtol=0, atol=1e-8)
    assert ours.n_clusters_ == len(np.unique(groups))
    assert ours.cov_type_ == "cluster by csm_id"
    # a cluster column that is entirely labelled gives the same as statsmodels directly
    filled = df.assign(csm_id=df["csm_id"].fillna("tech-touch"))
    ref2 = sm.Logit(df["renewed"], X).fit(
        disp=0, cov_type="cluster", cov_kwds={"groups": pd.factorize(filled["csm_id"])[0]}
    )
    ours2 = RenewalLogit(["x1", "x2"], cluster="csm_id").fit(filled)
    np.testing.assert_allclose(ours2.result_.bse, ref2.bse, rtol=0, atol=1e-8)


def test_binomial_equals_statsmodels_glm():
    rng = np.random.default_rng(SEED + 2)
    df = binary_frame(rng)
    df["trials"] = rng.integers(1, 6, size=len(df))
    df["successes"] = rng.binomial(df["trials"], expit(0.5 + 0.7 * df["x1"]))
    X = sm.add_constant(df[["x1", "x2"]])
    endog = np.column_stack([df["successes"], df["trials"] - df["successes"]])
    ref = sm.GLM(endog, X, family=sm.families.Binomial()).fit()
    ours = RenewalLogit(["x1", "x2"], outcome=("successes", "trials"), outcome_kind="binomial").fit(
        df
    )
    np.testing.assert_allclose(ours.result_.params, ref.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.result_.bse, ref.bse, rtol=0, atol=1e-8)
    p = ours.predict_proba(df)
    assert p.name == "p_renew"
    np.testing.assert_allclose(p, ref.predict(X), rtol=0, atol=1e-10)


# -- published numbers ------------------------------------------------------------------
def test_spector_mazzeo_published_logit():
    """Greene, Econometric Analysis (logit, Spector & Mazzeo 1980 data): coefficients to the
    4 published decimals; SEs and log-likelihood to 4 decimals of Stata's (statsmodels
    results_discrete.py). See tests/models/data/README.md."""
    data = sm.datasets.spector.load_pandas().data
    m = RenewalLogit(["GPA", "TUCE", "PSI"], outcome="GRADE").fit(data)
    tab = m.summary().set_index("term")
    published = {"Intercept": -13.0213, "GPA": 2.8261, "TUCE": 0.0952, "PSI": 2.3787}
    ses = {"Intercept": 4.9313, "GPA": 1.2629, "TUCE": 0.1416, "PSI": 1.0646}
    for term, value in published.items():
        assert round(tab.loc[term, "coef"], 4) == pytest.approx(value, abs=1e-12), term
        assert round(tab.loc[term, "std_err"], 4) == pytest.approx(ses[term], abs=1e-12), term
    assert round(m.result_.llf, 4) == pytest.approx(-12.8896, abs=1e-12)
    assert m.n_obs_ == 32
    assert m.n_events_ == 11


# -- coverage on known truth ------------------------------------------------------------
N_REPS = 200
# 200 reps × 3 parameters = 600 nominal-90 % intervals. Were they independent, the pooled
# coverage would have sd sqrt(0.9·0.1/600) = 0.012, so [0.85, 0.95] is ±4 sd; intervals of
# one replication are correlated, and even at perfect correlation (sd 0.021) the band is
# ±2.4 sd. Each parameter alone (200 intervals, sd 0.021) must lie in [0.83, 0.97] (±3.3 sd).


def _coverage(hits: np.ndarray) -> tuple[float, np.ndarray]:
    return float(hits.mean()), hits.mean(axis=0)


def test_ci_coverage_binary_logit():
    rng = np.random.default_rng(SEED + 3)
    truth = np.array(list(TRUE_BINARY.values()))
    hits = np.empty((N_REPS, 3), dtype=bool)
    for r in range(N_REPS):
        df = binary_frame(rng, n=300)
        tab = RenewalLogit(["x1", "x2"]).fit(df).summary(alpha=0.10)
        hits[r] = (tab["ci_low"].to_numpy() <= truth) & (truth <= tab["ci_high"].to_numpy())
    pooled, per = _coverage(hits)
    print(f"binary logit 90% CI coverage: pooled {pooled:.3f}, per parameter {per.round(3)}")
    assert 0.85 <= pooled <= 0.95
    assert np.all((per >= 0.83) & (per <= 0.97))
    assert st.binomtest(int(hits.sum()), hits.size, 0.9).pvalue > 1e-3


def test_ci_coverage_two_part_churn_part_and_size_recovery():
    rng = np.random.default_rng(SEED + 4)
    truth = np.array(list(TRUE_BINARY.values()))
    hits = np.empty((N_REPS, 3), dtype=bool)
    size_slope = []
    for r in range(N_REPS):
        df = classes_frame(rng, n=300)
        m = RenewalLogit(["x1", "x2"], outcome="outcome", outcome_kind="classes").fit(df)
        ci = np.asarray(m.result_.conf_int(0.10))  # the renew part (summary rows "renew")
        hits[r] = (ci[:, 0] <= truth) & (truth <= ci[:, 1])
        size_slope.append(m.coef_[("log_ratio_expansion", "x1")])
    pooled, per = _coverage(hits)
    print(f"two-part churn part 90% CI coverage: pooled {pooled:.3f}, per {per.round(3)}")
    assert 0.85 <= pooled <= 0.95
    assert np.all((per >= 0.83) & (per <= 0.97))
    # the size regression is attenuated by the clipping at 0.01 but keeps sign and scale
    assert 0.05 < np.mean(size_slope) < 0.2


def test_two_part_model_matches_binary_model_and_recovers_classes():
    df = classes_frame(np.random.default_rng(SEED + 5), n=4000)
    m = RenewalLogit(["x1", "x2"], outcome="outcome", outcome_kind="classes").fit(df)
    # part 1 is exactly the binary logit of renewed = (outcome != churn)
    binary = RenewalLogit(["x1", "x2"]).fit(df.assign(renewed=(df["outcome"] != "churn")))
    np.testing.assert_allclose(m.coef_["renew"], binary.coef_, rtol=0, atol=1e-10)
    proba = m.predict_proba(df)
    assert list(proba.columns) == ["churn", "contraction", "flat", "expansion"]
    assert proba.index.equals(df.index)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(1 - proba["churn"], binary.predict_proba(df), atol=1e-10)
    # renewer multinomial recovers the truth within 4 standard errors
    tab = m.summary().set_index(["part", "term"])
    for c, true in TRUE_CLASSES.items():
        for term, value in zip(["Intercept", "x1", "x2"], true, strict=True):
            row = tab.loc[(f"{c}_vs_flat", term)]
            assert abs(row["coef"] - value) < 4 * row["std_err"], (c, term)
    # expected ARR ratio: calibrated in aggregate against the realised ratio
    realised = df["arr_after"] / df["arr_before"]
    expected = m.expected_arr_ratio(df)
    assert expected.name == "expected_arr_ratio"
    assert expected.index.equals(df.index)
    assert expected.mean() == pytest.approx(realised.mean(), abs=0.01)
    for lo, hi in [(-np.inf, -0.5), (0.5, np.inf)]:  # and within x1 slices
        s = df["x1"].between(lo, hi)
        assert expected[s].mean() == pytest.approx(realised[s].mean(), abs=0.03)
    gross = m.expected_arr_ratio(df, gross=True)
    assert gross.name == "expected_gross_arr_ratio"
    assert (gross <= expected + 1e-12).all()
    assert gross.mean() == pytest.approx(np.minimum(realised, 1).mean(), abs=0.01)


# -- penalty, standardisation, missing rows, groups ------------------------------------
def test_penalty_is_l2_posterior_mode_on_slopes():
    df = binary_frame(np.random.default_rng(SEED + 6), n=150)
    alpha = 3.0
    m = RenewalLogit(["x1", "x2"], penalty=alpha).fit(df)
    X = sm.add_constant(df[["x1", "x2"]]).to_numpy()
    y = df["renewed"].to_numpy()

    def negobj(b: np.ndarray) -> float:  # independent implementation of the objective
        eta = X @ b
        return -(y @ eta - np.logaddexp(0, eta).sum()) + alpha / 2 * (b[1:] ** 2).sum()

    ref = so.minimize(negobj, np.zeros(3), method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(m.coef_.to_numpy(), ref, atol=1e-6)
    plain = RenewalLogit(["x1", "x2"]).fit(df)
    assert np.all(np.abs(m.coef_.to_numpy()[1:]) < np.abs(plain.coef_.to_numpy()[1:]))
    zero = RenewalLogit(["x1", "x2"], penalty=0.0).fit(df)
    np.testing.assert_allclose(zero.coef_, plain.coef_, atol=1e-12)
    # the classes model accepts the penalty on both logit parts
    dfc = classes_frame(np.random.default_rng(SEED + 7), n=400)
    mc = RenewalLogit(["x1", "x2"], outcome="outcome", outcome_kind="classes", penalty=1.0)
    assert np.isfinite(mc.fit(dfc).summary()["coef"]).all()


def test_standardize_changes_scale_not_predictions():
    df = binary_frame(np.random.default_rng(SEED + 8))
    df["x1"] = 50 + 20 * df["x1"]
    raw = RenewalLogit(["x1", "x2"]).fit(df)
    std = RenewalLogit(["x1", "x2"], standardize=True).fit(df)
    np.testing.assert_allclose(std.predict_proba(df), raw.predict_proba(df), atol=1e-9)
    sd = df["x1"].std(ddof=1)
    assert std.coef_["x1"] == pytest.approx(raw.coef_["x1"] * sd, rel=1e-7)
    # AMEs are per original unit either way (x2 is 0/1 raw but continuous once scaled,
    # so only x1 is compared)
    a_raw = raw.summary().set_index("term")["ame"]
    a_std = std.summary().set_index("term")["ame"]
    assert a_std["x1"] == pytest.approx(a_raw["x1"], rel=1e-7)
    spec = DesignSpec.from_dict(std.spec_.to_dict())
    assert spec == std.spec_


def test_missing_drop_is_reported_and_raise_is_default():
    df = binary_frame(np.random.default_rng(SEED + 9))
    df.loc[df.index[[3, 10, 11]], "x1"] = np.nan
    with pytest.raises(InputError, match="3 of 400 rows with missing values: x1 \\(3\\)"):
        RenewalLogit(["x1", "x2"]).fit(df)
    m = RenewalLogit(["x1", "x2"], missing="drop").fit(df)
    assert m.n_dropped_ == 3
    assert m.n_obs_ == 397
    assert m.summary().attrs["n_dropped"] == 3


def test_print_summary_shows_provenance(capsys):
    df = binary_frame(np.random.default_rng(SEED + 10))
    df.loc[df.index[0], "x2"] = np.nan
    RenewalLogit(["x1", "x2"], cluster="csm_id", missing="drop").fit(df).print_summary()
    out = capsys.readouterr().out
    assert "n = 399" in out
    assert "1 rows with missing values" in out
    assert "cluster by csm_id" in out
    assert "null → singletons" in out
    assert "Intercept, x1, x2" in out
    assert "odds_ratio" in out


def test_groups_indicators_and_unseen_levels():
    df = binary_frame(np.random.default_rng(SEED + 11))
    m = RenewalLogit(["x1"], groups=["segment"]).fit(df)
    assert list(m.coef_.index) == ["Intercept", "x1", "segment[Mid]", "segment[SMB]"]
    new = df.head(3).assign(segment=["SMB", "Partner", "Ent"])
    with pytest.raises(InputError, match="unseen levels: 'Partner'") as err:
        m.predict_proba(new)
    assert 'unseen="average"' in str(err.value)
    avg = RenewalLogit(["x1"], groups=["segment"], unseen="average").fit(df)
    p = avg.predict_proba(new)
    freqs = df["segment"].value_counts(normalize=True)
    b = avg.coef_
    eta = b["Intercept"] + b["x1"] * new["x1"].iloc[1]
    eta += b["segment[Mid]"] * freqs["Mid"] + b["segment[SMB]"] * freqs["SMB"]
    assert p.iloc[1] == pytest.approx(expit(eta), rel=1e-12)


def test_predict_proba_keeps_the_input_index():
    df = binary_frame(np.random.default_rng(SEED + 12))
    m = RenewalLogit(["x1", "x2"]).fit(df)
    shuffled = df.sample(frac=1.0, random_state=1)
    p = m.predict_proba(shuffled)
    assert p.index.equals(shuffled.index)
    assert p.name == "p_renew"
    np.testing.assert_allclose(p.loc[df.index], m.predict_proba(df), atol=1e-15)


# -- clear errors -----------------------------------------------------------------------
def test_error_missing_predictor_column():
    df = binary_frame(np.random.default_rng(SEED))
    with pytest.raises(InputError) as err:
        RenewalLogit(["x1", "adoption_score"]).fit(df)
    msg = str(err.value)
    assert "1 missing: 'adoption_score'" in msg
    assert "available: x1, x2" in msg
    assert "Fix:" in msg


def test_error_non_numeric_predictor():
    df = binary_frame(np.random.default_rng(SEED))
    with pytest.raises(InputError) as err:
        RenewalLogit(["x1", "segment"]).fit(df)
    msg = str(err.value)
    assert "expected numeric" in msg
    assert "1 non-numeric: segment" in msg
    assert "segment=" in msg  # example value
    assert "groups=" in msg  # how to fix


def test_error_nan_rows():
    df = binary_frame(np.random.default_rng(SEED))
    df.loc["A-0007", "renewed"] = np.nan
    with pytest.raises(InputError) as err:
        RenewalLogit(["x1", "x2"]).fit(df)
    msg = str(err.value)
    assert "1 of 400 rows with missing values: renewed (1)" in msg
    assert "row 7 (index 'A-0007'): renewed=nan" in msg
    assert 'missing="drop"' in msg


def test_error_infinite_predictor():
    df = binary_frame(np.random.default_rng(SEED))
    df.loc["A-0002", "x1"] = np.inf
    with pytest.raises(InputError, match=r"1 infinite values.*A-0002"):
        RenewalLogit(["x1", "x2"], missing="drop").fit(df)


def test_error_outcome_not_binary():
    df = binary_frame(np.random.default_rng(SEED))
    df["renewed"] = df["renewed"] * 2  # 0/2
    with pytest.raises(InputError) as err:
        RenewalLogit(["x1", "x2"]).fit(df)
    msg = str(err.value)
    assert "expected a binary outcome: 0/1 or True/False" in msg
    assert "with other values (int64; e.g. 2)" in msg
    assert 'outcome_kind="classes"' in msg
    df["renewed"] = np.where(df["renewed"] > 0, "yes", "no")
    with pytest.raises(InputError, match="'yes'"):
        RenewalLogit(["x1", "x2"]).fit(df)


def test_error_unknown_class_and_settings():
    df = classes_frame(np.random.default_rng(SEED), n=200)
    df.loc[df.index[4], "outcome"] = "downsell"
    with pytest.raises(InputError, match="1 rows with other values: 'downsell'"):
        RenewalLogit(["x1"], outcome="outcome", outcome_kind="classes").fit(df)
    with pytest.raises(InputError, match="outcome_kind"):
        RenewalLogit(["x1"], outcome_kind="poisson").fit(df)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="penalty"):
        RenewalLogit(["x1"], penalty=-1.0).fit(df)
    with pytest.raises(InputError, match="successes, trials"):
        RenewalLogit(["x1"], outcome_kind="binomial").fit(df)
    with pytest.raises(DearstatsError, match="not fitted"):
        RenewalLogit(["x1"]).predict_proba(df)
    with pytest.raises(InputError, match="expected_arr_ratio"):
        RenewalLogit(["x1", "x2"]).fit(binary_frame(np.random.default_rng(1))).expected_arr_ratio(
            df
        )

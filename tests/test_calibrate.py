"""Scorecard calibration: renewal frame, weights/thresholds, evaluation, held-out check."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import dearstats as ds
from dearstats.calibrate import (
    Calibration,
    calibrate_scorecard,
    ece_null_quantiles,
    evaluate,
    expected_calibration_error,
    renewal_frame,
)
from dearstats.features import build_features
from dearstats.scorecard import ScoreCard

TRAIN, TEST = [2021, 2022, 2023], [2024]
DIMS = ScoreCard.default().dimension_names


# ------------------------------------------------------------------ fast unit tests
def _synthetic(n: int = 4000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    s = rng.uniform(0, 100, size=(n, 4))
    beta = np.array([0.01, 0.02, 0.03, 0.0])
    p = 1 / (1 + np.exp(-(-1.0 + s @ beta)))
    frame = pd.DataFrame(s, columns=[f"{d}_score" for d in DIMS])
    frame["renewed"] = (rng.random(n) < p).astype(int)
    frame["csm_id"] = rng.integers(0, 40, n).astype(str)
    frame["account_id"] = [f"A{i}" for i in range(n)]
    frame["fiscal_year"] = 2021 + np.arange(n) % 3
    frame["renewal_date"] = pd.Timestamp("2021-06-01") + pd.to_timedelta(
        (frame["fiscal_year"] - 2021) * 365, unit="D"
    )
    return frame


def test_ece_equal_count_bins() -> None:
    y = np.array([0, 1] * 50)
    assert expected_calibration_error(y, np.full(100, 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(np.ones(100), np.full(100, 0.8)) == pytest.approx(0.2)
    # ten bins of ten rows at p = 0.1 … 1.0, each with the matching share of renewals,
    # except the first (p = 0.1) with 6 of 10 → gap 0.5 in one bin of ten → ECE = 0.05
    p = np.repeat(np.arange(1, 11) / 10, 10)
    y = np.concatenate([np.r_[np.ones(k), np.zeros(10 - k)] for k in range(1, 11)])
    assert expected_calibration_error(y, p) == pytest.approx(0.0)
    y[:10] = np.r_[np.ones(6), np.zeros(4)]
    assert expected_calibration_error(y, p) == pytest.approx(0.05)


def test_weights_recover_known_coefficients() -> None:
    frame = _synthetic()
    cal = calibrate_scorecard(frame, n_boot=500, random_seed=0, adjust_for=())
    w = cal.weights.set_index("dimension")
    truth = {"deployment": 1 / 6, "engagement": 2 / 6, "adoption": 3 / 6, "roi": 0.0}
    for d, t in truth.items():
        assert w.loc[d, "ci_low"] - 0.02 <= t <= w.loc[d, "ci_high"] + 0.02, (d, w.loc[d])
    assert w["weight"].sum() == pytest.approx(1.0)
    # thresholds: fitted P(renew) at the yellow/green score equals the targets
    th = cal.thresholds.set_index("boundary")
    b = cal.model.result_.params
    slope = np.maximum(b[[f"{d}_score" for d in DIMS]].to_numpy(), 0).sum()
    neg = np.minimum(b[[f"{d}_score" for d in DIMS]].to_numpy(), 0)
    means = frame[[f"{d}_score" for d in DIMS]].mean().to_numpy()
    for boundary, target in (("yellow", 0.75), ("green", 0.90)):
        eta = b["Intercept"] + (neg * means).sum() + slope * th.loc[boundary, "score"]
        assert 1 / (1 + np.exp(-eta)) == pytest.approx(target, abs=1e-6)


def test_ece_null_reference_is_near_point03_for_1000_rows() -> None:
    p = np.random.default_rng(0).uniform(0.6, 0.95, 1000)
    q = ece_null_quantiles(p, n_sim=300)
    assert 0.02 < q["q50"] < 0.035


def test_ece_null_shrinks_like_one_over_sqrt_n() -> None:
    """Why the held-out check needs a big book: a perfectly calibrated model's ECE is
    ≈ sqrt(2/π) · sqrt(bins · p̄(1 − p̄) / n) (the mean |error| of 10 bin rates), so 4× the
    rows halve it (module docstring, "Expected calibration error")."""
    rng = np.random.default_rng(0)
    p = rng.uniform(0.6, 0.95, 16000)
    small = ece_null_quantiles(p[:1000], n_sim=300)["mean"]
    big = ece_null_quantiles(p[:4000], n_sim=300)["mean"]
    assert big / small == pytest.approx(0.5, abs=0.06)
    approx = np.sqrt(2 / np.pi) * np.sqrt(10 * np.mean(p * (1 - p)) / 1000)
    assert small == pytest.approx(approx, rel=0.1)


def _drifting_mix(n: int = 16000, seed: int = 3) -> pd.DataFrame:
    """Renewals whose risk differs by segment and whose segment mix drifts by year:
    the share of the safer segment "Ent" grows from 0.2 (2021) to 0.6 (2024); the scores
    have the same distribution in both segments, so they cannot see the drift."""
    frame = _synthetic(n, seed)
    rng = np.random.default_rng(seed + 1)
    year = rng.choice([2021, 2022, 2023, 2024], size=n)
    share = pd.Series(year).map({2021: 0.2, 2022: 0.3, 2023: 0.4, 2024: 0.6}).to_numpy()
    ent = rng.random(n) < share
    s = frame[[f"{d}_score" for d in DIMS]].to_numpy()
    eta = -1.0 + s @ np.array([0.01, 0.02, 0.03, 0.0]) + 1.2 * ent
    frame["renewed"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    frame["segment"] = np.where(ent, "Ent", "SMB")
    frame["fiscal_year"] = year
    frame["renewal_date"] = pd.to_datetime([f"{y}-06-01" for y in year])
    return frame


def test_adjust_for_segment_follows_a_drifting_segment_mix() -> None:
    frame = _drifting_mix()
    test = frame[frame["fiscal_year"] == 2024]
    se = np.sqrt(test["renewed"].mean() * (1 - test["renewed"].mean()) / len(test))
    adjusted = calibrate_scorecard(  # default adjust_for=("segment",)
        frame, train_years=TRAIN, test_years=TEST, n_boot=200, random_seed=0
    )
    plain = calibrate_scorecard(
        frame, train_years=TRAIN, test_years=TEST, n_boot=200, random_seed=0, adjust_for=()
    )
    gap_adj = adjusted.evaluation["test"]["renewal_rate"] - adjusted.evaluation["test"]["mean_p"]
    gap_plain = plain.evaluation["test"]["renewal_rate"] - plain.evaluation["test"]["mean_p"]
    assert abs(gap_adj) < 3 * se, (gap_adj, se)
    assert gap_plain > 4 * se, (gap_plain, se)  # the unadjusted model lags the mix
    assert adjusted.evaluation["test"]["ece"] < plain.evaluation["test"]["ece"]
    assert adjusted.adjust_for == ("segment",)
    assert plain.adjust_for == ()
    method = adjusted.scorecard.provenance.evaluation["method"]
    assert list(method["adjust_for"]) == ["segment"]
    assert method["model"] == "logit renewed ~ dimension scores + segment"
    # the weights are the within-segment slopes: still ∝ (1, 2, 3, 0)
    w = adjusted.weights.set_index("dimension")
    for d, t in {"deployment": 1 / 6, "engagement": 2 / 6, "adoption": 3 / 6}.items():
        assert w.loc[d, "ci_low"] - 0.02 <= t <= w.loc[d, "ci_high"] + 0.02
    # thresholds: fitted P(renew) of the training mix of segments equals the targets
    b = adjusted.model.result_.params
    train = frame[frame["fiscal_year"].isin(TRAIN)]
    mix = (train["segment"] == "SMB").mean()  # "Ent" is the reference level
    slope = np.maximum(b[[f"{d}_score" for d in DIMS]].to_numpy(), 0).sum()
    neg = np.minimum(b[[f"{d}_score" for d in DIMS]].to_numpy(), 0)
    means = train[[f"{d}_score" for d in DIMS]].mean().to_numpy()
    th = adjusted.thresholds.set_index("boundary")
    for boundary, target in (("yellow", 0.75), ("green", 0.90)):
        eta = (
            b["Intercept"]
            + mix * b["segment[SMB]"]
            + (neg * means).sum()
            + slope * th.loc[boundary, "score"]
        )
        assert 1 / (1 + np.exp(-eta)) == pytest.approx(target, abs=1e-6)
    # a segment unseen in training is scored as the training mix
    new = test.head(3).assign(segment="Strategic")
    p_new = adjusted.predict_proba(new).to_numpy()
    p_mix = [adjusted.predict_proba(new.assign(segment=s)).to_numpy() for s in ("Ent", "SMB")]
    eta_mix = (1 - mix) * np.log(p_mix[0] / (1 - p_mix[0])) + mix * np.log(
        p_mix[1] / (1 - p_mix[1])
    )
    np.testing.assert_allclose(np.log(p_new / (1 - p_new)), eta_mix, atol=1e-10)


def test_adjust_for_needs_its_columns() -> None:
    frame = _synthetic(400)
    with pytest.raises(ds.InputError, match="adjust_for"):
        calibrate_scorecard(frame, n_boot=10)  # the default adjusts for segment
    frame["segment"] = None
    with pytest.raises(ds.InputError, match="missing values"):
        calibrate_scorecard(frame, n_boot=10)


# ------------------------------------------------------------- simulated books
#: Accounts of the held-out book. The acceptance is ECE ≤ 0.03 on a held-out year; a
#: perfectly calibrated model's ECE is ≈ 0.8 · sqrt(10 · p̄(1 − p̄) / n) (see
#: test_ece_null_shrinks_like_one_over_sqrt_n), 0.029 at the n = 1,078 FY2024 renewals of
#: a 2,000-account book: there the check measured noise (it failed for a model within noise
#: of perfect). 7,000 accounts give n ≈ 3,700 held-out renewals, where the null ECE has
#: median ≈ 0.015 and 99th percentile ≈ 0.025, so ECE ≤ 0.03 tests calibration. Chosen
#: from that formula, not from the result.
N_ACCOUNTS = 7000


@pytest.fixture(scope="module")
def sim() -> dict[str, object]:
    """The held-out check: train FY2021-23, test FY2024 of a 7,000-account, 6-year book
    (seed 0), scorecard calibrated with the defaults (adjusted for segment)."""
    book = ds.simulate(N_ACCOUNTS, 6, random_seed=0)
    frame = renewal_frame(book, days_before=90, start="2021-01-01", end="2025-01-02")
    cal = calibrate_scorecard(frame, train_years=TRAIN, test_years=TEST, n_boot=2000, random_seed=0)
    return {"frame": frame, "cal": cal}


@pytest.fixture(scope="module")
def small() -> dict[str, object]:
    """A small book for the point-in-time check (build_features costs ~10 s per date even
    on a small book and scales with it)."""
    book = ds.simulate(600, 6, random_seed=0)
    frame = renewal_frame(book, days_before=90, start="2024-01-01", end="2024-07-01")
    return {"book": book, "frame": frame}


@pytest.mark.slow
def test_renewal_frame_is_point_in_time(small: dict[str, object]) -> None:
    frame, book = small["frame"], small["book"]
    assert isinstance(frame, pd.DataFrame)
    assert isinstance(book, ds.Book)
    assert (frame["as_of"] < frame["renewal_date"]).all()
    assert (frame["renewal_date"] - frame["as_of"] == pd.Timedelta(days=90)).all()
    assert set(frame["renewed"].unique()) <= {0, 1}
    assert (frame["renewed"] == (frame["outcome"] != "churn")).all()
    for col in ("arr_before", "arr_after", "segment", "csm_id", "fiscal_year", "overall_score"):
        assert col in frame
    # the features of one snapshot date equal build_features on the book cut at that date
    day = frame["as_of"].value_counts().index[0]
    rows = frame[frame["as_of"] == day].set_index("account_id")
    assert len(rows) >= 3
    ref = build_features(book, day).loc[rows.index]
    for col in ("arr", "adoption_users_30d", "engagement_contacts_90d", "roi_verified_90d"):
        pd.testing.assert_series_equal(
            rows[col].astype(float), ref[col].astype(float), check_names=False
        )


@pytest.mark.slow
def test_heldout_brier_beats_colour_baseline(sim: dict[str, object]) -> None:
    """Measured (seed 0): Brier 0.1223 vs 0.1267 for the renewal rate per colour of the
    default card in FY2021-23; AUC 0.709 vs 0.706 (n = 3,740)."""
    frame, cal = sim["frame"], sim["cal"]
    assert isinstance(cal, Calibration)
    assert isinstance(frame, pd.DataFrame)
    train = frame[frame["fiscal_year"].isin(TRAIN)]
    test = frame[frame["fiscal_year"].isin(TEST)]
    model = evaluate(cal, test)
    baseline = evaluate(ScoreCard.default(), test, reference=train)
    assert model["brier"] == cal.evaluation["test"]["brier"]
    assert model["brier"] < baseline["brier"], (model, baseline)
    assert model["auc"] > 0.65


@pytest.mark.slow
def test_heldout_ece_at_most_003(sim: dict[str, object]) -> None:
    """Issue 4 acceptance. Measured (seed 0): ECE 0.0189 on n = 3,740 FY2024 renewals
    (seeds 1 and 2, checked by hand: 0.0161 and 0.0120)."""
    cal = sim["cal"]
    assert isinstance(cal, Calibration)
    assert cal.evaluation["test"]["n"] > 3500  # the sample size the check was designed for
    assert cal.evaluation["test"]["ece"] <= 0.03


@pytest.mark.slow
def test_heldout_ece_within_noise_of_perfect_calibration(sim: dict[str, object]) -> None:
    """The stricter reading: no miscalibration detectable at this n. Measured (seed 0): ECE
    0.0189 against the null 95th percentile 0.0215 (median 0.0142)."""
    frame, cal = sim["frame"], sim["cal"]
    assert isinstance(cal, Calibration)
    assert isinstance(frame, pd.DataFrame)
    test = frame[frame["fiscal_year"].isin(TEST)]
    q = ece_null_quantiles(cal.predict_proba(test).to_numpy(), n_sim=500, q=(0.95,))
    assert cal.evaluation["test"]["ece"] <= q["q95"]


@pytest.mark.slow
def test_weights_and_thresholds_intervals(sim: dict[str, object]) -> None:
    cal = sim["cal"]
    assert isinstance(cal, Calibration)
    w = cal.weights
    assert list(w["dimension"]) == list(DIMS)
    assert w["weight"].sum() == pytest.approx(1.0)
    assert ((w["ci_low"] <= w["weight"]) & (w["weight"] <= w["ci_high"])).all()
    assert ((w["coef_ci_low"] <= w["coef"]) & (w["coef"] <= w["coef_ci_high"])).all()
    t = cal.thresholds.set_index("boundary")
    assert ((t["ci_low"] <= t["score"]) & (t["score"] <= t["ci_high"])).all()
    assert t.loc["yellow", "score"] < t.loc["green", "score"]
    card = cal.scorecard
    assert card.overall_thresholds.yellow == pytest.approx(t.loc["yellow", "score"], abs=0.01)
    assert {d.name: d.weight for d in card.dimensions} == pytest.approx(
        dict(zip(w["dimension"], w["weight"], strict=True)), abs=1e-6
    )


@pytest.mark.slow
def test_calibrated_card_json_round_trip(sim: dict[str, object], tmp_path) -> None:
    cal = sim["cal"]
    assert isinstance(cal, Calibration)
    card = cal.scorecard
    path = tmp_path / "card.json"
    text = card.to_json(path)
    back = ScoreCard.from_json(path)
    assert back == card
    assert back.to_json() == text
    prov = json.loads(text)["provenance"]
    frame = sim["frame"]
    assert isinstance(frame, pd.DataFrame)
    train = frame[frame["fiscal_year"].isin(TRAIN)]
    assert prov["data_period"] == {
        "start": train["renewal_date"].min().date().isoformat(),
        "end": (train["renewal_date"].max() + pd.Timedelta(days=1)).date().isoformat(),
    }
    assert "2021-01-01" <= prov["data_period"]["start"] < prov["data_period"]["end"] <= "2024-01-02"
    ev = prov["evaluation"]
    for key in ("auc", "brier", "ece", "renewal_rate_by_colour", "train", "test", "method"):
        assert key in ev
    assert ev["ece"] == cal.evaluation["test"]["ece"]
    assert prov["n_accounts"] > 0

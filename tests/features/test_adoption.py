"""Adoption features on the hand-made book (see conftest.feature_tables)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import AS_OF, feature_tables, make_book

from dearstats.features import FeatureConfig, build_features


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    return build_features(make_book(feature_tables()), AS_OF)


def test_active_users_and_breadth(feats):
    # U1 (1 and 2 d ago) and U2 (30 d ago, first day of the window); U3 had 0 events,
    # U4 is 31 d old, U7 is on AS_OF
    assert feats.loc["A1", "adoption_users_30d"] == 2
    assert feats.loc["A1", "adoption_breadth"] == pytest.approx(2 / 30)  # 30 licensed seats


def test_dau_mau(feats):
    # 3 user-days (U1 ×2, U2 ×1) over 30 days = 0.1 daily active users; / 2 monthly
    assert feats.loc["A1", "adoption_dau_mau"] == pytest.approx(0.1 / 2)


def test_sticky_share(feats):
    # U1 used f_sticky; U2 only f_b; U3 used sticky f_c but with 0 events
    assert feats.loc["A1", "adoption_sticky_share"] == pytest.approx(0.5)


def test_workflow_share(feats):
    # W1 = {f_sticky, f_a}: both used; W2 = {f_b, f_d}: f_d never used → 1 of 2
    assert feats.loc["A1", "adoption_workflow_share"] == pytest.approx(0.5)


def test_trend_is_recent_over_prior_daily_rate(feats):
    # recent: 3 user-days / 30; prior [AS_OF − 90, AS_OF − 30): U4 (31 d), U5 (89 d) → 2 / 60
    assert feats.loc["A1", "adoption_trend"] == pytest.approx((3 / 30) / (2 / 60))


def test_account_without_usage_scores_zero_not_null(feats):
    row = feats.loc["A2"]
    assert row["adoption_users_30d"] == 0
    for col in (
        "adoption_breadth",
        "adoption_dau_mau",
        "adoption_sticky_share",
        "adoption_workflow_share",
    ):
        assert row[col] == 0.0, col
    assert np.isnan(row["adoption_trend"])  # nothing to compare with: undefined


def test_window_is_configurable():
    config = FeatureConfig(adoption_window_days=31)
    feats = build_features(make_book(feature_tables()), AS_OF, config=config)
    assert feats.loc["A1", "adoption_users_30d"] == 3  # U4, 31 d ago, now inside


def test_no_workflow_in_catalogue_gives_null():
    t = feature_tables()
    t["feature_catalog"] = t["feature_catalog"].assign(
        workflow=pd.Series([None] * len(t["feature_catalog"]), dtype="str")
    )
    feats = build_features(make_book(t), AS_OF)
    assert feats["adoption_workflow_share"].isna().all()


def test_zero_licensed_seats_gives_null_breadth():
    t = feature_tables()
    t["contracts"] = t["contracts"].assign(seats=0)
    feats = build_features(make_book(t), AS_OF)
    assert np.isnan(feats.loc["A1", "adoption_breadth"])

"""Engagement features on the hand-made book (see conftest.feature_tables)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import AS_OF, feature_tables, make_book

from dearstats.features import FeatureConfig, build_features


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    return build_features(make_book(feature_tables()), AS_OF)


def test_key_coverage_uses_each_roles_sla(feats):
    # key: P1 sponsor (touched 45 d ago ≤ 90), P2 champion (1 d ≤ 30), P3 decision maker
    # (45 d ≤ 60), P4 admin = other key role (last touch 100 d ago > 60; the touch on
    # AS_OF is invisible) → 3 of 4
    assert feats.loc["A1", "engagement_key_coverage"] == pytest.approx(0.75)
    assert feats.loc["A1", "engagement_key_contacts"] == 4


def test_sla_days_are_configurable():
    config = FeatureConfig(
        role_sla_days={"executive_sponsor": 90, "champion": 30, "decision_maker": 30},
        other_key_sla_days=90,
    )
    feats = build_features(make_book(feature_tables()), AS_OF, config=config)
    # P3 (45 d > 30) and P4 (100 d > 90) now miss their SLA
    assert feats.loc["A1", "engagement_key_coverage"] == pytest.approx(0.5)


def test_days_since_sponsor_and_ebr(feats):
    assert feats.loc["A1", "engagement_days_since_sponsor"] == 45  # X2 with P1
    assert feats.loc["A1", "engagement_days_since_ebr"] == 45  # X2; X5 is older, X6 on AS_OF


def test_distinct_contacts_in_90_days(feats):
    # X1 (P2, P5) and X2 (P1, P3); X4 (P4) is 100 d old
    assert feats.loc["A1", "engagement_contacts_90d"] == 4


def test_sla_compliance_counts_periods_with_a_key_touch(feats):
    # key touches 1 d (period 1: [−30, 0)) and 45 d ago (period 2: [−60, −30)); nothing in
    # period 3 ([−90, −60)) → 2 of 3
    assert feats.loc["A1", "engagement_sla_compliance"] == pytest.approx(2 / 3)


def test_account_without_contacts(feats):
    row = feats.loc["A2"]
    assert np.isnan(row["engagement_key_coverage"])
    assert np.isnan(row["engagement_sla_compliance"])
    assert np.isnan(row["engagement_days_since_sponsor"])
    assert np.isnan(row["engagement_days_since_ebr"])
    assert row["engagement_contacts_90d"] == 0
    assert row["engagement_key_contacts"] == 0

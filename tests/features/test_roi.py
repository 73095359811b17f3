"""ROI features on the hand-made book (see conftest.feature_tables)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import AS_OF, before, feature_tables, frame, make_book

from dearstats.features import build_features


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    return build_features(make_book(feature_tables()), AS_OF)


def test_verified_recently(feats):
    # O2 verified 5 d ago; O1 120 d ago (> 90); O6 verified after AS_OF: still open
    assert feats.loc["A1", "roi_verified_90d"] == 1
    assert feats.loc["A1", "roi_days_since_verified"] == 5


def test_share_of_due_outcomes_verified(feats):
    # due in the last 365 d: O1, O2, O3, O5, O6 (O8's target is 380 d ago, O4 not due);
    # verified: O1 and O2 → 2/5; on or before target: O1 only → 1/5
    assert feats.loc["A1", "roi_verified_share_due"] == pytest.approx(2 / 5)
    assert feats.loc["A1", "roi_on_time_share_due"] == pytest.approx(1 / 5)


def test_overdue_and_open_as_they_stood_at_as_of(feats):
    # open at AS_OF: O3, O4, O6 (verified only after AS_OF); overdue: O3, O6
    assert feats.loc["A1", "roi_open"] == 3
    assert feats.loc["A1", "roi_overdue"] == 2
    assert bool(feats.loc["A1", "roi_has_plan"]) is True


def test_account_without_outcomes(feats):
    row = feats.loc["A2"]
    assert bool(row["roi_has_plan"]) is False
    assert row["roi_verified_90d"] == 0
    assert row["roi_overdue"] == 0
    assert row["roi_open"] == 0
    assert np.isnan(row["roi_verified_share_due"])
    assert np.isnan(row["roi_days_since_verified"])


def test_an_old_open_outcome_is_still_a_plan():
    t = feature_tables()
    t["outcomes"] = frame(
        "outcomes",
        [
            {
                "outcome_id": "Q",
                "account_id": "A2",
                "created_date": before(500),
                "target_date": before(10),
                "verified_date": None,
                "status": "open",
            },
            {
                "outcome_id": "R",
                "account_id": "A1",
                "created_date": before(500),
                "target_date": before(450),
                "verified_date": before(460),
                "status": "verified",
            },
        ],
    )
    feats = build_features(make_book(t), AS_OF)
    assert bool(feats.loc["A2", "roi_has_plan"]) is True  # open
    assert bool(feats.loc["A1", "roi_has_plan"]) is False  # closed, created > 365 d ago
    assert feats.loc["A1", "roi_days_since_verified"] == 460

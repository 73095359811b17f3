"""Activity counts on the hand-made book (see conftest.feature_tables)."""

from __future__ import annotations

import pytest
from conftest import AS_OF, feature_tables, make_book

from dearstats.features import FeatureConfig, build_features


def test_counts_by_type_in_the_window():
    feats = build_features(make_book(feature_tables()), AS_OF)
    a1 = feats.loc["A1"]
    # X1 training (1 d), X2 ebr (45 d), X7 check_in (90 d: first day of the window) →
    # other; X8 onboarding is 91 d old, X3 95 d, X6 on AS_OF
    assert a1["act_training"] == 1
    assert a1["act_ebr"] == 1
    assert a1["act_other"] == 1
    assert a1["act_onboarding"] == 0
    assert a1["act_health_check"] == 0
    assert (feats.loc["A2", [c for c in feats if c.startswith("act_")]] == 0).all()


def test_types_and_window_are_configurable():
    config = FeatureConfig(activity_types=("check_in", "onboarding"), activity_window_days=91)
    feats = build_features(make_book(feature_tables()), AS_OF, config=config)
    acts = [c for c in feats if c.startswith("act_")]
    assert acts == ["act_check_in", "act_onboarding", "act_other"]
    assert feats.loc["A1", "act_check_in"] == 1  # X7
    assert feats.loc["A1", "act_onboarding"] == 1  # X8, 91 d ago
    assert feats.loc["A1", "act_other"] == 2  # training, ebr


@pytest.mark.parametrize("bad", [("other",), ("Has Space",), ("ebr", "ebr")])
def test_bad_activity_types_are_refused(bad):
    from dearstats.errors import InputError

    with pytest.raises(InputError, match="activity_types"):
        FeatureConfig(activity_types=bad)

"""Deployment features on the hand-made book (see conftest.feature_tables)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import AS_OF, before, feature_tables, frame, make_book

from dearstats.features import FeatureConfig, build_features, deployment_by_product


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    return build_features(make_book(feature_tables()), AS_OF)


def test_activation_is_arr_weighted_over_products_with_an_activation(feats):
    # Core 6/10 (latest snapshot, 10 d ago) weight 10 000; Plus 25/20 capped at 1, weight
    # 30 000; Addon has 0 licensed seats: no activation, left out of the mean.
    expected = (10_000 * 0.6 + 30_000 * 1.0) / 40_000
    assert feats.loc["A1", "deployment_activation"] == pytest.approx(expected)
    assert not feats.loc["A1", "deployment_shelfware"]


def test_trend_compares_with_activation_as_of_90_days_earlier(feats):
    # as of AS_OF − 90: Core's latest snapshot is 100 d before AS_OF → 4/10; Plus had none
    assert feats.loc["A1", "deployment_activation_trend"] == pytest.approx(0.9 - 0.4)


def test_days_since_start_of_the_live_contracts(feats):
    # live: K1 (from 2023-07-01), K2, K7; expired K0 and not-yet-started K8 do not count
    days = feats["deployment_days_since_start"]
    assert days["A1"] == (AS_OF - pd.Timestamp("2023-07-01")).days
    assert days["A2"] == (AS_OF - pd.Timestamp("2024-02-01")).days


def test_stale_or_missing_snapshot_gives_null(feats):
    # A2's only snapshot is 120 days old (> snapshot_max_age_days = 90)
    assert np.isnan(feats.loc["A2", "deployment_activation"])
    assert np.isnan(feats.loc["A2", "deployment_activation_trend"])
    assert feats.loc["A2", "deployment_shelfware"] is pd.NA


def test_max_age_is_configurable():
    feats = build_features(
        make_book(feature_tables()), AS_OF, config=FeatureConfig(snapshot_max_age_days=120)
    )
    assert feats.loc["A2", "deployment_activation"] == pytest.approx(2 / 5)


def test_shelfware_threshold():
    feats = build_features(
        make_book(feature_tables()), AS_OF, config=FeatureConfig(shelfware_threshold=0.95)
    )
    assert bool(feats.loc["A1", "deployment_shelfware"]) is True
    assert feats["deployment_shelfware"].dtype == "boolean"


def test_by_product_long_frame():
    out = deployment_by_product(make_book(feature_tables()), AS_OF)
    assert list(out.columns) == [
        "account_id",
        "product",
        "as_of",
        "arr",
        "seats",
        "seats_active",
        "snapshot_date",
        "activation",
    ]
    rows = out.set_index(["account_id", "product"])
    assert rows.loc[("A1", "Core"), "activation"] == pytest.approx(0.6)
    assert rows.loc[("A1", "Core"), "snapshot_date"] == before(10)
    assert rows.loc[("A1", "Plus"), "activation"] == 1.0  # 25 active of 20: capped
    addon = rows.loc[("A1", "Addon")]
    assert addon["seats"] == 0
    assert addon["seats_active"] == 3
    assert np.isnan(addon["activation"])  # zero licensed seats: null, not inf
    assert rows.loc[("A2", "Core"), "seats_active"] is pd.NA
    assert pd.isna(rows.loc[("A2", "Core"), "snapshot_date"])
    assert set(out["account_id"]) == {"A1", "A2"}  # accounts with ARR > 0 only
    assert (out["as_of"] == AS_OF).all()


def test_plain_mean_when_products_with_activation_carry_no_arr():
    t = {
        "accounts": frame(
            "accounts",
            [{"account_id": "B", "segment": "SMB", "created_date": pd.Timestamp("2024-01-01")}],
        ),
        "contracts": frame(
            "contracts",
            [
                {
                    "contract_id": "c1",
                    "account_id": "B",
                    "product": "Free",
                    "start_date": pd.Timestamp("2024-01-01"),
                    "end_date": pd.Timestamp("2025-01-01"),
                    "arr": 0.0,
                    "seats": 10,
                },
                {
                    "contract_id": "c2",
                    "account_id": "B",
                    "product": "Paid",
                    "start_date": pd.Timestamp("2024-01-01"),
                    "end_date": pd.Timestamp("2025-01-01"),
                    "arr": 100.0,
                    "seats": 0,
                },
            ],
        ),
        "seat_snapshots": frame(
            "seat_snapshots",
            [
                {"account_id": "B", "product": "Free", "date": before(3), "seats_active": 5},
                {"account_id": "B", "product": "Paid", "date": before(3), "seats_active": 5},
            ],
        ),
    }
    feats = build_features(make_book(t), AS_OF)
    assert feats.loc["B", "deployment_activation"] == pytest.approx(0.5)

"""build_features / build_panel / renewal_snapshots: population, shape, equivalences."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import AS_OF, D, feature_tables, make_book, random_tables

from dearstats.errors import InputError
from dearstats.features import (
    FEATURES,
    FeatureConfig,
    build_features,
    build_panel,
    feature_specs,
    features_markdown,
    renewal_snapshots,
)


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    return build_features(make_book(feature_tables()), AS_OF)


# -- population and the as_of boundary ----------------------------------------------------
def test_rows_are_accounts_with_arr_on_the_day_before(feats):
    # A1: K1 ends ON AS_OF (live on AS_OF − 1) + K2 + K7; K8 starts on AS_OF (invisible).
    # A3 churned before, A4 starts on AS_OF, A5 has only ARR 0, A6 is created on AS_OF.
    assert list(feats.index) == ["A1", "A2"]
    assert feats.index.name == "account_id"
    assert feats.loc["A1", "arr"] == 10_000 + 5_000 + 30_000
    assert feats.loc["A1", "days_to_renewal"] == 0  # K1 ends on AS_OF
    assert feats.loc["A1", "n_products"] == 3
    assert feats.loc["A1", "licensed_seats"] == 30


def test_context_columns(feats):
    assert (feats["as_of"] == AS_OF).all()
    assert feats.loc["A1", "segment"] == "Enterprise"
    assert feats.loc["A1", "csm_id"] == "C1"
    assert pd.isna(feats.loc["A2", "csm_id"])  # tech-touch
    assert feats.loc["A1", "tenure_days"] == (AS_OF - D("2022-01-01")).days
    assert feats.loc["A2", "days_to_renewal"] == (D("2025-02-01") - AS_OF).days


def test_a_day_later_the_renewed_contract_is_visible():
    feats = build_features(make_book(feature_tables()), AS_OF + pd.Timedelta(days=1))
    # K1 has ended, K8 (99 000) has started
    assert feats.loc["A1", "arr"] == 5_000 + 30_000 + 99_000
    assert "A4" in feats.index


# -- the registry -------------------------------------------------------------------------
def test_columns_and_dtypes_follow_the_registry(feats):
    assert list(feats.columns) == list(FEATURES)
    for name, spec in FEATURES.items():
        assert str(feats[name].dtype) == spec.dtype, name


def test_registry_follows_the_config():
    config = FeatureConfig(activity_types=("qbr",), adoption_window_days=28)
    names = [s.name for s in feature_specs(config)]
    assert names[-2:] == ["act_qbr", "act_other"]
    specs = {s.name: s for s in feature_specs(config)}
    assert specs["adoption_breadth"].window == "[as_of − 28 d, as_of)"
    md = features_markdown(config)
    assert "`act_qbr`" in md
    assert "28 d" in md
    for spec in feature_specs():
        assert spec.dimension in {
            "context",
            "deployment",
            "engagement",
            "adoption",
            "roi",
            "activities",
        }
        assert spec.description
        assert spec.window


def test_scorecard_names_are_present():
    scored = [
        "deployment_activation",
        "deployment_activation_trend",
        "deployment_shelfware",
        "engagement_key_coverage",
        "engagement_days_since_sponsor",
        "engagement_contacts_90d",
        "engagement_sla_compliance",
        "engagement_days_since_ebr",
        "adoption_breadth",
        "adoption_dau_mau",
        "adoption_sticky_share",
        "adoption_workflow_share",
        "adoption_trend",
        "roi_verified_share_due",
        "roi_verified_90d",
        "roi_overdue",
        "roi_days_since_verified",
        "roi_has_plan",
    ]
    assert set(scored) <= set(FEATURES)


def test_attrs_record_as_of_and_config(feats):
    assert feats.attrs["as_of"] == "2024-07-01"
    assert feats.attrs["feature_config"] == FeatureConfig().as_dict()


def test_empty_book_gives_typed_empty_frame():
    out = build_features(make_book({}), AS_OF)
    assert out.empty
    assert list(out.columns) == list(FEATURES)
    assert str(out["deployment_shelfware"].dtype) == "boolean"


# -- panels ----------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2])
def test_panel_equals_stacked_single_dates(seed):
    book = make_book(random_tables(seed, n_accounts=5), engine="polars")
    dates = [D("2023-04-01"), D("2023-09-15"), D("2024-01-01"), D("2024-06-01")]
    panel = build_panel(book, dates)
    singles = pd.concat([build_features(book, d).reset_index() for d in dates], ignore_index=True)
    assert not panel.empty
    pd.testing.assert_frame_equal(panel, singles)


def test_panel_from_a_frequency():
    book = make_book(feature_tables())
    panel = build_panel(book, start="2024-04-01", end="2024-07-01", freq="MS")
    assert sorted(panel["as_of"].unique()) == list(
        pd.date_range("2024-04-01", "2024-07-01", freq="MS")
    )
    assert list(panel.columns[:2]) == ["account_id", "as_of"]
    assert panel.attrs["dates"][-1] == "2024-07-01"


def test_panel_needs_dates():
    with pytest.raises(InputError, match="dates"):
        build_panel(make_book(feature_tables()))
    with pytest.raises(InputError, match="no dates"):
        build_panel(make_book(feature_tables()), start="2024-05-02", end="2024-05-20")


# -- renewal snapshots ---------------------------------------------------------------------
def test_renewal_snapshots_are_features_days_before_each_renewal():
    tables = random_tables(3, n_accounts=5)
    book = make_book(tables, engine="polars")
    snaps = renewal_snapshots(book, days_before=60)
    events = tables["contracts"][["account_id", "end_date"]].drop_duplicates()
    assert len(snaps) + snaps.attrs["events_without_snapshot"] == len(events)
    assert (snaps["renewal_date"] - snaps["as_of"] == pd.Timedelta(days=60)).all()
    for as_of, rows in snaps.groupby("as_of"):
        single = build_features(book, as_of).loc[rows["account_id"]].reset_index()
        got = rows.drop(columns=["renewal_date", "renewal_arr"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, single, check_like=False)


def test_renewal_arr_and_window():
    book = make_book(feature_tables())
    snaps = renewal_snapshots(book, days_before=90, start="2024-07-01", end="2024-07-02")
    assert list(snaps.columns[:4]) == ["account_id", "renewal_date", "as_of", "renewal_arr"]
    assert list(snaps["account_id"]) == ["A1"]  # K1 ends on 2024-07-01
    row = snaps.iloc[0]
    assert row["renewal_arr"] == 10_000
    assert row["as_of"] == AS_OF - pd.Timedelta(days=90)
    assert row["arr"] == 10_000 + 5_000 + 30_000


def test_bad_days_before():
    with pytest.raises(InputError, match="days_before"):
        renewal_snapshots(make_book(feature_tables()), days_before=0)


# -- inputs --------------------------------------------------------------------------------
def test_inputs_are_checked():
    with pytest.raises(InputError, match="Book"):
        build_features({"accounts": None}, AS_OF)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="FeatureConfig"):
        build_features(make_book({}), AS_OF, config={"a": 1})  # type: ignore[arg-type]
    with pytest.raises(InputError, match="time of day"):
        build_features(make_book({}), "2024-07-01 12:00")


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_optional_columns_may_be_absent(engine, tmp_path):
    t = feature_tables()
    t["accounts"] = t["accounts"].drop(columns=["csm_id", "region", "industry"])
    t["activities"] = t["activities"].drop(columns=["csm_id"])
    t["feature_catalog"] = t["feature_catalog"].drop(columns=["workflow"])
    t["outcomes"] = t["outcomes"].drop(columns=["verified_date"])
    if engine == "duckdb":  # Parquet files without the columns (to_parquet would add them)
        import pyarrow.parquet as pq

        from dearstats._schema import TABLE_NAMES
        from dearstats.book import _empty_like, _to_arrow, read_book

        for name in TABLE_NAMES:
            pq.write_table(
                _to_arrow(name, t.get(name, _empty_like(name))), tmp_path / f"{name}.parquet"
            )
        book = read_book(tmp_path, validate=False)
        assert "workflow" not in book.native("feature_catalog").columns
    else:
        book = make_book(t, engine="polars")
    feats = build_features(book, AS_OF)
    assert feats["csm_id"].isna().all()
    assert feats["adoption_workflow_share"].isna().all()  # no workflow known
    assert (feats["roi_verified_90d"] == 0).all()  # nothing can be dated as verified
    assert feats.loc["A1", "adoption_users_30d"] == 2  # the rest is unaffected

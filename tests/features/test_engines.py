"""Engine parity: one book, identical features on pandas, Polars, DuckDB and PySpark.

DuckDB reads Parquet written by ``Book.to_parquet`` lazily (nothing is loaded into pandas
but the collected features); Spark reads the same Parquet files with ``spark.read``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import AS_OF, D, before, book_on, feature_tables, frame, make_book, random_tables

from dearstats._schema import TABLE_NAMES
from dearstats.book import Book
from dearstats.features import build_features, build_panel, renewal_snapshots

DATES = [D("2023-06-01"), D("2023-11-15"), D("2024-05-01")]
SEED = 11


def assert_same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Equal up to float rounding (sums run in a different order on each engine)."""
    pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-9, atol=1e-12)


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return random_tables(SEED, n_accounts=6)


@pytest.fixture(scope="module")
def reference(tables) -> tuple[pd.DataFrame, pd.DataFrame]:
    book = make_book(tables, engine="pandas")
    return build_panel(book, DATES), renewal_snapshots(book, days_before=45)


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_panel_and_renewals_agree_with_pandas(engine, tables, reference, tmp_path: Path):
    book = book_on(tables, engine, tmp_path)
    assert book.engine == engine
    panel, renewals = reference
    assert len(panel) > 10
    assert len(renewals) > 5
    assert_same(build_panel(book, DATES), panel)
    assert_same(renewal_snapshots(book, days_before=45), renewals)


def test_duckdb_hand_made_book_from_parquet(tmp_path: Path):
    expected = build_features(make_book(feature_tables()), AS_OF)
    book = book_on(feature_tables(), "duckdb", tmp_path)
    assert_same(build_features(book, AS_OF), expected)


def _spark_book(spark, tables: dict[str, pd.DataFrame], folder: Path) -> Book:
    make_book(tables).to_parquet(folder)
    return Book({n: spark.read.parquet(str(folder / f"{n}.parquet")) for n in TABLE_NAMES})


@pytest.mark.spark
@pytest.mark.filterwarnings(
    # PySpark 4 warns that pandas>=3 is not fully supported; results are compared below
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)
def test_pyspark_agrees_with_pandas(spark, tmp_path: Path):
    # one Spark run (Spark's fixed cost per query dominates on tiny books): a two-date
    # panel of the hand-made book, whose rows exercise every feature, plus null ids
    dates = [D("2024-02-01"), AS_OF]
    expected = build_panel(make_book(null_tables()), dates)
    book = _spark_book(spark, null_tables(), tmp_path)
    assert book.engine == "pyspark"
    panel = build_panel(book, dates)
    assert_same(panel, expected)
    assert_null_counts(panel[panel["as_of"] == AS_OF].set_index("account_id"))


# -- distinct counts and nulls -------------------------------------------------------------
def null_tables() -> dict[str, pd.DataFrame]:
    """A1 has usage rows and activity participants whose ids are null."""
    t = feature_tables()
    t["usage"] = pd.concat(
        [
            t["usage"],
            frame(
                "usage",
                [
                    {
                        "account_id": "A1",
                        "user_id": None,
                        "date": before(3),
                        "feature": "f_b",
                        "events": 4,
                    },
                    {
                        "account_id": "A1",
                        "user_id": None,
                        "date": before(4),
                        "feature": "f_a",
                        "events": 1,
                    },
                ],
            ),
        ],
        ignore_index=True,
    )
    t["activity_contacts"] = pd.concat(
        [
            t["activity_contacts"],
            frame(
                "activity_contacts",
                [
                    {"activity_id": "X1", "contact_id": None},
                    {"activity_id": "X2", "contact_id": None},
                ],
            ),
        ],
        ignore_index=True,
    )
    return t


def assert_null_counts(feats: pd.DataFrame) -> None:
    # the same numbers as without the null rows (test_adoption / test_engagement): a null
    # id is not a user or a contact, and two nulls are not one distinct value
    assert feats.loc["A1", "adoption_users_30d"] == 2
    assert feats.loc["A1", "adoption_dau_mau"] == pytest.approx(0.05)
    assert feats.loc["A1", "engagement_contacts_90d"] == 4
    assert feats.loc["A1", "engagement_key_coverage"] == pytest.approx(0.75)


@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb"])
def test_distinct_counts_ignore_null_ids(engine, tmp_path: Path):
    assert null_tables()["usage"]["user_id"].isna().sum() == 2
    assert_null_counts(build_features(book_on(null_tables(), engine, tmp_path), AS_OF))


# -- date arithmetic ----------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb"])
def test_day_numbers_match_python_dates(engine, tmp_path: Path):
    from dearstats.features._core import day_number, day_numbers

    days = pd.to_datetime(
        [
            "1900-03-01",
            "1969-12-31",
            "1970-01-01",
            "2000-02-29",
            "2000-03-01",
            "2023-12-31",
            "2024-02-29",
            "2024-03-01",
            "2100-03-01",
        ]
    )
    snaps = frame(
        "seat_snapshots",
        [
            {"account_id": "A", "product": str(i), "date": d, "seats_active": 0}
            for i, d in enumerate(days)
        ],
    )
    book = book_on({"seat_snapshots": snaps}, engine, tmp_path)
    got = (
        book.lazy("seat_snapshots")
        .select("product", day_number("date").alias("n"))
        .collect(backend="pyarrow")
        .to_native()
        .to_pandas()
        .sort_values("product", key=lambda s: s.astype(int))["n"]
        .tolist()
    )
    assert got == day_numbers(d.to_pydatetime() for d in days)

"""The book: loading from every source, validation messages, and the as_of cut."""

from __future__ import annotations

import duckdb
import pandas as pd
import polars as pl
import pytest

import dearstats as ds
from dearstats._schema import TABLE_NAMES
from dearstats.book import Book, to_date
from dearstats.errors import BookValidationError, InputError
from tests.conftest import D


def _problems(tables: dict[str, pd.DataFrame], **kw: object) -> list[str]:
    report = Book(tables).validate(**kw)
    return [p.render() for p in report.problems]


def _only_error(tables: dict[str, pd.DataFrame], **kw: object) -> str:
    report = Book(tables).validate(**kw)
    assert len(report.errors) == 1, report.render()
    return report.errors[0].render()


def test_tiny_book_is_valid(tiny_book: Book) -> None:
    report = tiny_book.validate()
    assert report.ok, report.render()
    assert not report.warnings, report.render()


# -- one test per class of bad input, each asserting the specific message -----------------


def test_missing_column(tiny: dict) -> None:
    tiny["contracts"] = tiny["contracts"].drop(columns="seats")
    msg = _only_error(tiny)
    assert msg.startswith("contracts.seats: missing column")
    assert "add column 'seats' (int)" in msg


def test_optional_column_may_be_absent(tiny: dict) -> None:
    tiny["accounts"] = tiny["accounts"].drop(columns=["region", "industry", "csm_id"])
    book = Book(tiny)
    assert book.validate().ok
    assert book.frame("accounts")["csm_id"].isna().all()


def test_wrong_type(tiny: dict) -> None:
    tiny["contracts"]["seats"] = tiny["contracts"]["seats"].astype(float)
    msg = _only_error(tiny)
    assert msg.startswith("contracts.seats: wrong type: expected int, found Float64")
    assert "cast the column to an integer type" in msg


def test_null_key(tiny: dict) -> None:
    tiny["accounts"].loc[1, "account_id"] = None
    report = Book(tiny).validate()
    msgs = [p.render() for p in report.errors]
    assert any(m.startswith("accounts.account_id: null values: 1 row") for m in msgs), msgs


def test_duplicate_key(tiny: dict) -> None:
    tiny["contacts"] = pd.concat([tiny["contacts"], tiny["contacts"].iloc[[0]]], ignore_index=True)
    msg = _only_error(tiny)
    assert msg.startswith("contacts.contact_id: duplicate key: 1 row (first: contact_id='P1'")
    assert "n_rows=2" in msg


@pytest.mark.parametrize(
    ("table", "column", "value", "ref"),
    [
        ("contracts", "account_id", "A404", "accounts"),
        ("activity_contacts", "contact_id", "P404", "contacts"),
        ("activity_contacts", "activity_id", "X404", "activities"),
        ("usage", "feature", "teleport", "feature_catalog"),
    ],
)
def test_orphans(tiny: dict, table: str, column: str, value: str, ref: str) -> None:
    tiny[table].loc[0, column] = value
    msg = _only_error(tiny)
    assert msg.startswith(f"{table}.{column}: orphan rows: {column} not found in {ref}: 1 row")
    assert f"{column}={value!r}" in msg


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("contracts", "arr"),
        ("contracts", "seats"),
        ("usage", "events"),
        ("seat_snapshots", "seats_active"),
    ],
)
def test_negative(tiny: dict, table: str, column: str) -> None:
    tiny[table].loc[0, column] = -1
    msg = _only_error(tiny)
    assert msg.startswith(f"{table}.{column}: negative values: 1 row")
    assert "must be >= 0" in msg


def test_end_before_start(tiny: dict) -> None:
    tiny["contracts"].loc[2, "end_date"] = D("2023-06-01")
    msg = _only_error(tiny)
    assert msg.startswith(
        "contracts.end_date: end_date <= start_date: 1 row (first: contract_id='C3'"
    )
    assert "end_date is exclusive" in msg


def test_overlapping_contracts(tiny: dict) -> None:
    tiny["contracts"].loc[1, "start_date"] = D("2023-12-01")
    msg = _only_error(tiny)
    assert msg.startswith(
        "contracts.start_date: overlapping contracts for the same account and product: 1 row "
        "(first: contract_id='C2', overlaps='C1'"
    )


def test_unknown_status(tiny: dict) -> None:
    tiny["outcomes"].loc[1, "status"] = "done"
    msg = _only_error(tiny)
    assert msg.startswith("outcomes.status: unknown status: 1 row (first: outcome_id='O2'")
    assert "open, verified, missed, abandoned" in msg


def test_records_after_as_of(tiny: dict) -> None:
    msgs = _problems(tiny, as_of="2024-03-01")
    after = [m for m in msgs if "dated on or after as_of 2024-03-01" in m]
    tables = sorted(m.split(".")[0] for m in after)
    # usage (2024-03-01, 2024-03-02, 2024-04-05), activity X2, the snapshots and contract C2? no:
    # C2 starts 2024-01-01; outcomes are all created before.
    assert tables == ["activities", "seat_snapshots", "usage"], after
    assert any(
        m.startswith("usage.date: dated on or after as_of 2024-03-01: 3 rows") for m in after
    )


def test_time_of_day(tiny: dict) -> None:
    tiny["activities"].loc[0, "date"] = pd.Timestamp("2024-02-10 13:30")
    msg = _only_error(tiny)
    assert msg.startswith("activities.date: time of day in a date column: 1 row")


def test_verified_without_date(tiny: dict) -> None:
    tiny["outcomes"].loc[0, "verified_date"] = None
    msg = _only_error(tiny)
    assert msg.startswith("outcomes.verified_date: status 'verified' without verified_date")


def test_warnings_apart_from_errors(tiny: dict) -> None:
    tiny["accounts"] = pd.concat(
        [
            tiny["accounts"],
            pd.DataFrame(
                {"account_id": ["A3"], "segment": ["SMB"], "created_date": [D("2024-01-01")]}
            ),
        ],
        ignore_index=True,
    )
    report = Book(tiny).validate()
    assert report.ok
    assert [p.check for p in report.warnings] == ["accounts with no contracts"]
    assert "1 warning(s)" in report.render()


def test_several_problems_reported_at_once(tiny: dict) -> None:
    tiny["contracts"].loc[0, "arr"] = -5.0
    tiny["contracts"].loc[2, "account_id"] = "A404"
    tiny["usage"].loc[0, "events"] = -2
    tiny["outcomes"].loc[1, "status"] = "done"
    tiny["contacts"] = tiny["contacts"].drop(columns="is_key")
    report = Book(tiny).validate()
    checks = sorted((p.table, p.check.split(":")[0]) for p in report.errors)
    assert checks == [
        ("contacts", "missing column"),
        ("contracts", "negative values"),
        ("contracts", "orphan rows"),
        ("outcomes", "unknown status"),
        ("usage", "negative values"),
    ]
    with pytest.raises(BookValidationError) as err:
        ds.read_book(tiny)
    assert len(err.value.report.errors) == 5
    assert "5 error(s)" in str(err.value)


def test_nothing_dropped_or_coerced(tiny: dict) -> None:
    """A bad value is reported, and the frame still holds every row as given."""
    tiny["usage"].loc[0, "events"] = -2
    book = Book(tiny)
    assert not book.validate().ok
    assert len(book.frame("usage")) == 3
    assert book.frame("usage")["events"].tolist() == [-2, 1, 7]


def test_csv_unparseable_values_are_errors_not_nulls(tmp_path, tiny_book: Book) -> None:
    tiny_book.to_csv(tmp_path)
    text = (tmp_path / "contracts.csv").read_text().replace("2025-01-01", "2025-13-01")
    (tmp_path / "contracts.csv").write_text(text)
    book = ds.read_book(tmp_path, validate=False)
    msgs = [p.render() for p in book.validate().errors]
    assert any(
        m.startswith("contracts.end_date: wrong type: 1 row (first: end_date='2025-13-01')")
        for m in msgs
    ), msgs
    assert book.counts()["contracts"] == 3
    with pytest.raises(InputError, match=r"contracts.end_date: values are not of type date"):
        book.frame("contracts")


def test_missing_table_and_engine_mix(tiny: dict) -> None:
    t = dict(tiny)
    del t["usage"]
    with pytest.raises(InputError, match=r"1 table\(s\) missing: usage"):
        Book(t)
    t = dict(tiny)
    t["usage"] = pl.from_pandas(tiny["usage"])
    with pytest.raises(InputError, match="tables come from different engines"):
        Book(t)


def test_to_date() -> None:
    assert to_date("2025-01-01") == pd.Timestamp("2025-01-01").to_pydatetime()
    with pytest.raises(InputError, match="time of day"):
        to_date("2025-01-01 10:00")
    with pytest.raises(InputError, match="is not a date"):
        to_date("soon")


# -- sources -----------------------------------------------------------------------------


def _assert_books_equal(a: Book, b: Book) -> None:
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(a.frame(name), b.frame(name), obj=name)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "duckdb"])
@pytest.mark.parametrize("engine", ["duckdb", "pandas", "polars"])
def test_round_trip_files(tmp_path, tiny_book: Book, fmt: str, engine: str) -> None:
    if fmt == "parquet":
        src = tiny_book.to_parquet(tmp_path / "book")
    elif fmt == "csv":
        src = tiny_book.to_csv(tmp_path / "book")
    else:
        src = tiny_book.to_duckdb(tmp_path / "book.duckdb")
    back = ds.read_book(src, engine=engine)
    assert back.engine == engine
    _assert_books_equal(tiny_book, back)


def test_in_memory_engines(tiny: dict) -> None:
    con = duckdb.connect()
    books = [
        Book({k: pl.from_pandas(v) for k, v in tiny.items()}),
        Book({k: pl.from_pandas(v).lazy() for k, v in tiny.items()}),
        Book({k: con.from_df(v) for k, v in tiny.items()}),
    ]
    for b in books:
        assert b.validate().ok
        _assert_books_equal(Book(tiny), b)


# -- as_of -------------------------------------------------------------------------------


def test_as_of_cut(tiny_book: Book) -> None:
    cut = tiny_book.as_of("2024-03-01")
    assert cut.validate(as_of="2024-03-01").ok
    assert cut.frame("usage").empty  # every usage row is on or after the cut
    assert cut.frame("activities")["activity_id"].tolist() == ["X1"]
    assert cut.frame("activity_contacts")["activity_id"].tolist() == ["X1"]
    assert cut.frame("contracts")["contract_id"].tolist() == ["C1", "C2", "C3"]
    out = cut.frame("outcomes").set_index("outcome_id")
    # O1 verified 2024-03-20 (after the cut): open then; O3 missed with target 2024-03-01
    # (on the cut): still open then.
    assert out["status"].to_dict() == {"O1": "open", "O2": "open", "O3": "open"}
    assert out["verified_date"].isna().all()
    later = tiny_book.as_of("2024-04-02").frame("outcomes").set_index("outcome_id")
    assert later["status"].to_dict() == {"O1": "verified", "O2": "open", "O3": "missed"}


def test_as_of_same_on_every_engine(tiny: dict, tmp_path) -> None:
    src = Book(tiny).to_parquet(tmp_path)
    expected = Book(tiny).as_of("2024-03-01")
    for engine in ["duckdb", "polars", "pandas"]:
        _assert_books_equal(expected, ds.read_book(src, engine=engine).as_of("2024-03-01"))


@pytest.fixture(scope="module")
def small_sim() -> Book:
    return ds.simulate(n_accounts=60, years=2, random_seed=7)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "duckdb"])
def test_simulated_book_round_trips_unchanged(tmp_path, small_sim: Book, fmt: str) -> None:
    writer = {
        "parquet": small_sim.to_parquet,
        "csv": small_sim.to_csv,
        "duckdb": lambda p: small_sim.to_duckdb(p / "book.duckdb"),
    }[fmt]
    back = ds.read_book(writer(tmp_path))
    for name in TABLE_NAMES:
        assert len(back.frame(name)) == len(small_sim.frame(name)) > 0, name
    _assert_books_equal(small_sim, back)


@pytest.mark.spark
def test_read_book_into_spark(tmp_path, tiny_book: Book) -> None:
    back = ds.read_book(tiny_book.to_parquet(tmp_path), engine="pyspark")
    assert back.engine == "pyspark"
    _assert_books_equal(tiny_book, back)
    _assert_books_equal(tiny_book.as_of("2024-03-01"), back.as_of("2024-03-01"))


def test_a_table_outside_the_contract_is_named_not_dropped_silently(tiny) -> None:
    tables = {**tiny, "csm_reads": pd.DataFrame({"account_id": ["a"]})}
    with pytest.warns(UserWarning, match=r"1 table\(s\) outside the data contract.*csm_reads"):
        book = Book(tables)
    assert "csm_reads" not in book.tables

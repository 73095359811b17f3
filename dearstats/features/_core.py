"""Engine-agnostic building blocks of the feature builder (narwhals lazy expressions).

Every feature is computed for a set of *pairs* ``(account_id, _t)``: an account and an
evaluation date ``_t`` (the ``as_of``). Dates are handled as integer day numbers (days
since 1970-01-01), computed by :func:`day_number` from ``year`` and ``ordinal_day``, which
every backend supports identically (date subtraction does not: DuckDB returns integers,
the others durations).

Two joins attach dated records to pairs, and both keep only records dated strictly
before ``_t`` (age ≥ 1 day), so a feature as of ``_t`` can never read a record dated on or
after ``_t``:

* :func:`window_join` (records in ``[_t − w, _t)``): in a *dense* context (every
  account at each of a few dates: panels) a range join against the small table of
  distinct dates, which the engines run as an inequality join, so the cost grows with the
  records (times the windows covering each), not records × dates — or, for the big
  pre-aggregated usage tables (``by_day``), a hash equi-join on ``_day`` against the
  small calendar of every ``(_t, _day)`` in the windows (dates × w rows), cheaper than
  the inequality join on millions of rows; in a *sparse* one (a few dates per account:
  renewal snapshots) an equi-join on ``account_id`` then the range filter.
* :func:`before_join` (records before ``_t``, unbounded look-back): an equi-join on
  ``account_id`` then a filter; used only on small pre-aggregated tables (one row per
  account and day with an event of interest).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import narwhals as nw
import pandas as pd

from dearstats._schema import TABLES
from dearstats.book import Book

__all__ = [
    "KEYS",
    "Context",
    "Tables",
    "before_join",
    "day_number",
    "day_numbers",
    "day_table",
    "dense_context",
    "distinct",
    "flag",
    "floor_div",
    "from_day_numbers",
    "int_table",
    "safe_div",
    "sparse_context",
    "window_join",
]

#: the key of every intermediate feature frame
KEYS: list[str] = ["account_id", "_t"]

_EPOCH = _dt.date(1970, 1, 1)
_NW_TYPES: dict[str, Any] = {
    "id": nw.String,
    "str": nw.String,
    "date": nw.Date,
    "float": nw.Float64,
    "int": nw.Int64,
    "bool": nw.Boolean,
}


# -- dates as integers ------------------------------------------------------------------
def day_number(column: str) -> nw.Expr:
    """Days since 1970-01-01 of a ``Date`` column, as ``Int64`` (null stays null).

    Built from ``dt.year`` and ``dt.ordinal_day`` with the proleptic Gregorian leap rule,
    so it is the same integer on pandas, Polars, DuckDB and PySpark.
    """
    year = nw.col(column).dt.year().cast(nw.Int64)
    ordinal = nw.col(column).dt.ordinal_day().cast(nw.Int64)
    y1 = year - 1
    leap_days = floor_div(y1, 4) - floor_div(y1, 100) + floor_div(y1, 400)
    # 477 = leap days before 1970 (1969 // 4 − 1969 // 100 + 1969 // 400)
    return 365 * (year - 1970) + leap_days - 477 + ordinal - 1


def floor_div(expr: nw.Expr, k: int) -> nw.Expr:
    """``expr // k`` for a positive integer ``k``, as ``floor(expr / k)`` in ``Int64``.

    Exact for the integers used here (|expr| ≪ 2**52) and far smaller in SQL than
    narwhals' ``//`` (which spells out Python's floor semantics as nested CASEs).
    """
    return (expr / k).floor().cast(nw.Int64)


def day_numbers(dates: Iterable[_dt.date]) -> list[int]:
    """Python dates (or datetimes at midnight) to day numbers."""
    out = []
    for d in dates:
        day = d.date() if isinstance(d, _dt.datetime) else d
        out.append((day - _EPOCH).days)
    return out


def from_day_numbers(values: pd.Series) -> pd.Series:
    """Day numbers to canonical ``datetime64[us]`` dates (null stays ``NaT``)."""
    days = pd.to_numeric(values).astype("float64")
    return (pd.Timestamp("1970-01-01") + pd.to_timedelta(days, unit="D")).astype("datetime64[us]")


# -- small expression helpers -----------------------------------------------------------
def safe_div(num: nw.Expr, den: nw.Expr) -> nw.Expr:
    """``num / den``, null where ``den`` is 0 or null (never inf, never a Spark error)."""
    return num.cast(nw.Float64) / nw.when(den != 0).then(den.cast(nw.Float64))


def distinct(lf: nw.LazyFrame, *columns: str) -> nw.LazyFrame:
    """The distinct rows of ``lf``'s ``columns`` (all columns if none are given).

    On the SQL engines (DuckDB, PySpark) spelled as a group-by with a count that is then
    dropped, which they run as a hash aggregate: narwhals' ``unique()`` becomes a
    ``row_number()`` window there (a partitioned sort), several times slower on large
    inputs. In-memory engines (pandas, Polars) keep ``unique()`` (``drop_duplicates``):
    an aggregate-free pandas group-by materialises every group's row index (``.groups``;
    19 GiB on a 7,000-account book). Null keys form a group either way.
    """
    keys = list(columns) or lf.collect_schema().names()
    impl = lf.implementation
    if not (impl.is_duckdb() or impl.is_pyspark() or impl.is_pyspark_connect()):
        return lf.select(*keys).unique()
    count = "_distinct_rows"
    return lf.group_by(*keys).agg(nw.len().alias(count)).select(*keys)


def flag(condition: nw.Expr) -> nw.Expr:
    """``condition`` as 0/1 ``Int64`` (null counts as 0).

    Compute flags in ``with_columns`` and aggregate them with plain ``sum``/``max``:
    group-by aggregations stay elementary, which every backend runs natively.
    """
    return condition.fill_null(False).cast(nw.Int64)


class Tables:
    """The book's tables in the shape the features read, each built once and reused
    (a window-filtered version, ``span``, is built per call).

    A table keeps its contract columns only (optional ones that are absent come back
    null) and its date columns become day numbers ``_<column>`` (``date`` → ``_day``).
    Building the day-number expressions once per table keeps the lazy plans small (on
    PySpark every expression node is a round trip to the JVM).
    """

    def __init__(self, book: Book) -> None:
        self.book = book
        self._cache: dict[str, nw.LazyFrame] = {}
        self.calendars: dict[tuple[tuple[int, ...], int], nw.LazyFrame] = {}

    def __call__(
        self,
        name: str,
        columns: Sequence[str],
        span: tuple[int, int] | None = None,
        *,
        raw_dates: bool = False,
    ) -> nw.LazyFrame:
        """The table's ``columns`` (contract names; date columns come back renamed).

        ``span = (first, end)``: keep only records whose date column (``date_column`` of
        the contract) lies in ``[first, end)`` (day numbers). The filter is applied to the
        raw ``Date`` column before any day number is computed, so the engines push it
        into the scan (Parquet filter pushdown) and derive day numbers of those records
        only.

        ``raw_dates``: date columns stay ``Date`` under their contract names (no day
        numbers): for big tables that are pre-aggregated first, whose day numbers are
        then derived for the aggregated rows only (see :func:`with_day`).
        """
        spec = TABLES[name]
        if raw_dates:
            return self._build(name, span, raw_dates=True).select(*columns)
        picked = [_day_name(c) if spec.column(c).kind == "date" else c for c in columns]
        if span is not None:
            return self._build(name, span).select(*picked)
        if name not in self._cache:
            self._cache[name] = self._build(name)
        return self._cache[name].select(*picked)

    def _build(
        self, name: str, span: tuple[int, int] | None = None, *, raw_dates: bool = False
    ) -> nw.LazyFrame:
        lf = self.book.lazy(name)
        schema = lf.collect_schema()
        spec = TABLES[name]
        if span is not None:
            assert spec.date_column is not None
            first, end = (_EPOCH + _dt.timedelta(days=d) for d in span)
            raw = nw.col(spec.date_column)
            lf = lf.filter(
                (raw >= nw.lit(first, dtype=nw.Date)) & (raw < nw.lit(end, dtype=nw.Date))
            )
        # one projection (each lazy operation is a round trip to the engine's binder):
        # contract columns, absent ones as typed nulls, dates as day numbers unless raw
        exprs = []
        for c in spec.columns:
            if c.kind == "date" and not raw_dates:
                name = _day_name(c.name)
                if c.name in schema:
                    exprs.append(day_number(c.name).alias(name))
                else:
                    exprs.append(nw.lit(None, dtype=nw.Int64).alias(name))
            elif c.name in schema:
                exprs.append(nw.col(c.name))
            else:
                exprs.append(nw.lit(None, dtype=_NW_TYPES[c.kind]).alias(c.name))
        return lf.select(*exprs)


def _day_name(column: str) -> str:
    return "_day" if column == "date" else f"_{column}"


# -- contexts ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Context:
    """Where features are evaluated: the book and the ``(account_id, _t)`` pairs.

    ``pairs`` carries the account attributes (``segment``, ``csm_id``, ``_created``) and,
    for renewal snapshots, ``_renewal``. ``dense``: the pairs are all accounts × a few
    dates (calendars keyed by date); otherwise a few dates per account (calendars keyed
    by account and date).
    """

    book: Book
    pairs: nw.LazyFrame
    dense: bool
    table: Tables
    dates: nw.LazyFrame | None = None  # dense only: the distinct ``_t``
    span: tuple[int, int] | None = None  # dense only: (first, last) ``_t``
    days: tuple[int, ...] | None = None  # dense only: the distinct ``_t``, in Python

    @property
    def keys(self) -> nw.LazyFrame:
        return self.pairs.select(*KEYS)

    def shifted(self, days: int) -> Context:
        """The same pairs evaluated ``days`` earlier (results keyed by the earlier date)."""
        earlier = nw.col("_t") - days
        dates = None if self.dates is None else self.dates.with_columns(earlier)
        span = None if self.span is None else (self.span[0] - days, self.span[1] - days)
        numbers = None if self.days is None else tuple(d - days for d in self.days)
        return replace(
            self,
            pairs=self.pairs.with_columns(earlier),
            dates=dates,
            span=span,
            days=numbers,
        )

    def calendar(self, max_age: int) -> nw.LazyFrame:
        """Dense contexts: every ``(_t, _day)`` with ``_day`` in ``[_t − max_age, _t)``, a
        small table (dates × ``max_age`` rows) that :func:`window_join` equi-joins on
        ``_day``."""
        assert self.days is not None
        key = (self.days, max_age)
        if key not in self.table.calendars:
            self.table.calendars[key] = self._calendar(max_age)
        return self.table.calendars[key]

    def _calendar(self, max_age: int) -> nw.LazyFrame:
        assert self.days is not None
        if self.book.engine == "duckdb":
            # generated by the engine: a VALUES list of every pair would make the SQL
            # (and the planning time of each query using it) grow with dates × max_age
            dates = ", ".join(f"({int(t)}::BIGINT)" for t in self.days)
            sql = (
                f"SELECT v._t AS _t, v._t - r.range AS _day FROM (VALUES {dates}) AS v(_t) "
                f"CROSS JOIN range(1::BIGINT, {int(max_age) + 1}::BIGINT) AS r"
            )
            return nw.from_native(self.book.native("accounts").query("_dearstats_any", sql))
        ts = [t for t in self.days for _ in range(max_age)]
        days = [t - age for t in self.days for age in range(1, max_age + 1)]
        return int_table(self.book, {"_t": ts, "_day": days})

    def recent_table(
        self, name: str, columns: Sequence[str], depth: int, *, raw_dates: bool = False
    ) -> nw.LazyFrame:
        """``table(name, columns)`` keeping only records dated (by the contract's
        ``date_column``) where some window of ``depth`` days can reach them, filtered on
        the raw date before any day number is derived (dense contexts; otherwise the
        whole table). ``raw_dates`` as in :class:`Tables`."""
        if self.span is None:
            return self.table(name, columns, raw_dates=raw_dates)
        first, last = self.span
        return self.table(name, columns, span=(first - depth, last), raw_dates=raw_dates)

    def recent(self, events: nw.LazyFrame, depth: int, day: str = "_day") -> nw.LazyFrame:
        """Drop records no window of ``depth`` days can reach (dense contexts only, whose
        dates are known): lets big tables be pruned before they are pre-aggregated."""
        if self.span is None:
            return events
        first, last = self.span
        return events.filter((nw.col(day) >= first - depth) & (nw.col(day) < last))


def day_table(book: Book, days: Sequence[int]) -> nw.LazyFrame:
    """A one-column (``_t``, ``Int64``) lazy frame of day numbers on the book's engine."""
    return int_table(book, {"_t": list(days)})


def int_table(book: Book, columns: dict[str, Sequence[int]]) -> nw.LazyFrame:
    """A lazy frame of ``Int64`` columns (equal lengths) on the book's engine.

    narwhals has no constructor for lazy backends, so this is the one engine-specific
    helper: a DuckDB ``VALUES`` list run on the connection of the book's relations, a
    Spark local DataFrame, a Polars or pandas frame. (A union of one-row selects would be
    engine-agnostic but makes plans that grow with the number of rows.)
    """
    names = list(columns)
    values = [[int(v) for v in columns[n]] for n in names]
    rows_of = list(zip(*values, strict=True))
    if book.engine == "duckdb":
        rows = ", ".join("(" + ", ".join(f"{v}::BIGINT" for v in row) + ")" for row in rows_of)
        native = book.native("accounts").query(
            "_dearstats_any", f"SELECT * FROM (VALUES {rows}) AS v({', '.join(names)})"
        )
        return nw.from_native(native)
    if book.engine == "pyspark":
        session = book.native("accounts").sparkSession
        schema = ", ".join(f"{n} long" for n in names)
        return nw.from_native(session.createDataFrame(rows_of, schema))
    if book.engine == "polars":
        import polars as pl

        data = dict(zip(names, values, strict=True))
        return nw.from_native(pl.LazyFrame(data, schema=dict.fromkeys(names, pl.Int64)))
    frame = pd.DataFrame(
        {n: pd.Series(v, dtype="int64") for n, v in zip(names, values, strict=True)}
    )
    return nw.from_native(frame).lazy()


def dense_context(book: Book, dates: Sequence[_dt.date]) -> Context:
    """Every account created before each date, at each date (panels, single ``as_of``)."""
    tables = Tables(book)
    accounts = tables("accounts", ["account_id", "segment", "csm_id", "created_date"])
    numbers = sorted(set(day_numbers(dates)))
    days = day_table(book, numbers)
    pairs = (
        accounts.join(days, how="cross")
        .filter(nw.col("_created_date") < nw.col("_t"))
        .rename({"_created_date": "_created"})
    )
    span = (numbers[0], numbers[-1])
    return Context(
        book, pairs, dense=True, table=tables, dates=days, span=span, days=tuple(numbers)
    )


def sparse_context(book: Book, pairs: nw.LazyFrame, tables: Tables | None = None) -> Context:
    """Given ``(account_id, _t, …)`` pairs: attach account attributes, keep visible ones."""
    tables = tables or Tables(book)
    accounts = tables("accounts", ["account_id", "segment", "csm_id", "created_date"])
    joined = pairs.join(accounts, on="account_id", how="inner").filter(
        nw.col("_created_date") < nw.col("_t")
    )
    pairs = joined.rename({"_created_date": "_created"})
    return Context(book, pairs, dense=False, table=tables)


# -- the two joins ----------------------------------------------------------------------
def window_join(
    ctx: Context,
    events: nw.LazyFrame,
    max_age: int,
    *,
    prune: bool = True,
    by_day: bool = False,
) -> nw.LazyFrame:
    """Pair each record (``account_id``, ``_day``) with every ``_t`` in ``(_day, _day + w]``.

    Adds ``_t`` and ``_age = _t − _day`` (1 ≤ ``_age`` ≤ ``max_age``): the record lies in
    the window ``[_t − max_age, _t)``. Filter on ``_age`` for shorter windows.

    Dense contexts join the records to the (few) distinct dates with a cross join
    followed at once by the range filter, which DuckDB (piecewise merge join), Polars
    (IEJoin) and Spark (broadcast nested-loop join of the small date table) execute as
    an inequality join: the work grows with records × dates whose window covers them.
    Sparse contexts join on ``account_id`` first.

    ``by_day`` (dense contexts): equi-join ``_day`` to :meth:`Context.calendar` instead
    (the same pairs): a hash join against dates × ``max_age`` rows, faster than the
    inequality join for millions of records, slower to plan for small tables.

    ``prune``: first drop records no window can reach (:meth:`Context.recent`); pass
    False when ``events`` come from :meth:`Context.recent_table` with a depth of at least
    ``max_age`` (already pruned on the raw date: a second filter on the day number would
    only cost time). The window filter keeps the result exact either way.
    """
    in_window = (nw.col("_day") < nw.col("_t")) & (nw.col("_day") >= nw.col("_t") - max_age)
    if prune:
        events = ctx.recent(events, max_age)
    if ctx.dense and by_day:
        joined = events.join(ctx.calendar(max_age), on="_day", how="inner")
    elif ctx.dense:
        assert ctx.dates is not None
        joined = events.join(ctx.dates, how="cross").filter(in_window)
    else:
        joined = events.join(ctx.keys, on="account_id", how="inner").filter(in_window)
    return joined.with_columns((nw.col("_t") - nw.col("_day")).alias("_age"))


def before_join(ctx: Context, events: nw.LazyFrame, day: str = "_day") -> nw.LazyFrame:
    """Pair each record with every ``_t`` of its account after it (``day < _t``).

    Adds ``_t`` and ``_age = _t − day`` (≥ 1). Pre-aggregate ``events`` first: the join
    fans out to every date of the account.
    """
    return (
        events.join(ctx.keys, on="account_id", how="inner")
        .filter(nw.col(day) < nw.col("_t"))
        .with_columns((nw.col("_t") - nw.col(day)).alias("_age"))
    )

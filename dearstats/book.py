"""The book of business: the nine tables of DESIGN section 2, loading, validation, ``as_of``.

A :class:`Book` holds each table as a native frame of one engine (pandas, Polars, DuckDB
or PySpark) and hands it out either lazily (:meth:`Book.lazy`, a narwhals ``LazyFrame``
for engine-agnostic code) or collected to pandas with canonical dtypes
(:meth:`Book.frame`, for the small tables). Nothing is loaded into pandas unless asked.

The time cut
------------
``book.as_of(t)`` is the single definition of "what was known before ``t``". A record is
visible when its dating column is strictly before ``t`` (``date < t``); records dated on
``t`` itself or later are invisible. Per table:

==================  ================================================================
table               visible as of ``t``
==================  ================================================================
accounts            ``created_date < t``
contracts           ``start_date < t`` (the scheduled ``end_date`` of a signed
                    contract is known; successors starting on/after ``t`` are not)
seat_snapshots      ``date < t``
contacts            undated: contacts of visible accounts
activities          ``date < t``
activity_contacts   rows of visible activities (and visible contacts)
usage               ``date < t``
feature_catalog     undated: all rows
outcomes            ``created_date < t``; an outcome resolved on/after ``t`` is shown as
                    it stood at ``t``: ``verified_date >= t`` → ``verified_date`` null and
                    ``status = 'open'``; ``missed``/``abandoned`` with ``target_date >= t``
                    → ``'open'`` (their resolution date is not recorded, so it is assumed
                    known only once the target date has passed)
==================  ================================================================
"""

from __future__ import annotations

import datetime as _dt
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import narwhals as nw
import pandas as pd

from dearstats._schema import TABLE_NAMES, TABLES
from dearstats._validate import Problem, ValidationReport, validate_book
from dearstats.errors import BookValidationError, DearstatsWarning, InputError

__all__ = ["Book", "read_book", "to_date"]

ENGINES = ("pandas", "polars", "duckdb", "pyspark")


def to_date(value: Any, *, name: str = "as_of") -> _dt.datetime:
    """Parse a calendar date (``'2025-01-01'``, ``date``, ``datetime``, ``Timestamp``).

    Returns a naive ``datetime`` at midnight. A time of day other than midnight or a time
    zone is refused: dates in dearstats are calendar dates.
    """
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{name}={value!r} is not a date; pass an ISO date such as '2025-01-01'."
        ) from exc
    if ts is pd.NaT:
        raise InputError(f"{name} is missing; pass an ISO date such as '2025-01-01'.")
    if ts.tzinfo is not None:
        raise InputError(f"{name}={value!r} has a time zone; pass a calendar date without one.")
    if ts != ts.normalize():
        raise InputError(
            f"{name}={value!r} has a time of day; pass a calendar date such as "
            f"'{ts.date().isoformat()}'."
        )
    return ts.to_pydatetime()


def _engine_of(native: Any) -> str:
    module = type(native).__module__.split(".")[0]
    if module == "pandas":
        return "pandas"
    if module == "polars":
        return "polars"
    if module in {"duckdb", "_duckdb"}:
        return "duckdb"
    if module == "pyspark":
        return "pyspark"
    raise InputError(
        f"unsupported table type {type(native).__module__}.{type(native).__name__}; "
        "pass pandas, Polars or PySpark DataFrames, or DuckDB relations."
    )


class Book:
    """A book of business: the nine tables of the data contract, from one engine.

    Parameters
    ----------
    tables
        Mapping of table name to a native frame (pandas or Polars DataFrame/LazyFrame,
        DuckDB relation, PySpark DataFrame). All nine tables must be present; all must come
        from the same engine.
    truth
        For simulated books, the true parameters of the generating world.
    source
        Where the tables came from (shown in reports and validation messages).

    Tables are not validated on construction; call :meth:`validate` or use
    :func:`read_book`, which validates by default.
    """

    def __init__(
        self,
        tables: Mapping[str, Any],
        *,
        truth: Any = None,
        source: str | None = None,
        _connection: Any = None,
        _load_problems: tuple[Any, ...] = (),
    ) -> None:
        missing = [t for t in TABLE_NAMES if t not in tables]
        if missing:
            raise InputError(
                f"book: {len(missing)} table(s) missing: {', '.join(missing)}; a book has the "
                f"nine tables {', '.join(TABLE_NAMES)} (pass an empty frame with the contract "
                "columns for a table you do not have)."
            )
        if extra := sorted(str(t) for t in tables if t not in TABLE_NAMES):
            warnings.warn(
                f"book: {len(extra)} table(s) outside the data contract are not kept: "
                f"{', '.join(extra)}. Pass such data to the function that uses it (e.g. "
                "activity_effects(extra_confounders=...)), or add its columns to a contract "
                "table (extra columns are kept).",
                UserWarning,
                stacklevel=2,
            )
        natives = {t: tables[t] for t in TABLE_NAMES}
        engines = {t: _engine_of(v) for t, v in natives.items()}
        if len(set(engines.values())) > 1:
            detail = ", ".join(f"{t}={e}" for t, e in engines.items())
            raise InputError(
                f"book: tables come from different engines ({detail}); convert them to one "
                "engine first."
            )
        self._tables = natives
        self.engine: str = next(iter(engines.values()))
        self.truth = truth
        self.source = source
        self._connection = _connection
        self._load_problems = tuple(_load_problems)
        self._pandas_cache: dict[str, pd.DataFrame] = {}

    # -- access -----------------------------------------------------------------------
    def native(self, name: str) -> Any:
        """The table as the engine's own frame."""
        return self._tables[self._check_name(name)]

    def lazy(self, name: str) -> nw.LazyFrame:
        """The table as a narwhals ``LazyFrame`` with datetime columns cast to ``Date``.

        Columns of a wrong type are left as they are (validation reports them).
        """
        native = self.native(name)
        frame = nw.from_native(native)
        lf = frame.lazy() if isinstance(frame, nw.DataFrame) else frame
        schema = lf.collect_schema()
        casts = [
            nw.col(c.name).cast(nw.Date)
            for c in TABLES[name].columns
            if c.kind == "date" and c.name in schema and schema[c.name] == nw.Datetime
        ]
        return lf.with_columns(*casts) if casts else lf

    def frame(self, name: str) -> pd.DataFrame:
        """The table collected to pandas with the canonical dtypes of the data contract."""
        name = self._check_name(name)
        if name not in self._pandas_cache:
            self._pandas_cache[name] = _canonical_pandas(name, self._collect_pandas(name))
        return self._pandas_cache[name].copy()

    def _collect_pandas(self, name: str) -> pd.DataFrame:
        native = self.native(name)
        if self.engine == "pandas":
            return native
        if self.engine == "pyspark":
            # through Arrow: keeps dtypes (also of empty tables); dates arrive as Date
            arrow = self.lazy(name).to_native().toArrow()
            return arrow.to_pandas(date_as_object=False)
        return nw.from_native(self.lazy(name).collect().to_native()).to_pandas()

    def embedded(self) -> Book:
        """This book on DuckDB, the embedded engine: pandas and Polars frames are
        registered with a new in-memory connection (DuckDB scans them in place, nothing is
        copied); a DuckDB or PySpark book is returned as is. Feature building on a large
        pandas book is several times faster this way (one vectorised query plan instead of
        eager pandas joins). ``truth`` and ``source`` are kept."""
        if self.engine not in ("pandas", "polars"):
            return self
        import duckdb

        con = duckdb.connect()
        rels = {}
        for name, native in self._tables.items():
            con.register(f"_dearstats_{name}", native)
            rels[name] = con.table(f"_dearstats_{name}")
        return Book(rels, truth=self.truth, source=self.source, _connection=con)

    @property
    def tables(self) -> dict[str, Any]:
        """The native frames, by table name."""
        return dict(self._tables)

    def _check_name(self, name: str) -> str:
        if name not in TABLES:
            raise InputError(
                f"book has no table {name!r}; the tables are {', '.join(TABLE_NAMES)}."
            )
        return name

    def __repr__(self) -> str:
        src = f", source={self.source!r}" if self.source else ""
        sim = ", simulated" if self.truth is not None else ""
        return f"Book(engine={self.engine!r}{src}{sim})"

    def counts(self) -> pd.Series:
        """Row count of every table (runs one count query per table)."""
        return pd.Series(
            {t: int(self.lazy(t).select(nw.len()).collect().item()) for t in TABLE_NAMES},
            name="rows",
        )

    # -- the time cut --------------------------------------------------------------------
    def health_start(self) -> pd.Timestamp | None:
        """First day of the book's recorded health history: the earliest activity, seat
        snapshot or usage record (None when it has none). Contracts often reach further
        back than the health systems; features before this day read an empty history."""
        firsts = []
        for table in ("activities", "seat_snapshots", "usage"):
            lo = self.lazy(table).select(nw.col("date").min().alias("lo")).collect().item()
            if lo is not None and not pd.isna(lo):
                firsts.append(pd.Timestamp(lo))
        return min(firsts) if firsts else None

    def as_of(self, as_of: Any) -> Book:
        """The book as it was known before ``as_of`` (see the module docstring)."""
        cut = to_date(as_of)
        out: dict[str, Any] = {}
        lit = nw.lit(cut.date(), dtype=nw.Date)
        for name in TABLE_NAMES:
            spec = TABLES[name]
            lf = self.lazy(name)
            if spec.date_column is not None:
                lf = lf.filter(nw.col(spec.date_column) < lit)
            out[name] = lf
        out["outcomes"] = _outcomes_as_of(out["outcomes"], lit)
        out["contacts"] = out["contacts"].join(
            out["accounts"].select("account_id"), on="account_id", how="semi"
        )
        out["activity_contacts"] = out["activity_contacts"].join(
            out["activities"].select("activity_id"), on="activity_id", how="semi"
        )
        natives = {name: self._back_to_native(name, lf) for name, lf in out.items()}
        return Book(
            natives,
            truth=self.truth,
            source=self.source,
            _connection=self._connection,
        )

    def _back_to_native(self, name: str, lf: nw.LazyFrame) -> Any:
        if self.engine == "pandas":
            return _canonical_pandas(name, lf.collect().to_native())
        return lf.to_native()

    # -- validation ----------------------------------------------------------------------
    def validate(self, *, as_of: Any = None) -> ValidationReport:
        """Check the book against the data contract; every problem is reported at once.

        ``as_of``: also report records dated on or after this date as errors (use it to
        check an extract meant to be cut at that date).
        """
        return validate_book(self, as_of=None if as_of is None else to_date(as_of))

    # -- writing ------------------------------------------------------------------------
    def to_parquet(self, path: str | Path) -> Path:
        """Write ``<table>.parquet`` per table into folder ``path`` (dates as ``date32``)."""
        import pyarrow.parquet as pq

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        for name in TABLE_NAMES:
            pq.write_table(_to_arrow(name, self.frame(name)), folder / f"{name}.parquet")
        return folder

    def to_csv(self, path: str | Path) -> Path:
        """Write ``<table>.csv`` per table into folder ``path`` (dates as ISO ``YYYY-MM-DD``)."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        for name in TABLE_NAMES:
            df = self.frame(name)
            for col in TABLES[name].columns:
                if col.kind == "date" and col.name in df:
                    df[col.name] = df[col.name].dt.strftime("%Y-%m-%d")
            df.to_csv(folder / f"{name}.csv", index=False)
        return folder

    def to_duckdb(self, path: str | Path) -> Path:
        """Write every table into a DuckDB database file (dates as ``DATE``)."""
        import duckdb

        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.unlink()
        con = duckdb.connect(str(target))
        try:
            for name in TABLE_NAMES:
                arrow = _to_arrow(name, self.frame(name))  # noqa: F841 - read by duckdb
                con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM arrow')
        finally:
            con.close()
        return target


# ---------------------------------------------------------------------------------------
# helpers


def _outcomes_as_of(lf: nw.LazyFrame, lit: nw.Expr) -> nw.LazyFrame:
    schema = lf.collect_schema()
    if "verified_date" not in schema:
        return lf
    resolved_late = nw.col("verified_date") >= lit
    pending = nw.col("status").is_in(["missed", "abandoned"]) & (nw.col("target_date") >= lit)
    return lf.with_columns(
        nw.when(resolved_late | pending)
        .then(nw.lit("open"))
        .otherwise(nw.col("status"))
        .alias("status"),
        nw.when(resolved_late)
        .then(nw.lit(None, dtype=nw.Date))
        .otherwise(nw.col("verified_date"))
        .alias("verified_date"),
    )


def _canonical_pandas(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Give the contract columns their canonical pandas dtypes (lossless conversions only).

    Values that do not fit the logical type are not coerced: the conversion raises, and
    :meth:`Book.validate` names the offending rows.
    """
    spec = TABLES[name]
    df = df.reset_index(drop=True)
    out = {}
    for col in df.columns:
        s = df[col]
        if col in spec.column_names:
            cs = spec.column(col)
            try:
                s = _convert(s, cs.kind, cs.nullable or s.isna().any())
            except (TypeError, ValueError) as exc:
                raise InputError(
                    f"{name}.{col}: values are not of type {cs.kind} ({exc}); run "
                    "`dearstats validate` for the rows at fault."
                ) from exc
        out[col] = s
    result = pd.DataFrame(out, index=df.index)
    for col in spec.columns:  # optional columns that are absent: all null
        if col.name not in result and not col.required:
            result[col.name] = pd.Series(
                [None] * len(result), dtype=col.pandas_dtype if col.kind != "date" else None
            ).astype(col.pandas_dtype if col.kind != "bool" else "boolean")
    order = [c for c in spec.column_names if c in result] + [
        c for c in result.columns if c not in spec.column_names
    ]
    return result[order]


def _convert(s: pd.Series, kind: str, nullable: bool) -> pd.Series:
    if kind in ("id", "str"):
        if s.dtype == "str":
            return s
        if not (pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s)):
            raise TypeError(f"found dtype {s.dtype}")
        bad = s.dropna().map(type).ne(str)
        if bad.any():
            raise TypeError(f"non-string value {s.dropna()[bad].iloc[0]!r}")
        return s.astype("str")
    if kind == "date":
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            raise TypeError("has a time zone")
        return pd.to_datetime(s).astype("datetime64[us]")
    if kind == "float":
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            raise TypeError(f"found dtype {s.dtype}")
        return s.astype("float64")
    if kind == "int":
        if pd.api.types.is_integer_dtype(s):
            return s.astype("Int64" if nullable else "int64")
        raise TypeError(f"found dtype {s.dtype}")
    if kind == "bool":
        if pd.api.types.is_bool_dtype(s):
            return s.astype("boolean" if nullable else "bool")
        raise TypeError(f"found dtype {s.dtype}")
    raise AssertionError(kind)


def _to_arrow(name: str, df: pd.DataFrame) -> Any:
    import pyarrow as pa

    table = pa.Table.from_pandas(df, preserve_index=False)
    for col in TABLES[name].columns:
        if col.kind == "date" and col.name in table.column_names:
            i = table.column_names.index(col.name)
            table = table.set_column(i, col.name, table.column(i).cast(pa.date32()))
    return table


# ---------------------------------------------------------------------------------------
# reading


def read_book(
    source: Any,
    *,
    engine: str | None = None,
    validate: bool = True,
    as_of: Any = None,
) -> Book:
    """Load a book of business.

    Parameters
    ----------
    source
        A folder holding ``<table>.parquet`` (a file or a folder of parts) or
        ``<table>.csv`` per table; a DuckDB database file (``.duckdb``/``.db``) holding the
        nine tables; a mapping of table name to frames (pandas, Polars, DuckDB, PySpark);
        or a :class:`Book`.
    engine
        For files: ``"duckdb"`` (default: lazy, nothing loaded into memory until
        collected), ``"pandas"``, ``"polars"`` or ``"pyspark"``.
    validate
        Validate against the data contract; raise :class:`BookValidationError` listing
        every error, and warn (``DearstatsWarning``) listing every warning.
    as_of
        With ``validate``: records dated on or after it are reported as errors.
    """
    if isinstance(source, Book):
        book = source
    elif isinstance(source, Mapping):
        book = Book(source, source="<frames>")
    elif isinstance(source, (str, Path)):
        book = _read_path(Path(source), engine or "duckdb")
    else:
        raise InputError(
            f"read_book: cannot read a {type(source).__name__}; pass a folder, a .duckdb "
            "file, or a mapping of table name to frames."
        )
    if validate:
        report = book.validate(as_of=as_of)
        if report.errors:
            raise BookValidationError(report)
        if report.warnings:
            warnings.warn(report.render(), DearstatsWarning, stacklevel=2)
    return book


def _read_path(path: Path, engine: str) -> Book:
    if engine not in ENGINES:
        raise InputError(f"engine={engine!r} is not one of {', '.join(ENGINES)}.")
    if not path.exists():
        raise InputError(f"read_book: {path} does not exist; pass a folder or a .duckdb file.")
    if path.is_file():
        if path.suffix.lower() not in {".duckdb", ".db", ".ddb"}:
            raise InputError(
                f"read_book: {path} is a file but not a DuckDB database (.duckdb); pass a "
                "folder of Parquet/CSV files or a .duckdb file."
            )
        return _read_duckdb_file(path, engine)
    found: dict[str, tuple[str, Path]] = {}
    missing = []
    for name in TABLE_NAMES:
        for fmt, candidate in (
            ("parquet", path / f"{name}.parquet"),
            ("parquet", path / name),
            ("csv", path / f"{name}.csv"),
        ):
            if candidate.exists():
                found[name] = (fmt, candidate)
                break
        else:
            missing.append(name)
    if missing:
        raise InputError(
            f"read_book: {path} lacks {len(missing)} table(s): {', '.join(missing)}; expected "
            "<table>.parquet, <table>/ (Parquet parts) or <table>.csv for each of "
            f"{', '.join(TABLE_NAMES)}."
        )
    import duckdb

    con = duckdb.connect()
    rels: dict[str, Any] = {}
    problems = []
    for name, (fmt, file) in found.items():
        if fmt == "parquet":
            pattern = str(file / "*.parquet") if file.is_dir() else str(file)
            rels[name] = con.read_parquet(pattern)
        else:
            rel, probs = _read_csv_typed(con, name, file)
            rels[name] = rel
            problems.extend(probs)
    book = Book(rels, source=str(path), _connection=con, _load_problems=tuple(problems))
    return _convert_engine(book, engine)


def _read_duckdb_file(path: Path, engine: str) -> Book:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    present |= {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    missing = [t for t in TABLE_NAMES if t not in present]
    if missing:
        con.close()
        raise InputError(
            f"read_book: {path} lacks {len(missing)} table(s): {', '.join(missing)}; the "
            f"database must hold the tables {', '.join(TABLE_NAMES)}."
        )
    rels = {t: con.table(t) for t in TABLE_NAMES}
    return _convert_engine(Book(rels, source=str(path), _connection=con), engine)


def _convert_engine(book: Book, engine: str) -> Book:
    if engine == "duckdb":
        return book
    if engine == "pandas":
        tables = {t: _canonical_pandas(t, book.native(t).df()) for t in TABLE_NAMES}
    elif engine == "polars":
        tables = {t: book.native(t).pl() for t in TABLE_NAMES}
    else:
        from dearstats._spark import spark_session

        spark = spark_session()
        tables = {t: spark.createDataFrame(book.native(t).to_arrow_table()) for t in TABLE_NAMES}
    return Book(tables, source=book.source, _load_problems=book._load_problems)


_DUCK_TYPES = {
    "id": "VARCHAR",
    "str": "VARCHAR",
    "date": "DATE",
    "float": "DOUBLE",
    "int": "BIGINT",
    "bool": "BOOLEAN",
}


def _read_csv_typed(con: Any, name: str, file: Path) -> tuple[Any, list[Any]]:
    """Read a CSV as text, cast the contract columns, and report values that do not parse.

    Values that fail to parse are never silently turned into nulls: each failing column
    becomes a validation error naming the count and an example.
    """
    raw_name = f"__raw_{name}"
    path = str(file).replace("'", "''")
    con.execute(
        f'CREATE OR REPLACE TEMP TABLE "{raw_name}" AS '
        f"SELECT * FROM read_csv('{path}', all_varchar = true, header = true)"
    )
    columns = [r[0] for r in con.execute(f'DESCRIBE "{raw_name}"').fetchall()]
    spec = TABLES[name]
    problems = []
    selects = []
    for col in columns:
        q = f'"{col}"'
        if col in spec.column_names:
            cs = spec.column(col)
            target = _DUCK_TYPES[cs.kind]
            if target != "VARCHAR":
                n_bad, example = con.execute(
                    f'SELECT count(*), min({q}) FROM "{raw_name}" '
                    f"WHERE {q} IS NOT NULL AND TRY_CAST({q} AS {target}) IS NULL"
                ).fetchall()[0]
                if n_bad:
                    problems.append(
                        Problem(
                            "error",
                            name,
                            col,
                            "wrong type",
                            int(n_bad),
                            {col: example},
                            f"values must parse as {cs.kind} ({target}); fix the source file.",
                        )
                    )
                    selects.append(q)  # kept as text: validation reports it, nothing lost
                    continue
                selects.append(f"CAST({q} AS {target}) AS {q}")
                continue
        selects.append(q)
    con.execute(
        f'CREATE OR REPLACE TEMP TABLE "{name}" AS SELECT {", ".join(selects)} FROM "{raw_name}"'
    )
    con.execute(f'DROP TABLE "{raw_name}"')
    return con.table(name), problems


def _empty_like(name: str) -> pd.DataFrame:
    """An empty, canonically typed frame of a table (handy for books lacking a table)."""
    spec = TABLES[name]
    return pd.DataFrame({c.name: pd.Series([], dtype=c.pandas_dtype) for c in spec.columns})

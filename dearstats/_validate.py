"""Validation of a book against the data contract: every problem, in one pass.

Checks run as lazy narwhals queries on the book's own engine (nothing big is collected):
missing columns, wrong types, nulls in required columns, duplicate keys, orphans, negative
quantities, ``end_date <= start_date``, dates with a time of day, overlapping contracts of
one account and product, unknown outcome status, outcome status inconsistent with its
dates, records dated on or after an ``as_of``. Warnings (the book is usable but something
looks off) are listed apart from errors.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import narwhals as nw
import pandas as pd

from dearstats._schema import OUTCOME_STATUSES, TABLE_NAMES, TABLES, ColumnSpec

if TYPE_CHECKING:
    from dearstats.book import Book

__all__ = ["Problem", "ValidationReport", "validate_book"]

_MAX_EXAMPLE_COLS = 6


@dataclass(frozen=True)
class Problem:
    """One failed check: ``count`` rows of ``table`` fail it; ``example`` is one of them."""

    severity: str  # "error" | "warning"
    table: str
    column: str | None
    check: str
    count: int
    example: dict[str, Any] | None
    fix: str

    def render(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        ex = ""
        if self.example:
            items = list(self.example.items())[:_MAX_EXAMPLE_COLS]
            ex = " (first: " + ", ".join(f"{k}={_fmt(v)}" for k, v in items) + ")"
        rows = "row" if self.count == 1 else "rows"
        return f"{where}: {self.check}: {self.count} {rows}{ex}; {self.fix}"


def _fmt(v: Any) -> str:
    if v is None or v is pd.NaT or (isinstance(v, float) and v != v):
        return "null"
    if isinstance(v, (_dt.datetime, pd.Timestamp)):
        ts = pd.Timestamp(v)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    return repr(v)


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of :meth:`dearstats.Book.validate`."""

    problems: tuple[Problem, ...] = field(default_factory=tuple)
    source: str | None = None

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def frame(self) -> pd.DataFrame:
        """One row per problem: severity, table, column, check, count, example, fix."""
        cols = ["severity", "table", "column", "check", "count", "example", "fix"]
        return pd.DataFrame([[getattr(p, c) for c in cols] for p in self.problems], columns=cols)

    def render(self) -> str:
        head = f"book {self.source}" if self.source else "book"
        lines = [f"{head}: {len(self.errors)} error(s), {len(self.warnings)} warning(s)"]
        for label, group in (("errors", self.errors), ("warnings", self.warnings)):
            if group:
                lines.append(f"{label}:")
                lines.extend(f"  - {p.render()}" for p in group)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


# ---------------------------------------------------------------------------------------


def _kind_ok(kind: str, dtype: Any) -> bool:
    if kind in ("id", "str"):
        return dtype == nw.String or dtype == nw.Categorical or dtype == nw.Enum
    if kind == "date":
        return dtype == nw.Date or (
            dtype == nw.Datetime and getattr(dtype, "time_zone", None) in (None, "UTC")
        )
    if kind == "float":
        return dtype.is_numeric()
    if kind == "int":
        return dtype.is_integer()
    if kind == "bool":
        return dtype == nw.Boolean
    raise AssertionError(kind)


_TYPE_FIX = {
    "id": "identifiers must be strings; cast the column to string",
    "str": "labels must be strings; cast the column to string",
    "date": "dates must be a date (or a timestamp at midnight, no time zone); parse them",
    "float": "must be numeric; parse the column as a number",
    "int": "counts must be integers; cast the column to an integer type",
    "bool": "flags must be booleans (true/false); cast the column to boolean",
}


class _Checker:
    def __init__(self, book: Book, as_of: _dt.datetime | None) -> None:
        self.book = book
        self.as_of = as_of
        self.problems: list[Problem] = list(book._load_problems)
        self.usable: dict[str, set[str]] = {}  # columns present with the right type
        self.frames: dict[str, nw.LazyFrame] = {}

    def add(
        self,
        severity: str,
        table: str,
        column: str | None,
        check: str,
        bad: nw.LazyFrame | None,
        fix: str,
        count: int | None = None,
        example: dict[str, Any] | None = None,
    ) -> None:
        if bad is not None:
            count = int(bad.select(nw.len()).collect().item())
            if count:
                example = bad.head(1).collect().rows(named=True)[0]
        if count:
            self.problems.append(Problem(severity, table, column, check, count, example, fix))

    def run(self) -> list[Problem]:
        loaded_bad = {(p.table, p.column) for p in self.problems}
        for name in TABLE_NAMES:
            self.columns(name, loaded_bad)
        for name in TABLE_NAMES:
            self.rows(name)
        self.foreign_keys()
        self.contracts()
        self.outcomes()
        self.coverage()
        return self.problems

    # -- per table: columns and types ----------------------------------------------------
    def columns(self, name: str, loaded_bad: set[tuple[str, str | None]]) -> None:
        spec = TABLES[name]
        lf = nw.from_native(self.book.native(name))
        lf = lf.lazy() if isinstance(lf, nw.DataFrame) else lf
        schema = lf.collect_schema()
        usable: set[str] = set()
        for col in spec.columns:
            if col.name not in schema:
                if col.required:
                    self.add(
                        "error",
                        name,
                        col.name,
                        "missing column",
                        None,
                        f"add column {col.name!r} ({col.kind}); the table has "
                        f"{', '.join(schema.names()) or 'no columns'}.",
                        count=1,
                    )
                continue
            if (name, col.name) in loaded_bad:
                continue
            dtype = schema[col.name]
            if not _kind_ok(col.kind, dtype):
                self.add(
                    "error",
                    name,
                    col.name,
                    f"wrong type: expected {col.kind}, found {dtype}",
                    None,
                    _TYPE_FIX[col.kind] + ".",
                    count=1,
                )
                continue
            usable.add(col.name)
        self.usable[name] = usable
        self.frames[name] = lf

    def ok(self, name: str, *cols: str) -> bool:
        return all(c in self.usable[name] for c in cols)

    # -- per table: row checks -----------------------------------------------------------
    def rows(self, name: str) -> None:
        spec = TABLES[name]
        lf = self.frames[name]
        for col in spec.columns:
            if not self.ok(name, col.name):
                continue
            if not col.nullable:
                self.add(
                    "error",
                    name,
                    col.name,
                    "null values",
                    lf.filter(nw.col(col.name).is_null()),
                    f"{col.name} is required; fill it or remove those rows from the source.",
                )
            if col.non_negative:
                self.add(
                    "error",
                    name,
                    col.name,
                    "negative values",
                    lf.filter(nw.col(col.name) < 0),
                    f"{col.name} must be >= 0; correct the source rows.",
                )
            if col.kind == "date":
                self._dates(name, lf, col)
        if self.ok(name, *spec.key):
            dup = lf.group_by(*spec.key).agg(nw.len().alias("n_rows")).filter(nw.col("n_rows") > 1)
            key = ", ".join(spec.key)
            self.add(
                "error",
                name,
                key,
                "duplicate key",
                dup,
                f"({key}) must identify a row; remove or merge the duplicates.",
            )

    def _dates(self, name: str, lf: nw.LazyFrame, col: ColumnSpec) -> None:
        c = nw.col(col.name)
        dtype = lf.collect_schema()[col.name]
        if dtype == nw.Datetime:
            self.add(
                "error",
                name,
                col.name,
                "time of day in a date column",
                lf.filter(~c.is_null() & (c.dt.truncate("1d") != c)),
                "dates are calendar dates; drop the time of day (or fix the time zone) at "
                "the source.",
            )
        if self.as_of is not None and col.name == TABLES[name].date_column:
            cut = nw.lit(self.as_of.date(), dtype=nw.Date)
            self.add(
                "error",
                name,
                col.name,
                f"dated on or after as_of {self.as_of.date().isoformat()}",
                lf.filter(c.cast(nw.Date) >= cut),
                "the extract must hold only records dated before as_of; cut it with "
                "book.as_of(...) or re-extract.",
            )

    # -- across tables -------------------------------------------------------------------
    def foreign_keys(self) -> None:
        for name in TABLE_NAMES:
            for fk in TABLES[name].foreign_keys:
                if not (self.ok(name, *fk.columns) and self.ok(fk.table, *fk.ref_columns)):
                    continue
                ref = self.frames[fk.table].select(*fk.ref_columns)
                if fk.columns != fk.ref_columns:
                    ref = ref.rename(dict(zip(fk.ref_columns, fk.columns, strict=True)))
                lf = self.frames[name].filter(*[~nw.col(c).is_null() for c in fk.columns])
                orphans = lf.join(ref.unique(), on=list(fk.columns), how="anti")
                cols = ", ".join(fk.columns)
                self.add(
                    "error",
                    name,
                    cols,
                    f"orphan rows: {cols} not found in {fk.table}",
                    orphans,
                    f"every {cols} must exist in {fk.table}; add the missing {fk.table} rows "
                    "or remove these.",
                )

    def contracts(self) -> None:
        if not self.ok("contracts", "start_date", "end_date"):
            return
        lf = self.frames["contracts"]
        s, e = nw.col("start_date").cast(nw.Date), nw.col("end_date").cast(nw.Date)
        self.add(
            "error",
            "contracts",
            "end_date",
            "end_date <= start_date",
            lf.filter(e <= s),
            "end_date is exclusive and must be after start_date.",
        )
        if not self.ok("contracts", "contract_id", "account_id", "product"):
            return
        # contracts are a small table: the overlap check runs in pandas
        cols = ["contract_id", "account_id", "product", "start_date", "end_date"]
        df = (
            lf.select(*cols)
            .with_columns(s.alias("start_date"), e.alias("end_date"))
            .collect()
            .to_pandas()
        )
        df = df.dropna().sort_values(["account_id", "product", "start_date", "contract_id"])
        prev_end = df.groupby(["account_id", "product"], sort=False)["end_date"].shift(1)
        prev_id = df.groupby(["account_id", "product"], sort=False)["contract_id"].shift(1)
        overlap = df[prev_end.notna() & (df["start_date"] < prev_end)]
        if len(overlap):
            first = overlap.iloc[0]
            self.add(
                "error",
                "contracts",
                "start_date",
                "overlapping contracts for the same account and product",
                None,
                "contracts of one account and product must not overlap in time; end the "
                "earlier one when the next starts, or merge them.",
                count=len(overlap),
                example={
                    "contract_id": first["contract_id"],
                    "overlaps": prev_id.loc[overlap.index[0]],
                    "account_id": first["account_id"],
                    "product": first["product"],
                    "start_date": first["start_date"],
                },
            )

    def outcomes(self) -> None:
        lf = self.frames["outcomes"]
        if self.ok("outcomes", "status"):
            self.add(
                "error",
                "outcomes",
                "status",
                "unknown status",
                lf.filter(
                    ~nw.col("status").is_in(list(OUTCOME_STATUSES)) & ~nw.col("status").is_null()
                ),
                f"status must be one of {', '.join(OUTCOME_STATUSES)}.",
            )
            if self.ok("outcomes", "verified_date"):
                self.add(
                    "error",
                    "outcomes",
                    "verified_date",
                    "status 'verified' without verified_date",
                    lf.filter((nw.col("status") == "verified") & nw.col("verified_date").is_null()),
                    "a verified outcome needs the date the customer verified it.",
                )
                self.add(
                    "warning",
                    "outcomes",
                    "verified_date",
                    "verified_date set but status is not 'verified'",
                    lf.filter(
                        (nw.col("status") != "verified") & ~nw.col("verified_date").is_null()
                    ),
                    "check the status; the verified_date is ignored for these outcomes.",
                )
        if self.ok("outcomes", "created_date", "target_date"):
            self.add(
                "warning",
                "outcomes",
                "target_date",
                "target_date before created_date",
                lf.filter(
                    nw.col("target_date").cast(nw.Date) < nw.col("created_date").cast(nw.Date)
                ),
                "check the dates; such outcomes count as overdue from creation.",
            )

    def coverage(self) -> None:
        if not (self.ok("accounts", "account_id") and self.ok("contracts", "account_id")):
            return
        no_contract = self.frames["accounts"].join(
            self.frames["contracts"].select("account_id").unique(), on="account_id", how="anti"
        )
        self.add(
            "warning",
            "accounts",
            "account_id",
            "accounts with no contracts",
            no_contract,
            "they carry no ARR and are outside every retention cohort; check the contracts "
            "extract.",
        )


def validate_book(book: Book, *, as_of: _dt.datetime | None = None) -> ValidationReport:
    """Run every check of the data contract on ``book``; see the module docstring."""
    return ValidationReport(tuple(_Checker(book, as_of).run()), source=book.source)

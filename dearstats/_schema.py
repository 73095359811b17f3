"""The data contract: the nine tables of a book of business (DESIGN section 2).

This module is the single source of truth for table names, column names, logical types,
keys, foreign keys and which column dates a record for the ``as_of`` cut.

Logical types and their canonical pandas dtypes (what :meth:`dearstats.Book.frame` returns):

========  =====================  ======================================================
logical   pandas dtype           notes
========  =====================  ======================================================
``id``    ``str``                identifiers and labels (pandas' string dtype)
``str``   ``str``                categorical labels (segment, product, role, ...)
``date``  ``datetime64[us]``     calendar dates: midnight, no time zone
``float`` ``float64``            money (``arr``)
``int``   ``int64``              counts (``seats``, ``events``); nullable ``Int64``
``bool``  ``bool``               flags; nullable ``boolean``
========  =====================  ======================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["COLUMN_DTYPES", "TABLES", "TABLE_NAMES", "ColumnSpec", "ForeignKey", "TableSpec"]

#: canonical pandas dtype of each logical type (non-null, nullable)
COLUMN_DTYPES: dict[str, tuple[str, str]] = {
    "id": ("str", "str"),
    "str": ("str", "str"),
    "date": ("datetime64[us]", "datetime64[us]"),
    "float": ("float64", "float64"),
    "int": ("int64", "Int64"),
    "bool": ("bool", "boolean"),
}


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str  # one of COLUMN_DTYPES
    nullable: bool = False
    required: bool = True  # False: the column may be absent (then filled with nulls)
    non_negative: bool = False

    @property
    def pandas_dtype(self) -> str:
        return COLUMN_DTYPES[self.kind][1 if self.nullable else 0]


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    #: the column that dates a record for the as_of cut (None: undated, always visible)
    date_column: str | None = None
    foreign_keys: tuple[ForeignKey, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name: str, kind: str, **kw: bool) -> ColumnSpec:
    return ColumnSpec(name, kind, **kw)


_ACCOUNT_FK = ForeignKey(("account_id",), "accounts", ("account_id",))

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            "accounts",
            (
                _c("account_id", "id"),
                _c("segment", "str"),
                _c("region", "str", nullable=True, required=False),
                _c("industry", "str", nullable=True, required=False),
                _c("csm_id", "id", nullable=True, required=False),
                _c("created_date", "date"),
            ),
            key=("account_id",),
            date_column="created_date",
        ),
        TableSpec(
            "contracts",
            (
                _c("contract_id", "id"),
                _c("account_id", "id"),
                _c("product", "str"),
                _c("start_date", "date"),
                _c("end_date", "date"),
                _c("arr", "float", non_negative=True),
                _c("seats", "int", non_negative=True),
            ),
            key=("contract_id",),
            date_column="start_date",
            foreign_keys=(_ACCOUNT_FK,),
        ),
        TableSpec(
            "seat_snapshots",
            (
                _c("account_id", "id"),
                _c("product", "str"),
                _c("date", "date"),
                _c("seats_active", "int", non_negative=True),
            ),
            key=("account_id", "product", "date"),
            date_column="date",
            foreign_keys=(_ACCOUNT_FK,),
        ),
        TableSpec(
            "contacts",
            (
                _c("contact_id", "id"),
                _c("account_id", "id"),
                _c("role", "str"),
                _c("is_key", "bool"),
            ),
            key=("contact_id",),
            date_column=None,
            foreign_keys=(_ACCOUNT_FK,),
        ),
        TableSpec(
            "activities",
            (
                _c("activity_id", "id"),
                _c("account_id", "id"),
                _c("date", "date"),
                _c("activity_type", "str"),
                _c("csm_id", "id", nullable=True, required=False),
            ),
            key=("activity_id",),
            date_column="date",
            foreign_keys=(_ACCOUNT_FK,),
        ),
        TableSpec(
            "activity_contacts",
            (_c("activity_id", "id"), _c("contact_id", "id")),
            key=("activity_id", "contact_id"),
            date_column=None,  # dated through its activity
            foreign_keys=(
                ForeignKey(("activity_id",), "activities", ("activity_id",)),
                ForeignKey(("contact_id",), "contacts", ("contact_id",)),
            ),
        ),
        TableSpec(
            "usage",
            (
                _c("account_id", "id"),
                _c("user_id", "id"),
                _c("date", "date"),
                _c("feature", "str"),
                _c("events", "int", non_negative=True),
            ),
            key=("account_id", "user_id", "date", "feature"),
            date_column="date",
            foreign_keys=(_ACCOUNT_FK, ForeignKey(("feature",), "feature_catalog", ("feature",))),
        ),
        TableSpec(
            "feature_catalog",
            (
                _c("feature", "str"),
                _c("sticky", "bool"),
                _c("workflow", "str", nullable=True, required=False),
            ),
            key=("feature",),
            date_column=None,
        ),
        TableSpec(
            "outcomes",
            (
                _c("outcome_id", "id"),
                _c("account_id", "id"),
                _c("created_date", "date"),
                _c("target_date", "date"),
                _c("verified_date", "date", nullable=True, required=False),
                _c("status", "str"),
            ),
            key=("outcome_id",),
            date_column="created_date",
            foreign_keys=(_ACCOUNT_FK,),
        ),
    )
}

TABLE_NAMES: tuple[str, ...] = tuple(TABLES)

#: the values ``outcomes.status`` may take
OUTCOME_STATUSES: tuple[str, ...] = ("open", "verified", "missed", "abandoned")

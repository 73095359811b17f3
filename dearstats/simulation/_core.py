"""Entry points: :func:`simulate` (tables in memory) and :func:`write_book_parquet` (streamed).

Identifiers are stable under interventions (they encode the account number, so an
intervention on one account never renumbers another's records):

=================  ===============  ==============================================
table              id               meaning
=================  ===============  ==============================================
accounts           ``A00012``       account 12
contracts          ``C00012102``    account 12, product 1, 3rd contract of the chain
contacts           ``P0001203``     account 12, contact slot 3
activities         ``X0001200042``  account 12, 42nd activity (by date)
outcomes           ``O00012031``    account 12, created in month 31 (0 = first month)
usage user         ``U00012-007``   account 12, telemetry user 7
csm                ``CSM004``       CSM 4
=================  ===============  ==============================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dearstats._schema import TABLE_NAMES, TABLES
from dearstats.book import Book
from dearstats.errors import InputError
from dearstats.simulation._columns import coded, contract_ids, dates, numbered, strings
from dearstats.simulation._config import ACTIVITY_TYPES, FEATURE_CATALOG, SEGMENTS, SimConfig
from dearstats.simulation._dynamics import Dynamics, run_dynamics
from dearstats.simulation._intervention import Intervention, resolve_intervention
from dearstats.simulation._observe import activation_ratio, activities, outcomes, seat_snapshots
from dearstats.simulation._rng import Streams
from dearstats.simulation._truth import Truth, build_truth
from dearstats.simulation._usage import usage_blocks
from dearstats.simulation._world import ROLES, Calendar, World, build_world

__all__ = ["ParquetBook", "simulate", "write_book_parquet"]


@dataclass(frozen=True)
class _State:
    """Everything drawn for one world, before it becomes tables."""

    world: World
    cal: Calendar
    cfg: SimConfig
    streams: Streams
    dyn: Dynamics
    ratio: np.ndarray
    intervention: Intervention | None
    random_seed: int


# -- argument checks -------------------------------------------------------------------


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"simulate: {name} must be an integer; found {value!r}.")
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise InputError(f"simulate: {name} must be {rng}; found {value}.")
    return int(value)


def _run(
    n_accounts: int,
    years: int,
    start_year: int,
    random_seed: int,
    config: SimConfig | None,
    intervention: Intervention | None,
) -> _State:
    n_accounts = _check_int("n_accounts", n_accounts, 1)
    years = _check_int("years", years, 1, 50)
    start_year = _check_int("start_year", start_year, 1900, 2200)
    random_seed = _check_int("random_seed", random_seed, 0)
    cfg = SimConfig() if config is None else config
    if not isinstance(cfg, SimConfig):
        raise InputError(f"simulate: config must be a SimConfig; found {type(cfg).__name__}.")
    cfg.validate()
    if intervention is not None and not isinstance(intervention, Intervention):
        raise InputError(
            f"simulate: intervention must be an Intervention; found {type(intervention).__name__}."
        )
    cal = Calendar(start_year, years)
    streams = Streams(random_seed)
    world = build_world(n_accounts, cal, cfg, streams)
    iv = resolve_intervention(intervention, world, cal)
    dyn = run_dynamics(world, cal, cfg, streams, iv)
    ratio = activation_ratio(world, cal, cfg, streams, dyn)
    return _State(world, cal, cfg, streams, dyn, ratio, intervention, random_seed)


def _frame(name: str, cols: dict[str, pd.Series]) -> pd.DataFrame:
    df = pd.DataFrame({c: cols[c].reset_index(drop=True) for c in TABLES[name].column_names})
    for spec in TABLES[name].columns:
        assert str(df[spec.name].dtype) == spec.pandas_dtype or (
            spec.kind in ("id", "str") and df[spec.name].dtype == "str"
        ), (name, spec.name, df[spec.name].dtype)
    return df


# -- tables ----------------------------------------------------------------------------


def _tables_but_usage(s: _State) -> dict[str, pd.DataFrame]:
    w, cal, cfg, dyn = s.world, s.cal, s.cfg, s.dyn
    products = cfg.products
    t: dict[str, pd.DataFrame] = {}
    t["accounts"] = _frame(
        "accounts",
        {
            "account_id": strings(w.account_ids),
            "segment": coded(w.segment, SEGMENTS),
            "region": coded(w.region, cfg.regions),
            "industry": coded(w.industry, cfg.industries),
            "csm_id": coded(w.csm, list(w.csm_ids)),
            "created_date": dates(w.created),
        },
    )
    c = dyn.contracts
    t["contracts"] = _frame(
        "contracts",
        {
            "contract_id": strings(contract_ids(w.width, c["account"], c["product"], c["k"])),
            "account_id": strings(w.account_ids[c["account"]]),
            "product": coded(c["product"], products),
            "start_date": dates(c["start"]),
            "end_date": dates(c["end"]),
            "arr": pd.Series(c["arr"], dtype="float64"),
            "seats": pd.Series(c["seats"], dtype="int64"),
        },
    )
    snap = seat_snapshots(cal, dyn, s.ratio)
    rank = np.argsort(np.argsort(np.array(products)))  # product code -> rank by name
    o = np.lexsort((snap["day"], rank[snap["product"]], snap["account"]))
    t["seat_snapshots"] = _frame(
        "seat_snapshots",
        {
            "account_id": strings(w.account_ids[snap["account"][o]]),
            "product": coded(snap["product"][o], products),
            "date": dates(snap["day"][o]),
            "seats_active": pd.Series(snap["seats_active"][o], dtype="int64"),
        },
    )
    acc, slot = np.nonzero(w.contact_role >= 0)
    role = w.contact_role[acc, slot]
    key_codes = np.array([r in ("champion", "decision_maker", "executive_sponsor") for r in ROLES])
    t["contacts"] = _frame(
        "contacts",
        {
            "contact_id": strings(numbered("P", (acc + 1, w.width), (slot + 1, 2))),
            "account_id": strings(w.account_ids[acc]),
            "role": coded(role, ROLES),
            "is_key": pd.Series(key_codes[role], dtype="bool"),
        },
    )
    acts, part = activities(w, cal, cfg, s.streams, dyn)
    act_ids = numbered("X", (acts["account"] + 1, w.width), (acts["seq"] + 1, 5))
    t["activities"] = _frame(
        "activities",
        {
            "activity_id": strings(act_ids),
            "account_id": strings(w.account_ids[acts["account"]]),
            "date": dates(acts["day"]),
            "activity_type": coded(acts["type"], ACTIVITY_TYPES),
            "csm_id": coded(acts["csm"], list(w.csm_ids)),
        },
    )
    t["activity_contacts"] = _frame(
        "activity_contacts",
        {
            "activity_id": strings(act_ids[part["activity"]]),
            "contact_id": strings(
                numbered("P", (part["account"] + 1, w.width), (part["slot"] + 1, 2))
            ),
        },
    )
    t["feature_catalog"] = _frame(
        "feature_catalog",
        {
            "feature": strings([f[0] for f in FEATURE_CATALOG]),
            "sticky": pd.Series([f[1] for f in FEATURE_CATALOG], dtype="bool"),
            "workflow": strings([f[2] for f in FEATURE_CATALOG]),
        },
    )
    out = outcomes(w, cal, cfg, s.streams, dyn)
    t["outcomes"] = _frame(
        "outcomes",
        {
            "outcome_id": strings(numbered("O", (out["account"] + 1, w.width), (out["month"], 3))),
            "account_id": strings(w.account_ids[out["account"]]),
            "created_date": dates(out["created"]),
            "target_date": dates(out["target"]),
            "verified_date": dates(out["verified_day"], null=out["verified_day"] < 0),
            "status": strings(out["status"]),
        },
    )
    return t


def _usage_frame(s: _State, block: dict[str, np.ndarray]) -> pd.DataFrame:
    """A block of usage rows (sorted by key) as a contract-typed frame."""
    w, cap = s.world, s.cfg.usage_user_cap
    code = block["account"] * cap + block["user"]
    first = np.flatnonzero(np.r_[True, code[1:] != code[:-1]]) if len(code) else np.zeros(0, int)
    inverse = np.cumsum(np.r_[False, code[1:] != code[:-1]]) if len(code) else code
    uniq = code[first]
    labels = (
        numbered("U", (uniq // cap + 1, w.width))
        + "-"
        + numbered("", (uniq % cap + 1, max(3, len(str(cap)))))
    )
    return _frame(
        "usage",
        {
            "account_id": coded(block["account"], list(w.account_ids)),
            "user_id": coded(inverse, list(labels)),
            "date": dates(block["day"]),
            "feature": coded(block["feature"], [f[0] for f in FEATURE_CATALOG]),
            "events": pd.Series(block["events"], dtype="int64"),
        },
    )


def _build_truth(s: _State) -> Truth:
    return build_truth(s.world, s.cal, s.cfg, s.streams, s.dyn, s.intervention, s.random_seed)


def _empty_usage() -> dict[str, np.ndarray]:
    return {c: np.zeros(0, dtype=np.int64) for c in ("account", "user", "day", "feature", "events")}


# -- public ----------------------------------------------------------------------------


def simulate(
    n_accounts: int = 2000,
    years: int = 6,
    *,
    start_year: int = 2020,
    random_seed: int = 0,
    config: SimConfig | None = None,
    intervention: Intervention | None = None,
) -> Book:
    """Simulate a SaaS book of business with known truth.

    Parameters
    ----------
    n_accounts
        Accounts in the book over the whole period: ``config.initial_share`` of them are
        customers on 1 January ``start_year``, the rest are new logos created uniformly
        over the simulated years.
    years
        Calendar years simulated; records are dated in ``[start_year-01-01,
        (start_year + years)-01-01)`` (first contracts of the initial book start earlier).
    random_seed
        Seed of every random stream: the same arguments give bit-identical tables.
    config
        :class:`SimConfig` (defaults: a B2B-plausible book, GRR ~ 85-92 %, NRR ~ 100-115 %).
    intervention
        A what-if (:class:`Intervention`); with the same seed, accounts it does not touch
        are bit-identical to the world without it.

    Returns
    -------
    Book
        The nine tables of the data contract as pandas frames (contract columns in order,
        canonical dtypes, rows sorted by key), with ``book.truth``: :class:`Truth`.
    """
    s = _run(n_accounts, years, start_year, random_seed, config, intervention)
    tables = _tables_but_usage(s)
    frames = [
        _usage_frame(s, block)
        for block in usage_blocks(s.world, s.cal, s.cfg, s.streams, s.dyn, s.ratio)
    ]
    tables["usage"] = (
        pd.concat(frames, ignore_index=True) if frames else _usage_frame(s, _empty_usage())
    )
    return Book(
        {name: tables[name] for name in TABLE_NAMES},
        truth=_build_truth(s),
        source=f"simulate(n_accounts={n_accounts}, years={years}, random_seed={random_seed})",
    )


@dataclass(frozen=True)
class ParquetBook:
    """A simulated book written as ``<table>.parquet`` files (``read_book(path)`` reads it)."""

    path: Path
    truth: Truth
    rows: dict[str, int]


def _arrow(name: str, df: pd.DataFrame) -> pa.Table:
    """A table as Arrow with dates as ``date32`` (as :meth:`Book.to_parquet` writes them)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    for col in TABLES[name].columns:
        if col.kind == "date":
            i = table.column_names.index(col.name)
            table = table.set_column(i, col.name, table.column(i).cast(pa.date32()))
    return table


def write_book_parquet(
    path: str | Path,
    n_accounts: int | None = None,
    years: int = 6,
    *,
    target_usage_rows: int | None = None,
    start_year: int = 2020,
    random_seed: int = 0,
    config: SimConfig | None = None,
    intervention: Intervention | None = None,
    block_accounts: int = 250,
) -> ParquetBook:
    """Simulate a book and write ``<table>.parquet`` per table into folder ``path``.

    Usage is generated ``block_accounts`` accounts at a time and appended to
    ``usage.parquet`` as row groups (sorted by key), so memory stays bounded by one block
    however many rows are written; the eight other tables are built in memory. Give
    ``n_accounts``, or ``target_usage_rows`` to size the book from a 500-account pilot run
    (same settings) so that usage has about that many rows. Dates are written as
    ``date32``. The world is the one :func:`simulate` returns for the same arguments.
    """
    if (n_accounts is None) == (target_usage_rows is None):
        raise InputError(
            "write_book_parquet: give exactly one of n_accounts and target_usage_rows."
        )
    if target_usage_rows is not None:
        target = _check_int("target_usage_rows", target_usage_rows, 1)
        pilot_n = 500
        pilot = _run(pilot_n, years, start_year, random_seed, config, None)
        rows = sum(
            len(b["day"])
            for b in usage_blocks(
                pilot.world, pilot.cal, pilot.cfg, pilot.streams, pilot.dyn, pilot.ratio
            )
        )
        n_accounts = max(1, math.ceil(target * pilot_n / max(rows, 1)))
    assert n_accounts is not None
    block_accounts = _check_int("block_accounts", block_accounts, 1)
    s = _run(n_accounts, years, start_year, random_seed, config, intervention)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name, df in _tables_but_usage(s).items():
        pq.write_table(_arrow(name, df), folder / f"{name}.parquet")
        counts[name] = len(df)
    schema = _arrow("usage", _usage_frame(s, _empty_usage())).schema
    n_usage = 0
    with pq.ParquetWriter(folder / "usage.parquet", schema) as writer:
        for block in usage_blocks(
            s.world, s.cal, s.cfg, s.streams, s.dyn, s.ratio, block_accounts=block_accounts
        ):
            table = _arrow("usage", _usage_frame(s, block))
            writer.write_table(pa.Table.from_batches(table.to_batches(), schema=schema))
            n_usage += table.num_rows
    counts["usage"] = n_usage
    return ParquetBook(path=folder, truth=_build_truth(s), rows={n: counts[n] for n in TABLE_NAMES})

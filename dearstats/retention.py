"""ARR ledger, renewal events, GRR/NRR and the ARR waterfall (DESIGN section 2).

Everything here is derived from the ``contracts`` table (and ``accounts`` for grouping
columns such as ``segment``); nothing is an input.

Conventions
-----------
ARR
    ARR of account *a* on day *d*: ``ARR_a(d) = Σ arr_k`` over the contracts *k* of *a*
    with ``start_date_k ≤ d < end_date_k`` (end exclusive). See :func:`arr_on` and
    :func:`arr_ledger`.
Fiscal year
    FY *Y* is the half-open interval ``[t0, t1)`` of :func:`fiscal_year_bounds`. With
    ``fy_start_month = m = 1`` it is calendar year *Y*. With ``m ≠ 1`` FY *Y* **ends** in
    calendar year *Y* (the common US convention): ``t0 = date(Y - 1, m, 1)``,
    ``t1 = date(Y, m, 1)``; e.g. FY2026 with ``m = 2`` runs 2025-02-01 to 2026-01-31.
Late renewals (``grace_days``)
    A renewal date *e* of account *a* is the ``end_date`` of one or more of its contracts.
    A contract starting on *s* **attaches** to the renewal event ``(a, e)`` when

    1. *renewal*: a contract of the same account and product ended on *e*, with
       ``e ≤ s ≤ e + grace_days`` (the latest such *e*); otherwise
    2. *cross-sell at renewal*: the account does not hold the product on *s* (no
       contract of that account and product runs across *s*) and *e* is the account's
       latest renewal date with ``e ≤ s ≤ e + grace_days``.

    An attached contract is treated as if it had started on *e* (its *effective start*),
    so a renewal signed up to ``grace_days`` late counts exactly like an on-time one. All
    retention figures (ARR at ``t0`` and ``t1``, GRR, NRR, waterfall, renewal events) use
    effective starts; :func:`arr_on` and :func:`arr_ledger` with their default
    ``grace_days=0`` give the raw contract definition. A renewal more than ``grace_days``
    late is not bridged: if the gap spans ``t1`` the account counts as churned at ``t1``
    and comes back as a new logo; inside the year GRR/NRR only look at ``t0`` and ``t1``,
    so it is retained if the product is active again on ``t1`` (its renewal event is
    still classed ``churn``). Successors are expected to start on or after the end of
    the contract they renew (contracts of one account and product should not overlap).
As of
    ``as_of`` is the date the contract data is known up to: contracts with
    ``start_date < as_of`` are used (as in :meth:`dearstats.Book.as_of`); by default the
    day after the latest ``start_date``. ARR on ``t1`` depends on contracts starting up
    to ``t1 + grace_days``, so FY figures are **final** only if ``t1 + grace_days <
    as_of``, and a renewal event on *e* only if ``e + grace_days < as_of``; otherwise they
    are provisional (flagged, and :func:`retention` warns when asked for such a year).
    :func:`arr_on` and :func:`arr_ledger` use every contract they are given (slice the
    book with ``book.as_of(t)`` first for a point-in-time view).
GRR / NRR
    Over the cohort ``C = {a : ARR_a(t0) > 0}`` of FY ``[t0, t1)``:
    ``GRR = Σ_C min(ARR_a(t1), ARR_a(t0)) / Σ_C ARR_a(t0)``,
    ``NRR = Σ_C ARR_a(t1) / Σ_C ARR_a(t0)``. The cap is per account: one account's
    expansion cannot hide another's churn, but inside one account the expansion of one
    product does offset the loss of another. New logos (``ARR(t0) = 0``) are outside C and
    appear only in the waterfall's new-logo line.
Renewal date and fiscal year
    A renewal on date *e* (a contract's exclusive end) is reflected in ``ARR(t1)`` of the
    FY containing its last day of service ``e - 1 day``, i.e. ``t0 < e ≤ t1``; that is its
    ``fiscal_year``. (An annual contract from 2024-01-01 to 2025-01-01 renews in FY2024.)
"""

from __future__ import annotations

import datetime as _dt
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dearstats.book import to_date
from dearstats.errors import DearstatsWarning, InputError

__all__ = [
    "MOVEMENTS",
    "OUTCOMES",
    "RetentionResult",
    "arr_ledger",
    "arr_on",
    "fiscal_year_bounds",
    "fiscal_year_of",
    "renewal_events",
    "retention",
]

#: the outcome classes of a renewal event, in order
OUTCOMES: tuple[str, ...] = ("churn", "contraction", "flat", "expansion")
#: the movement classes of an account over a fiscal year
MOVEMENTS: tuple[str, ...] = (*OUTCOMES, "new_logo")

_CONTRACT_COLUMNS = ("account_id", "product", "start_date", "end_date", "arr")
_DAY = pd.Timedelta(days=1)
_ALL = "All"
_MISSING = "(missing)"


# -- fiscal years ----------------------------------------------------------------------
def fiscal_year_bounds(year: int, fy_start_month: int = 1) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First day ``t0`` and exclusive end ``t1`` of fiscal year ``year``.

    ``t0 = date(year, 1, 1)`` and ``t1 = date(year + 1, 1, 1)`` when ``fy_start_month`` is
    1; otherwise the fiscal year ends in calendar year ``year``:
    ``t0 = date(year - 1, m, 1)``, ``t1 = date(year, m, 1)`` (FY2026 with ``m = 2`` is
    2025-02-01 to 2026-01-31).
    """
    _check_year(year)
    m = _check_month(fy_start_month)
    if m == 1:
        return pd.Timestamp(year, 1, 1), pd.Timestamp(year + 1, 1, 1)
    return pd.Timestamp(year - 1, m, 1), pd.Timestamp(year, m, 1)


def fiscal_year_of(dates: Any, fy_start_month: int = 1) -> Any:
    """The fiscal year containing each date (inverse of :func:`fiscal_year_bounds`).

    ``FY(d) = year(d) + [m ≠ 1 and month(d) ≥ m]``. A scalar date gives an ``int``; a
    Series gives an ``int64`` Series with the same index; other array-likes an array.
    """
    m = _check_month(fy_start_month)
    shift = 0 if m == 1 else 1
    if isinstance(dates, pd.Series):
        d = pd.to_datetime(dates)
        return (d.dt.year + shift * (d.dt.month >= m)).astype("int64")
    if np.ndim(dates) == 0:
        ts = pd.Timestamp(dates)
        return int(ts.year + shift * (ts.month >= m))
    idx = pd.DatetimeIndex(dates)
    return np.asarray(idx.year + shift * (idx.month >= m), dtype="int64")


# -- ARR -------------------------------------------------------------------------------
def arr_on(contracts: pd.DataFrame, dates: Any, *, grace_days: int = 0) -> pd.DataFrame:
    """ARR of every account on each date: ``ARR_a(d) = Σ_k arr_k [start_k ≤ d < end_k]``.

    Returns a float frame indexed by ``account_id`` (every account with a contract) with
    one column per date (a ``DatetimeIndex`` named ``date``, in the order given). An
    account with no active contract has exactly ``0.0``. ``grace_days > 0`` uses the
    effective starts of late renewals (module docstring); 0 is the raw definition. Cost
    O(n_contracts × n_dates); for ARR at every change use :func:`arr_ledger`.
    """
    c = _effective(_prepare_contracts(contracts), _check_grace(grace_days))
    idx = _dates(dates)
    ids, values = _arr_matrix(c, idx)
    out = pd.DataFrame(values, index=pd.Index(ids, name="account_id", dtype="str"), columns=idx)
    return out


def arr_ledger(contracts: pd.DataFrame, *, grace_days: int = 0) -> pd.DataFrame:
    """The ARR ledger: one row per account and contract boundary (a start or end date).

    Columns ``account_id``, ``date``, ``arr_change`` (Σ arr of contracts starting on
    ``date`` − Σ arr of contracts ending on it), ``arr`` (the account's ARR from ``date``
    until the next row, ``Σ arr_change`` so far; exactly 0.0 when no contract is active)
    and ``n_contracts`` (active contracts). ``ARR_a(d)`` is ``arr`` on the account's last
    row with ``date ≤ d`` (0 before the first). ``grace_days`` as in :func:`arr_on`.
    """
    c = _effective(_prepare_contracts(contracts), _check_grace(grace_days))
    moves = pd.concat(
        [
            pd.DataFrame(
                {"account_id": c["account_id"], "date": c["start_date"], "arr_change": c["arr"]}
            ).assign(n_contracts=1),
            pd.DataFrame(
                {"account_id": c["account_id"], "date": c["end_date"], "arr_change": -c["arr"]}
            ).assign(n_contracts=-1),
        ],
        ignore_index=True,
    )
    led = moves.groupby(["account_id", "date"], sort=True, as_index=False).sum()
    by_account = led.groupby("account_id", sort=False)
    led["arr"] = by_account["arr_change"].cumsum()
    led["n_contracts"] = by_account["n_contracts"].cumsum().astype("int64")
    led.loc[led["n_contracts"] == 0, "arr"] = 0.0
    return led[["account_id", "date", "arr_change", "arr", "n_contracts"]]


# -- renewal events --------------------------------------------------------------------
def renewal_events(
    contracts: pd.DataFrame,
    accounts: pd.DataFrame | None = None,
    *,
    grace_days: int = 30,
    start: Any = None,
    end: Any = None,
    fy_start_month: int = 1,
    as_of: Any = None,
    flat_tol: float = 1e-9,
) -> pd.DataFrame:
    """One row per account and renewal date (contracts of an account ending on one date).

    For the event of account *a* on date *e*:

    - ``arr_before = Σ arr`` of the contracts of *a* ending on *e* (the ARR up for renewal;
      contracts running past *e* are not part of the event);
    - ``arr_after = Σ arr`` of the contracts attached to the event (same-product renewals
      and cross-sells starting in ``[e, e + grace_days]``, module docstring);
    - ``outcome``: ``churn`` if ``arr_after = 0``; ``flat`` if
      ``|arr_after − arr_before| ≤ flat_tol · arr_before``; else ``contraction``
      (after < before) or ``expansion`` (after > before). The outcome concerns the ARR up
      for renewal, not the whole account.

    Columns: ``account_id``, ``renewal_date`` (*e*), ``fiscal_year`` (the FY with
    ``t0 < e ≤ t1``), ``segment`` (null without ``accounts``), ``n_contracts``,
    ``arr_before``, ``arr_after``, ``outcome`` (categorical, :data:`OUTCOMES`) and
    ``is_final`` (``e + grace_days < as_of``; drop ``False`` rows for settled figures).
    ``start``/``end`` keep events with ``start ≤ e < end``; to select a fiscal year use
    the ``fiscal_year`` column.
    """
    grace = _check_grace(grace_days)
    _check_month(fy_start_month)
    tol = _check_tol(flat_tol)
    c = _prepare_contracts(contracts)
    cut = _resolve_as_of(c, as_of)
    c = _visible(c, cut)
    ev = _events(_attach(c, grace), grace, fy_start_month, cut, tol)
    if start is not None:
        ev = ev[ev["renewal_date"] >= pd.Timestamp(to_date(start, name="start"))]
    if end is not None:
        ev = ev[ev["renewal_date"] < pd.Timestamp(to_date(end, name="end"))]
    if accounts is not None:
        acc = _prepare_accounts(accounts, ("segment",), c)
        segment = ev["account_id"].map(acc.set_index("account_id")["segment"])
    else:
        segment = pd.Series(pd.NA, index=ev.index, dtype="str")
    ev.insert(3, "segment", segment.astype("str"))
    return ev.reset_index(drop=True)


# -- retention -------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class RetentionResult:
    """GRR, NRR, ARR waterfall and renewal rates by fiscal year and group.

    Attributes
    ----------
    metrics
        One row per fiscal year and group (see :meth:`frame`).
    accounts
        One row per account and fiscal year with ARR on ``t0`` or ``t1``: ``arr_start``,
        ``arr_end``, ``in_cohort`` and ``movement`` (:data:`MOVEMENTS`).
    events
        The renewal events of the fiscal years (:func:`renewal_events`) with the ``by``
        columns.
    fiscal_years, by, fy_start_month, grace_days, as_of
        The settings that produced the figures.
    """

    metrics: pd.DataFrame
    accounts: pd.DataFrame
    events: pd.DataFrame
    fiscal_years: tuple[int, ...]
    by: tuple[str, ...]
    fy_start_month: int
    grace_days: int
    as_of: pd.Timestamp

    def frame(self) -> pd.DataFrame:
        """The tidy metrics: ``fiscal_year``, the ``by`` columns (``"All"`` = overall),
        ``fy_start``, ``fy_end``, ``provisional`` and the metrics below (C = cohort,
        accounts with ``ARR(t0) > 0``; ``a0 = ARR(t0)``, ``a1 = ARR(t1)``):

        - ``n_accounts = |C|``; ``n_churned``, ``n_contracted``, ``n_expanded``,
          ``n_new_logos`` (counts by movement; flat = within ``flat_tol``);
        - ``arr_start = Σ_C a0``; ``arr_end = Σ_C a1``;
        - ``churn = −Σ_{C, a1=0} a0``; ``contraction = Σ_{C, a1>0} min(a1 − a0, 0)``;
          ``expansion = Σ_{C, a1>0} max(a1 − a0, 0)``; so
          ``arr_start + churn + contraction + expansion = arr_end``;
        - ``arr_gross_retained = Σ_C min(a0, a1)``; ``grr = arr_gross_retained /
          arr_start = (arr_start + churn + contraction) / arr_start``;
          ``nrr = arr_end / arr_start``;
        - ``new_logo_arr = Σ_{a0=0} a1``; ``arr_end_total = arr_end + new_logo_arr``;
        - renewal rates over the renewal events of the year (all accounts):
          ``arr_up_for_renewal = Σ before``, ``arr_renewed_gross = Σ min(after, before)``,
          ``arr_renewed_net = Σ after``, ``gross_renewal_rate = arr_renewed_gross /
          arr_up_for_renewal``, ``net_renewal_rate = arr_renewed_net /
          arr_up_for_renewal``, ``n_renewals``.

        Ratios with a zero denominator are NaN.
        """
        return self.metrics.copy()

    def summary(self) -> pd.DataFrame:
        """The headline figures formatted for printing (ARR rounded, rates in % with one
        decimal), indexed by fiscal year and group."""
        m = self.metrics
        money = {
            "arr_start": "ARR start",
            "churn": "Churn",
            "contraction": "Contraction",
            "expansion": "Expansion",
            "arr_end": "ARR end (cohort)",
            "new_logo_arr": "New logo ARR",
            "arr_end_total": "ARR end (total)",
        }
        rates = {"grr": "GRR", "nrr": "NRR"}
        renewal = {
            "arr_up_for_renewal": "Up for renewal",
            "gross_renewal_rate": "Gross renewal rate",
            "net_renewal_rate": "Net renewal rate",
        }
        out = pd.DataFrame(index=pd.MultiIndex.from_frame(m[["fiscal_year", *self.by]]))
        out["Accounts"] = m["n_accounts"].to_numpy()
        for col, label in money.items():
            out[label] = [_fmt_money(v) for v in m[col]]
        for col, label in rates.items():
            out[label] = [_fmt_pct(v) for v in m[col]]
        for col, label in renewal.items():
            fmt = _fmt_money if col.startswith("arr") else _fmt_pct
            out[label] = [fmt(v) for v in m[col]]
        if m["provisional"].any():
            out["Provisional"] = np.where(m["provisional"], "yes", "")
        return out

    def __repr__(self) -> str:
        head = (
            f"RetentionResult(fiscal_years={list(self.fiscal_years)}, by={list(self.by)}, "
            f"fy_start_month={self.fy_start_month}, grace_days={self.grace_days}, "
            f"as_of={self.as_of.date().isoformat()})"
        )
        return f"{head}\n{self.summary().to_string()}"

    def _repr_html_(self) -> str:
        return self.summary().to_html()


def retention(
    book_or_tables: Any,
    fiscal_year: int | Sequence[int] | None = None,
    *,
    by: str | Sequence[str] | None = "segment",
    fy_start_month: int = 1,
    grace_days: int = 30,
    as_of: Any = None,
    flat_tol: float = 1e-9,
) -> RetentionResult:
    """GRR, NRR, the ARR waterfall and renewal rates per fiscal year, overall and by group.

    For FY ``[t0, t1)`` and cohort ``C = {a : ARR_a(t0) > 0}`` (new logos are outside C):

        GRR = Σ_C min(ARR_a(t1), ARR_a(t0)) / Σ_C ARR_a(t0)
        NRR = Σ_C ARR_a(t1) / Σ_C ARR_a(t0)

    with ARR at effective starts (late renewals within ``grace_days`` bridged, module
    docstring). The per-account cap in GRR stops one account's expansion from hiding
    another's churn. The renewal rates are a different measure: their denominator is the
    ARR up for renewal in the year (renewal events with ``t0 < e ≤ t1``). See
    :meth:`RetentionResult.frame` for every column.

    Parameters
    ----------
    book_or_tables
        A Book (anything with ``.frame(name) -> DataFrame``), a mapping
        ``{"contracts": df, "accounts": df}``, or a contracts DataFrame (then ``by=None``).
    fiscal_year
        One year, several, or ``None`` for every final fiscal year with a non-empty cohort
        and at least one renewal event (earlier years are left-truncated history). A year
        no contract overlaps is an error; a year with an empty cohort (only new logos) has
        NaN GRR and NRR.
    by
        Account columns to group by (crossed); ``None`` for the overall figures only.
        Group values are shown as strings; a missing value as ``"(missing)"``.
    fy_start_month
        First month of the fiscal year (see :func:`fiscal_year_bounds`).
    grace_days
        Late-renewal grace period in days (≥ 0).
    as_of
        Contracts with ``start_date < as_of`` are used; default the day after the latest
        start. A year with ``t1 + grace_days ≥ as_of`` is provisional (a warning is issued
        when it was asked for explicitly).
    flat_tol
        Relative tolerance for "flat" in the movement counts and renewal outcomes.
    """
    grace = _check_grace(grace_days)
    m = _check_month(fy_start_month)
    tol = _check_tol(flat_tol)
    by_cols = _check_by(by)
    contracts, accounts = _tables(book_or_tables)
    c = _prepare_contracts(contracts)
    cut = _resolve_as_of(c, as_of)
    c = _visible(c, cut)
    acc = _prepare_accounts(accounts, by_cols, c) if by_cols else None
    att = _attach(c, grace)
    eff = att.assign(start_date=att["effective_start"])

    events = _events(att, grace, m, cut, tol)
    years = _select_years(eff, fiscal_year, m, grace, cut, set(events["fiscal_year"]))
    bounds = {y: fiscal_year_bounds(y, m) for y in years}
    dates = pd.DatetimeIndex(sorted({t for b in bounds.values() for t in b}))
    ids, arr = _arr_matrix(eff, dates)
    column_of = {t: j for j, t in enumerate(dates)}

    parts: list[tuple[np.ndarray, ...]] = []
    for y, (t0, t1) in bounds.items():
        a0, a1 = arr[:, column_of[t0]], arr[:, column_of[t1]]
        keep = np.flatnonzero((a0 > 0) | (a1 > 0))
        parts.append((keep, np.full(len(keep), y), a0[keep], a1[keep]))
    rows, fys, start_arr, end_arr = (np.concatenate(x) for x in zip(*parts, strict=True))
    cohort = start_arr > 0
    accts = pd.DataFrame(
        {
            "account_id": pd.array(ids[rows], dtype="str"),
            "fiscal_year": fys.astype("int64"),
            "arr_start": start_arr,
            "arr_end": end_arr,
            "in_cohort": cohort,
            "movement": _classify(start_arr, end_arr, tol, new=~cohort),
        }
    )

    events = events[events["fiscal_year"].isin(years)].reset_index(drop=True)
    if acc is not None:
        index = pd.Index(acc["account_id"])
        for frame in (accts, events):
            pos = index.get_indexer(frame["account_id"])
            for col in by_cols:
                frame[col] = acc[col].to_numpy()[pos]
                frame[col] = frame[col].astype("str")

    metrics = _metrics(accts, events, by_cols, bounds, grace, cut)
    return RetentionResult(
        metrics=metrics,
        accounts=accts,
        events=events,
        fiscal_years=tuple(years),
        by=by_cols,
        fy_start_month=m,
        grace_days=grace,
        as_of=cut,
    )


# -- internals -------------------------------------------------------------------------
def _tables(obj: Any) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(contracts, accounts) from a Book-like object, a mapping or a contracts frame."""
    if isinstance(obj, pd.DataFrame):
        return obj, None
    frame = getattr(obj, "frame", None)
    if callable(frame):
        return frame("contracts"), frame("accounts")
    if isinstance(obj, Mapping):
        if "contracts" not in obj:
            raise InputError(
                f"tables: no 'contracts' entry (found keys {sorted(map(str, obj))}); pass "
                "{'contracts': df, 'accounts': df}."
            )
        return obj["contracts"], obj.get("accounts")
    raise InputError(
        f"expected a Book, a mapping {{'contracts': df, 'accounts': df}} or a contracts "
        f"DataFrame; found {type(obj).__name__}."
    )


def _prepare_contracts(contracts: Any) -> pd.DataFrame:
    """Check the contract columns and return them with datetime64[us] dates (a copy).

    All problems are reported in one ``InputError``.
    """
    if not isinstance(contracts, pd.DataFrame):
        raise InputError(
            f"contracts: expected a pandas DataFrame, found {type(contracts).__name__}; use "
            "book.frame('contracts') for other engines."
        )
    missing = [col for col in _CONTRACT_COLUMNS if col not in contracts.columns]
    if missing:
        raise InputError(
            f"contracts: missing column(s) {', '.join(missing)} (found "
            f"{', '.join(map(str, contracts.columns))}); the contract table needs "
            f"{', '.join(_CONTRACT_COLUMNS)}."
        )
    keep = [*(["contract_id"] if "contract_id" in contracts.columns else []), *_CONTRACT_COLUMNS]
    c = contracts[keep].reset_index(drop=True)
    problems: list[str] = []
    for col in ("start_date", "end_date"):
        s = c[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            problems.append(f"{col} has a time zone; dates are calendar dates without one")
            continue
        if s.dtype == "datetime64[us]":
            continue
        try:
            c[col] = pd.to_datetime(s).astype("datetime64[us]")
        except (TypeError, ValueError) as exc:
            problems.append(f"{col} is not a date column ({exc})")
    if not pd.api.types.is_numeric_dtype(c["arr"]) or pd.api.types.is_bool_dtype(c["arr"]):
        problems.append(f"arr has dtype {c['arr'].dtype}; expected float64")
    elif c["arr"].dtype != "float64":
        c["arr"] = c["arr"].astype("float64")
    if problems:
        raise InputError("contracts: " + "; ".join(problems) + ".")
    checks = [
        (c[list(_CONTRACT_COLUMNS)].isna().any(axis=1), "have a missing value", "fill or drop"),
        (
            c["end_date"] <= c["start_date"],
            "have end_date <= start_date",
            "end_date is exclusive and must be after start_date",
        ),
        (c["arr"] < 0, "have arr < 0", "arr must be >= 0"),
    ]
    for mask, what, fix in checks:
        if mask.any():
            first = c[mask].iloc[0]
            label = f"contract_id={first['contract_id']!r}, " if "contract_id" in c else ""
            problems.append(
                f"{int(mask.sum())} rows {what} (first: {label}account_id="
                f"{first['account_id']!r}, {first['start_date']} → {first['end_date']}, "
                f"arr={first['arr']}); {fix}"
            )
    if problems:
        raise InputError("contracts: " + "; ".join(problems) + ".")
    for col in ("account_id", "product"):
        if c[col].dtype != "str":
            c[col] = c[col].astype("str")
    days = pd.concat([c["start_date"], c["end_date"]])
    if (days != days.dt.normalize()).any():
        raise InputError(
            "contracts: start_date/end_date have a time of day; dates are calendar dates "
            "(midnight), e.g. use .dt.normalize()."
        )
    return c


def _prepare_accounts(accounts: Any, by: tuple[str, ...], contracts: pd.DataFrame) -> pd.DataFrame:
    """account_id and the ``by`` columns as strings, one row per account of the contracts."""
    if accounts is None:
        raise InputError(
            f"by={list(by)} needs the accounts table, which was not given; pass "
            "{'contracts': df, 'accounts': df} or use by=None."
        )
    if not isinstance(accounts, pd.DataFrame):
        raise InputError(f"accounts: expected a pandas DataFrame, found {type(accounts).__name__}.")
    missing = [col for col in ("account_id", *by) if col not in accounts.columns]
    if missing:
        raise InputError(
            f"accounts: missing column(s) {', '.join(missing)} (found "
            f"{', '.join(map(str, accounts.columns))}); `by` must name account columns."
        )
    acc = accounts[["account_id", *by]].copy()
    acc["account_id"] = acc["account_id"].astype("str")
    dup = acc["account_id"].duplicated()
    if dup.any():
        raise InputError(
            f"accounts: {int(dup.sum())} duplicated account_id (first: "
            f"{acc.loc[dup, 'account_id'].iloc[0]!r}); account_id is the key."
        )
    unknown = pd.Index(contracts["account_id"].unique()).difference(acc["account_id"])
    if len(unknown):
        raise InputError(
            f"contracts: {len(unknown)} account_id(s) not in accounts (first: "
            f"{unknown[0]!r}); add them to accounts or drop their contracts."
        )
    for col in by:
        acc[col] = acc[col].astype("object").where(acc[col].notna(), _MISSING).astype("str")
    return acc


def _visible(c: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    c = c[c["start_date"] < cut].reset_index(drop=True)
    if c.empty:
        raise InputError(
            f"contracts: no contract starts before as_of={cut.date().isoformat()}; "
            "pass a later as_of."
        )
    return c


def _resolve_as_of(c: pd.DataFrame, as_of: Any) -> pd.Timestamp:
    if as_of is not None:
        return pd.Timestamp(to_date(as_of))
    if c.empty:
        raise InputError("contracts: the table is empty; retention needs contracts.")
    return pd.Timestamp(c["start_date"].max()).normalize() + _DAY


_BIG = np.int64(2**32)  # combined sort keys: group * _BIG + day number


def _days(c: pd.DataFrame) -> tuple[np.datetime64, np.ndarray, np.ndarray]:
    """(origin, start and end as int64 days since origin); dates are midnight."""
    origin = c["start_date"].min().to_datetime64()
    one = np.timedelta64(1, "D")
    s = ((c["start_date"].to_numpy() - origin) // one).astype("int64")
    e = ((c["end_date"].to_numpy() - origin) // one).astype("int64")
    return origin, s, e


def _attach(c: pd.DataFrame, grace_days: int) -> pd.DataFrame:
    """Add ``event_date`` (renewal date the contract attaches to, or NaT), ``attach``
    (``renewal``/``cross_sell``/NaN) and ``effective_start`` (see module docstring).

    Vectorised with sorted integer keys ``group · 2³² + day`` and ``searchsorted``.
    """
    c = c.reset_index(drop=True)
    origin, s, e = _days(c)
    acct = pd.factorize(c["account_id"])[0].astype("int64")
    prod, prods = pd.factorize(c["product"])
    ap = acct * max(len(prods), 1) + prod.astype("int64")

    # 1. renewal: the latest same-product end day e ≤ s, kept if s - e ≤ grace
    ke = np.sort(ap * _BIG + e)
    i = np.searchsorted(ke, ap * _BIG + s, side="right") - 1
    hit = ke[np.maximum(i, 0)]
    renewal = (i >= 0) & (hit // _BIG == ap) & (s - hit % _BIG <= grace_days)
    event = np.where(renewal, hit % _BIG, -1)

    # 2. held: a same-product contract with an earlier start runs past s
    order = np.lexsort((s, ap))
    ks = (ap * _BIG + s)[order]
    running = np.maximum.accumulate((ap * _BIG + e)[order])
    first = np.searchsorted(ks, ks, side="left")  # first row of each equal-start block
    prev = np.where(first > 0, running[np.maximum(first - 1, 0)], -1)
    held = np.empty(len(c), dtype=bool)
    held[order] = (prev >= 0) & (prev // _BIG == ap[order]) & (prev % _BIG > s[order])

    # 3. cross-sell: not a renewal, product not held: latest renewal day e of the account
    #    with e ≤ s ≤ e + grace
    kev = np.unique(acct * _BIG + e)
    j = np.searchsorted(kev, acct * _BIG + s, side="right") - 1
    hit = kev[np.maximum(j, 0)]
    cross = ~renewal & ~held & (j >= 0) & (hit // _BIG == acct) & (s - hit % _BIG <= grace_days)
    event = np.where(cross, hit % _BIG, event)

    out = c.copy()
    day = np.timedelta64(1, "D")
    dates = (origin + event * day).astype("datetime64[us]")
    out["event_date"] = np.where(event >= 0, dates, np.datetime64("NaT", "us"))
    kind = np.select([renewal, cross], ["renewal", "cross_sell"], default="")
    out["attach"] = pd.Series(kind, dtype="str").replace("", None)
    out["effective_start"] = np.where(event >= 0, dates, c["start_date"].to_numpy())
    return out


def _effective(c: pd.DataFrame, grace_days: int) -> pd.DataFrame:
    if grace_days == 0:
        return c
    att = _attach(c, grace_days)
    return att.assign(start_date=att["effective_start"])[c.columns]


def _arr_matrix(c: pd.DataFrame, dates: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """(sorted account ids, ARR matrix accounts × dates) by exact per-date sums."""
    codes, ids = pd.factorize(c["account_id"], sort=True)
    ids = np.asarray(ids, dtype=object)
    s = c["start_date"].to_numpy()
    e = c["end_date"].to_numpy()
    a = c["arr"].to_numpy(dtype="float64")
    out = np.zeros((len(ids), len(dates)))
    for j, d in enumerate(dates.to_numpy()):
        active = (s <= d) & (d < e)
        out[:, j] = np.bincount(codes[active], weights=a[active], minlength=len(ids))
    return ids, out


def _classify(before: Any, after: Any, tol: float, new: Any = None) -> pd.Categorical:
    b, a = np.asarray(before), np.asarray(after)
    conds = [a == 0, np.abs(a - b) <= tol * b, a < b, a > b]
    labels = ["churn", "flat", "contraction", "expansion"]
    if new is not None:
        conds.insert(0, np.asarray(new))
        labels.insert(0, "new_logo")
    out = np.select(conds, labels, default="flat")
    return pd.Categorical(out, categories=list(MOVEMENTS if new is not None else OUTCOMES))


def _events(
    att: pd.DataFrame, grace: int, fy_start_month: int, cut: pd.Timestamp, tol: float
) -> pd.DataFrame:
    origin, _, e = _days(att)
    acct, ids = pd.factorize(att["account_id"])
    acct = acct.astype("int64")
    arr = att["arr"].to_numpy(dtype="float64")
    keys, inv = np.unique(acct * _BIG + e, return_inverse=True)
    before = np.bincount(inv, weights=arr, minlength=len(keys))
    n = np.bincount(inv, minlength=len(keys)).astype("int64")
    on = att["event_date"].notna().to_numpy()
    ev_day = ((att["event_date"].to_numpy()[on] - origin) // np.timedelta64(1, "D")).astype("int64")
    pos = np.searchsorted(keys, acct[on] * _BIG + ev_day)
    after = np.bincount(pos, weights=arr[on], minlength=len(keys))
    renewal_date = (origin + (keys % _BIG) * np.timedelta64(1, "D")).astype("datetime64[us]")
    ev = pd.DataFrame(
        {
            "account_id": pd.Series(np.asarray(ids)[keys // _BIG], dtype="str"),
            "renewal_date": renewal_date,
            "n_contracts": n,
            "arr_before": before,
            "arr_after": after,
        }
    )
    ev = ev.sort_values(["account_id", "renewal_date"], kind="stable", ignore_index=True)
    ev.insert(2, "fiscal_year", fiscal_year_of(ev["renewal_date"] - _DAY, fy_start_month))
    ev["outcome"] = _classify(ev["arr_before"], ev["arr_after"], tol)
    ev["is_final"] = (ev["renewal_date"] + pd.Timedelta(days=grace)) < cut
    return ev


def _select_years(
    eff: pd.DataFrame,
    fiscal_year: Any,
    m: int,
    grace: int,
    cut: pd.Timestamp,
    renewal_years: set[int],
) -> list[int]:
    """The requested years, checked; or (``None``) every final year with a cohort and at
    least one renewal event (a year before the first renewal is left-truncated history,
    e.g. the back-filled first contracts of a book)."""
    span = f"contracts run from {eff['start_date'].min().date()} to {eff['end_date'].max().date()}"
    if fiscal_year is None:
        lo = fiscal_year_of(eff["start_date"].min(), m)
        candidates = list(range(lo, fiscal_year_of(cut, m) + 1))
    else:
        candidates = _check_years(fiscal_year)
    t0s = pd.DatetimeIndex([fiscal_year_bounds(y, m)[0] for y in candidates])
    _, arr = _arr_matrix(eff, t0s)
    has_cohort = (arr > 0).any(axis=0)
    final = [fiscal_year_bounds(y, m)[1] + pd.Timedelta(days=grace) < cut for y in candidates]
    if fiscal_year is None:
        years = [
            y
            for y, h, f in zip(candidates, has_cohort, final, strict=True)
            if h and f and y in renewal_years
        ]
        if not years:
            raise InputError(
                f"no final fiscal year with a cohort and renewals ({span}; as_of="
                f"{cut.date()}, grace_days={grace}); pass fiscal_year= explicitly to get "
                "provisional figures."
            )
        return years
    for y in candidates:
        t0, t1 = fiscal_year_bounds(y, m)
        if not ((eff["start_date"] < t1) & (eff["end_date"] > t0)).any():
            raise InputError(
                f"fiscal_year={y} ({t0.date()} to {t1.date()}, fy_start_month={m}): no "
                f"contract is active in it ({span}); choose a year inside the contract "
                "history."
            )
    provisional = [y for y, f in zip(candidates, final, strict=True) if not f]
    if provisional:
        warnings.warn(
            f"fiscal_year {provisional}: provisional figures, the year ends less than "
            f"grace_days={grace} before as_of={cut.date()} (late renewals may still come "
            "in); the rows are flagged provisional=True.",
            DearstatsWarning,
            stacklevel=3,
        )
    return candidates


_SUMS = [
    "n_accounts",
    "n_churned",
    "n_contracted",
    "n_expanded",
    "n_new_logos",
    "arr_start",
    "churn",
    "contraction",
    "expansion",
    "arr_end",
    "arr_gross_retained",
    "new_logo_arr",
]
_EVENT_SUMS = ["n_renewals", "arr_up_for_renewal", "arr_renewed_gross", "arr_renewed_net"]


def _metrics(
    accts: pd.DataFrame,
    events: pd.DataFrame,
    by: tuple[str, ...],
    bounds: dict[int, tuple[pd.Timestamp, pd.Timestamp]],
    grace: int,
    cut: pd.Timestamp,
) -> pd.DataFrame:
    a0, a1 = accts["arr_start"].to_numpy(), accts["arr_end"].to_numpy()
    coh = accts["in_cohort"].to_numpy()
    mv = accts["movement"].to_numpy()
    kept = coh & (a1 > 0)
    before, after = events["arr_before"].to_numpy(), events["arr_after"].to_numpy()
    n_a, n_e = len(accts), len(events)
    vals = np.zeros((n_a + n_e, len(_SUMS) + len(_EVENT_SUMS)))
    vals[:n_a, : len(_SUMS)] = np.column_stack(
        [
            coh,
            mv == "churn",
            mv == "contraction",
            mv == "expansion",
            mv == "new_logo",
            np.where(coh, a0, 0.0),
            np.where(coh & (a1 == 0), -a0, 0.0),
            np.where(kept, np.minimum(a1 - a0, 0.0), 0.0),
            np.where(kept, np.maximum(a1 - a0, 0.0), 0.0),
            np.where(coh, a1, 0.0),
            np.where(coh, np.minimum(a0, a1), 0.0),
            np.where(coh, 0.0, a1),
        ]
    )
    vals[n_a:, len(_SUMS) :] = np.column_stack(
        [np.ones(n_e), before, np.minimum(before, after), after]
    )
    data = pd.DataFrame(vals, columns=_SUMS + _EVENT_SUMS)
    keys_df = pd.concat(
        [accts[["fiscal_year", *by]], events[["fiscal_year", *by]]], ignore_index=True
    )
    levels = [("fiscal_year",)] + ([("fiscal_year", *by)] if by else [])
    sums, fy_parts, group_parts, level = [], [], [], []
    for keys in levels:
        t = data.groupby([keys_df[k] for k in keys], sort=True).sum()
        if len(keys) == 1:  # every year has an overall row, even with no ARR at all
            t = t.reindex(pd.Index(sorted(bounds), name="fiscal_year"), fill_value=0.0)
        sums.append(t.to_numpy())
        fy_parts.append(t.index.get_level_values("fiscal_year").to_numpy())
        n = len(t)
        group_parts.append(
            [
                t.index.get_level_values(col).to_numpy(dtype=object)
                if col in keys
                else np.full(n, _ALL, dtype=object)
                for col in by
            ]
        )
        level.append(np.full(n, len(keys)))
    order = np.lexsort((np.concatenate(level), np.concatenate(fy_parts)))
    table = np.concatenate(sums)[order]
    v = {col: table[:, i] for i, col in enumerate(_SUMS + _EVENT_SUMS)}
    groups = {col: np.concatenate([g[i] for g in group_parts])[order] for i, col in enumerate(by)}
    years = np.concatenate(fy_parts)[order].astype("int64")
    t0 = np.array([bounds[y][0] for y in years], dtype="datetime64[us]")
    t1 = np.array([bounds[y][1] for y in years], dtype="datetime64[us]")
    res: dict[str, Any] = {"fiscal_year": years}
    res.update({col: pd.array(groups[col], dtype="str") for col in by})
    res.update(fy_start=t0, fy_end=t1, provisional=t1 + np.timedelta64(grace, "D") >= cut)
    res.update({col: v[col].astype("int64") for col in _SUMS[:5]})
    res.update(
        {col: v[col] for col in ("arr_start", "churn", "contraction", "expansion", "arr_end")}
    )
    res["grr"] = _ratio(v["arr_gross_retained"], v["arr_start"])
    res["nrr"] = _ratio(v["arr_end"], v["arr_start"])
    res.update(
        arr_gross_retained=v["arr_gross_retained"],
        new_logo_arr=v["new_logo_arr"],
        arr_end_total=v["arr_end"] + v["new_logo_arr"],
        n_renewals=v["n_renewals"].astype("int64"),
    )
    res.update({col: v[col] for col in _EVENT_SUMS[1:]})
    res["gross_renewal_rate"] = _ratio(v["arr_renewed_gross"], v["arr_up_for_renewal"])
    res["net_renewal_rate"] = _ratio(v["arr_renewed_net"], v["arr_up_for_renewal"])
    return pd.DataFrame(res)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0."""
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, np.nan)


def _fmt_money(v: float) -> str:
    return "–" if pd.isna(v) else f"{v:,.0f}"


def _fmt_pct(v: float) -> str:
    return "–" if pd.isna(v) else f"{v:.1%}"


def _dates(dates: Any) -> pd.DatetimeIndex:
    if isinstance(dates, str | _dt.date | pd.Timestamp) or np.ndim(dates) == 0:
        dates = [dates]
    if not isinstance(dates, Iterable):
        raise InputError(f"dates: expected a date or a list of dates, found {dates!r}.")
    idx = pd.DatetimeIndex([pd.Timestamp(to_date(d, name="dates")) for d in dates])
    return idx.as_unit("us").rename("date")


def _check_year(year: Any) -> int:
    if isinstance(year, bool) or not isinstance(year, int | np.integer):
        raise InputError(
            f"fiscal_year={year!r}: expected an integer year such as 2025, found "
            f"{type(year).__name__}."
        )
    if not 1900 <= int(year) <= 2200:
        raise InputError(f"fiscal_year={year}: expected a year between 1900 and 2200.")
    return int(year)


def _check_years(fiscal_year: Any) -> list[int]:
    if isinstance(fiscal_year, Sequence | np.ndarray | pd.Index | pd.Series) and not isinstance(
        fiscal_year, str
    ):
        years = [_check_year(y) for y in fiscal_year]
        if not years:
            raise InputError("fiscal_year=[]: pass at least one year, or None for all.")
        return sorted(set(years))
    return [_check_year(fiscal_year)]


def _check_month(m: Any) -> int:
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or not 1 <= m <= 12:
        raise InputError(
            f"fy_start_month={m!r}: expected an integer month 1-12 (1 = calendar year; 2 = "
            "FY2026 runs Feb 2025 to Jan 2026)."
        )
    return int(m)


def _check_grace(g: Any) -> int:
    if isinstance(g, bool) or not isinstance(g, int | np.integer) or g < 0:
        raise InputError(f"grace_days={g!r}: expected an integer number of days >= 0.")
    return int(g)


def _check_tol(tol: Any) -> float:
    if isinstance(tol, bool) or not isinstance(tol, int | float) or not 0 <= tol < 1:
        raise InputError(f"flat_tol={tol!r}: expected a relative tolerance in [0, 1).")
    return float(tol)


def _check_by(by: Any) -> tuple[str, ...]:
    if by is None:
        return ()
    cols = (by,) if isinstance(by, str) else tuple(by)
    bad = [c for c in cols if not isinstance(c, str)]
    if bad or len(set(cols)) != len(cols):
        raise InputError(f"by={by!r}: expected an account column name or distinct names.")
    reserved = {"fiscal_year", "account_id"}
    if reserved & set(cols):
        raise InputError(f"by={by!r}: {sorted(reserved & set(cols))} cannot be a group column.")
    return cols

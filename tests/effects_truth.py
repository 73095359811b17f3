"""The true activity effects of a simulated world, by re-simulation (for tests/test_effects.py).

The estimand of :func:`dearstats.effects.activity_effects` for activity type ``k`` and
outcome ``Y`` is ``E[Y(N_k + 1)] − E[Y(N_k)]`` over the account-periods of the analysis:
one more activity of type ``k`` in the period, everything else natural. The simulator
measures it directly: re-simulate the same world (same seed, common random numbers) with
``Intervention(extra_activities={k: {account: 1}})`` in one month, rebuild the features
from the re-simulated *book* and score them with the same card, and average the change in
the outcome as of ``horizon`` months after the month began, over the accounts treated.

One re-simulated world holds several experiments at once: accounts are independent in the
simulator, so each activity type gets its own random share of the eligible accounts
(accounts with a CSM and ARR at the month's start that are customers in the month: an
account whose Core contract churned while an add-on runs to its end gets no CSM activity
in the simulator, so an extra one cannot be added there either). Each world uses a
different month, so the truth averages over months as the estimate averages over periods:
use months spread evenly over the estimate's periods (:func:`spread_months`). Accounts
with an unknown score at the outcome date in either world are left out, as the estimator
leaves them out (an extra activity never changed whether the outcome exists in the
recovery worlds: 0 of ~17,000 account-months).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
import polars as pl

import dearstats as ds
from dearstats.book import Book


def polars_book(book: Book) -> Book:
    """The same book on the Polars engine (features build several times faster there)."""
    return Book({k: pl.from_pandas(v) for k, v in book.tables.items()}, truth=book.truth)


def subset_book(book: Book, accounts: Sequence[str]) -> Book:
    """A Polars book restricted to some accounts (an account's features read only its
    rows)."""
    ids = pl.Series(list(accounts), dtype=pl.String).implode()
    tables = {}
    for name, df in book.tables.items():
        if "account_id" in df.columns:
            df = df.filter(pl.col("account_id").is_in(ids))
        tables[name] = df
    acts = tables["activities"]["activity_id"].implode()
    tables["activity_contacts"] = tables["activity_contacts"].filter(
        pl.col("activity_id").is_in(acts)
    )
    return Book(tables)


def outcomes_at(book: Book, accounts: Sequence[str], as_of: pd.Timestamp) -> pd.DataFrame:
    """Scores and 0/1 colours of some accounts as of a date (indexed by account_id)."""
    scored = ds.ScoreCard.default().score(ds.build_features(subset_book(book, accounts), as_of))
    out = pd.DataFrame(index=scored.index)
    for d in (*ds.ScoreCard.default().dimension_names, "overall"):
        s = scored[f"{d}_score"].to_numpy(dtype=float)
        known = ~np.isnan(s)
        out[f"{d}_score"] = s
        out[f"{d}_green"] = np.where(known, (scored[f"{d}_colour"] == "green"), np.nan)
        out[f"{d}_red"] = np.where(known, (scored[f"{d}_colour"] == "red"), np.nan)
    return out


def spread_months(start: str, end: str, n: int) -> list[str]:
    """``n`` month starts spread evenly over the months in ``[start, end)`` (the middle
    month of each of ``n`` equal blocks, rounded down)."""
    months = pd.date_range(start, end, freq="MS", inclusive="left")
    edges = np.linspace(0, len(months), n + 1)
    return [months[int((a + b) // 2)].date().isoformat() for a, b in itertools.pairwise(edges)]


def resimulated_truth(
    book: Book,
    *,
    n_accounts: int,
    years: int,
    config: ds.SimConfig,
    months: Sequence[str],
    activities: Sequence[str],
    outcomes: Sequence[str],
    horizon: int = 2,
    random_seed: int,
    assign_seed: int = 0,
) -> pd.DataFrame:
    """True effect of one extra activity, per activity × outcome (mean, std_err, n).

    ``book`` is ``ds.simulate(n_accounts, years, random_seed=random_seed, config=config)``
    on the Polars engine (:func:`polars_book`); one world is re-simulated per month in
    ``months``.
    """
    rng = np.random.default_rng(assign_seed)
    accounts = book.frame("accounts")
    with_csm = set(accounts.loc[accounts["csm_id"].notna(), "account_id"])
    latent = book.truth.latent
    active = latent.loc[latent["active_share"] > 0, ["account_id", "month"]]
    diffs: dict[tuple[str, str], list[np.ndarray]] = {}
    for month in months:
        t0 = pd.Timestamp(month)
        t1 = t0 + pd.DateOffset(months=horizon)
        c = book.frame("contracts")
        live = c[(c["start_date"] < t0) & (c["end_date"] >= t0) & (c["arr"] > 0)]
        customers = set(active.loc[active["month"] == t0, "account_id"])
        eligible = np.array(sorted(set(live["account_id"]) & with_csm & customers))
        groups = np.array_split(rng.permutation(eligible), len(activities))
        extra = {k: {a: 1 for a in g} for k, g in zip(activities, groups, strict=True)}
        world = polars_book(
            ds.simulate(
                n_accounts,
                years,
                random_seed=random_seed,
                config=config,
                intervention=ds.Intervention(
                    extra_activities=extra, from_date=t0, until_date=t0 + pd.DateOffset(months=1)
                ),
            )
        )
        base = outcomes_at(book, eligible, t1)
        treated = outcomes_at(world, eligible, t1)
        for k, g in zip(activities, groups, strict=True):
            common = base.index.intersection(treated.index).intersection(pd.Index(g))
            for o in outcomes:
                d = treated.loc[common, o].to_numpy(float) - base.loc[common, o].to_numpy(float)
                diffs.setdefault((k, o), []).append(d[~np.isnan(d)])
    rows = []
    for (k, o), parts in diffs.items():
        d = np.concatenate(parts)
        rows.append(
            {
                "activity": k,
                "outcome": o,
                "truth": float(d.mean()),
                "truth_se": float(d.std(ddof=1) / np.sqrt(len(d))),
                "truth_n": len(d),
            }
        )
    return pd.DataFrame(rows)


def latent_confounders(book: Book) -> pd.DataFrame:
    """The simulator's latent health of each account-month (``z_<dimension>``), keyed by
    ``account_id`` and ``as_of`` = the month start: what its CSMs act on in that month.

    Months an account is not a customer (a churned Core with an add-on still running)
    carry its last latent value forward.
    """
    lat = book.truth.latent
    parts = []
    for d in ("deployment", "engagement", "adoption", "roi"):
        wide = lat.pivot(index="month", columns="account_id", values=d).ffill()
        parts.append(wide.stack().rename(f"z_{d}"))
    out = pd.concat(parts, axis=1).dropna().reset_index()
    return out.rename(columns={"month": "as_of"})

"""The simulated CSMs' health reads as ``extra_confounders`` of
:func:`dearstats.activity_effects`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from dearstats.errors import InputError
from dearstats.simulation._config import DIMENSIONS
from dearstats.simulation._truth import Truth

__all__ = ["csm_read_confounders"]


def csm_read_confounders(book: Any, *, carry_forward: bool = True) -> pd.DataFrame:
    """The health read each CSM acted on, per account-month, in ``extra_confounders`` form.

    In a simulated world the CSMs set their activity rates of month ``t`` from their read of
    the account's health, ``read = z + N(0, csm_read_sd^2)`` per dimension
    (:class:`SimConfig`), as a CSM's recorded risk assessment would hold it. This returns
    ``account_id``, ``as_of`` (the month start) and ``read_<dimension>`` for every CSM
    account from its first customer month to the end of the simulation; a month the
    account is not a customer (an add-on still running after the Core contract churned)
    carries its last read forward, so every analysis row of
    :func:`dearstats.activity_effects` (``population="csm"``) has a value.

    With ``carry_forward=False`` only the months the CSM read the account (its customer
    months) are returned: the account-months the CSMs manage. Pass its ``account_id`` and
    ``as_of`` as the ``population`` of :func:`dearstats.activity_effects` to leave out the
    months of a churned account whose add-on still runs, in which the simulated CSMs never
    act (no weighting can stand for account-months that never get an activity).

    ``book``: a simulated :class:`dearstats.Book` (its ``truth``) or a :class:`Truth`.
    The reads are not one of the nine tables of the data contract (a :class:`Book` holds
    exactly those), so they come from the truth.
    """
    truth = book if isinstance(book, Truth) else getattr(book, "truth", None)
    if not isinstance(truth, Truth):
        raise InputError(
            "csm_read_confounders: expected a simulated book (ds.simulate(...)) or its truth; "
            f"found {type(book).__name__} without a simulation truth."
        )
    reads = truth.csm_reads
    cols = [f"read_{d}" for d in DIMENSIONS]
    if reads.empty:
        return pd.DataFrame(
            {
                "account_id": pd.Series(dtype="str"),
                "as_of": pd.Series(dtype="datetime64[us]"),
                **{c: pd.Series(dtype="float64") for c in cols},
            }
        )
    if not carry_forward:
        out = reads.rename(columns={"month": "as_of"})[["account_id", "as_of", *cols]].copy()
        out["account_id"] = out["account_id"].astype("str")
        out["as_of"] = out["as_of"].astype("datetime64[us]")
        return out.sort_values(["account_id", "as_of"], kind="stable").reset_index(drop=True)
    months = pd.DatetimeIndex(sorted(truth.latent["month"].unique()))
    parts = []
    for c in cols:
        wide = reads.pivot(index="month", columns="account_id", values=c)
        parts.append(wide.reindex(months).ffill().stack().rename(c))
    out = pd.concat(parts, axis=1).dropna(subset=cols)  # months before the first
    out.index = out.index.set_names(["as_of", "account_id"])
    out = out.reset_index()[["account_id", "as_of", *cols]]
    out["account_id"] = out["account_id"].astype("str")
    out["as_of"] = out["as_of"].astype("datetime64[us]")
    return out.sort_values(["account_id", "as_of"], kind="stable").reset_index(drop=True)

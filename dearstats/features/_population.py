"""Who gets a row: accounts with ARR > 0 at ``as_of``, and their contract context.

ARR at ``as_of`` is the ARR of the last day before the cut, ``ARR(as_of − 1 day)``: the Σ
``arr`` of contracts with ``start_date < as_of ≤ end_date`` (``end_date`` is exclusive, so
a contract ending *on* ``as_of`` was still live the day before; its renewal is due on
``as_of`` itself and ``days_to_renewal`` is 0). Contracts starting on ``as_of`` are not
visible yet (``book.as_of`` keeps ``start_date < as_of``), so the population is decided
with what was known before the cut.
"""

from __future__ import annotations

import narwhals as nw

from dearstats.features._core import KEYS, Context, before_join

__all__ = ["active_contracts", "population", "products"]


def active_contracts(ctx: Context) -> nw.LazyFrame:
    """Contract rows live on ``_t − 1`` (``start < _t ≤ end``), one per contract and pair.

    Reads ``contracts.start_date < as_of`` and the (known) ``end_date``.
    """
    contracts = ctx.table(
        "contracts", ["account_id", "product", "start_date", "end_date", "arr", "seats"]
    )
    return before_join(ctx, contracts, day="_start_date").filter(
        nw.col("_end_date") >= nw.col("_t")
    )


def products(ctx: Context) -> nw.LazyFrame:
    """Per pair and product of the live contracts: ``arr_p`` and licensed ``seats_p``."""
    return (
        active_contracts(ctx)
        .filter(~nw.col("product").is_null())
        .group_by(*KEYS, "product")
        .agg(
            nw.col("arr").sum().alias("arr_p"),
            nw.col("seats").sum().alias("seats_p"),
        )
    )


def population(ctx: Context) -> nw.LazyFrame:
    """The pairs with ARR > 0, with context columns.

    Columns: ``account_id``, ``_t``, ``segment``, ``csm_id``, ``_created``, ``arr``,
    ``licensed_seats``, ``_first_start``, ``_next_end``, ``n_products`` (plus any extra
    column the context pairs carry, such as ``_renewal``).
    """
    live = active_contracts(ctx)
    agg = live.group_by(*KEYS).agg(
        nw.col("arr").sum().alias("arr"),
        nw.col("seats").sum().alias("licensed_seats"),
        nw.col("_start_date").min().alias("_first_start"),
        nw.col("_end_date").min().alias("_next_end"),
    )
    n_products = products(ctx).group_by(*KEYS).agg(nw.len().alias("n_products"))
    return (
        ctx.pairs.join(agg, on=KEYS, how="inner")
        .filter(nw.col("arr") > 0)
        .join(n_products, on=KEYS, how="left")
    )

"""The simulated CSMs' health reads (``SimConfig.csm_read_sd``): existing worlds unchanged,
activity rates set by the reads, the reads in the truth and as ``extra_confounders``."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from dearstats.book import Book
from dearstats.errors import InputError
from dearstats.simulation import (
    DIMENSIONS,
    SEGMENTS,
    Intervention,
    SimConfig,
    csm_read_confounders,
    simulate,
)

READ_SD = 0.5

#: sha256 of the nine tables of simulate(300, 4, random_seed=seed), taken before the CSM
#: reads existed: with csm_read_sd = 0 (the default) every world must stay bit-identical.
#: (A deliberate change to the simulated world changes these; update them with it.)
FINGERPRINTS = {
    0: "1bcfbd7890c67eaa5359331920ae7969a66420368befba66e474898cade0ccaf",
    1: "9e9a8330fa4434a8d857d4b4191e440c6c3699f76c846d00ff63c521cb4223bf",
    7: "98ce4c211ab3f184a0aff1c03f089e0fb37d19e0b1300493bcf356e945f96bef",
}


def _fingerprint(book: Book) -> str:
    h = hashlib.sha256()
    for name in sorted(book.tables):
        h.update(name.encode())
        frame = book.tables[name]
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def read_world() -> Book:
    return simulate(300, 4, random_seed=3, config=SimConfig(csm_read_sd=READ_SD))


@pytest.mark.parametrize("seed", sorted(FINGERPRINTS))
def test_default_worlds_are_unchanged(seed: int) -> None:
    default = simulate(300, 4, random_seed=seed)
    explicit = simulate(300, 4, random_seed=seed, config=SimConfig(csm_read_sd=0.0))
    assert _fingerprint(default) == FINGERPRINTS[seed]
    assert _fingerprint(explicit) == FINGERPRINTS[seed]


def test_reads_are_the_latent_exactly_by_default() -> None:
    truth = simulate(300, 4, random_seed=1).truth
    reads = truth.csm_reads
    assert list(reads.columns) == ["account_id", "month", *[f"read_{d}" for d in DIMENSIONS]]
    high = truth.accounts.loc[truth.accounts["high_touch"], "account_id"]
    assert set(reads["account_id"]) <= set(high)
    m = reads.merge(truth.latent, on=["account_id", "month"], how="left", validate="1:1")
    assert len(m) == len(truth.latent[truth.latent["account_id"].isin(high)])
    for d in DIMENSIONS:
        np.testing.assert_array_equal(m[f"read_{d}"], m[d])


def test_reads_add_noise_of_the_configured_sd(read_world: Book) -> None:
    truth = read_world.truth
    m = truth.csm_reads.merge(truth.latent, on=["account_id", "month"], validate="1:1")
    noise = np.column_stack([m[f"read_{d}"] - m[d] for d in DIMENSIONS])
    assert len(noise) > 3000
    assert abs(noise.mean()) < 0.03
    np.testing.assert_allclose(noise.std(axis=0), READ_SD, rtol=0.06)
    assert abs(np.corrcoef(noise.T)[np.triu_indices(4, 1)]).max() < 0.08  # independent
    # the world before the activities is the same; what the CSMs do differs
    default = simulate(300, 4, random_seed=3)
    pd.testing.assert_frame_equal(read_world.tables["accounts"], default.tables["accounts"])
    assert not read_world.tables["activities"].equals(default.tables["activities"])


def test_csm_activity_rates_follow_the_reads_not_the_latent(read_world: Book) -> None:
    """With a full month as a customer and the rate below the cap, log rate - read . health
    takes only the values segment shift + log base rate (+ near renewal, + new account)."""
    truth = read_world.truth
    cfg = truth.config
    m = truth.csm_reads.merge(truth.latent, on=["account_id", "month"], validate="1:1")
    m = m.merge(truth.accounts[["account_id", "segment"]], on="account_id")
    full = m[m["active_share"] == 1.0]
    for k in ("training", "ebr"):
        tg = cfg.targeting[k]
        rate = full[f"rate_{k}"].to_numpy()
        below = rate < cfg.max_activity_rate
        w = np.asarray(tg.health)
        for name, col in (("read", "read_{}"), ("latent", "{}")):
            x = full[[col.format(d) for d in DIMENSIONS]].to_numpy() @ w
            rest = np.log(rate) - x
            base = np.log(tg.base_rate) + full["segment"].map(
                {s: cfg.segments[s].activity_shift for s in SEGMENTS}
            ).to_numpy(dtype=float)
            steps = np.array(
                [0.0, tg.near_renewal, tg.new_account, tg.near_renewal + tg.new_account]
            )
            gap = np.abs((rest - base)[below, None] - steps[None, :]).min(axis=1)
            if name == "read":
                assert gap.max() < 1e-9, (k, gap.max())
            else:
                assert np.median(gap) > 0.05, (k, np.median(gap))


def test_untouched_accounts_and_read_noise_are_common_under_an_intervention(
    read_world: Book,
) -> None:
    cfg = SimConfig(csm_read_sd=READ_SD)
    target = read_world.truth.csm_reads["account_id"].iloc[0]
    what_if = simulate(
        300,
        4,
        random_seed=3,
        config=cfg,
        intervention=Intervention(
            extra_activities={"training": {target: 1}}, from_date="2021-03-01"
        ),
    )
    a, b = read_world.truth, what_if.truth
    other_a = a.csm_reads[a.csm_reads["account_id"] != target].reset_index(drop=True)
    other_b = b.csm_reads[b.csm_reads["account_id"] != target].reset_index(drop=True)
    pd.testing.assert_frame_equal(other_a, other_b)
    # the target's reads move with its latent; the noise is the same draws
    ra = a.csm_reads[a.csm_reads["account_id"] == target].merge(
        a.latent, on=["account_id", "month"]
    )
    rb = b.csm_reads[b.csm_reads["account_id"] == target].merge(
        b.latent, on=["account_id", "month"]
    )
    np.testing.assert_allclose(
        (ra["read_adoption"] - ra["adoption"]).to_numpy(),
        (rb["read_adoption"] - rb["adoption"]).to_numpy(),
        atol=1e-12,
    )
    assert not np.allclose(ra["adoption"], rb["adoption"])


def test_csm_read_confounders_has_a_row_per_csm_account_month(read_world: Book) -> None:
    truth = read_world.truth
    ex = csm_read_confounders(read_world)
    assert list(ex.columns) == ["account_id", "as_of", *[f"read_{d}" for d in DIMENSIONS]]
    assert str(ex["as_of"].dtype) == "datetime64[us]"
    assert not ex.duplicated(["account_id", "as_of"]).any()
    assert not ex.isna().any().any()
    pd.testing.assert_frame_equal(ex, csm_read_confounders(truth))
    # customer months are the reads themselves ...
    m = truth.csm_reads.rename(columns={"month": "as_of"}).merge(
        ex, on=["account_id", "as_of"], suffixes=("", "_ex"), validate="1:1"
    )
    assert len(m) == len(truth.csm_reads)
    np.testing.assert_array_equal(m["read_roi"], m["read_roi_ex"])
    # ... every later month carries the last read forward, to the end of the simulation
    last = truth.latent["month"].max()
    ends = ex.groupby("account_id")["as_of"].max()
    assert (ends == last).all()
    counts = ex.groupby("account_id").size()
    firsts = ex.groupby("account_id")["as_of"].min()
    months = (last.year - firsts.dt.year) * 12 + (last.month - firsts.dt.month) + 1
    pd.testing.assert_series_equal(counts, months.astype("int64"), check_names=False)
    # every account with a CSM appears (tech-touch accounts have no CSM read)
    csm = read_world.tables["accounts"].dropna(subset=["csm_id"])["account_id"]
    assert set(ex["account_id"]) == set(csm)


def test_bad_settings_and_inputs() -> None:
    with pytest.raises(InputError, match="csm_read_sd"):
        SimConfig(csm_read_sd=-0.1).validate()
    with pytest.raises(InputError, match="csm_read_sd"):
        SimConfig(csm_read_sd=float("nan")).validate()
    book = simulate(20, 2, random_seed=0)
    with pytest.raises(InputError, match="simulated book"):
        csm_read_confounders(Book(book.tables))

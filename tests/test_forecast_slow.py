"""Statistical acceptance of the forecast (issue 5): backtest coverage across simulated
worlds, the hierarchical model against the practitioners' baseline, and a what-if
campaign against re-simulating the same world with the simulator's intervention.

Budget: three worlds × three fiscal years × (hierarchical + logit + colour rate + last
year); about 4 minutes per world on 2 cores. Numbers measured when this was written are
in the closing note of issue 5.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import dearstats as ds
from dearstats.backtest import Backtest, backtest
from dearstats.errors import ConvergenceWarning
from dearstats.scenarios import scenario
from dearstats.simulation import Intervention

pytestmark = pytest.mark.slow

SEEDS = (0, 1, 2)
YEARS = [2022, 2023, 2024]
N_ACCOUNTS = 1500
MODELS = ["hierarchical", "logit", "colour_rate", "last_year"]


@pytest.fixture(scope="module")
def runs() -> dict[int, tuple[ds.Book, Backtest, list[str]]]:
    out = {}
    for seed in SEEDS:
        book = ds.simulate(n_accounts=N_ACCOUNTS, years=6, random_seed=seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            bt = backtest(book, YEARS, models=MODELS, random_seed=seed)
        gate = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
        out[seed] = (book, bt, gate)
    return out


def _overall(runs, model: str) -> pd.DataFrame:
    parts = []
    for seed, (_, bt, _) in runs.items():
        m = bt.frame()
        parts.append(m[(m["segment"] == "All") & (m["model"] == model)].assign(seed=seed))
    return pd.concat(parts, ignore_index=True)


def test_the_convergence_gate_is_never_silent(runs) -> None:
    """Every hierarchical fit runs the gate, and a fit that fails it has warned with the
    problems named; the diagnostics agree with the thresholds. Measured: 9 of 9 fits pass
    (segments as fixed effects; with a hierarchical σ over the three segments 1-5 of 9
    failed on that σ's R-hat/ESS); at most one failure is tolerated here, since a gate at
    R-hat 1.01 and ESS 400 fails now and then by chance on a healthy posterior."""
    failed = 0
    for seed, (_, bt, gate) in runs.items():
        fits = [fc for (_, model), fc in bt.forecasts.items() if model == "hierarchical"]
        assert len(fits) == len(YEARS)
        bad = [fc.diagnostics for fc in fits if not fc.diagnostics["passed"]]
        failed += len(bad)
        assert len(gate) == len(bad), (seed, gate, bad)  # each failure warned, no silent one
        for d in bad:
            assert d["problems"], d
        for fc in fits:
            d = fc.diagnostics
            if d["passed"]:  # a pass means every threshold held
                assert d["rhat_max"] <= 1.01, d
                assert min(d["ess_bulk_min"], d["ess_tail_min"]) >= 400, d
                assert d["divergences"] == 0, d
    assert failed <= 1, failed


def test_hierarchical_80pct_intervals_cover_at_a_rate_consistent_with_80pct(runs) -> None:
    m = _overall(runs, "hierarchical")
    n, k = len(m), int(m["covered80"].sum())
    assert n == len(SEEDS) * len(YEARS) * 2
    # two-sided exact binomial test at the 1 % level (GRR and NRR of one year are
    # positively correlated, which widens the true spread of k: the test is lenient in
    # that direction only by that much)
    p = stats.binomtest(k, n, 0.8).pvalue
    assert p > 0.01, (k, n, m[["seed", "fiscal_year", "metric", "actual", "lo80", "hi80"]])


def test_hierarchical_grr_error_is_small(runs) -> None:
    m = _overall(runs, "hierarchical")
    g = m[m["metric"] == "grr"]
    mae = g["error_pts"].abs().mean()
    # a GRR forecast within ~2 points on average; the year-to-year sd of the simulated
    # GRR around its expectation is ~1.5-2 points, so no method can do much better
    assert mae < 2.5, g[["seed", "fiscal_year", "forecast", "actual", "error_pts"]]


def _brier(runs, model: str) -> float:
    return float(
        np.mean(
            [bt.accounts.query("model == @model")["brier"].mean() for _, bt, _ in runs.values()]
        )
    )


def test_hierarchical_beats_the_colour_rate_baseline_on_brier(runs) -> None:
    assert _brier(runs, "hierarchical") < _brier(runs, "colour_rate")


def test_hierarchical_beats_the_colour_rate_baseline_on_crps(runs) -> None:
    """Mean CRPS over 3 worlds × 3 years × (GRR, NRR), overall; measured 1.21 points vs
    1.34 (and by segment 1.67 vs 3.91: the practitioners' per-colour rates ignore the
    segment mix). Before segments became fixed effects, the first backtest years stopped
    training on snapshots with no health history behind them and expansions got a
    finite-mean size, it was 1.31 vs 1.23."""
    h, c = _overall(runs, "hierarchical"), _overall(runs, "colour_rate")
    assert h["crps_pts"].mean() < c["crps_pts"].mean()


def test_scenario_agrees_with_re_simulating_the_world(runs) -> None:
    """Turn 100 red-adoption accounts green from the planning date; the same world
    re-simulated with those accounts forced green on adoption (common random numbers) has
    a measured change in GRR and NRR inside the scenario's 95 % interval."""
    seed = SEEDS[0]
    book, bt, _ = runs[seed]
    fc = bt.forecasts[(2024, "hierarchical")]
    sc = scenario(fc, turn_green={"adoption": 100})
    ids = list(sc.targets["account_id"])
    world = ds.simulate(
        n_accounts=N_ACCOUNTS,
        years=6,
        random_seed=seed,
        intervention=Intervention(force_green={"adoption": ids}, from_date="2024-01-01"),
    )
    before = ds.retention(book, 2024).frame().set_index("segment").loc["All"]
    after = ds.retention(world, 2024).frame().set_index("segment").loc["All"]
    eff = sc.frame().set_index(["segment", "metric"])
    for metric in ("grr", "nrr"):
        measured = after[metric] - before[metric]
        lo, hi = eff.loc[("All", metric), "lo95"], eff.loc[("All", metric), "hi95"]
        assert lo <= measured <= hi, (metric, measured, lo, hi)
        assert eff.loc[("All", metric), "mean"] > 0

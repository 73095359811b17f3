"""The default scorecard against the simulator's truth (issue 3 acceptance).

On the default demo book (``ds.simulate(2000, 6, random_seed=0)``), at three snapshot
dates, each dimension score must rank-correlate with its latent health (Spearman >= 0.6),
and renewal rates must order red < yellow < green.

The comparison target is the latent averaged over the 3 months before ``as_of``: the
features read trailing windows of 30-90 days (adoption 30 days, engagement cadence 3 x 30
days, contacts and activation trend 90 days), so a score reflects the recent quarter, not
the single last month, and the quarterly mean is the truth it can be expected to track.

ROI is compared on the accounts it scores: without a success plan there are no outcomes,
the default card leaves ROI unknown (NaN) and the overall score rests on the other
dimensions (see the ``roi_has_plan`` rationale).
"""

from __future__ import annotations

import pandas as pd
import pytest

import dearstats as ds

pytestmark = pytest.mark.slow

DIMS = ("deployment", "engagement", "adoption", "roi")
DATES = ("2022-01-01", "2023-01-01", "2024-01-01")
MIN_SPEARMAN = 0.6


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """Per date: scored features joined to the 3-month latent mean and next-year renewals."""
    book = ds.simulate(2000, 6, random_seed=0)
    db = ds.read_book(book.to_parquet(tmp_path_factory.mktemp("book")))
    card = ds.ScoreCard.default()
    lat, ren = book.truth.latent, book.truth.renewals
    out = {}
    for as_of in DATES:
        a = pd.Timestamp(as_of)
        s = card.score(ds.build_features(db, as_of=as_of))
        s = s.reset_index() if "account_id" not in s.columns else s
        window = lat[(lat["month"] >= a - pd.DateOffset(months=3)) & (lat["month"] < a)]
        z = window.groupby("account_id")[list(DIMS)].mean().add_prefix("z_")
        due = ren[(ren["renewal_date"] >= a) & (ren["renewal_date"] < a + pd.DateOffset(years=1))]
        churn = due.groupby("account_id")["outcome"].agg(lambda o: (o == "churn").mean())
        out[as_of] = s.set_index("account_id").join(z, how="inner").join(churn.rename("churn"))
    return out


@pytest.mark.parametrize("as_of", DATES)
@pytest.mark.parametrize("dim", DIMS)
def test_dimension_score_tracks_latent(scored, dim, as_of):
    j = scored[as_of]
    known = j[f"{dim}_score"].notna()
    assert known.mean() > (0.4 if dim == "roi" else 0.95)  # ROI: accounts with a success plan
    rho = j.loc[known, f"{dim}_score"].corr(j.loc[known, f"z_{dim}"], method="spearman")
    assert rho >= MIN_SPEARMAN, f"{dim} at {as_of}: Spearman {rho:.3f}"


def _renewal_rates(frame: pd.DataFrame, colour: str) -> pd.Series:
    f = frame[frame["churn"].notna()]
    return 1 - f.groupby(f[colour], observed=True)["churn"].mean()


@pytest.mark.parametrize("as_of", DATES)
def test_overall_colour_orders_renewal_rates(scored, as_of):
    # measured margins: >= ~5 points between neighbours at every date (n ~ 120-550 per colour)
    r = _renewal_rates(scored[as_of], "overall_colour")
    assert r["red"] < r["yellow"] < r["green"], r.to_dict()


@pytest.mark.parametrize("dim", ["engagement", "adoption", "roi"])
def test_dimension_colour_orders_renewal_rates_pooled(scored, dim):
    # pooled over the three dates; deployment is left out: its red and yellow renewal rates
    # are within ~1 point of each other (only green stands apart), not an ordering that holds
    # with margin.
    r = _renewal_rates(pd.concat(scored.values()), f"{dim}_colour")
    assert r["red"] < r["yellow"] < r["green"], r.to_dict()


def test_deployment_green_renews_best_pooled(scored):
    r = _renewal_rates(pd.concat(scored.values()), "deployment_colour")
    assert max(r["red"], r["yellow"]) < r["green"], r.to_dict()

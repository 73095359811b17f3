"""Hierarchical Bayesian ordered logistic regression (PyMC), e.g. next health colour.

For row i with standardised predictors z_i and level k(i) of the grouping column::

    P(y_i ≤ level_k) = logistic(κ_k − η_i),   k = 1 … K−1
    η_i = Σ_j β_j z_ij + σ u[k(i)]
    β_j ~ Normal(0, 1)     σ ~ HalfNormal(1)     u ~ ZeroSumNormal(1) over the groups
    κ = m + (cumsum([0, δ_1, …, δ_{K−2}]) − mean),  m ~ Normal(0, 1.5),  δ ~ HalfNormal(2)

The cutpoints are ordered by construction (a centre plus positive gaps), so prior draws
respect the order; the group intercepts are non-centred and sum to zero (the cutpoints
play the intercept's role). A group never seen in training gets an intercept drawn from
N(0, σ²(1 + 1/K)). ``ColorModel(method="bayes")`` delegates here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from dearstats.errors import InputError
from dearstats.models._bayes import (
    BayesModel,
    LinearTerms,
    ordered_cutpoints,
    ordinal_probs,
    predictor_data,
    row_dim_name,
    stacked_posterior,
    unstack_draws,
)
from dearstats.models._frame import ordinal_outcome
from dearstats.models.hierarchical import LogitEncoding, _check_groups, _coords, _merge_priors

__all__ = ["HierarchicalOrderedLogit"]

ORDINAL_PRIORS: dict[str, float] = {
    "coef": 1.0,
    "group_sd": 1.0,
    "slope_sd": 0.5,
    "intercept": 1.5,  # unused (no intercept); kept so LinearTerms sees a full prior set
    "cut_center": 1.5,
    "cut_gap": 2.0,
}


class HierarchicalOrderedLogit(BayesModel):
    """Ordered logit with partial pooling over one grouping column.

    Parameters
    ----------
    predictors
        Numeric columns, standardised with the training mean and sd.
    outcome
        Column with the ordered outcome, values among ``levels`` (an ordered categorical
        works too).
    levels
        The outcome levels, lowest first (default red < yellow < green).
    group
        Grouping column with random intercepts (None for none).
    priors
        Overrides of ``coef`` (1.0), ``group_sd`` (1.0), ``cut_center`` (1.5), ``cut_gap``
        (2.0).
    sampler_config, random_seed
        Defaults for :meth:`fit` and the seed (see :class:`BayesModel`).
    """

    loo_var_name = "y"

    def __init__(
        self,
        predictors: Sequence[str],
        *,
        outcome: str,
        levels: Sequence[str] = ("red", "yellow", "green"),
        group: str | None = "csm_id",
        priors: Mapping[str, float] | None = None,
        standardize: bool = True,
        sampler_config: Mapping[str, Any] | None = None,
        random_seed: int | None = None,
    ) -> None:
        self.predictors = predictors
        self.outcome = outcome
        self.levels = levels
        self.group = group
        self.priors = priors
        self.standardize = standardize
        self.sampler_config = sampler_config
        self.random_seed = random_seed

    def get_config(self) -> dict[str, Any]:
        return {
            "predictors": list(self.predictors),
            "outcome": self.outcome,
            "levels": [str(v) for v in self.levels],
            "group": self.group,
            "priors": None if self.priors is None else dict(self.priors),
            "standardize": bool(self.standardize),
            "sampler_config": None if self.sampler_config is None else dict(self.sampler_config),
            "random_seed": self.random_seed,
        }

    def _groups(self) -> tuple[str, ...]:
        return () if self.group is None else _check_groups((self.group,), type(self).__name__)

    def _terms(self, enc: LogitEncoding) -> LinearTerms:
        s = enc.standardizer
        return LinearTerms(
            prefix="",
            n_predictors=len(s.columns),
            groups=self._groups(),
            intercept=False,
            priors=_merge_priors(ORDINAL_PRIORS, self.priors, type(self).__name__),
        )

    def _prepare(self, frame: pd.DataFrame, encoding: LogitEncoding | None):
        who = type(self).__name__
        if len(self.levels) < 2 or len(set(map(str, self.levels))) != len(self.levels):
            raise InputError(f"{who}: levels={list(self.levels)!r}; expected ≥ 2 distinct levels.")
        predictors = [str(p) for p in self.predictors]
        if encoding is None:
            encoding = LogitEncoding.fit(
                frame, predictors, self._groups(), standardize=self.standardize, who=who
            )
        z, codes = encoding.encode(frame, who)
        arrays: dict[str, Any] = {"z": z, "codes": codes}
        if self.outcome in frame.columns:
            arrays["y"] = ordinal_outcome(frame, self.outcome, list(self.levels))
        return encoding, arrays

    def _build(self, encoding: LogitEncoding, arrays: dict, frame: pd.DataFrame):
        import pymc as pm

        if "y" not in arrays:
            raise InputError(
                f"{type(self).__name__}: the frame has no outcome column {self.outcome!r}."
            )
        terms = self._terms(encoding)
        pr = _merge_priors(ORDINAL_PRIORS, self.priors, type(self).__name__)
        k = len(self.levels)
        coords = _coords(encoding, len(frame))
        coords["cutpoint"] = [
            f"{a}|{b}" for a, b in zip(self.levels[:-1], self.levels[1:], strict=False)
        ]
        if k > 2:
            coords["cutgap"] = [f"gap{i}" for i in range(1, k - 1)]
        with pm.Model(coords=coords) as model:
            X = predictor_data(encoding.standardizer, arrays["z"])
            idx = {g: pm.Data(f"idx_{g}", arrays["codes"][g], dims="obs") for g in terms.groups}
            eta = terms.build(X, idx)
            cut = ordered_cutpoints(
                "cutpoints", k, prior_center=pr["cut_center"], prior_gap=pr["cut_gap"]
            )
            y = pm.Data("y_obs", arrays["y"], dims="obs")
            pm.OrderedLogistic("y", eta=eta, cutpoints=cut, observed=y, compute_p=False, dims="obs")
        return model

    def _reported_vars(self) -> list[str]:
        return [*self._terms(self.encoding_).reported(), "cutpoints"]

    def _encoding_to_json(self, encoding: LogitEncoding) -> Any:
        return encoding.to_json()

    def _encoding_from_json(self, data: Any) -> LogitEncoding:
        return LogitEncoding.from_json(data)

    # ---- prediction --------------------------------------------------------------------
    def draws(self, frame: Any, *, random_seed: int | None = None) -> xr.DataArray:
        """Posterior draws of P(outcome = level) per row: dims (chain, draw, row, level)."""
        frame, arrays = self._encode_new(frame)
        post = stacked_posterior(self.idata_)
        rng = np.random.default_rng(self._seed(random_seed))
        eta = self._terms(self.encoding_).draws(post, arrays["z"], arrays["codes"], rng)
        cut = post["cutpoints"].transpose("sample", "cutpoint").values
        return unstack_draws(
            ordinal_probs(eta, cut),
            post,
            row_dim_name(frame),
            frame.index,
            name="probability",
            extra_dims=["level"],
            coords={"level": list(self.levels)},
        )

    predict_draws = draws

    def predict_proba(self, frame: Any, *, random_seed: int | None = None) -> pd.DataFrame:
        """Posterior mean P(outcome = level) per row; columns are the levels."""
        mean = self.draws(frame, random_seed=random_seed).mean(("chain", "draw"))
        mean = mean.transpose(..., "level")
        return pd.DataFrame(
            mean.values, index=mean.indexes[mean.dims[0]], columns=list(self.levels)
        )

    def sample_posterior_predictive(
        self, frame: Any, *, random_seed: int | None = None
    ) -> xr.DataTree:
        """``posterior_predictive`` group: outcome level codes (0 = lowest) per draw and row."""
        rng = np.random.default_rng(self._seed(random_seed))
        probs = self.draws(frame, random_seed=int(rng.integers(2**31)))
        p = probs.transpose("chain", "draw", ..., "level").values
        y = (rng.random((*p.shape[:-1], 1)) > np.cumsum(p, axis=-1)).sum(axis=-1)
        da = xr.DataArray(
            np.minimum(y, len(self.levels) - 1),
            dims=probs.dims[:-1],
            coords={d: probs.coords[d] for d in probs.dims[:-1]},
            name="y",
            attrs={"levels": list(self.levels)},
        )
        return xr.DataTree(children={"posterior_predictive": xr.DataTree(da.to_dataset())})

"""Hierarchical Bayesian models (PyMC): a generic partial-pooling logistic regression and
the renewal-outcome model whose draws give GRR and NRR.

:class:`HierarchicalLogit` — binary or binomial outcome, logit link, non-centred
sum-to-zero random intercepts per grouping column, optional varying slopes by one group::

    y_i ~ Bernoulli(p_i)            or  y_i ~ Binomial(n_i, p_i)   (``trials`` column n_i)
    logit p_i = α + Σ_j β_j z_ij + Σ_g σ_g u_g[k_g(i)] (+ Σ_{j∈S} τ_j v_j[k_s(i)] z_ij)
    z_ij = (x_ij − mean_j) / sd_j                (training mean and sd; ``standardize``)
    α ~ Normal(0, 1.5)     β_j ~ Normal(0, 1)    σ_g ~ HalfNormal(1)    τ_j ~ HalfNormal(0.5)
    u_g ~ ZeroSumNormal(1) over the K_g levels of g;  v_j likewise over the levels of s

:class:`HierarchicalRenewal` — the ARR outcome at a renewal, in three linked parts that
share predictors and grouping columns but have their own parameters::

    (a) churn:   c_i ~ Bernoulli(π_i),  logit π_i = (as HierarchicalLogit, prefix churn_)
    (b) tier of a renewer (contraction < flat < expansion), ordered logit:
                 P(t_i ≤ k) = logistic(κ_k − η_i),  η_i = Σ_j β_j z_ij + Σ_g σ_g u_g[k_g(i)]
                 κ = m + (cumsum([0, δ]) − mean),  m ~ Normal(0, 1.5),  δ ~ HalfNormal(2)
    (c) size of a contraction, d_i = −log(ARR_after / ARR_before) > 0, and of an
        expansion, the growth share d_i = ARR_after / ARR_before − 1 > 0:
                 log d_i ~ Normal(μ_i, s),  μ_i = γ_0 + Σ_j γ_j z_ij + Σ_g σ_g u_g[k_g(i)]
                 γ_0 ~ Normal(log 0.2, 1)   γ_j ~ Normal(0, 0.5)   s ~ HalfNormal(1)
                 (grouping columns ``size_groups``, by default the first group only)

so a draw of ARR_after is 0 (churn), ARR_before·exp(−d) (contraction, always in (0, 1)),
ARR_before (flat) or ARR_before·(1 + d) (expansion). The expansion ratio is not exp(d):
with d log-normal, exp(d) has no finite mean, and its draws (rare 5-10× ratios) pushed
backtest NRR forecasts 2-4 points high on simulated books. GRR = Σ min(ARR_after,
ARR_before) / Σ ARR_before and NRR = Σ ARR_after / Σ ARR_before follow from the same
draws.

Why these priors: on standardised predictors, Normal(0, 1) slopes say a one-sd change
moves the odds by a factor e^±2 at most with 95 % prior mass; with α ~ Normal(0, 1.5)
and two HalfNormal(1) group sds, the implied prior renewal probabilities spread over
(0, 1) without piling up at 0 or 1 (checked by a prior predictive test). The sum-to-zero
group effects (``pm.ZeroSumNormal``) beside the intercept remove the ridge between the
intercept and the mean of the level effects that makes NUTS slow for few-level groups
(segments); a new level's effect is drawn from N(0, σ²(1 + 1/K)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from dearstats.errors import InputError
from dearstats.models._bayes import (
    BayesModel,
    GroupLevels,
    LinearTerms,
    Standardizer,
    numeric_matrix,
    ordered_cutpoints,
    ordinal_probs,
    predictor_data,
    row_dim_name,
    stacked_posterior,
    unstack_draws,
)
from dearstats.models._frame import binary_outcome, binomial_outcome, require_columns

__all__ = ["HierarchicalLogit", "HierarchicalRenewal"]

RENEWAL_OUTCOMES: tuple[str, ...] = ("churn", "contraction", "flat", "expansion")
"""Renewal outcome classes, in the order of :data:`dearstats.retention.OUTCOMES`."""

LOGIT_PRIORS: dict[str, float] = {
    "intercept": 1.5,
    "coef": 1.0,
    "group_sd": 1.0,
    "slope_sd": 0.5,
    "fixed_sd": 1.0,
}
RENEWAL_PRIORS: dict[str, float] = {
    **LOGIT_PRIORS,
    "cut_center": 1.5,
    "cut_gap": 2.0,
    "size_intercept_loc": float(np.log(0.2)),
    "size_intercept": 1.0,
    "size_coef": 0.5,
    "size_group_sd": 0.5,
    "size_fixed_sd": 1.0,
    "size_sigma": 1.0,
}
_RESERVED_DIMS = {
    "obs",
    "predictor",
    "slope_predictor",
    "chain",
    "draw",
    "sample",
    "cutpoint",
    "cutgap",
    "level",
    "renewal",
    "contraction",
    "expansion",
    "outcome",
}


def _merge_priors(
    defaults: Mapping[str, float], priors: Mapping[str, float] | None, who: str
) -> dict[str, float]:
    priors = dict(priors or {})
    unknown = sorted(set(priors) - set(defaults))
    if unknown:
        raise InputError(f"{who}: unknown prior setting(s) {unknown}; known: {sorted(defaults)}.")
    out = {**defaults, **{k: float(v) for k, v in priors.items()}}
    bad = [k for k, v in out.items() if not np.isfinite(v) or (v <= 0 and not k.endswith("_loc"))]
    if bad:
        raise InputError(f"{who}: prior scale(s) {bad} must be positive finite numbers.")
    return out


def _check_groups(groups: Sequence[str], who: str) -> tuple[str, ...]:
    if isinstance(groups, str):
        groups = (groups,)
    groups = tuple(str(g) for g in groups)
    clash = sorted(set(groups) & _RESERVED_DIMS)
    if clash:
        raise InputError(
            f"{who}: grouping column name(s) {clash} clash with dimension names the model "
            f"uses ({sorted(_RESERVED_DIMS)}); rename the column(s)."
        )
    if len(set(groups)) != len(groups):
        raise InputError(f"{who}: groups {list(groups)} repeat a column.")
    return groups


def _fit_groups(
    frame: pd.DataFrame,
    groups: Sequence[str],
    who: str,
    outside: Mapping[str, str] | None = None,
) -> tuple[GroupLevels, ...]:
    require_columns(frame, groups, role=who)
    out = tuple(GroupLevels.fit(frame, g, (outside or {}).get(g)) for g in groups)
    few = [g.column for g in out if len(g.levels) < 2]
    if few:
        raise InputError(
            f"{who}: grouping column(s) {few} have a single level in the training rows; "
            "a group effect needs at least two levels. Drop them from groups."
        )
    return out


def outside_indicator(column: str, label: str) -> str:
    """Name of the indicator predictor of rows outside ``column``'s pool (label ``label``)."""
    return f"{column}={label}"


def _splits(frame: pd.DataFrame, column: str, label: str) -> bool:
    """True when ``column`` has rows with ``label`` and rows with another value."""
    if column not in frame.columns:
        return False
    hit = (frame[column].astype("string") == label).fillna(False).to_numpy(dtype=bool)
    return bool(hit.any() and not hit.all())


def _with_indicators(frame: pd.DataFrame, outside: Mapping[str, str]) -> pd.DataFrame:
    """``frame`` with the 0/1 indicator column of each outside label."""
    if not outside:
        return frame
    require_columns(frame, list(outside), role="outside_levels")
    return frame.assign(
        **{
            outside_indicator(g, lab): (frame[g].astype("string") == lab)
            .fillna(False)
            .to_numpy(dtype=float)
            for g, lab in outside.items()
        }
    )


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class LogitEncoding:
    """How rows are encoded: predictor centre/scale and the training levels per group."""

    standardizer: Standardizer
    groups: tuple[GroupLevels, ...]

    def to_json(self) -> dict[str, Any]:
        s = self.standardizer
        return {
            "standardizer": {
                "columns": list(s.columns),
                "center": list(s.center),
                "scale": list(s.scale),
            },
            "groups": [
                {"column": g.column, "levels": list(g.levels)}
                | ({} if g.outside is None else {"outside": g.outside})
                for g in self.groups
            ],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LogitEncoding:
        s = d["standardizer"]
        return cls(
            Standardizer(tuple(s["columns"]), tuple(s["center"]), tuple(s["scale"])),
            tuple(
                GroupLevels(g["column"], tuple(g["levels"]), g.get("outside")) for g in d["groups"]
            ),
        )

    def encode(self, frame: pd.DataFrame, who: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        x = numeric_matrix(frame, self.standardizer.columns, who=who)
        require_columns(frame, [g.column for g in self.groups], role=who)
        codes = {g.column: g.codes(frame[g.column]) for g in self.groups}
        return self.standardizer.transform(x), codes

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        predictors: Sequence[str],
        groups: Sequence[str],
        *,
        standardize: bool,
        who: str,
        outside: Mapping[str, str] | None = None,
    ) -> LogitEncoding:
        x = numeric_matrix(frame, predictors, who=who)
        return cls(
            Standardizer.fit(x, predictors, standardize=standardize, who=who),
            _fit_groups(frame, groups, who, outside),
        )


def _coords(enc: LogitEncoding, n: int, slopes: Sequence[str] = ()) -> dict[str, Any]:
    coords: dict[str, Any] = {
        "obs": np.arange(n),
        "predictor": list(enc.standardizer.columns),
    }
    for g in enc.groups:
        coords[g.column] = list(g.levels)
    if slopes:
        coords["slope_predictor"] = list(slopes)
    return coords


class HierarchicalLogit(BayesModel):
    """Binary/binomial logistic regression with partial pooling over grouping columns.

    Parameters
    ----------
    predictors
        Numeric (or boolean) columns; standardised with the training mean and sd unless
        ``standardize=False``. Coefficients are reported on the original scale
        (``coef``, ``intercept``) as well as the standardised one (``beta``, ``alpha``).
    outcome
        The outcome column: 0/1 (or booleans), or counts of successes with ``trials``.
    trials
        Column with the number of trials per row (binomial); None for binary rows.
    groups
        Grouping columns, each with a non-centred, sum-to-zero random intercept. Null
        values form their own level (``"<null>"``, e.g. tech-touch accounts).
    varying_slopes
        ``{group: [predictor, ...]}`` with one group: those slopes vary by that group
        (uncorrelated with the intercepts).
    centered_groups
        Grouping columns whose effects are sampled centred (``e_<group> ~
        ZeroSumNormal(σ)`` instead of σ u; same posterior, different geometry: right when
        the data pin most levels down), or ``"auto"``: a group is centred when its median
        training trials (rows, for binary outcomes) per level is at least
        :attr:`AUTO_CENTER_ROWS` (100), resolved at each fit from the training rows. The
        groups a fit centred are :attr:`centered_groups_` (read from the posterior, so
        predictions, save and load use the fitted terms).
    priors
        Overrides of the prior scales ``intercept`` (1.5), ``coef`` (1.0), ``group_sd``
        (1.0), ``slope_sd`` (0.5); see the module docstring for the model.
    standardize
        Centre and scale the predictors (recommended: the priors assume it).
    sampler_config
        Defaults for :meth:`fit` (draws, tune, chains, sampler, target_accept, ...). With
        nutpie and ``"fused": True`` (the default) the log density and gradient are the
        fused numba kernel of :class:`dearstats.models._fast.FusedLogit` (same
        posterior; random intercepts only: with varying slopes PyTensor's is used).
    random_seed
        Default seed of :meth:`fit` and of the predictions' new-level draws.

    Examples
    --------
    >>> m = HierarchicalLogit(["adoption"], outcome="renewed", groups=("segment",))
    >>> m.fit(frame, random_seed=1).summary()                         # doctest: +SKIP
    >>> m.predict_proba(new_rows, random_seed=2)                      # doctest: +SKIP
    """

    loo_var_name = "y"
    _hash_defaults: ClassVar[dict[str, Any]] = {"centered_groups": []}
    AUTO_CENTER_ROWS = 100
    """``centered_groups="auto"``: centre a group whose median trials per level is at least
    this (:data:`dearstats.models._fast.AUTO_CENTER_ROWS`)."""

    def __init__(
        self,
        predictors: Sequence[str],
        *,
        outcome: str,
        trials: str | None = None,
        groups: Sequence[str] = ("segment", "csm_id"),
        varying_slopes: Mapping[str, Sequence[str]] | None = None,
        centered_groups: Sequence[str] | str = (),
        priors: Mapping[str, float] | None = None,
        standardize: bool = True,
        sampler_config: Mapping[str, Any] | None = None,
        random_seed: int | None = None,
    ) -> None:
        self.predictors = predictors
        self.outcome = outcome
        self.trials = trials
        self.groups = groups
        self.varying_slopes = varying_slopes
        self.centered_groups = centered_groups
        self.priors = priors
        self.standardize = standardize
        self.sampler_config = sampler_config
        self.random_seed = random_seed

    def get_config(self) -> dict[str, Any]:
        centered = self._centered()
        return {
            "predictors": list(self.predictors),
            "outcome": self.outcome,
            "trials": self.trials,
            "groups": [self.groups] if isinstance(self.groups, str) else list(self.groups),
            "varying_slopes": (
                None
                if self.varying_slopes is None
                else {str(k): list(v) for k, v in self.varying_slopes.items()}
            ),
            "centered_groups": centered if centered == "auto" else list(centered),
            "priors": None if self.priors is None else dict(self.priors),
            "standardize": bool(self.standardize),
            "sampler_config": None if self.sampler_config is None else dict(self.sampler_config),
            "random_seed": self.random_seed,
        }

    # ---- settings ----------------------------------------------------------------------
    def _centered(self) -> tuple[str, ...] | str:
        """The ``centered_groups`` setting, validated: ``"auto"`` or a tuple of groups."""
        cg = self.centered_groups
        if isinstance(cg, str) and cg == "auto":
            return "auto"
        centered = tuple(str(g) for g in ([cg] if isinstance(cg, str) else cg))
        groups = _check_groups(self.groups, type(self).__name__)
        if not set(centered) <= set(groups) or len(set(centered)) != len(centered):
            raise InputError(
                f"{type(self).__name__}: centered_groups={cg!r}; expected 'auto' or distinct "
                f"columns among groups {list(groups)}."
            )
        return centered

    def _resolve_centered(self, arrays: Mapping[str, Any]) -> tuple[str, ...]:
        """The centred groups of a fit to the training ``arrays`` (``"auto"`` resolved:
        median trials per level ≥ :attr:`AUTO_CENTER_ROWS`)."""
        centered = self._centered()
        if centered != "auto":
            return tuple(centered)
        codes = arrays["codes"]
        n = len(next(iter(codes.values()))) if codes else 0
        weights = np.asarray(arrays.get("trials", np.ones(n)), dtype=float)
        out = []
        for g in _check_groups(self.groups, type(self).__name__):
            c = np.asarray(codes[g])
            k = int(c.max()) + 1 if c.size else 0
            per_level = np.bincount(c[c >= 0], weights=weights[c >= 0], minlength=k)
            if per_level.size and np.median(per_level) >= self.AUTO_CENTER_ROWS:
                out.append(g)
        return tuple(out)

    @property
    def centered_groups_(self) -> tuple[str, ...]:
        """The groups the fit sampled centred (``centered_groups`` with "auto" resolved),
        read from the posterior: those with effects ``e_<group>``."""
        self._check_fitted()
        post = self.idata_["posterior"]
        groups = _check_groups(self.groups, type(self).__name__)
        return tuple(g for g in groups if f"e_{g}" in post)

    def _settings(self) -> tuple[tuple[str, ...], tuple[str, ...], str | None, tuple[str, ...]]:
        who = type(self).__name__
        predictors = tuple(str(p) for p in self.predictors)
        if isinstance(self.predictors, str) or len(set(predictors)) != len(predictors):
            raise InputError(f"{who}: predictors must be a list of distinct column names.")
        groups = _check_groups(self.groups, who)
        slope_group: str | None = None
        slope_preds: tuple[str, ...] = ()
        if self.varying_slopes:
            if len(self.varying_slopes) != 1:
                raise InputError(
                    f"{who}: varying_slopes={dict(self.varying_slopes)!r}; slopes may vary by "
                    "one grouping column only, e.g. {'csm_id': ['adoption']}."
                )
            ((slope_group, cols),) = self.varying_slopes.items()
            slope_preds = tuple(str(c) for c in cols)
            if slope_group not in groups or not set(slope_preds) <= set(predictors):
                raise InputError(
                    f"{who}: varying_slopes={dict(self.varying_slopes)!r}; the group must be "
                    f"one of groups {list(groups)} and the columns among predictors "
                    f"{list(predictors)}."
                )
        return predictors, groups, slope_group, slope_preds

    def _terms(self, enc: LogitEncoding, centered: Sequence[str] | None = None) -> LinearTerms:
        """The linear predictor; ``centered`` the resolved centred groups (default: those
        of the fit when fitted, else the ``centered_groups`` setting, which must then not be
        "auto")."""
        predictors, groups, slope_group, slope_preds = self._settings()
        if centered is None:
            if hasattr(self, "idata_"):
                centered = self.centered_groups_
            else:
                setting = self._centered()
                if setting == "auto":
                    raise InputError(
                        f"{type(self).__name__}: centered_groups='auto' is resolved from "
                        "the training rows; fit the model first."
                    )
                centered = setting
        return LinearTerms(
            prefix="",
            n_predictors=len(predictors),
            groups=groups,
            intercept=True,
            priors=_merge_priors(LOGIT_PRIORS, self.priors, type(self).__name__),
            slope_group=slope_group,
            slope_predictors=tuple(predictors.index(c) for c in slope_preds),
            centered_groups=tuple(centered),
        )

    # ---- BayesModel hooks --------------------------------------------------------------
    def _prepare(self, frame: pd.DataFrame, encoding: LogitEncoding | None):
        who = type(self).__name__
        predictors, groups, _, _ = self._settings()
        training = encoding is None
        if encoding is None:
            encoding = LogitEncoding.fit(
                frame, predictors, groups, standardize=self.standardize, who=who
            )
        z, codes = encoding.encode(frame, who)
        arrays: dict[str, Any] = {"z": z, "codes": codes}
        if self.outcome in frame.columns:
            if self.trials is None:
                arrays["y"] = binary_outcome(frame, self.outcome).astype(np.int64)
            else:
                arrays["y"], arrays["trials"] = binomial_outcome(frame, self.outcome, self.trials)
        elif self.trials is not None:
            require_columns(frame, [self.trials], role=who)
            _, arrays["trials"] = binomial_outcome(
                frame.assign(**{self.outcome: 0}), self.outcome, self.trials
            )
        if training:
            arrays["centered"] = self._resolve_centered(arrays)
        return encoding, arrays

    def _build(self, encoding: LogitEncoding, arrays: dict, frame: pd.DataFrame):
        import pymc as pm

        if "y" not in arrays:
            require_columns(frame, [self.outcome], role=type(self).__name__)
        terms = self._terms(encoding, arrays.get("centered"))
        _, _, _, slope_preds = self._settings()
        n = len(frame)
        with pm.Model(coords=_coords(encoding, n, slope_preds)) as model:
            X = predictor_data(encoding.standardizer, arrays["z"])
            idx = {g: pm.Data(f"idx_{g}", arrays["codes"][g], dims="obs") for g in terms.groups}
            eta = terms.build(X, idx)
            y = pm.Data("y_obs", arrays["y"], dims="obs")
            if self.trials is None:
                pm.Bernoulli("y", logit_p=eta, observed=y, dims="obs")
            else:
                trials = pm.Data("trials", arrays["trials"], dims="obs")
                pm.Binomial("y", n=trials, logit_p=eta, observed=y, dims="obs")
        return model

    def _fused_log_density(self, encoding: LogitEncoding, model: Any) -> Any:
        """The fused numba log density (:class:`~dearstats.models._fast.FusedLogit`,
        issue 7), or None (PyTensor's is used) for varying slopes or any other structure
        the kernel does not cover. Same posterior as PyTensor's graph (tested to rounding).
        """
        from dearstats.models._fast import FusedLogit

        _, groups, slope_group, _ = self._settings()
        if slope_group is not None:
            return None
        try:
            return FusedLogit.from_model(
                model,
                groups=groups,
                priors=_merge_priors(LOGIT_PRIORS, self.priors, type(self).__name__),
            )
        except NotImplementedError:
            return None

    def _reported_vars(self) -> list[str]:
        return self._terms(self.encoding_).reported()

    def _encoding_to_json(self, encoding: LogitEncoding) -> Any:
        return encoding.to_json()

    def _encoding_from_json(self, data: Any) -> LogitEncoding:
        return LogitEncoding.from_json(data)

    # ---- prediction --------------------------------------------------------------------
    def _eta(self, frame: Any, random_seed: int | None):
        frame, arrays = self._encode_new(frame)
        post = stacked_posterior(self.idata_)
        rng = np.random.default_rng(self._seed(random_seed))
        eta = self._terms(self.encoding_).draws(post, arrays["z"], arrays["codes"], rng)
        return frame, arrays, post, eta

    def predict_draws(self, frame: Any, *, random_seed: int | None = None) -> xr.DataArray:
        """Posterior draws of the success probability p for each row of ``frame``.

        Dims (chain, draw, row) with the row dimension named after the frame's index.
        Rows whose group level was not seen in training get a fresh level effect from the
        population distribution at every draw (seeded by ``random_seed``).
        """
        frame, _, post, eta = self._eta(frame, random_seed)
        return unstack_draws(_expit(eta), post, row_dim_name(frame), frame.index, name="p")

    def predict_proba(self, frame: Any, *, random_seed: int | None = None) -> pd.Series:
        """Posterior mean success probability per row (index of ``frame``)."""
        draws = self.predict_draws(frame, random_seed=random_seed)
        frame_index = draws.indexes[draws.dims[-1]]
        return pd.Series(draws.mean(("chain", "draw")).values, index=frame_index, name="p")

    def sample_posterior_predictive(
        self, frame: Any, *, random_seed: int | None = None
    ) -> xr.DataTree:
        """Outcome draws (0/1, or successes out of the frame's ``trials``) for each row."""
        rng = np.random.default_rng(self._seed(random_seed))
        frame, arrays, post, eta = self._eta(frame, int(rng.integers(2**31)))
        p = _expit(eta)
        y = rng.binomial(arrays["trials"][None, :], p) if self.trials else rng.binomial(1, p)
        da = unstack_draws(y, post, row_dim_name(frame), frame.index, name="y")
        return xr.DataTree(children={"posterior_predictive": xr.DataTree(da.to_dataset())})


# ======================================================================================
# Renewal outcomes
# ======================================================================================


@dataclass(frozen=True)
class RenewalEncoding:
    """Predictor centre/scale and group levels (all parts), and the size-part groups."""

    logit: LogitEncoding
    size_groups: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"logit": self.logit.to_json(), "size_groups": list(self.size_groups)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RenewalEncoding:
        return cls(LogitEncoding.from_json(d["logit"]), tuple(d["size_groups"]))


class HierarchicalRenewal(BayesModel):
    """The ARR outcome at each renewal: churn / contraction / flat / expansion and the size.

    Input frame: the predictors, the grouping columns, ``arr_before`` (> 0) and
    ``arr_after`` (≥ 0) per renewal; the outcome class is derived (``flat`` when
    ``|after − before| ≤ flat_tol·before``, as in :func:`dearstats.retention`), or taken
    from an explicit ``outcome`` column (checked against the ARR). The model (see the
    module docstring) has a churn part (hierarchical logit), a tier part for renewers
    (hierarchical ordered logit, contraction < flat < expansion) and a size part
    (log-normal lost log-share for contractions, log-normal growth share for expansions).

    Parameters
    ----------
    predictors
        Numeric columns, shared by all parts, standardised with the training mean/sd.
    groups
        Grouping columns with random intercepts in the churn and tier parts.
    size_groups
        Grouping columns with random intercepts in the size parts (default: the first of
        ``groups``, e.g. segment: sizes are pooled by segment).
    fixed_groups
        Grouping columns (among ``groups``) whose levels get fixed effects (sum-to-zero,
        prior sd ``fixed_sd`` / ``size_fixed_sd``) instead of a hierarchical σ: right for a
        handful of well-populated levels such as three segments (see
        :class:`dearstats.models._bayes.LinearTerms`).
    centered_groups
        Pooled grouping columns sampled centred in the churn and tier parts (effects
        ``e_<group> ~ ZeroSumNormal(σ)``; same posterior, different geometry): right when
        the data pin most levels down, e.g. CSMs with a hundred or more renewals each.
    outside_levels
        ``{group: label}``: rows whose ``group`` is ``label`` are outside that group's pool
        (no level effect) and get a fixed effect instead, the indicator predictor
        ``"<group>=<label>"`` (added to ``predictors`` in every part). For a label that is
        not a member of the population the pool describes, e.g. ``{"csm_id":
        "(tech-touch)"}``: pooled with the human CSMs, one "CSM" holding thousands of
        accounts inflates σ_CSM and, non-centred, ties its effect to σ_CSM so that the
        sampler crawls. Ignored (the label stays a level) when the training rows are all or
        none of that label.
    outcome
        Optional column with the class (one of churn, contraction, flat, expansion).
    flat_tol
        Relative tolerance for ``flat`` when the class is derived.
    priors
        Overrides of the prior scales (keys of ``RENEWAL_PRIORS``).
    sampler_config, random_seed
        As for :class:`HierarchicalLogit`.
    """

    loo_var_name = "renewal_outcome"
    _parts = ("churn", "tier", "contraction", "expansion")
    # 2: expansion size is the growth share (ARR_after / ARR_before − 1), was |log ratio|;
    # fixed_groups
    _model_version = 2
    _hash_defaults: ClassVar[dict[str, Any]] = {"outside_levels": None}

    def __init__(
        self,
        predictors: Sequence[str],
        *,
        groups: Sequence[str] = ("segment", "csm_id"),
        size_groups: Sequence[str] | None = None,
        fixed_groups: Sequence[str] = (),
        centered_groups: Sequence[str] = (),
        outside_levels: Mapping[str, str] | None = None,
        outcome: str | None = None,
        flat_tol: float = 1e-9,
        priors: Mapping[str, float] | None = None,
        standardize: bool = True,
        sampler_config: Mapping[str, Any] | None = None,
        random_seed: int | None = None,
    ) -> None:
        self.predictors = predictors
        self.groups = groups
        self.size_groups = size_groups
        self.fixed_groups = fixed_groups
        self.centered_groups = centered_groups
        self.outside_levels = outside_levels
        self.outcome = outcome
        self.flat_tol = flat_tol
        self.priors = priors
        self.standardize = standardize
        self.sampler_config = sampler_config
        self.random_seed = random_seed

    def get_config(self) -> dict[str, Any]:
        return {
            "predictors": list(self.predictors),
            "groups": [self.groups] if isinstance(self.groups, str) else list(self.groups),
            "size_groups": None if self.size_groups is None else list(self.size_groups),
            "fixed_groups": list(self._fixed()),
            "centered_groups": list(self._centered()),
            "outside_levels": None if self.outside_levels is None else dict(self.outside_levels),
            "outcome": self.outcome,
            "flat_tol": float(self.flat_tol),
            "priors": None if self.priors is None else dict(self.priors),
            "standardize": bool(self.standardize),
            "sampler_config": None if self.sampler_config is None else dict(self.sampler_config),
            "random_seed": self.random_seed,
        }

    # ---- settings ----------------------------------------------------------------------
    def _settings(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        who = type(self).__name__
        predictors = tuple(str(p) for p in self.predictors)
        if isinstance(self.predictors, str) or len(set(predictors)) != len(predictors):
            raise InputError(f"{who}: predictors must be a list of distinct column names.")
        groups = _check_groups(self.groups, who)
        size_groups = (
            groups[:1] if self.size_groups is None else _check_groups(self.size_groups, who)
        )
        if not set(size_groups) <= set(groups):
            raise InputError(
                f"{who}: size_groups {list(size_groups)} must be among groups {list(groups)}."
            )
        if not 0 <= float(self.flat_tol) < 1:
            raise InputError(f"{who}: flat_tol={self.flat_tol!r}; expected a number in [0, 1).")
        return predictors, groups, size_groups

    def _fixed(self) -> tuple[str, ...]:
        fixed = tuple(
            str(g)
            for g in (
                [self.fixed_groups] if isinstance(self.fixed_groups, str) else self.fixed_groups
            )
        )
        groups = _check_groups(self.groups, type(self).__name__)
        if not set(fixed) <= set(groups):
            raise InputError(
                f"{type(self).__name__}: fixed_groups {list(fixed)} must be among groups "
                f"{list(groups)}."
            )
        return fixed

    def _centered(self) -> tuple[str, ...]:
        cg = self.centered_groups
        centered = tuple(str(g) for g in ([cg] if isinstance(cg, str) else cg))
        pooled = set(_check_groups(self.groups, type(self).__name__)) - set(self._fixed())
        if not set(centered) <= pooled:
            raise InputError(
                f"{type(self).__name__}: centered_groups {list(centered)} must be among the "
                f"pooled groups {sorted(pooled)} (groups that are not fixed_groups)."
            )
        return centered

    def _outside(self) -> dict[str, str]:
        out = {str(g): str(lab) for g, lab in (self.outside_levels or {}).items()}
        groups = _check_groups(self.groups, type(self).__name__)
        if not set(out) <= set(groups):
            raise InputError(
                f"{type(self).__name__}: outside_levels {sorted(out)} must be among groups "
                f"{list(groups)}."
            )
        return out

    def _all_terms(self, enc: RenewalEncoding) -> dict[str, LinearTerms]:
        _, groups, size_groups = self._settings()
        pr = _merge_priors(RENEWAL_PRIORS, self.priors, type(self).__name__)
        # the encoding's predictors: the given ones plus any outside-level indicators
        k = len(enc.logit.standardizer.columns)
        outside = tuple(g.column for g in enc.logit.groups if g.outside is not None)
        size_outside = tuple(g for g in outside if g in size_groups)
        size_pr = {
            "intercept": pr["size_intercept"],
            "coef": pr["size_coef"],
            "group_sd": pr["size_group_sd"],
            "slope_sd": pr["slope_sd"],
            "fixed_sd": pr["size_fixed_sd"],
        }
        fixed = self._fixed()
        centered = self._centered()
        return {
            "churn": LinearTerms(
                "churn_",
                groups=groups,
                intercept=True,
                priors=pr,
                n_predictors=k,
                fixed_groups=fixed,
                centered_groups=centered,
                outside_groups=outside,
            ),
            "tier": LinearTerms(
                "tier_",
                groups=groups,
                intercept=False,
                priors=pr,
                n_predictors=k,
                fixed_groups=fixed,
                centered_groups=centered,
                outside_groups=outside,
            ),
            "contraction": LinearTerms(
                "contraction_",
                groups=size_groups,
                intercept=True,
                priors=size_pr,
                intercept_loc=pr["size_intercept_loc"],
                n_predictors=k,
                fixed_groups=fixed,
                outside_groups=size_outside,
            ),
            "expansion": LinearTerms(
                "expansion_",
                groups=size_groups,
                intercept=True,
                priors=size_pr,
                intercept_loc=pr["size_intercept_loc"],
                n_predictors=k,
                fixed_groups=fixed,
                outside_groups=size_outside,
            ),
        }

    # ---- data --------------------------------------------------------------------------
    def _classes(self, frame: pd.DataFrame, before: np.ndarray) -> np.ndarray:
        """Outcome class codes 0..3 (RENEWAL_OUTCOMES order) from ARR or the outcome column."""
        who = type(self).__name__
        after = frame["arr_after"].to_numpy(dtype=float, na_value=np.nan)
        bad = ~(np.isfinite(after) & (after >= 0))
        if bad.any():
            raise InputError(
                f"{who}: arr_after must be finite and ≥ 0; {int(bad.sum())} row(s) are not "
                f"(first at index {frame.index[np.flatnonzero(bad)[0]]!r})."
            )
        tol = float(self.flat_tol) * before
        derived = np.select(
            [after == 0, np.abs(after - before) <= tol, after < before], [0, 2, 1], default=3
        )
        if self.outcome is None:
            return derived
        require_columns(frame, [self.outcome], role=who)
        given = frame[self.outcome].astype("string")
        lookup = {c: i for i, c in enumerate(RENEWAL_OUTCOMES)}
        unknown = sorted(set(given.dropna()) - set(lookup))
        if unknown or given.isna().any():
            raise InputError(
                f"{who}: outcome column {self.outcome!r} must hold one of "
                f"{list(RENEWAL_OUTCOMES)} in every row; found {unknown[:5]} and "
                f"{int(given.isna().sum())} missing."
            )
        codes = given.map(lookup).to_numpy(dtype=np.int64)
        consistent = np.select(
            [codes == 0, codes == 1, codes == 2, codes == 3],
            [after == 0, (after > 0) & (after < before), after > 0, after > before],
        ).astype(bool)
        if not consistent.all():
            first = frame.index[np.flatnonzero(~consistent)[0]]
            raise InputError(
                f"{who}: {int((~consistent).sum())} row(s) have an outcome that contradicts "
                f"arr_before/arr_after (first at index {first!r}); churn needs arr_after = 0, "
                "contraction 0 < arr_after < arr_before, expansion arr_after > arr_before."
            )
        return codes

    def _prepare(self, frame: pd.DataFrame, encoding: RenewalEncoding | None):
        who = type(self).__name__
        predictors, groups, size_groups = self._settings()
        if encoding is None:
            outside = {g: lab for g, lab in self._outside().items() if _splits(frame, g, lab)}
            frame = _with_indicators(frame, outside)
            encoding = RenewalEncoding(
                LogitEncoding.fit(
                    frame,
                    (*predictors, *(outside_indicator(g, lab) for g, lab in outside.items())),
                    groups,
                    standardize=self.standardize,
                    who=who,
                    outside=outside,
                ),
                size_groups,
            )
        else:
            frame = _with_indicators(
                frame, {g.column: g.outside for g in encoding.logit.groups if g.outside}
            )
        z, codes = encoding.logit.encode(frame, who)
        require_columns(frame, ["arr_before"], role=who)
        before = frame["arr_before"].to_numpy(dtype=float, na_value=np.nan)
        bad = ~(np.isfinite(before) & (before > 0))
        if bad.any():
            raise InputError(
                f"{who}: arr_before must be finite and > 0 (the ARR up for renewal); "
                f"{int(bad.sum())} row(s) are not (first at index "
                f"{frame.index[np.flatnonzero(bad)[0]]!r})."
            )
        arrays: dict[str, Any] = {"z": z, "codes": codes, "before": before}
        if "arr_after" in frame.columns:
            cls = self._classes(frame, before)
            after = frame["arr_after"].to_numpy(dtype=float)
            with np.errstate(divide="ignore"):
                logratio = np.where(cls == 0, 0.0, np.log(np.where(after > 0, after, 1) / before))
            arrays.update(cls=cls, logratio=logratio)
        return encoding, arrays

    def _build(self, encoding: RenewalEncoding, arrays: dict, frame: pd.DataFrame):
        import pymc as pm

        who = type(self).__name__
        if "cls" not in arrays:
            require_columns(frame, ["arr_after"], role=who)
        cls = arrays["cls"]
        counts = np.bincount(cls, minlength=4)
        if counts[0] == 0 or counts[1:].sum() == 0:
            raise InputError(
                f"{who}: the training rows need both churned and renewed accounts; class "
                f"counts {dict(zip(RENEWAL_OUTCOMES, counts.tolist(), strict=True))}."
            )
        pr = _merge_priors(RENEWAL_PRIORS, self.priors, who)
        terms = self._all_terms(encoding)
        rows = {
            "renewal": np.flatnonzero(cls > 0),
            "contraction": np.flatnonzero(cls == 1),
            "expansion": np.flatnonzero(cls == 3),
        }
        coords = _coords(encoding.logit, len(frame))
        coords.update({k: v for k, v in rows.items()})
        coords["cutpoint"] = ["contraction|flat", "flat|expansion"]
        coords["cutgap"] = ["gap"]
        with pm.Model(coords=coords) as model:
            X = predictor_data(encoding.logit.standardizer, arrays["z"])
            idx = {
                g.column: pm.Data(f"idx_{g.column}", arrays["codes"][g.column], dims="obs")
                for g in encoding.logit.groups
            }
            r = {k: pm.Data(f"rows_{k}", v, dims=k) for k, v in rows.items()}
            sub = {k: (X[r[k]], {g: i[r[k]] for g, i in idx.items()}) for k in rows}

            # (a) churn
            eta_churn = terms["churn"].build(X, idx)
            churned = pm.Data("churned", (cls == 0).astype(np.int64), dims="obs")
            pm.Bernoulli("churn", logit_p=eta_churn, observed=churned, dims="obs")
            # (b) tier among renewers: 0 contraction < 1 flat < 2 expansion
            eta_tier = terms["tier"].build(*sub["renewal"])
            cut = ordered_cutpoints(
                "tier_cut", 3, prior_center=pr["cut_center"], prior_gap=pr["cut_gap"]
            )
            tier = pm.Data("tier_obs", cls[rows["renewal"]] - 1, dims="renewal")
            pm.OrderedLogistic(
                "tier",
                eta=eta_tier,
                cutpoints=cut,
                observed=tier,
                compute_p=False,
                dims="renewal",
            )
            # (c) sizes: log |log ratio| ~ Normal(μ, s)
            for part, sign in (("contraction", -1.0), ("expansion", 1.0)):
                mu = terms[part].build(*sub[part])
                s = pm.HalfNormal(f"{part}_sigma", pr["size_sigma"])
                lr = arrays["logratio"][rows[part]]
                obs = -lr if sign < 0 else np.expm1(lr)  # lost log-share / growth share
                mag = pm.Data(f"{part}_obs", obs, dims=part)
                pm.LogNormal(f"{part}_size", mu=mu, sigma=s, observed=mag, dims=part)
        return model

    def _fused_log_density(self, encoding: RenewalEncoding, model: Any) -> Any:
        """The fused numba log density of the four parts (issue 7), or None.

        Same posterior as PyTensor's graph (tested to rounding); None when the model uses
        varying slopes, which the fused kernel does not cover.
        """
        from dearstats.models._fast_renewal import FusedRenewal

        pr = _merge_priors(RENEWAL_PRIORS, self.priors, type(self).__name__)
        try:
            return FusedRenewal.from_model(model, self._all_terms(encoding), pr)
        except NotImplementedError:
            return None

    def _reported_vars(self) -> list[str]:
        terms = self._all_terms(self.encoding_)
        out: list[str] = []
        for part in self._parts:
            out += terms[part].reported()
            if part == "tier":
                out.append("tier_cut")
            if part in ("contraction", "expansion"):
                out.append(f"{part}_sigma")
        return out

    def _encoding_to_json(self, encoding: RenewalEncoding) -> Any:
        return encoding.to_json()

    def _encoding_from_json(self, data: Any) -> RenewalEncoding:
        return RenewalEncoding.from_json(data)

    def _postprocess_log_likelihood(self, idata: xr.DataTree) -> None:
        """Add ``renewal_outcome``: each renewal's total log-likelihood (all parts), per row."""
        ll = idata["log_likelihood"].to_dataset()
        total = ll["churn"].values.copy()  # (chain, draw, obs)
        for part, var in (
            ("renewal", "tier"),
            ("contraction", "contraction_size"),
            ("expansion", "expansion_size"),
        ):
            rows = np.asarray(ll[var].coords[part].values, dtype=np.int64)
            total[:, :, rows] += ll[var].values
        ll["renewal_outcome"] = (("chain", "draw", "obs"), total)
        idata["log_likelihood"] = xr.DataTree(ll)

    # ---- prediction --------------------------------------------------------------------
    def _part_draws(self, frame: Any, rng: np.random.Generator, max_draws: int | None = None):
        frame, arrays = self._encode_new(frame)
        post = stacked_posterior(self.idata_, max_draws)
        terms = self._all_terms(self.encoding_)
        z, codes = arrays["z"], arrays["codes"]
        p_churn = _expit(terms["churn"].draws(post, z, codes, rng))
        cut = post["tier_cut"].transpose("sample", "cutpoint").values
        tier = ordinal_probs(terms["tier"].draws(post, z, codes, rng), cut)  # (S, n, 3)
        probs = np.concatenate([p_churn[..., None], (1 - p_churn)[..., None] * tier], axis=-1)
        return frame, arrays, post, terms, probs

    def predict_class_draws(self, frame: Any, *, random_seed: int | None = None) -> xr.DataArray:
        """Posterior draws of the four class probabilities, dims (chain, draw, row, outcome)."""
        rng = np.random.default_rng(self._seed(random_seed))
        frame, _, post, _, probs = self._part_draws(frame, rng)
        return unstack_draws(
            probs,
            post,
            row_dim_name(frame),
            frame.index,
            name="probability",
            extra_dims=["outcome"],
            coords={"outcome": list(RENEWAL_OUTCOMES)},
        )

    def predict_proba(self, frame: Any, *, random_seed: int | None = None) -> pd.DataFrame:
        """Posterior mean probability of churn, contraction, flat, expansion per row."""
        draws = self.predict_class_draws(frame, random_seed=random_seed)
        mean = draws.mean(("chain", "draw")).transpose(..., "outcome")
        return pd.DataFrame(
            mean.values, index=mean.indexes[mean.dims[0]], columns=list(RENEWAL_OUTCOMES)
        )

    def predict_draws(
        self, frame: Any, *, random_seed: int | None = None, max_draws: int | None = None
    ) -> xr.DataArray:
        """Posterior predictive draws of ARR after each renewal in ``frame``.

        Needs ``arr_before``. ``max_draws`` thins the posterior to every k-th draw of each
        chain (at most ``max_draws`` in all) before predicting: the cost and memory are
        per draw × row. Each draw picks the class from the posterior draw's class
        probabilities and, for contraction/expansion, a size from the log-normal part.
        Dims (chain, draw, row) with the row dimension named after the frame's index (e.g.
        ``account_id``), so ``draws.sum(row)`` / ``arr_before.sum()`` is an NRR draw.
        """
        rng = np.random.default_rng(self._seed(random_seed))
        frame, arrays, post, terms, probs = self._part_draws(frame, rng, max_draws)
        before = arrays["before"]
        n_s, n = probs.shape[:2]
        cls = (rng.random((n_s, n, 1)) > np.cumsum(probs, axis=-1)).sum(axis=-1)
        cls = np.minimum(cls, 3)
        ratio = np.ones((n_s, n))
        z, codes = arrays["z"], arrays["codes"]
        for part, sign, code in (("contraction", -1.0, 1), ("expansion", 1.0, 3)):
            mu = terms[part].draws(post, z, codes, rng)
            s = post[f"{part}_sigma"].values[:, None]
            mag = np.exp(mu + s * rng.normal(size=(n_s, n)))
            size = np.exp(-mag) if sign < 0 else 1.0 + mag  # the part's definition (c)
            ratio = np.where(cls == code, size, ratio)
        ratio = np.where(cls == 0, 0.0, ratio)
        return unstack_draws(
            before[None, :] * ratio, post, row_dim_name(frame), frame.index, name="arr_after"
        )

    def sample_posterior_predictive(
        self, frame: Any, *, random_seed: int | None = None
    ) -> xr.DataTree:
        """``posterior_predictive`` group with ``arr_after`` draws for the rows of ``frame``."""
        da = self.predict_draws(frame, random_seed=random_seed)
        return xr.DataTree(children={"posterior_predictive": xr.DataTree(da.to_dataset())})

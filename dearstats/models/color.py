"""Colour transitions: CSM activities in a period → a DEAR dimension's colour next period.

Model (``method="ordinal"``, proportional-odds / ordered logit, statsmodels
``OrderedModel`` with the logistic link). For account-period *i* with activity counts
``a_i``, controls ``w_i`` and current colour ``c_i``::

    latent_i = a_i' b + w_i' g + d_yellow · [c_i = yellow] + d_green · [c_i = green] + e_i,
    e_i ~ Logistic(0, 1)
    next_i = red     if latent_i ≤ k1
             yellow  if k1 < latent_i ≤ k2
             green   if latent_i > k2

so ``P(next ≤ j) = logistic(k_j − eta_i)``. There is no intercept: the cutpoints
``k1 < k2`` play its role.

The current colour enters as indicator terms (red is the reference): it shifts where an
account starts, and every activity has one effect on the latent scale for all accounts
(``current_colour="indicators"``, the default, the more stable choice for the small
panels CS teams have). With ``current_colour="interaction"`` each activity also gets a
product term with each non-red current colour, so that, say, an executive business review
can matter more for a red account than for a green one; use it when the panel is large
enough (a few hundred transitions per starting colour) and read :meth:`ColorModel.effects`
with ``by_current_colour=True``. ``current_colour="none"`` leaves the current colour out
(not advisable for transitions, where the current colour is the strongest predictor of the
next; useful for a cross-section and for checking the engine against published ordinal
regressions).

Effects a CS leader reads (:meth:`ColorModel.effects`): for each activity, the average
over the panel rows of ``P(next = green | a + 1 of that activity) − P(next = green | a)``
(and the same for red), in percentage points: "one more executive business review in the
period moves P(green next period) by +2.1 points [95 % interval +0.8 to +3.4]". The
interval comes from a parametric bootstrap of the coefficients (draws from the
asymptotic normal distribution of the estimates, seeded by ``random_seed``) or from the
delta method. These are associations adjusted for the current colour and the controls, not
causal effects unless the activities are as good as randomly assigned given those.

``method="bayes"`` delegates to the hierarchical Bayesian ordered logit
:class:`dearstats.models.ordinal_bayes.HierarchicalOrderedLogit` with partially pooled
intercepts by ``group`` (e.g. the CSM; null labels form their own group), passing it the
same design columns as here (activities, controls, current-colour terms); ``effects()``
then averages the +1 differences over the posterior draws of the probabilities.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.stats as st
from scipy.special import expit
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.tools.numdiff import approx_fprime

from dearstats.errors import ConvergenceWarning, DearstatsError
from dearstats.models._frame import (
    DesignSpec,
    MissingPolicy,
    as_pandas,
    check_numeric,
    complete_rows,
    group_codes,
    input_error,
    ordinal_outcome,
    require_columns,
)

__all__ = ["COLOURS", "ColorModel"]

COLOURS: tuple[str, ...] = ("red", "yellow", "green")


class _OrderedLogit(OrderedModel):
    """statsmodels ``OrderedModel`` (``distr="logit"``) with an analytic score and Hessian.

    Same model, likelihood and parameterisation (slopes, first cutpoint, log increments of
    the later cutpoints). Two additions: the logistic cdf is ``scipy.special.expit``
    (≈10× faster than ``scipy.stats.logistic.cdf``, same values), and the score and
    Hessian are analytic. statsmodels' default differentiates the log-likelihood twice
    numerically, which limits standard errors to about six significant digits; this
    matches Stata's ``ologit`` to all seven it prints, and Newton-Raphson is several times
    faster.

    Score of observation *i* in category *y* with ``u = k_{y+1} − eta``, ``l = k_y − eta``,
    ``P = F(u) − F(l)``, ``f = F(1 − F)``::

        d log P / d b   = −x (f(u) − f(l)) / P
        d log P / d k_j = (f(u) [j = y+1] − f(l) [j = y]) / P

    and ``k_j = t_1 + Σ_{m=2..j} exp(t_m)`` chains ``k`` to the parameters ``t``.
    """

    def __init__(self, endog: Any, exog: Any, **kwds: Any) -> None:
        super().__init__(endog, exog, distr="logit", **kwds)

    def cdf(self, x: Any) -> Any:
        return expit(x)

    def pdf(self, x: Any) -> Any:
        p = expit(x)
        return p * (1.0 - p)

    def _parts(self, params: Any) -> dict[str, Any]:
        """Per-observation pieces shared by the score and the Hessian."""
        params = np.asarray(params, dtype=float)
        low, upp = self._bounds(params)
        fin_u, fin_l = np.isfinite(upp), np.isfinite(low)
        F_u = np.where(fin_u, expit(np.where(fin_u, upp, 0.0)), 1.0)
        F_l = np.where(fin_l, expit(np.where(fin_l, low, 0.0)), 0.0)
        f_u, f_l = F_u * (1 - F_u), F_l * (1 - F_l)  # 0 at the infinite bounds
        prob = np.maximum(F_u - F_l, 1e-300)
        k_x = self.exog.shape[1]
        n_cuts = len(params) - k_x
        y = np.asarray(self.endog, dtype=int)
        n = len(y)
        # d u / d (b, k) and d l / d (b, k) in the raw (slopes, cutpoints) parameterisation
        A_u = np.zeros((n, k_x + n_cuts))
        A_l = np.zeros((n, k_x + n_cuts))
        A_u[:, :k_x] = -self.exog
        A_l[:, :k_x] = -self.exog
        rows = np.arange(n)
        up, lo = y < n_cuts, y > 0
        A_u[rows[up], k_x + y[up]] = 1.0
        A_l[rows[lo], k_x + y[lo] - 1] = 1.0
        # chain rule to statsmodels' (first cut, log increments): k_j = t_1 + Σ_{m≤j} e^{t_m}
        t = params[k_x:]
        J = np.zeros((n_cuts, n_cuts))
        J[:, 0] = 1.0
        for m in range(1, n_cuts):
            J[m:, m] = np.exp(t[m])
        T = np.eye(k_x + n_cuts)
        T[k_x:, k_x:] = J
        return {"F_u": F_u, "F_l": F_l, "f_u": f_u, "f_l": f_l, "prob": prob, "A_u": A_u,
                "A_l": A_l, "T": T, "t": t, "k_x": k_x, "n_cuts": n_cuts}  # fmt: skip

    def score_obs(self, params: Any) -> np.ndarray:
        q = self._parts(params)
        g = (q["f_u"] / q["prob"])[:, None] * q["A_u"] - (q["f_l"] / q["prob"])[:, None] * q["A_l"]
        return g @ q["T"]

    def score(self, params: Any) -> np.ndarray:
        return self.score_obs(params).sum(axis=0)

    def hessian(self, params: Any) -> np.ndarray:
        """Analytic Hessian of the log-likelihood (checked against a numerical one in the
        tests). With ``f' = f (1 − 2F)``::

            d²logP/du² = f'(u)/P − f(u)²/P²,  d²logP/dl² = −f'(l)/P − f(l)²/P²,
            d²logP/du dl = f(u) f(l) / P²

        in the raw (slopes, cutpoints) parameters, then ``T' H T`` plus the curvature of
        ``k_j = t_1 + Σ exp(t_m)`` weighted by the cutpoint score.
        """
        q = self._parts(params)
        P, f_u, f_l = q["prob"], q["f_u"], q["f_l"]
        h_uu = f_u * (1 - 2 * q["F_u"]) / P - (f_u / P) ** 2
        h_ll = -f_l * (1 - 2 * q["F_l"]) / P - (f_l / P) ** 2
        h_ul = f_u * f_l / P**2
        A_u, A_l = q["A_u"], q["A_l"]
        H = (A_u * h_uu[:, None]).T @ A_u + (A_l * h_ll[:, None]).T @ A_l
        cross = (A_u * h_ul[:, None]).T @ A_l
        H += cross + cross.T
        T = q["T"]
        H = T.T @ H @ T
        k_x, n_cuts, t = q["k_x"], q["n_cuts"], q["t"]
        g_cut = ((f_u / P)[:, None] * A_u - (f_l / P)[:, None] * A_l)[:, k_x:].sum(axis=0)
        for m in range(1, n_cuts):
            # d²k_j / dt_m² = exp(t_m) for j ≥ m (0-based cut index)
            H[k_x + m, k_x + m] += np.exp(t[m]) * g_cut[m:].sum()
        return H


def _cutpoints(theta: np.ndarray, n_cuts: int) -> np.ndarray:
    """Cutpoints from statsmodels' threshold parameters (first cut, log increments).

    Works on a vector (…, n_cuts) or a matrix of draws (B, n_cuts).
    """
    t = np.asarray(theta, dtype=float)[..., -n_cuts:]
    steps = np.concatenate([t[..., :1], np.exp(t[..., 1:])], axis=-1)
    return np.cumsum(steps, axis=-1)


def _probs(eta: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Category probabilities (n, K) from linear predictors (n,) and cutpoints (K−1,)."""
    cdf = expit(cuts[None, :] - eta[:, None])
    ones = np.ones((*cdf.shape[:-1], 1))
    zeros = np.zeros_like(ones)
    return np.diff(np.concatenate([zeros, cdf, ones], axis=-1), axis=-1)


class ColorModel:
    """Activities in a period → colour of a DEAR dimension next period (ordered logit).

    Parameters
    ----------
    dimension
        DEAR dimension whose colour is modelled; sets the default colour column names
        ``<dimension>_colour`` and ``<dimension>_colour_next``.
    activities
        Activity count columns for the period (e.g. ``act_ebr``, ``act_health_check``).
    controls
        Other numeric columns to adjust for (e.g. ``log_arr``, ``tenure_years``).
    method
        ``"ordinal"`` (statsmodels ordered logit) or ``"bayes"`` (hierarchical Bayesian
        ordered logit with varying effects by ``group``).
    colour_col, next_colour_col
        Current and next-period colour columns (labels from ``levels``; pandas
        categoricals are fine).
    levels
        Colour levels from worst to best.
    current_colour
        ``"indicators"``, ``"interaction"`` or ``"none"`` (module docstring).
    cluster
        Column for cluster-robust standard errors (e.g. ``"account_id"``: an account's
        periods are not independent). Null labels are singleton clusters.
    group
        Grouping column for ``method="bayes"`` (e.g. ``"csm_id"``).
    missing
        ``"raise"`` or ``"drop"`` (counted in :attr:`n_dropped_`).
    interval
        ``"bootstrap"`` (parametric, from the coefficient covariance) or ``"delta"``.
    n_boot
        Number of parametric-bootstrap draws for :meth:`effects`.
    random_seed
        Seed of the parametric bootstrap (and passed to the Bayesian model).
    bayes_kwargs, bayes_fit_kwargs
        Extra keyword arguments for ``HierarchicalOrderedLogit(...)`` (e.g. ``priors``,
        ``sampler_config``) and for its ``fit`` (e.g. ``method="advi"`` to explore).

    Attributes (after ``fit``)
    --------------------------
    coef_ : Series of latent-scale coefficients by design term.
    cutpoints_ : Series of cutpoints ``k1 < k2`` named ``red|yellow``, ``yellow|green``.
    result_ : the statsmodels ``OrderedResults``.
    spec_ : frozen :class:`~dearstats.models._frame.DesignSpec` (activities, controls,
        current-colour indicators and interactions).
    theta_, cov_theta_ : statsmodels parameter vector (slopes, first cutpoint, log
        increments) and its covariance, used by :meth:`effects`.
    transitions_ : counts of current × next colour in the training panel.
    frame_ : the training rows' activity, control and current-colour columns (the rows
        :meth:`effects` averages over).
    n_obs_, n_dropped_, n_clusters_, cov_type_, fitted_at_ : provenance.
    """

    def __init__(
        self,
        dimension: str = "adoption",
        activities: Sequence[str] = (),
        *,
        controls: Sequence[str] = (),
        method: Literal["ordinal", "bayes"] = "ordinal",
        colour_col: str | None = None,
        next_colour_col: str | None = None,
        levels: Sequence[str] = COLOURS,
        current_colour: Literal["indicators", "interaction", "none"] = "indicators",
        cluster: str | None = None,
        group: str | None = None,
        missing: MissingPolicy = "raise",
        interval: Literal["bootstrap", "delta"] = "bootstrap",
        n_boot: int = 2000,
        random_seed: int | None = 0,
        bayes_kwargs: Mapping[str, Any] | None = None,
        bayes_fit_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.dimension = dimension
        self.activities = activities
        self.controls = controls
        self.method = method
        self.colour_col = colour_col
        self.next_colour_col = next_colour_col
        self.levels = levels
        self.current_colour = current_colour
        self.cluster = cluster
        self.group = group
        self.missing = missing
        self.interval = interval
        self.n_boot = n_boot
        self.random_seed = random_seed
        self.bayes_kwargs = bayes_kwargs
        self.bayes_fit_kwargs = bayes_fit_kwargs

    # -- settings -------------------------------------------------------------------
    @property
    def _cur(self) -> str:
        return self.colour_col or f"{self.dimension}_colour"

    @property
    def _uses_current(self) -> bool:
        return self.current_colour != "none"

    @property
    def _cur_cols(self) -> list[str]:
        return [self._cur] if self._uses_current else []

    @property
    def _next(self) -> str:
        return self.next_colour_col or f"{self.dimension}_colour_next"

    def _check_settings(self) -> None:
        acts = self.activities
        if isinstance(acts, str) or not acts or not all(isinstance(a, str) for a in acts):
            raise input_error(
                "activities",
                expected="a non-empty list of activity count columns",
                found=repr(acts),
                fix='pass e.g. activities=["act_ebr", "act_health_check"]',
            )
        choices = {
            "method": ("ordinal", "bayes"),
            "current_colour": ("indicators", "interaction", "none"),
            "interval": ("bootstrap", "delta"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise input_error(
                    name,
                    expected=" or ".join(repr(a) for a in allowed),
                    found=repr(getattr(self, name)),
                    fix=f"pick one of {', '.join(allowed)}",
                )
        if len(tuple(self.levels)) < 2 or len(set(self.levels)) != len(tuple(self.levels)):
            raise input_error(
                "levels",
                expected="at least two distinct colour levels, worst first",
                found=repr(self.levels),
                fix='pass e.g. levels=("red", "yellow", "green")',
            )
        if not (isinstance(self.n_boot, int) and self.n_boot >= 100):
            raise input_error(
                "n_boot",
                expected="an integer ≥ 100",
                found=repr(self.n_boot),
                fix="pass e.g. n_boot=2000",
            )
        if self.method == "bayes" and not self.group:
            raise input_error(
                "group",
                expected='a grouping column (e.g. "csm_id") for method="bayes"',
                found="None",
                fix='pass group="csm_id", or use method="ordinal"',
            )

    # -- fit ------------------------------------------------------------------------
    def fit(self, panel: pd.DataFrame) -> ColorModel:
        """Fit to a panel with one row per account × period; returns ``self``."""
        self._check_settings()
        panel = as_pandas(panel, name="panel")
        acts, ctrls = list(self.activities), list(self.controls)
        levels = tuple(self.levels)
        numeric = [*acts, *ctrls]
        extra = [c for c in (self.cluster, self.group if self.method == "bayes" else None) if c]
        require_columns(panel, [*numeric, *self._cur_cols, self._next, *extra], role="panel")
        check_numeric(panel, numeric, role="activity/control")
        # a null group label (a tech-touch account without a CSM) is a group of its own in
        # the Bayesian model, not a missing value
        needed = [*numeric, *self._cur_cols, self._next]
        mask, n_dropped = complete_rows(
            panel, needed, missing=self.missing, numeric=numeric, role="panel"
        )
        data = panel.loc[mask] if n_dropped else panel
        cur = ordinal_outcome(data, self._cur, levels) if self._uses_current else None
        y = ordinal_outcome(data, self._next, levels)
        absent = [lv for i, lv in enumerate(levels) if not (y == i).any()]
        if absent:
            raise input_error(
                f"next-colour column {self._next!r}",
                expected=f"every level {levels} observed at least once",
                found=f"no row ends {', '.join(map(repr, absent))}",
                fix="fit on a longer panel or merge levels (pass fewer `levels`)",
            )
        inter = [(a, self._cur) for a in acts] if self.current_colour == "interaction" else []
        spec = DesignSpec.from_frame(
            data,
            numeric,
            groups=self._cur_cols,
            levels={self._cur: levels} if self._uses_current else None,
            interactions=inter,
            fit_intercept=False,
        )
        X = spec.transform(data)
        self.spec_ = spec
        self.n_obs_ = len(data)
        self.n_dropped_ = n_dropped
        keep = [*numeric, *self._cur_cols]
        if self.method == "bayes" and self.group:
            keep.append(self.group)
        self.frame_ = data[keep].copy()
        n_lv = len(levels)
        nxt_index = pd.Index(levels, name="next")
        if cur is not None:
            counts = np.bincount(cur * n_lv + y, minlength=n_lv * n_lv).reshape(n_lv, n_lv)
            cur_index = pd.Index(levels, name="current")
            self.transitions_ = pd.DataFrame(counts, index=cur_index, columns=nxt_index)
        else:
            counts = np.bincount(y, minlength=n_lv)[None, :]
            self.transitions_ = pd.DataFrame(counts, index=["n"], columns=nxt_index)
        if self.method == "bayes":
            self._fit_bayes(data, X, y)
        else:
            self._fit_ordinal(data, X, y)
        self.fitted_at_ = _dt.datetime.now(_dt.UTC).replace(microsecond=0)
        return self

    def _fit_ordinal(self, data: pd.DataFrame, X: pd.DataFrame, y: np.ndarray) -> None:
        levels = tuple(self.levels)
        endog = pd.Series(
            pd.Categorical.from_codes(y, categories=list(levels), ordered=True),
            index=X.index,
            name=self._next,
        )
        if self.cluster:
            codes, _ = group_codes(data, self.cluster, null="singleton")
            cov: dict[str, Any] = {"cov_type": "cluster", "cov_kwds": {"groups": codes}}
            self.n_clusters_: int | None = len(np.unique(codes))
            self.cov_type_ = f"cluster by {self.cluster}"
        else:
            cov = {}
            self.n_clusters_ = None
            self.cov_type_ = "nonrobust"
        model = _OrderedLogit(endog, X)
        res = model.fit(method="newton", maxiter=100, disp=False, **cov)
        if not res.mle_retvals.get("converged", False):
            start = model.fit(method="bfgs", maxiter=2000, disp=False).params
            res = model.fit(start_params=start, method="newton", maxiter=100, disp=False, **cov)
        if not res.mle_retvals.get("converged", False):
            warnings.warn(
                "ColorModel: the ordered-logit fit did not converge; estimates are unreliable."
                " Check for activities that perfectly predict a colour or collinear columns.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.result_ = res
        k = X.shape[1]
        n_cuts = len(levels) - 1
        theta = np.asarray(res.params, dtype=float)
        self.theta_ = theta
        self.cov_theta_ = np.asarray(res.cov_params(), dtype=float)
        self.coef_ = pd.Series(theta[:k], index=list(X.columns), name="coef")
        self.cutpoints_ = pd.Series(
            _cutpoints(theta, n_cuts),
            index=[f"{a}|{b}" for a, b in itertools.pairwise(levels)],
            name="cutpoint",
        )

    def _fit_bayes(self, data: pd.DataFrame, X: pd.DataFrame, y: np.ndarray) -> None:
        try:
            from dearstats.models.ordinal_bayes import HierarchicalOrderedLogit
        except ImportError as exc:  # the PyMC side may not be installed/landed yet
            raise DearstatsError(
                'ColorModel(method="bayes") delegates to '
                "dearstats.models.ordinal_bayes.HierarchicalOrderedLogit, which could not be "
                f'imported ({exc}). Use method="ordinal" (statsmodels) until it is available.'
            ) from exc
        frame = self._bayes_frame(X)
        frame[self._next] = pd.Categorical.from_codes(y, categories=list(self.levels), ordered=True)
        frame[self.group] = data[self.group].to_numpy()
        model = HierarchicalOrderedLogit(
            predictors=list(X.columns),
            outcome=self._next,
            group=self.group,
            levels=list(self.levels),
            random_seed=self.random_seed,
            **dict(self.bayes_kwargs or {}),
        )
        self.model_ = model.fit(frame, **dict(self.bayes_fit_kwargs or {}))
        self.result_ = self.model_
        self.cov_type_ = "posterior"
        self.n_clusters_ = None

    def _bayes_frame(self, X: pd.DataFrame, source: pd.DataFrame | None = None) -> pd.DataFrame:
        frame = X.copy()
        if source is not None and self.group:
            frame[self.group] = source[self.group].to_numpy()
        return frame

    # -- outputs --------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "result_"):
            raise DearstatsError("ColorModel is not fitted yet: call .fit(panel) first.")

    def predict_proba(self, panel: pd.DataFrame) -> pd.DataFrame:
        """P(next colour = each level) per row: DataFrame ``red, yellow, green`` (rows sum
        to 1), indexed like ``panel``. The next-colour column is not needed."""
        self._check_fitted()
        panel = as_pandas(panel, name="panel")
        bayes_cols = [self.group] if self.method == "bayes" and self.group else []
        require_columns(panel, [*self._cur_cols, *bayes_cols], role="panel")
        X = self.spec_.transform(panel)
        if self.method == "bayes":
            p = self.model_.predict_proba(self._bayes_frame(X, panel))
            p = np.asarray(p, dtype=float)
            return pd.DataFrame(p, index=X.index, columns=list(self.levels))
        p = self._probs_at(self.theta_, X.to_numpy())
        return pd.DataFrame(p, index=X.index, columns=list(self.levels))

    def _probs_at(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        k = X.shape[1]
        cuts = _cutpoints(theta, len(self.levels) - 1)
        return _probs(X @ theta[:k], cuts)

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy table of latent-scale coefficients and cutpoints with ``(1 − alpha)``
        intervals: ``kind`` (``coef`` / ``cutpoint``), ``term``, ``coef``, ``std_err``,
        ``z``, ``p``, ``ci_low``, ``ci_high``, ``odds_ratio`` (of a higher colour per unit
        of the term; coefficients only), ``or_ci_low``, ``or_ci_high``. Cutpoint standard
        errors are by the delta method from statsmodels' (first cut, log increment)
        parameterisation."""
        self._check_fitted()
        if self.method == "bayes":
            return self.model_.summary()
        zq = st.norm.ppf(1 - alpha / 2)
        k = len(self.coef_)
        n_cuts = len(self.levels) - 1
        V = self.cov_theta_
        # Jacobian of cutpoints w.r.t. (first cut, log increments)
        tt = self.theta_[k:]
        J = np.zeros((n_cuts, n_cuts))
        J[:, 0] = 1.0
        for j in range(1, n_cuts):
            J[j:, j] = np.exp(tt[j])
        cut_se = np.sqrt(np.diag(J @ V[k:, k:] @ J.T))
        est = np.r_[self.coef_.to_numpy(), self.cutpoints_.to_numpy()]
        se = np.r_[np.sqrt(np.diag(V[:k, :k])), cut_se]
        z = est / se
        out = pd.DataFrame(
            {
                "kind": ["coef"] * k + ["cutpoint"] * n_cuts,
                "term": [*self.coef_.index, *self.cutpoints_.index],
                "coef": est,
                "std_err": se,
                "z": z,
                "p": 2 * st.norm.sf(np.abs(z)),
                "ci_low": est - zq * se,
                "ci_high": est + zq * se,
            }
        )
        is_coef = out["kind"] == "coef"
        pairs = (("odds_ratio", "coef"), ("or_ci_low", "ci_low"), ("or_ci_high", "ci_high"))
        for col, src in pairs:
            out[col] = np.where(is_coef, np.exp(out[src]), np.nan)
        out.attrs.update(
            {
                "model": "ColorModel",
                "dimension": self.dimension,
                "n_obs": self.n_obs_,
                "n_dropped": self.n_dropped_,
                "cov_type": self.cov_type_,
                "llf": float(self.result_.llf),
            }
        )
        return out

    def print_summary(self, alpha: float = 0.05, decimals: int = 4) -> None:
        """Print provenance (n, dropped rows, columns, covariance, transitions) and tables."""
        self._check_fitted()
        lines = [
            f"<dearstats.ColorModel: {self.dimension} colour next period, ordered logit"
            f" ({self.method})>",
            f"  colours     {self._cur if self._uses_current else '(none)'} → {self._next}"
            f"   levels {' < '.join(self.levels)}",
            f"  n           {self.n_obs_:,} account-periods;"
            f" {self.n_dropped_:,} rows dropped with missing values",
            f"  activities  {', '.join(self.activities)}",
            f"  controls    {', '.join(self.controls) or '(none)'}",
            f"  current     {self.current_colour}",
            f"  covariance  {self.cov_type_}"
            + (f" ({self.n_clusters_:,} clusters)" if self.n_clusters_ else ""),
            f"  fitted at   {self.fitted_at_.isoformat()}",
            "  transitions (rows: current, columns: next):",
        ]
        print("\n".join(lines))
        print(self.transitions_.to_string())
        summary = self.summary(alpha) if self.method == "ordinal" else self.model_.summary()
        print(summary.round(decimals).to_string(index=self.method != "ordinal"))
        print(self.effects(alpha).round(decimals).to_string(index=False))

    # -- effects --------------------------------------------------------------------
    def effects(
        self,
        alpha: float = 0.05,
        *,
        by_current_colour: bool = False,
        interval: Literal["bootstrap", "delta"] | None = None,
    ) -> pd.DataFrame:
        """Average effect of one more of each activity on P(green) and P(red) next period.

        For activity *a* and outcome colour *k* (best or worst level)::

            effect_pts = 100 · mean_i [ P(next_i = k | a_i + 1, rest) − P(next_i = k | rest) ]

        averaged over the training rows (or within each current colour with
        ``by_current_colour=True``). Intervals: parametric bootstrap (``n_boot`` draws of
        the coefficients from N(estimate, covariance), seeded by ``random_seed``;
        percentile interval) or delta method (numerical gradient). With
        ``method="bayes"`` the effect is the posterior mean and the interval the
        equal-tailed posterior interval, from the posterior draws of the probabilities
        (``HierarchicalOrderedLogit.draws``). Columns: ``activity``,
        (``current_colour``), ``outcome``, ``effect_pts``, ``ci_low``, ``ci_high``,
        ``sentence``.
        """
        self._check_fitted()
        how: str = interval or self.interval
        if how not in ("bootstrap", "delta"):
            raise input_error(
                "interval",
                expected='"bootstrap" or "delta"',
                found=repr(how),
                fix="pick one of the two",
            )
        levels = tuple(self.levels)
        outcomes = (len(levels) - 1, 0)  # best (green), worst (red)
        train = self.frame_
        X0_df = self.spec_.transform(train)
        X0 = X0_df.to_numpy()
        X1_dfs = []
        for a in self.activities:
            plus = train.copy()
            plus[a] = plus[a].astype(float) + 1.0
            X1_dfs.append(self.spec_.transform(plus))
        dX = [x1.to_numpy() - X0 for x1 in X1_dfs]
        if by_current_colour and not self._uses_current:
            raise input_error(
                "by_current_colour",
                expected="a model that uses the current colour",
                found='current_colour="none"',
                fix='refit with current_colour="indicators" or "interaction"',
            )
        if by_current_colour:
            cur = train[self._cur].astype(object).to_numpy()
            subsets: list[tuple[str | None, np.ndarray]] = [(lv, cur == lv) for lv in levels]
        else:
            subsets = [(None, np.ones(len(train), dtype=bool))]
        if self.method == "bayes":
            how = "posterior"
            sims = 100 * self._ame_bayes(train, X0_df, X1_dfs, subsets, outcomes)
            est = sims.mean(axis=-1)
            lo, hi = np.quantile(sims, [alpha / 2, 1 - alpha / 2], axis=-1)
        elif how == "bootstrap":
            est = 100 * self._ame(self.theta_[None, :], X0, dX, subsets, outcomes)[..., 0]
            sims = 100 * self._ame(self._draws(), X0, dX, subsets, outcomes)
            lo, hi = np.quantile(sims, [alpha / 2, 1 - alpha / 2], axis=-1)
        else:
            est = 100 * self._ame(self.theta_[None, :], X0, dX, subsets, outcomes)[..., 0]
            zq = st.norm.ppf(1 - alpha / 2)

            def f(theta: np.ndarray) -> np.ndarray:
                return 100 * self._ame(theta[None, :], X0, dX, subsets, outcomes).ravel()

            G = np.atleast_2d(approx_fprime(self.theta_, f, centered=True))
            se = np.sqrt(np.einsum("ij,jk,ik->i", G, self.cov_theta_, G)).reshape(est.shape)
            lo, hi = est - zq * se, est + zq * se
        pct = 100 * (1 - alpha)
        rows = []
        for i, a in enumerate(self.activities):
            for j, (lv, _) in enumerate(subsets):
                for o, k in enumerate(outcomes):
                    e, lw, hg = float(est[i, j, o]), float(lo[i, j, o]), float(hi[i, j, o])
                    rows.append(
                        {
                            "activity": a,
                            "current_colour": lv,
                            "outcome": f"P({levels[k]})",
                            "effect_pts": e,
                            "ci_low": lw,
                            "ci_high": hg,
                            "sentence": _sentence(a, levels[k], lv, e, lw, hg, pct),
                        }
                    )
        out = pd.DataFrame(rows)
        if not by_current_colour:
            out = out.drop(columns="current_colour")
        out.attrs.update(
            {
                "interval": how,
                "n_boot": self.n_boot if how == "bootstrap" else None,
                "random_seed": self.random_seed,
                "alpha": alpha,
            }
        )
        return out

    def _ame_bayes(
        self,
        train: pd.DataFrame,
        X0: pd.DataFrame,
        X1s: list[pd.DataFrame],
        subsets: list[tuple[str | None, np.ndarray]],
        outcomes: tuple[int, ...],
    ) -> np.ndarray:
        """Posterior draws of the average +1 effects, shape (activity, subset, outcome, S)."""

        def probs(X: pd.DataFrame) -> np.ndarray:
            da = self.model_.draws(self._bayes_frame(X, train), random_seed=self.random_seed)
            p = da.transpose("chain", "draw", ..., "level").to_numpy()
            return p.reshape(-1, p.shape[-2], p.shape[-1])  # (S, n, K)

        p0 = probs(X0)
        out = np.empty((len(X1s), len(subsets), len(outcomes), p0.shape[0]))
        for i, X1 in enumerate(X1s):
            diff = probs(X1) - p0
            for j, (_, m) in enumerate(subsets):
                for o, k in enumerate(outcomes):
                    out[i, j, o] = diff[:, m, k].mean(axis=1)
        return out

    def _draws(self) -> np.ndarray:
        rng = np.random.default_rng(self.random_seed)
        return rng.multivariate_normal(
            self.theta_, self.cov_theta_, size=self.n_boot, method="cholesky"
        )

    def _ame(
        self,
        thetas: np.ndarray,
        X0: np.ndarray,
        dX: list[np.ndarray],
        subsets: list[tuple[str | None, np.ndarray]],
        outcomes: tuple[int, ...],
    ) -> np.ndarray:
        """Average +1 effects, shape (activity, subset, outcome, draw), as probabilities.

        ``P(next ≤ j) = expit(k_j − eta)``; only the best and worst levels are needed:
        ``P(best) = 1 − expit(k_last − eta)`` and ``P(worst) = expit(k_first − eta)``.
        """
        p = X0.shape[1]
        n_levels = len(self.levels)
        cuts = _cutpoints(thetas, n_levels - 1)  # (B, K-1)
        out = np.empty((len(dX), len(subsets), len(outcomes), len(thetas)))
        step = max(1, 4_000_000 // max(len(X0), 1))
        for s in range(0, len(thetas), step):
            b = thetas[s : s + step, :p]
            eta0 = b @ X0.T  # (b, n)
            for i, d in enumerate(dX):
                eta1 = eta0 + b @ d.T
                for o, k in enumerate(outcomes):
                    if k == n_levels - 1:
                        c = cuts[s : s + step, -1:]
                        diff = expit(c - eta0) - expit(c - eta1)
                    else:
                        c = cuts[s : s + step, :1]
                        diff = expit(c - eta1) - expit(c - eta0)
                    for j, (_, m) in enumerate(subsets):
                        out[i, j, o, s : s + step] = diff[:, m].mean(axis=1)
        return out


def _sentence(
    activity: str,
    colour: str,
    current: str | None,
    est: float,
    lo: float,
    hi: float,
    pct: float,
) -> str:
    name = activity.removeprefix("act_").replace("_", " ")
    who = f" for accounts currently {current}" if current is not None else ""
    return (
        f"One more {name} in the period moves P({colour} next period){who} by"
        f" {est:+.1f} points [{pct:g}% interval {lo:+.1f} to {hi:+.1f}]."
    )

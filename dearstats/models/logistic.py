"""Renewal logistic regression (statsmodels-backed): P(renew), and the four renewal classes.

Binary model (``outcome_kind="binary"``)::

    renewed_i ~ Bernoulli(p_i),   logit(p_i) = b0 + x_i' b

fitted by maximum likelihood with ``statsmodels.api.Logit`` (Newton-Raphson). With
``penalty=alpha`` the slopes get an L2 (ridge) penalty: the fit maximises
``log L(b) − (alpha / 2) · Σ_j b_j²`` over the slopes (intercept unpenalised), i.e. the
posterior mode under independent Normal(0, 1/alpha) priors on the slopes. Penalised
standard errors come from the penalised Hessian (that same Gaussian approximation): they are
not frequentist standard errors of an unbiased estimator, so read the intervals as a
shrinkage model's, and prefer ``standardize=True`` so one ``alpha`` means the same prior
for every predictor.

Binomial model (``outcome_kind="binomial"``, ``outcome=(successes, trials)``): the same
linear predictor with ``successes_i ~ Binomial(trials_i, p_i)``, fitted as a
``statsmodels`` GLM with the Binomial family (e.g. contracts renewed out of contracts up
for renewal, per account).

Renewal classes (``outcome_kind="classes"``): a two-part (hurdle) model, see
:class:`RenewalLogit` for the formulas and why it is preferred over one multinomial logit.

Standard errors: model-based by default; ``cluster="csm_id"`` (or ``"account_id"``, any
column) gives cluster-robust (sandwich) standard errors with statsmodels' default
small-sample correction ``G/(G−1) · (N−1)/(N−K)``. A null cluster label (a tech-touch
account without a CSM) is its own singleton cluster: those accounts share no CSM, so their
outcomes are not correlated through one. To pool them instead, fill the nulls with a label
such as ``"tech-touch"`` before fitting.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.stats as st
import statsmodels.api as sm
from statsmodels.base._penalized import PenalizedMixin
from statsmodels.base._penalties import L2
from statsmodels.discrete.discrete_model import Logit, MNLogit
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.regression.linear_model import OLS

from dearstats.errors import ConvergenceWarning, DearstatsError
from dearstats.models._frame import (
    INTERCEPT,
    DesignSpec,
    MissingPolicy,
    UnseenPolicy,
    as_pandas,
    binary_outcome,
    binomial_outcome,
    check_numeric,
    class_outcome,
    complete_rows,
    group_codes,
    input_error,
    require_columns,
)

__all__ = ["CLASSES", "RenewalLogit"]

#: renewal classes, in the order of :func:`dearstats.retention.renewal_events` ``outcome``
CLASSES: tuple[str, ...] = ("churn", "contraction", "flat", "expansion")
#: renewer classes in model order; the first present one is the MNLogit base category
_RENEWER_ORDER: tuple[str, ...] = ("flat", "contraction", "expansion")
_SIZED: tuple[str, ...] = ("contraction", "expansion")

OutcomeKind = Literal["binary", "binomial", "classes"]


class _LogitL2(PenalizedMixin, Logit):
    """statsmodels Logit with an L2 penalty (PenalizedMixin)."""


class _MNLogitL2(PenalizedMixin, MNLogit):
    """statsmodels MNLogit with an L2 penalty (PenalizedMixin)."""


class _GLML2(PenalizedMixin, GLM):
    """statsmodels GLM with an L2 penalty (PenalizedMixin)."""


def _not_fitted(name: str) -> DearstatsError:
    return DearstatsError(f"{name} is not fitted yet: call .fit(frame) first.")


def _warn_unconverged(result: Any, what: str) -> None:
    conv = getattr(result, "mle_retvals", None) or {}
    if conv and not conv.get("converged", True):
        import warnings

        warnings.warn(
            f"{what}: the maximum-likelihood optimiser did not converge "
            f"({conv.get('iterations', '?')} iterations). Estimates are unreliable; check for "
            "(quasi-)separation or collinear predictors, or pass a small penalty.",
            ConvergenceWarning,
            stacklevel=3,
        )


class RenewalLogit:
    """Logistic model of renewal, from any numeric predictors and grouping columns.

    Parameters
    ----------
    predictors
        Numeric predictor columns (bool is read as 0/1).
    outcome
        ``"binary"``: a 0/1 or bool column (1 = renewed). ``"binomial"``: a pair
        ``(successes, trials)`` of count columns. ``"classes"``: a column of renewal
        classes ``churn / contraction / flat / expansion`` (e.g. the ``outcome`` column of
        :func:`dearstats.retention.renewal_events`).
    groups
        Grouping columns (any hashable labels) entered as indicator terms ``col[level]``
        with the first sorted level as reference (fixed effects, e.g. ``["segment"]``).
    cluster
        Column whose labels define clusters for cluster-robust standard errors (e.g.
        ``"csm_id"`` or ``"account_id"``). Null labels are singleton clusters (module
        docstring).
    penalty
        ``None`` (maximum likelihood) or the L2 strength ``alpha ≥ 0`` on the slopes.
    fit_intercept
        Include an intercept.
    outcome_kind
        ``"binary"``, ``"binomial"`` or ``"classes"``.
    standardize
        Centre and scale the predictors by their training mean and standard deviation
        (coefficients and odds ratios are then per standard deviation; average marginal
        effects are always reported per unit of the original predictor).
    missing
        ``"raise"`` (default): rows with missing values are an error; ``"drop"``: they are
        excluded and counted in :attr:`n_dropped_` and :meth:`print_summary`.
    unseen
        Group levels unseen in training at prediction time: ``"error"`` or ``"average"``
        (see :class:`~dearstats.models._frame.DesignSpec`).
    arr_before, arr_after
        ARR columns used by ``outcome_kind="classes"`` for the size-of-change regressions.

    Two-part (hurdle) model for ``outcome_kind="classes"``
    ------------------------------------------------------
    Part 1, renew vs churn, on every row::

        P(renew | x) = p(x) = logistic(b0 + x' b)

    Part 2, among renewers, a multinomial logit over contraction / flat / expansion with
    ``flat`` as the base category::

        P(c | renew, x) = exp(g_c0 + x' g_c) / Σ_k exp(g_k0 + x' g_k),   g_flat = 0

    Part 3, the size of the change, by least squares within each sized class::

        log(arr_after / arr_before) = h_c0 + x' h_c + e,   c ∈ {contraction, expansion}

    Class probabilities are ``P(churn) = 1 − p``, ``P(c) = p · P(c | renew)``, and::

        E[arr_after / arr_before | x] = p(x) · Σ_c P(c | renew, x) · m_c(x)

    with ``m_c(x) = exp(x' h_c) · mean(exp(e))`` (Duan's smearing retransformation, which
    does not assume normal residuals), clipped to the class's observed range of ratios
    (a contraction stays below 1, an expansion above 1), and ``m_flat`` the mean flat
    ratio. A sized class with fewer than ``k + 2`` rows falls back to its mean ratio.

    *Why two-part rather than one multinomial logit over the four classes.* Churn is the
    dominant, best-identified decision (most events, most revenue at stake) and it is a
    different decision from resizing: whether to keep the product at all versus how many
    seats to buy. The hurdle model fits it on every row as its own logit, so its
    coefficients, its P(renew) and hence GRR's churn term are exactly those of the binary
    model, unaffected by how the small contraction and expansion classes are
    parameterised. A four-class multinomial logit instead makes P(renew) a sum of
    softmax terms (no longer logistic in x), couples churn to the resizing contrasts
    through one normalisation and the IIA assumption, and lets noise in the rare classes
    leak into the churn probabilities. The likelihood factorises,
    ``P(class) = P(renew) · P(class | renew)``, with distinct parameters in each factor, so
    fitting the parts separately loses nothing. GRR needs only churn and contraction; NRR
    also needs expansion *sizes*, which the two-part model adds as part 3 (the classic
    two-part/hurdle design of Cragg 1971 and of Duan et al. 1983 for skewed spend). Among
    renewers a multinomial (not ordinal) logit is used because contraction and expansion are
    driven by different levers (unused seats vs broad adoption and verified ROI); a
    proportional-odds model would force a predictor that raises the odds of expansion to
    lower the odds of contraction by the same factor.

    Attributes (after ``fit``)
    --------------------------
    coef_ : Series of coefficients (binary/binomial: by term; classes: by (part, term)).
    result_ : statsmodels results of the renew/churn logit (or GLM).
    results_ : dict of all statsmodels results by part (classes only; else one entry).
    spec_ : the frozen :class:`DesignSpec` used to encode new data.
    n_obs_, n_events_, n_dropped_, n_clusters_, cov_type_, fitted_at_ : provenance.
    """

    def __init__(
        self,
        predictors: Sequence[str],
        *,
        outcome: str | tuple[str, str] = "renewed",
        groups: Sequence[str] | None = None,
        cluster: str | None = None,
        penalty: float | None = None,
        fit_intercept: bool = True,
        outcome_kind: OutcomeKind = "binary",
        standardize: bool = False,
        missing: MissingPolicy = "raise",
        unseen: UnseenPolicy = "error",
        arr_before: str = "arr_before",
        arr_after: str = "arr_after",
    ) -> None:
        self.predictors = predictors
        self.outcome = outcome
        self.groups = groups
        self.cluster = cluster
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.outcome_kind = outcome_kind
        self.standardize = standardize
        self.missing = missing
        self.unseen = unseen
        self.arr_before = arr_before
        self.arr_after = arr_after

    # -- settings -------------------------------------------------------------------
    def _check_settings(self) -> None:
        preds = self.predictors
        if isinstance(preds, str) or not all(isinstance(p, str) for p in preds):
            raise input_error(
                "predictors",
                expected="a list of column names",
                found=repr(preds),
                fix='pass e.g. predictors=["adoption_score", "deployment_score"]',
            )
        if self.outcome_kind not in ("binary", "binomial", "classes"):
            raise input_error(
                "outcome_kind",
                expected='"binary", "binomial" or "classes"',
                found=repr(self.outcome_kind),
                fix="pick one of the three",
            )
        if self.outcome_kind == "binomial":
            if not (isinstance(self.outcome, tuple | list) and len(self.outcome) == 2):
                raise input_error(
                    "outcome",
                    expected='a (successes, trials) pair of columns for outcome_kind="binomial"',
                    found=repr(self.outcome),
                    fix='pass e.g. outcome=("n_renewed", "n_up_for_renewal")',
                )
        elif not isinstance(self.outcome, str):
            raise input_error(
                "outcome",
                expected="one column name",
                found=repr(self.outcome),
                fix='pass e.g. outcome="renewed"',
            )
        pen = self.penalty
        if pen is not None and not (
            isinstance(pen, int | float)
            and not isinstance(pen, bool)
            and np.isfinite(pen)
            and pen >= 0
        ):
            raise input_error(
                "penalty",
                expected="None or a finite L2 strength alpha ≥ 0",
                found=repr(pen),
                fix="pass e.g. penalty=1.0 (a Normal(0, 1) prior on standardised slopes)",
            )
        if self.outcome_kind == "classes" and not self.predictors and not self.fit_intercept:
            raise input_error(
                "RenewalLogit",
                expected="predictors or an intercept",
                found="neither",
                fix="set fit_intercept=True",
            )

    @property
    def _alpha(self) -> float:
        return float(self.penalty or 0.0)

    def _outcome_columns(self) -> list[str]:
        if self.outcome_kind == "binomial":
            return [str(c) for c in self.outcome]
        cols = [str(self.outcome)]
        if self.outcome_kind == "classes":
            cols += [self.arr_before, self.arr_after]
        return cols

    # -- fit ------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame) -> RenewalLogit:
        """Fit the model to ``frame`` (one row per observation); returns ``self``."""
        self._check_settings()
        frame = as_pandas(frame)
        preds = list(self.predictors)
        groups = list(self.groups or [])
        outcome_cols = self._outcome_columns()
        needed = [*preds, *groups, *outcome_cols]
        require_columns(frame, [*needed, *([self.cluster] if self.cluster else [])], role="model")
        check_numeric(frame, preds, role="predictor")
        mask, n_dropped = complete_rows(
            frame, needed, missing=self.missing, numeric=preds, role="model"
        )
        data = frame.loc[mask] if n_dropped else frame
        if len(data) == 0:
            raise input_error(
                "model frame",
                expected="at least one complete row",
                found="none",
                fix="check the frame and the missing-value policy",
            )
        spec = DesignSpec.from_frame(
            data,
            preds,
            groups=groups,
            standardize=self.standardize,
            fit_intercept=self.fit_intercept,
        )
        X = spec.transform(data)
        if self.cluster:
            ccodes, _ = group_codes(data, self.cluster, null="singleton")
            self.n_clusters_: int | None = len(np.unique(ccodes))
            self.n_null_clusters_ = int(data[self.cluster].isna().sum())
            cov: dict[str, Any] = {"cov_type": "cluster", "cov_kwds": {"groups": ccodes}}
        else:
            ccodes = None
            self.n_clusters_ = None
            self.n_null_clusters_ = 0
            cov = {}
        self.spec_ = spec
        self.n_obs_ = len(data)
        self.n_dropped_ = n_dropped
        self.cov_type_ = f"cluster by {self.cluster}" if self.cluster else "nonrobust"
        self.results_: dict[str, Any] = {}
        if self.outcome_kind == "binary":
            y = binary_outcome(data, str(self.outcome))
            self.result_ = self._fit_binary(y, X, cov)
            self.results_ = {"renew": self.result_}
            self.n_events_ = int(y.sum())
        elif self.outcome_kind == "binomial":
            s_col, t_col = (str(c) for c in self.outcome)
            s, t = binomial_outcome(data, s_col, t_col)
            self.result_ = self._fit_binomial(s, t, X, cov)
            self.results_ = {"renew": self.result_}
            self.n_events_ = int(s.sum())
            self.n_trials_ = int(t.sum())
        else:
            self._fit_classes(data, X, cov, ccodes)
        self.coef_ = self._coef()
        self.fitted_at_ = _dt.datetime.now(_dt.UTC).replace(microsecond=0)
        return self

    def _fit_binary(self, y: np.ndarray, X: pd.DataFrame, cov: dict[str, Any]) -> Any:
        endog = pd.Series(y, index=X.index, name="renewed")
        if self._alpha > 0:
            model = _LogitL2(endog, X, penal=self._penal(X), pen_weight=self._alpha / 2)
            res = model.fit(method="newton", disp=0, maxiter=100, **cov)
        else:
            res = Logit(endog, X).fit(disp=0, **cov)
        _warn_unconverged(res, "RenewalLogit")
        return res

    def _fit_binomial(
        self, s: np.ndarray, t: np.ndarray, X: pd.DataFrame, cov: dict[str, Any]
    ) -> Any:
        endog = np.column_stack([s, t - s]).astype(float)
        fam = sm.families.Binomial()
        if self._alpha > 0:
            model = _GLML2(endog, X, family=fam, penal=self._penal(X), pen_weight=self._alpha / 2)
            res = model.fit(method="newton", disp=0, maxiter=100, **cov)
            _warn_unconverged(res, "RenewalLogit")
        else:
            res = GLM(endog, X, family=fam).fit(**cov)
        return res

    def _penal(self, X: pd.DataFrame, n_eq: int = 1) -> L2:
        w = np.array([0.0 if c == INTERCEPT else 1.0 for c in X.columns])
        return L2(weights=np.tile(w, n_eq))

    def _fit_classes(
        self, data: pd.DataFrame, X: pd.DataFrame, cov: dict[str, Any], ccodes: Any
    ) -> None:
        cls = class_outcome(data, str(self.outcome), CLASSES)
        labels = np.asarray(CLASSES, dtype=object)[cls]
        check_numeric(data, [self.arr_before, self.arr_after], role="ARR")
        before = data[self.arr_before].to_numpy(dtype=float)
        after = data[self.arr_after].to_numpy(dtype=float)
        bad = np.isin(labels, ("contraction", "flat", "expansion")) & ~((before > 0) & (after > 0))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise input_error(
                f"columns {self.arr_before!r}, {self.arr_after!r}",
                expected="positive ARR before and after for renewed rows",
                found=f"{int(bad.sum())} renewed rows with zero or negative ARR",
                example=(
                    f"row {pos} (index {data.index[pos]!r}): {self.outcome}={labels[pos]!r},"
                    f" {self.arr_before}={float(before[pos])!r},"
                    f" {self.arr_after}={float(after[pos])!r}"
                ),
                fix="check the renewal events; a renewal with ARR after = 0 is a churn",
            )
        # part 1: renew vs churn on every row
        renewed = (labels != "churn").astype(float)
        self.result_ = self._fit_binary(renewed, X, cov)
        self.results_ = {"renew": self.result_}
        self.n_events_ = int(renewed.sum())
        self.class_counts_ = pd.Series(
            [int((labels == c).sum()) for c in CLASSES], index=list(CLASSES), name="n"
        )
        # part 2: renewer classes
        rmask = renewed == 1
        present = [c for c in _RENEWER_ORDER if (labels[rmask] == c).any()]
        self.renewer_classes_ = tuple(present)
        sub_cov = _subset_cov(cov, ccodes, rmask)
        if len(present) >= 2:
            code = {c: i for i, c in enumerate(present)}
            y2 = np.array([code[v] for v in labels[rmask]])
            X2 = X.loc[rmask]
            if self._alpha > 0:
                model = _MNLogitL2(
                    y2,
                    X2,
                    penal=self._penal(X2, n_eq=len(present) - 1),
                    pen_weight=self._alpha / 2,
                )
                res2 = model.fit(method="newton", disp=0, maxiter=100, **sub_cov)
            else:
                res2 = MNLogit(y2, X2).fit(disp=0, **sub_cov)
            _warn_unconverged(res2, "RenewalLogit (renewer classes)")
            self.results_["renewer_class"] = res2
        # part 3: sizes
        ratio = np.where(before > 0, after / np.where(before > 0, before, 1.0), np.nan)
        self.size_: dict[str, dict[str, Any]] = {}
        k = X.shape[1]
        for c in (*_SIZED, "flat"):
            cm = labels == c
            if not cm.any():
                continue
            r = ratio[cm]
            info: dict[str, Any] = {
                "n": int(cm.sum()),
                "min": float(r.min()),
                "max": float(r.max()),
                "mean": float(r.mean()),
            }
            if c in _SIZED and cm.sum() >= k + 2:
                res3 = OLS(np.log(r), X.loc[cm]).fit(**_subset_cov(cov, ccodes, cm))
                info["smear"] = float(np.mean(np.exp(res3.resid)))
                self.results_[f"log_ratio_{c}"] = res3
            self.size_[c] = info

    # -- outputs --------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "result_"):
            raise _not_fitted(type(self).__name__)

    def _coef(self) -> pd.Series:
        if self.outcome_kind != "classes":
            return self.result_.params.rename("coef")
        keys: list[tuple[str, str]] = []
        vals: list[float] = []
        for part, res in self.results_.items():
            params = res.params
            if part == "renewer_class":
                base = self.renewer_classes_[0]
                for j, c in enumerate(self.renewer_classes_[1:]):
                    keys += [(f"{c}_vs_{base}", str(t)) for t in params.index]
                    vals += list(_f(params.iloc[:, j]))
            else:
                keys += [(part, str(t)) for t in params.index]
                vals += list(_f(params))
        index = pd.MultiIndex.from_tuples(keys, names=["part", "term"])
        return pd.Series(vals, index=index, name="coef")

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy coefficient table with ``(1 − alpha)`` intervals.

        Columns: ``term, coef, std_err, z, p, ci_low, ci_high, odds_ratio, or_ci_low,
        or_ci_high, ame, ame_std_err, ame_ci_low, ame_ci_high``. ``ame`` is the average
        marginal effect on P(renew) (statsmodels ``get_margeff(at="overall",
        dummy=True)``: a derivative for continuous predictors, the 0 → 1 change for 0/1
        columns), per unit of the original predictor, with delta-method intervals.

        For ``outcome_kind="classes"`` a leading ``part`` column names the part:
        ``renew`` (P(renew)), ``<class>_vs_<base>`` (renewer multinomial logit; its ``ame``
        is the effect on P(class | renewed)) and ``log_ratio_<class>`` (size regressions;
        ``z`` is then a t statistic, and odds ratios and AMEs do not apply).
        """
        self._check_fitted()
        zq = st.norm.ppf(1 - alpha / 2)
        first = _tidy_binary(self.result_, self.spec_, zq, alpha)
        if self.outcome_kind != "classes":
            out = pd.DataFrame(first, columns=list(_COLUMNS))
        else:
            parts = [("renew", first)]
            if "renewer_class" in self.results_:
                parts += _tidy_mnlogit(
                    self.results_["renewer_class"], self.renewer_classes_, self.spec_, zq
                )
            for c in _SIZED:
                key = f"log_ratio_{c}"
                if key in self.results_:
                    parts.append((key, _tidy_linear(self.results_[key], alpha)))
            cols: dict[str, Any] = {
                "part": [name for name, t in parts for _ in t["term"]],
            }
            for col in _COLUMNS:
                cols[col] = np.concatenate([np.asarray(t[col]) for _, t in parts])
            out = pd.DataFrame(cols)
        out.attrs.update(self._provenance())
        return out

    def _provenance(self) -> dict[str, Any]:
        return {
            "model": type(self).__name__,
            "outcome_kind": self.outcome_kind,
            "n_obs": self.n_obs_,
            "n_events": self.n_events_,
            "n_dropped": self.n_dropped_,
            "columns": list(self.spec_.columns),
            "cov_type": self.cov_type_,
            "n_clusters": self.n_clusters_,
            "penalty": self.penalty,
            "fitted_at": self.fitted_at_.isoformat() if hasattr(self, "fitted_at_") else None,
        }

    def print_summary(self, alpha: float = 0.05, decimals: int = 4) -> None:
        """Print provenance (n, events, dropped rows, columns, covariance) and the table."""
        self._check_fitted()
        kind = {
            "binary": "binary logit (statsmodels Logit)",
            "binomial": "binomial logit (statsmodels GLM, Binomial family)",
            "classes": "two-part renewal classes (Logit + MNLogit + OLS on log ARR ratio)",
        }[self.outcome_kind]
        if self.penalty:
            kind += f", L2 penalty alpha={self.penalty:g} on slopes"
        lines = [f"<dearstats.RenewalLogit: {kind}>"]
        outcome = self.outcome if isinstance(self.outcome, str) else "/".join(self.outcome)
        ev = f"{self.n_events_:,} renewed ({self.n_events_ / max(self.n_obs_, 1):.1%})"
        if self.outcome_kind == "binomial":
            ev = f"{self.n_events_:,} successes of {self.n_trials_:,} trials"
        lines.append(f"  outcome     {outcome}   n = {self.n_obs_:,}   events = {ev}")
        if self.outcome_kind == "classes":
            counts = ", ".join(f"{c} {n:,}" for c, n in self.class_counts_.items())
            lines.append(f"  classes     {counts}")
        lines.append(
            f"  dropped     {self.n_dropped_:,} rows with missing values"
            + (" (missing='drop')" if self.missing == "drop" else "")
        )
        lines.append(f"  columns     {', '.join(self.spec_.columns)}")
        if self.spec_.standardize:
            lines.append("  standardize predictors centred/scaled by training mean and sd")
        cov = self.cov_type_
        if self.n_clusters_ is not None:
            cov += f" ({self.n_clusters_:,} clusters; {self.n_null_clusters_:,} null → singletons)"
        lines.append(f"  covariance  {cov}")
        lines.append(f"  fitted at   {self.fitted_at_.isoformat()}")
        print("\n".join(lines))
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(self.summary(alpha).round(decimals).to_string(index=False))

    def __repr__(self) -> str:
        state = f"n={self.n_obs_}" if hasattr(self, "n_obs_") else "not fitted"
        return (
            f"RenewalLogit(predictors={list(self.predictors)!r}, outcome={self.outcome!r}, "
            f"outcome_kind={self.outcome_kind!r}, {state})"
        )

    # -- prediction -----------------------------------------------------------------
    def _design(self, frame: pd.DataFrame) -> pd.DataFrame:
        self._check_fitted()
        return self.spec_.transform(as_pandas(frame), unseen=self.unseen)

    def predict_proba(self, frame: pd.DataFrame) -> pd.Series | pd.DataFrame:
        """Predicted probabilities, indexed like ``frame``.

        Binary/binomial: Series ``p_renew``. Classes: DataFrame with columns
        ``churn, contraction, flat, expansion`` (rows sum to 1).
        """
        X = self._design(frame)
        p = np.asarray(self.result_.predict(X), dtype=float)
        if self.outcome_kind != "classes":
            return pd.Series(p, index=X.index, name="p_renew")
        q = self._renewer_proba(X)
        out = pd.DataFrame(0.0, index=X.index, columns=list(CLASSES))
        out["churn"] = 1.0 - p
        for c in q.columns:
            out[c] = p * q[c].to_numpy()
        return out

    def _renewer_proba(self, X: pd.DataFrame) -> pd.DataFrame:
        present = self.renewer_classes_
        if "renewer_class" in self.results_:
            q = np.asarray(self.results_["renewer_class"].predict(X), dtype=float)
        else:
            q = np.ones((len(X), len(present)))
        return pd.DataFrame(q, index=X.index, columns=list(present))

    def expected_arr_ratio(self, frame: pd.DataFrame, *, gross: bool = False) -> pd.Series:
        """E[ARR after / ARR before] per row (``outcome_kind="classes"`` only).

        Net (default): ``p(x) · Σ_c P(c | renew, x) · m_c(x)`` (class docstring), the
        row's expected net renewal ratio. ``gross=True``: ``E[min(ARR after / ARR before,
        1)]``, i.e. expansion counts as 1 and only churn and contraction lose ARR, the
        row's expected gross renewal ratio. ARR-weighted sums of these over the ARR up for
        renewal give the expected net and gross renewal rates. A Series named
        ``expected_arr_ratio`` (or ``expected_gross_arr_ratio``) indexed like ``frame``.
        """
        self._check_fitted()
        if self.outcome_kind != "classes":
            raise input_error(
                "expected_arr_ratio",
                expected='a model fitted with outcome_kind="classes"',
                found=f"outcome_kind={self.outcome_kind!r}",
                fix='refit with outcome_kind="classes" and the arr_before/arr_after columns',
            )
        X = self._design(frame)
        p = np.asarray(self.result_.predict(X), dtype=float)
        q = self._renewer_proba(X)
        total = np.zeros(len(X))
        for c in q.columns:
            m = self._class_mean_ratio(c, X)
            total += q[c].to_numpy() * (np.minimum(m, 1.0) if gross else m)
        name = "expected_gross_arr_ratio" if gross else "expected_arr_ratio"
        return pd.Series(p * total, index=X.index, name=name)

    def _class_mean_ratio(self, c: str, X: pd.DataFrame) -> np.ndarray:
        info = self.size_[c]
        key = f"log_ratio_{c}"
        if key not in self.results_:
            return np.full(len(X), info["mean"])
        mu = np.asarray(self.results_[key].predict(X), dtype=float)
        return np.clip(np.exp(mu) * info["smear"], info["min"], info["max"])


# -- tidy tables ------------------------------------------------------------------------
def _subset_cov(cov: dict[str, Any], codes: Any, mask: np.ndarray) -> dict[str, Any]:
    if not cov:
        return {}
    return {"cov_type": "cluster", "cov_kwds": {"groups": np.asarray(codes)[mask]}}


def _unit_scale(spec: DesignSpec, term: str) -> float:
    """Multiplier turning a per-standardised-unit effect into a per-original-unit one."""
    if spec.standardize and spec.sds is not None and term in spec.predictors:
        return 1.0 / spec.sds[spec.predictors.index(term)]
    return 1.0


_COLUMNS = (
    "term", "coef", "std_err", "z", "p", "ci_low", "ci_high", "odds_ratio", "or_ci_low",
    "or_ci_high", "ame", "ame_std_err", "ame_ci_low", "ame_ci_high",
)  # fmt: skip


def _table(
    terms: list[str],
    coef: np.ndarray,
    se: np.ndarray,
    stat: np.ndarray,
    p: np.ndarray,
    ci: np.ndarray,
    *,
    odds: bool,
    ame: np.ndarray | None = None,
    ame_se: np.ndarray | None = None,
    zq: float = 1.96,
) -> dict[str, Any]:
    nan = np.full(len(terms), np.nan)
    ame = nan if ame is None else ame
    ame_se = nan if ame_se is None else ame_se
    return {
        "term": terms,
        "coef": coef,
        "std_err": se,
        "z": stat,
        "p": p,
        "ci_low": ci[:, 0],
        "ci_high": ci[:, 1],
        "odds_ratio": np.exp(coef) if odds else nan,
        "or_ci_low": np.exp(ci[:, 0]) if odds else nan,
        "or_ci_high": np.exp(ci[:, 1]) if odds else nan,
        "ame": ame,
        "ame_std_err": ame_se,
        "ame_ci_low": ame - zq * ame_se,
        "ame_ci_high": ame + zq * ame_se,
    }


def _f(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _tidy_binary(res: Any, spec: DesignSpec, zq: float, alpha: float) -> dict[str, Any]:
    terms = [str(t) for t in res.params.index]
    ame = np.full(len(terms), np.nan)
    se = np.full(len(terms), np.nan)
    slopes = [i for i, t in enumerate(terms) if t != INTERCEPT]
    if slopes:
        m = res.get_margeff(at="overall", method="dydx", dummy=True)
        scale = np.array([_unit_scale(spec, terms[i]) for i in slopes])
        ame[slopes] = _f(m.margeff) * scale
        se[slopes] = _f(m.margeff_se) * scale
    return _table(
        terms,
        _f(res.params),
        _f(res.bse),
        _f(res.tvalues),
        _f(res.pvalues),
        _f(res.conf_int(alpha)),
        odds=True,
        ame=ame,
        ame_se=se,
        zq=zq,
    )


def _tidy_mnlogit(
    res: Any, present: tuple[str, ...], spec: DesignSpec, zq: float
) -> list[tuple[str, dict[str, Any]]]:
    params = _f(res.params)
    bse, stat, pv = _f(res.bse), _f(res.tvalues), _f(res.pvalues)
    terms = [str(t) for t in res.params.index]
    slopes = [i for i, t in enumerate(terms) if t != INTERCEPT]
    margins = None
    if slopes:
        try:
            margins = res.get_margeff(at="overall", method="dydx", dummy=True)
        except ValueError:
            # statsmodels' MNLogit dummy-variable margins fail to broadcast when the design
            # has several indicator columns (statsmodels 0.15); the derivative (dy/dx)
            # margins of the indicators are then reported instead of discrete changes.
            margins = res.get_margeff(at="overall", method="dydx", dummy=False)
    scale = np.array([_unit_scale(spec, terms[i]) for i in slopes])
    tables = []
    for j, c in enumerate(present[1:]):
        coef = params[:, j]
        ci = np.column_stack([coef - zq * bse[:, j], coef + zq * bse[:, j]])
        ame = np.full(len(terms), np.nan)
        se = np.full(len(terms), np.nan)
        if margins is not None:
            # margeff columns are all renewer classes, base first: class j+1 is column j+1
            ame[slopes] = _f(margins.margeff)[:, j + 1] * scale
            se[slopes] = _f(margins.margeff_se)[:, j + 1] * scale
        tab = _table(
            terms, coef, bse[:, j], stat[:, j], pv[:, j], ci, odds=True, ame=ame, ame_se=se,
            zq=zq,
        )  # fmt: skip
        tables.append((f"{c}_vs_{present[0]}", tab))
    return tables


def _tidy_linear(res: Any, alpha: float) -> dict[str, Any]:
    terms = [str(t) for t in res.params.index]
    return _table(
        terms,
        _f(res.params),
        _f(res.bse),
        _f(res.tvalues),
        _f(res.pvalues),
        _f(res.conf_int(alpha)),
        odds=False,
    )

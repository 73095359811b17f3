"""A fast NUTS path for the hierarchical logistic model of :class:`LinearTerms` (issue 7).

The posterior is the one :class:`~dearstats.models.hierarchical.HierarchicalLogit` builds
through :class:`~dearstats.models._bayes.LinearTerms` (random intercepts, no varying
slopes)::

    y_i ~ Binomial(n_i, logistic(η_i))        (n_i = 1: Bernoulli)
    η_i = α + Σ_j β_j z_ij + Σ_g σ_g u_g[k_g(i)]
    α ~ Normal(intercept_loc, prior["intercept"])    β_j ~ Normal(0, prior["coef"])
    σ_g ~ HalfNormal(prior["group_sd"])              u_g ~ ZeroSumNormal(1) over K_g levels

sampled on the same unconstrained space as PyMC: α, β, log σ_g and the K_g − 1 free
values of PyMC's ``ZeroSumTransform`` (a Householder-type orthonormal map, so the prior
of the free values is iid N(0, 1) and the log density equals ``model.compile_logp()`` up to
a constant). What is different is the code: the log density and its gradient are one
numba function making a single pass over the rows (η, the log-likelihood through a stable
softplus, the residual r = y − n·logistic(η), Xᵀr and the per-level sums of r), handed to
nutpie as a C function pointer (no Python, no GIL in the sampler's threads). The rows are
sorted by level and stored in blocks of :data:`BLOCK` rows, column-major inside a block,
so every row loop vectorises (AVX2): exp is evaluated with range reduction (its integer
part kept a float, which AVX2 converts lane-wise) and an Estrin polynomial, a Bernoulli
block's Σ log1p as the log of a product (binomial blocks: a polynomial per row), all with
errors below 1e-13 rather than libm calls; numba's division checks are off
(``error_model="numpy"``); level effects are added to, and residuals summed over, runs of
rows of one level through views indexed from 0 (numba's wrap-around of negative indices
keeps ``range(start, end)`` loops scalar). PyTensor's graph for the same model evaluates the
element-wise softplus/sigmoid, the gathers and the scatter-adds as separate loops with
temporaries.

Options measured by ``python -m benchmarks bayes``:

- ``centered``: grouping columns whose effects e_g = σ_g u_g are sampled directly
  (centred, e_g ~ ZeroSumNormal(σ_g)) instead of u_g (non-centred, what LinearTerms
  does); the posterior is the same, the geometry differs: non-centred suits levels with
  few rows (the prior dominates), centred suits levels with many (the data pin e_g, and
  u_g = e_g/σ_g would then be tied to σ_g). ``"auto"`` centres a group when the median
  trials per level reaches ``AUTO_CENTER_ROWS`` (100: a level's likelihood sd on the logit
  scale is then about 1/√(0.25·100) = 0.2, below typical group sds);
- ``collapse``: identical rows (same predictors and levels) merged into one binomial
  row; pays only when the predictors are discrete;
- ``entry``: ``"cfunc"`` (compiled function pointer, default) or ``"pyfunc"`` (nutpie's
  public :func:`nutpie.compiled_pyfunc.from_pyfunc`, a Python callback per gradient);
- nutpie's mass-matrix adaptation (``adaptation="diag"`` or ``"low_rank"``) and any other
  :func:`nutpie.sample` keyword through :meth:`FastLogit.sample`.

Draws come back as nutpie's DataTree with the variable names of :class:`LinearTerms`:
``alpha``, ``beta`` (dims ``predictor``), ``sigma_<g>``, ``u_<g>`` (dims ``<g>``),
``intercept`` and ``coef`` (original predictor scale).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numba
import numpy as np
import xarray as xr
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "AUTO_CENTER_ROWS",
    "DEFAULT_PRIORS",
    "FastLogit",
    "FusedLogit",
    "collapse_rows",
    "floor_logp_grad",
    "time_kernel",
    "zerosum_extend",
    "zerosum_extend_adjoint",
]

DEFAULT_PRIORS: dict[str, float] = {"intercept": 1.5, "coef": 1.0, "group_sd": 1.0}
"""Prior scales of :class:`HierarchicalLogit` (``LOGIT_PRIORS``) that this path uses."""

Entry = Literal["cfunc", "pyfunc"]
AUTO_CENTER_ROWS = 100
"""``centered="auto"``: centre a group whose median trials per level is at least this."""


# --------------------------------------------------------------------------------------
# The zero-sum map of PyMC's ZeroSumTransform (backward: K − 1 free values → K values)
# --------------------------------------------------------------------------------------


@numba.njit(cache=False, nogil=True)
def _extend(z: np.ndarray, out: np.ndarray) -> None:
    """``out`` (length K) = PyMC's ``ZeroSumTransform.extend_axis`` of ``z`` (length K−1)."""
    km1 = z.shape[0]
    n = km1 + 1.0
    sq = math.sqrt(n)
    s = 0.0
    for j in range(km1):
        s += z[j]
    norm = s / (sq + n)
    for j in range(km1):
        out[j] = z[j] - norm
    out[km1] = -s / sq


@numba.njit(cache=False, nogil=True)
def _extend_adjoint(g: np.ndarray, out: np.ndarray) -> None:
    """``out`` (length K−1) = Bᵀ g for the linear map B of :func:`_extend`."""
    km1 = out.shape[0]
    n = km1 + 1.0
    sq = math.sqrt(n)
    s = 0.0
    for j in range(km1):
        s += g[j]
    corr = s / (sq + n) + g[km1] / sq
    for j in range(km1):
        out[j] = g[j] - corr


def zerosum_extend(z: np.ndarray) -> np.ndarray:
    """K sum-to-zero values from K − 1 free ones, exactly as PyMC's ``ZeroSumTransform``."""
    z = np.ascontiguousarray(z, dtype=np.float64)
    out = np.empty(z.shape[0] + 1)
    _extend(z, out)
    return out


def zerosum_extend_adjoint(g: np.ndarray) -> np.ndarray:
    """Bᵀ g (length K − 1) for g of length K: the gradient pulled back to the free values."""
    g = np.ascontiguousarray(g, dtype=np.float64)
    out = np.empty(g.shape[0] - 1)
    _extend_adjoint(g, out)
    return out


def _zerosum_reverse(u: np.ndarray) -> np.ndarray:
    """PyMC's ``extend_axis_rev``: the K − 1 free values of a sum-to-zero vector u."""
    n = u.shape[0]
    norm = -u[-1] * math.sqrt(n) / (math.sqrt(n) + n)
    return u[:-1] + norm


# --------------------------------------------------------------------------------------
# The fused log density + gradient
# --------------------------------------------------------------------------------------


_FM = {"contract", "arcp", "nsz", "reassoc"}  # no nnan/ninf: infinities must surface
BLOCK = 256
"""Rows per block: a block's predictors (p × 256 doubles) stay in L1 between passes."""
_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453


@intrinsic
def _i64_as_f64(typingctx, x):  # pragma: no cover - compiled by numba
    """Reinterpret the bits of an int64 as a float64 (vectorises, unlike math.ldexp)."""
    if x != types.int64:
        return None
    sig = types.float64(types.int64)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@numba.njit(inline="always", fastmath=_FM, error_model="numpy")
def _exp_neg(x: float) -> float:
    """exp(x) for x ≤ 0 (clamped at −700) in arithmetic LLVM vectorises: x = k ln2 + r,
    |r| ≤ ln2/2, the degree-12 Taylor polynomial of exp(r) by Estrin's scheme (short
    dependency chains; relative error below 3e-14, 1e-15 for x > −40), 2^k from bits.

    k stays a float (``np.floor``) until it is converted to int32 lanes: ``math.floor``
    returns an int64, whose conversion from double AVX2 cannot vectorise."""
    x = max(x, -700.0)
    kf = np.floor(x * _LOG2E + 0.5)
    r = x - kf * _LN2
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    q03 = (1.0 + r) + r2 * (0.5 + r * (1.0 / 6.0))
    q47 = (1.0 / 24.0 + r * (1.0 / 120.0)) + r2 * (1.0 / 720.0 + r * (1.0 / 5040.0))
    q811 = (1.0 / 40320.0 + r * (1.0 / 362880.0)) + r2 * (1.0 / 3628800.0 + r * (1.0 / 39916800.0))
    q = (q03 + r4 * q47) + r8 * (q811 + r4 * (1.0 / 479001600.0))
    bits = (np.int64(np.int32(kf)) + 1023) << 52
    return q * _i64_as_f64(bits)  # type: ignore[call-arg]


@numba.njit(inline="always", fastmath=_FM, error_model="numpy")
def _log1p_unit(t: float) -> float:
    """log(1 + t) for 0 ≤ t ≤ 1: 2 atanh(s), s = t / (2 + t) ≤ 1/3, 17 odd terms."""
    s = t / (2.0 + t)
    s2 = s * s
    q = 1.0 / 33.0
    q = q * s2 + 1.0 / 31.0
    q = q * s2 + 1.0 / 29.0
    q = q * s2 + 1.0 / 27.0
    q = q * s2 + 1.0 / 25.0
    q = q * s2 + 1.0 / 23.0
    q = q * s2 + 1.0 / 21.0
    q = q * s2 + 1.0 / 19.0
    q = q * s2 + 1.0 / 17.0
    q = q * s2 + 1.0 / 15.0
    q = q * s2 + 1.0 / 13.0
    q = q * s2 + 1.0 / 11.0
    q = q * s2 + 1.0 / 9.0
    q = q * s2 + 1.0 / 7.0
    q = q * s2 + 1.0 / 5.0
    q = q * s2 + 1.0 / 3.0
    q = q * s2 + 1.0
    return 2.0 * s * q


# Loops over a run of rows index a view from 0: numba wraps negative indices, and
# range(start, end) may be negative for all it knows, which keeps such loops scalar.


@numba.njit(nogil=True, fastmath=_FM, error_model="numpy")
def _eta_block(
    alpha: float,
    beta: np.ndarray,
    eff: np.ndarray,
    Xb: np.ndarray,
    runs: np.ndarray,
    rp: np.ndarray,
    eta: np.ndarray,
) -> None:
    """η of one block: α + Xβ (four predictor rows per pass) + level effects (added to
    runs of rows of one level)."""
    p, B = Xb.shape
    G = rp.shape[0] - 1
    for i in range(B):
        eta[i] = alpha
    j = 0
    while j + 4 <= p:
        b0 = beta[j]
        b1 = beta[j + 1]
        b2 = beta[j + 2]
        b3 = beta[j + 3]
        x0 = Xb[j]
        x1 = Xb[j + 1]
        x2 = Xb[j + 2]
        x3 = Xb[j + 3]
        for i in range(B):
            eta[i] += (x0[i] * b0 + x1[i] * b1) + (x2[i] * b2 + x3[i] * b3)
        j += 4
    while j < p:
        bj = beta[j]
        xj = Xb[j]
        for i in range(B):
            eta[i] += xj[i] * bj
        j += 1
    for g in range(G):
        for q in range(rp[g], rp[g + 1]):
            v = eff[runs[q, 2]]
            seg = eta[runs[q, 0] : runs[q, 1]]
            for i in range(seg.shape[0]):
                seg[i] += v


@numba.njit(nogil=True, fastmath=_FM, error_model="numpy")
def _back_block(
    Xb: np.ndarray,
    r: np.ndarray,
    runs: np.ndarray,
    rp: np.ndarray,
    gb: np.ndarray,
    s: np.ndarray,
) -> float:
    """Pull r = ∂ll/∂η of one block back: Xᵀr into ``gb``, per-level sums into ``s``;
    returns Σ r."""
    p, B = Xb.shape
    G = rp.shape[0] - 1
    ga = 0.0
    for i in range(B):
        ga += r[i]
    j = 0
    while j + 4 <= p:
        x0 = Xb[j]
        x1 = Xb[j + 1]
        x2 = Xb[j + 2]
        x3 = Xb[j + 3]
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        for i in range(B):
            ri = r[i]
            a0 += x0[i] * ri
            a1 += x1[i] * ri
            a2 += x2[i] * ri
            a3 += x3[i] * ri
        gb[j] += a0
        gb[j + 1] += a1
        gb[j + 2] += a2
        gb[j + 3] += a3
        j += 4
    while j < p:
        xj = Xb[j]
        acc = 0.0
        for i in range(B):
            acc += xj[i] * r[i]
        gb[j] += acc
        j += 1
    for g in range(G):
        for q in range(rp[g], rp[g + 1]):
            seg = r[runs[q, 0] : runs[q, 1]]
            acc = 0.0
            for i in range(seg.shape[0]):
                acc += seg[i]
            s[runs[q, 2]] += acc
    return ga


# Bernoulli blocks (every trial count 0 or 1) sum log1p(t), 0 ≤ t ≤ 1, as the log of
# the product of (1 + t): at most 2^BLOCK (no overflow for BLOCK ≤ 1000), relative
# rounding ≤ BLOCK·2^-53, i.e. an absolute error of the block's sum below 3e-14 for 256
# rows (what per-row log1p polynomials give too), at one log per block. Binomial blocks
# weight log1p(t) by the trial count and keep the per-row polynomial.
assert BLOCK <= 512


@numba.njit(nogil=True, fastmath=_FM, error_model="numpy")
def _lik_block(eta: np.ndarray, yb: np.ndarray, nb: np.ndarray, r: np.ndarray) -> float:
    """Σ y η − n softplus(η) over one block; r = y − n logistic(η)."""
    B = eta.shape[0]
    nonbin = 0.0
    for i in range(B):
        nonbin += abs(nb[i] * (nb[i] - 1.0))
    ll = 0.0
    if nonbin == 0.0:
        prod = 1.0
        for i in range(B):
            e = eta[i]
            ni = nb[i]
            t = _exp_neg(-abs(e))
            prod *= 1.0 + ni * t
            mu = (1.0 if e >= 0.0 else t) / (1.0 + t)
            ll += yb[i] * e - ni * max(e, 0.0)
            r[i] = yb[i] - ni * mu
        return ll - math.log(prod)
    for i in range(B):
        e = eta[i]
        t = _exp_neg(-abs(e))
        sp = max(e, 0.0) + _log1p_unit(t)
        mu = (1.0 if e >= 0.0 else t) / (1.0 + t)
        ll += yb[i] * e - nb[i] * sp
        r[i] = yb[i] - nb[i] * mu
    return ll


@numba.njit(nogil=True, fastmath=_FM, error_model="numpy")
def _block_pass(
    alpha: float,
    beta: np.ndarray,
    eff: np.ndarray,
    Xb: np.ndarray,
    yb: np.ndarray,
    nb: np.ndarray,
    runs: np.ndarray,
    rp: np.ndarray,
    gb: np.ndarray,
    s: np.ndarray,
    eta: np.ndarray,
    r: np.ndarray,
) -> tuple[float, float]:
    """One block of rows: η, log-likelihood, residual, Xᵀr (into gb), level sums (into s).

    Column-major within the block so every inner loop runs over rows and vectorises. Rows
    are sorted by level, so group g's levels come as runs ``runs[rp[g]:rp[g + 1]]`` of
    (start, end, stacked level index): a level effect is added to a run of rows, and a
    run's residuals are summed before one scatter-add."""
    _eta_block(alpha, beta, eff, Xb, runs, rp, eta)
    ll = _lik_block(eta, yb, nb, r)
    ga = _back_block(Xb, r, runs, rp, gb, s)
    return ll, ga


@numba.njit(nogil=True, fastmath=_FM, error_model="numpy")
def _logp_grad(
    theta: np.ndarray,
    grad: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    ntr: np.ndarray,
    runs: np.ndarray,
    rptr: np.ndarray,
    offs: np.ndarray,
    centered: np.ndarray,
    prior: np.ndarray,
) -> float:
    """Log density (up to a constant) and its gradient (written into ``grad``).

    theta = [α, β (p), then per group g: log σ_g, K_g − 1 free values]. The rows come in
    blocks: ``X`` (n_blocks, p, B), ``y``/``ntr`` (n_blocks, B); ``runs`` (start, end,
    level) with the level index already offset by ``offs[g]`` into the stacked levels,
    block b's runs of group g at ``rptr[b, g] : rptr[b, g + 1]``; padding rows have
    ``ntr = y = 0`` and contribute nothing.
    """
    nblk, p, B = X.shape
    G = offs.shape[0] - 1
    ktot = offs[G]
    alpha = theta[0]
    beta = theta[1 : 1 + p]
    eff = np.empty(ktot)
    sig = np.empty(G)
    for g in range(G):
        k0 = offs[g]
        k1 = offs[g + 1]
        t0 = 1 + p + k0
        sig[g] = math.exp(theta[t0])
        _extend(theta[t0 + 1 : t0 + (k1 - k0)], eff[k0:k1])
        if not centered[g]:
            for k in range(k0, k1):
                eff[k] *= sig[g]
    s = np.zeros(ktot)
    gb = np.zeros(p)
    eta = np.empty(B)
    r = np.empty(B)
    ll = 0.0
    ga = 0.0
    for b in range(nblk):
        l1, g1 = _block_pass(alpha, beta, eff, X[b], y[b], ntr[b], runs, rptr[b], gb, s, eta, r)
        ll += l1
        ga += g1
    # priors and chain rule
    loc_a, sd_a, sd_b, sd_g = prior[0], prior[1], prior[2], prior[3]
    da = (alpha - loc_a) / sd_a
    ll -= 0.5 * da * da
    grad[0] = ga - da / sd_a
    for j in range(p):
        ll -= 0.5 * (beta[j] / sd_b) ** 2
        grad[1 + j] = gb[j] - beta[j] / (sd_b * sd_b)
    for g in range(G):
        k0 = offs[g]
        k1 = offs[g + 1]
        t0 = 1 + p + k0
        rho = theta[t0]
        sg = sig[g]
        km1 = k1 - k0 - 1
        z = theta[t0 + 1 : t0 + 1 + km1]
        gz = grad[t0 + 1 : t0 + 1 + km1]
        # HalfNormal(sd_g) on σ with the log-transform Jacobian (+ρ)
        ll += -0.5 * (sg / sd_g) ** 2 + rho
        grho = 1.0 - (sg / sd_g) ** 2
        ss = 0.0
        for k in range(km1):
            ss += z[k] * z[k]
        if centered[g]:
            # e = B w ~ ZeroSumNormal(σ): −½ Σ e²/σ² − (K−1) log σ, and Σ e² = Σ w²
            ll += -0.5 * ss / (sg * sg) - km1 * rho
            grho += ss / (sg * sg) - km1
            _extend_adjoint(s[k0:k1], gz)
            for k in range(km1):
                gz[k] -= z[k] / (sg * sg)
        else:
            # u = B z ~ ZeroSumNormal(1): −½ Σ z²; effects σ u, so ∂η/∂ρ = σ u = eff
            for k in range(k0, k1):
                grho += eff[k] * s[k]
            ll -= 0.5 * ss
            for k in range(k0, k1):
                s[k] *= sg
            _extend_adjoint(s[k0:k1], gz)
            for k in range(km1):
                gz[k] -= z[k]
        grad[t0] = grho
    return ll


def _to_blocks(
    X: np.ndarray, y: np.ndarray, ntr: np.ndarray, codes: np.ndarray, block: int = BLOCK
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows → blocks of ``block`` rows (column-major inside), zero-weight padding, and
    each block's runs of equal level per group: (start, end, level) and offsets."""
    n, p = X.shape
    G = codes.shape[0]
    nblk = max(1, -(-n // block))
    pad = nblk * block - n
    Xp = np.concatenate([X, np.zeros((pad, p))]).reshape(nblk, block, p)
    yp = np.concatenate([y, np.zeros(pad)]).reshape(nblk, block)
    np_ = np.concatenate([ntr, np.zeros(pad)]).reshape(nblk, block)
    cp = np.concatenate([codes, np.repeat(codes[:, -1:], pad, axis=1)], axis=1)
    cp = cp.reshape(G, nblk, block)
    run_arr, rptr = level_runs(cp)
    return (
        np.ascontiguousarray(Xp.transpose(0, 2, 1)),
        np.ascontiguousarray(yp),
        np.ascontiguousarray(np_),
        np.ascontiguousarray(run_arr.astype(np.int32)),
        rptr,
    )


def level_runs(cp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each block's runs of equal level per group, from level codes ``cp`` (G, nblk,
    block): the runs as (start, end, level) rows (int64, block by block, group by group)
    and the block × group pointers into them (nblk, G + 1)."""
    G, nblk, block = cp.shape
    runs: list[np.ndarray] = []
    rptr = np.zeros((nblk, G + 1), dtype=np.int64)
    total = 0
    for b in range(nblk):
        rptr[b, 0] = total
        for g in range(G):
            c = cp[g, b]
            starts = np.concatenate([[0], np.flatnonzero(np.diff(c)) + 1])
            ends = np.concatenate([starts[1:], [block]])
            runs.append(np.stack([starts, ends, c[starts]], axis=1))
            total += starts.size
            rptr[b, g + 1] = total
    run_arr = np.concatenate(runs).astype(np.int64) if runs else np.zeros((0, 3), np.int64)
    return np.ascontiguousarray(run_arr.reshape(-1, 3)), rptr


@numba.njit(cache=False, nogil=True)
def _expand(
    theta: np.ndarray,
    out: np.ndarray,
    p: int,
    offs: np.ndarray,
    centered: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
) -> None:
    """[α, β, (σ_g, u_g) per group, intercept, coef] from the unconstrained ``theta``."""
    G = offs.shape[0] - 1
    out[0] = theta[0]
    icpt = theta[0]
    for j in range(p):
        out[1 + j] = theta[1 + j]
        icpt -= theta[1 + j] * center[j] / scale[j]
    pos = 1 + p
    for g in range(G):
        k0 = offs[g]
        k1 = offs[g + 1]
        t0 = 1 + p + k0
        sg = math.exp(theta[t0])
        out[pos] = sg
        _extend(theta[t0 + 1 : t0 + (k1 - k0)], out[pos + 1 : pos + 1 + (k1 - k0)])
        if centered[g]:
            for k in range(pos + 1, pos + 1 + (k1 - k0)):
                out[k] /= sg
        pos += 1 + (k1 - k0)
    out[pos] = icpt
    for j in range(p):
        out[pos + 1 + j] = theta[1 + j] / scale[j]


@numba.njit(nogil=True, fastmath=_FM, error_model="numpy")
def floor_logp_grad(beta: np.ndarray, grad: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """The floor of one gradient: η = Xβ, stable softplus/sigmoid, r, Xᵀr; nothing else."""
    n, p = X.shape
    ll = 0.0
    for j in range(p):
        grad[j] = 0.0
    for i in range(n):
        eta = 0.0
        for j in range(p):
            eta += X[i, j] * beta[j]
        t = math.exp(-abs(eta))
        if eta >= 0.0:
            sp = eta + math.log1p(t)
            mu = 1.0 / (1.0 + t)
        else:
            sp = math.log1p(t)
            mu = t / (1.0 + t)
        ll += y[i] * eta - sp
        r = y[i] - mu
        for j in range(p):
            grad[j] += X[i, j] * r
    return ll


@numba.njit(nogil=True, fastmath=_FM, error_model="numpy")
def floor_blocked(beta: np.ndarray, grad: np.ndarray, Xb: np.ndarray, yb: np.ndarray) -> float:
    """The floor in the fast kernel's form: blocked, vectorised η = Xβ, softplus/sigmoid,
    r and Xᵀr (:func:`_block_pass` with no grouping columns)."""
    nblk, p, B = Xb.shape
    eff = np.zeros(1)
    runs = np.zeros((0, 3), dtype=np.int32)
    rp = np.zeros(1, dtype=np.int64)
    s = np.zeros(1)
    eta = np.empty(B)
    r = np.empty(B)
    ones = np.ones(B)
    ll = 0.0
    for j in range(p):
        grad[j] = 0.0
    for b in range(nblk):
        l1, _ = _block_pass(0.0, beta, eff, Xb[b], yb[b], ones, runs, rp, grad, s, eta, r)
        ll += l1
    return ll


@numba.njit(cache=False, nogil=True)
def _repeat_floor_blocked(reps, beta, grad, Xb, yb) -> float:
    acc = 0.0
    for _ in range(reps):
        acc += floor_blocked(beta, grad, Xb, yb)
    return acc


@numba.njit(cache=False, nogil=True)
def _repeat_fast(reps, theta, grad, X, y, ntr, runs, rptr, offs, centered, prior) -> float:
    acc = 0.0
    for _ in range(reps):
        acc += _logp_grad(theta, grad, X, y, ntr, runs, rptr, offs, centered, prior)
    return acc


@numba.njit(cache=False, nogil=True)
def _repeat_floor(reps, beta, grad, X, y) -> float:
    acc = 0.0
    for _ in range(reps):
        acc += floor_logp_grad(beta, grad, X, y)
    return acc


# --------------------------------------------------------------------------------------
# C entry points for nutpie (the user-data pointer holds the arrays' addresses)
# --------------------------------------------------------------------------------------


@intrinsic
def _voidptr(typingctx, src):  # pragma: no cover - compiled by numba
    """An address (uint64) as a void pointer."""
    sig = types.voidptr(src)

    def codegen(cgctx, builder, sig, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return sig, codegen


_META = 17  # X y ntr runs offs centered prior center scale nblk p G ktot n_dim B rptr nruns
_LOGP_SIG = types.int64(
    types.uint64,
    types.CPointer(types.double),
    types.CPointer(types.double),
    types.CPointer(types.double),
    types.voidptr,
)
_EXPAND_SIG = types.int64(
    types.uint64,
    types.uint64,
    types.CPointer(types.double),
    types.CPointer(types.double),
    types.voidptr,
)


@numba.njit(cache=False, nogil=True)
def _unpack(ud):
    m = numba.carray(ud, (_META,), np.uint64)
    nblk, p, G, ktot, B = int(m[9]), int(m[10]), int(m[11]), int(m[12]), int(m[14])
    X = numba.carray(_voidptr(m[0]), (nblk, p, B), np.float64)
    y = numba.carray(_voidptr(m[1]), (nblk, B), np.float64)
    ntr = numba.carray(_voidptr(m[2]), (nblk, B), np.float64)
    runs = numba.carray(_voidptr(m[3]), (int(m[16]), 3), np.int32)
    rptr = numba.carray(_voidptr(m[15]), (nblk, G + 1), np.int64)
    offs = numba.carray(_voidptr(m[4]), (G + 1,), np.int64)
    centered = numba.carray(_voidptr(m[5]), (G,), np.bool_)
    prior = numba.carray(_voidptr(m[6]), (4,), np.float64)
    center = numba.carray(_voidptr(m[7]), (p,), np.float64)
    scale = numba.carray(_voidptr(m[8]), (p,), np.float64)
    return X, y, ntr, runs, rptr, offs, centered, prior, center, scale, int(m[13]), ktot


_CFUNCS: dict[str, Any] = {}


def _cfuncs() -> tuple[Any, Any]:
    """The two C callbacks (compiled once per process; sizes are read from user data)."""
    if not _CFUNCS:

        def logp_c(dim, x_, out_, logp_, ud):
            X, y, ntr, runs, rptr, offs, centered, prior, _c, _s, n_dim, _ = _unpack(ud)
            if dim != n_dim:
                return -1
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (n_dim,))
            lp = numba.carray(logp_, ())
            val = _logp_grad(x, out, X, y, ntr, runs, rptr, offs, centered, prior)
            lp[()] = val
            if not math.isfinite(val):
                return 4
            for k in range(n_dim):
                if not math.isfinite(out[k]):
                    return 3
            return 0

        def expand_c(dim, expanded, x_, out_, ud):
            X, _y, _n, _r, _rp, offs, centered, _p, center, scale, n_dim, ktot = _unpack(ud)
            p = X.shape[1]
            G = offs.shape[0] - 1
            if dim != n_dim or expanded != 1 + p + G + ktot + 1 + p:
                return -1
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (expanded,))
            _expand(x, out, p, offs, centered, center, scale)
            return 0

        _CFUNCS["logp"] = numba.cfunc(_LOGP_SIG)(logp_c)
        _CFUNCS["expand"] = numba.cfunc(_EXPAND_SIG)(expand_c)
    return _CFUNCS["logp"], _CFUNCS["expand"]


# --------------------------------------------------------------------------------------
# The model object
# --------------------------------------------------------------------------------------


def collapse_rows(
    X: np.ndarray, y: np.ndarray, trials: np.ndarray, codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge rows with identical predictors and levels into binomial rows.

    Returns (X, successes, trials, codes) of the distinct rows; the log density changes
    by a constant only (the binomial coefficients), the gradient not at all.
    """
    key = np.concatenate([X, codes.T.astype(np.float64)], axis=1)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    m = first.shape[0]
    ys = np.bincount(inverse, weights=y, minlength=m)
    ns = np.bincount(inverse, weights=trials, minlength=m)
    return (
        np.ascontiguousarray(X[first]),
        ys,
        ns,
        np.ascontiguousarray(codes[:, first]),
    )


@dataclass(frozen=True)
class _Layout:
    p: int
    groups: tuple[str, ...]
    n_levels: tuple[int, ...]

    @property
    def n_dim(self) -> int:
        return 1 + self.p + sum(self.n_levels)

    @property
    def n_expanded(self) -> int:
        return 1 + self.p + len(self.groups) + sum(self.n_levels) + 1 + self.p


class FastLogit:
    """The hierarchical logit of :class:`LinearTerms` with a fused numba gradient.

    Parameters
    ----------
    X
        (n, p) standardised predictors.
    y
        Successes per row (0/1 for Bernoulli rows).
    codes
        ``{group: level code per row}`` with codes in ``0 .. K_g − 1`` (every level is a
        parameter, observed or not; K_g from ``levels``).
    levels
        ``{group: level labels}`` (the coordinates of ``u_<group>``); default the codes'
        range.
    trials
        Trials per row (binomial rows); default 1.
    priors
        Prior scales ``intercept``, ``coef``, ``group_sd`` (default
        :data:`DEFAULT_PRIORS`, those of :class:`HierarchicalLogit`) and the intercept's
        prior location ``intercept_loc`` (0).
    centered
        Grouping columns sampled centred, or ``"auto"`` (see the module docstring).
    collapse
        Merge identical rows into binomial rows first (:func:`collapse_rows`).
    predictors, center, scale
        Predictor names and the centre/scale of standardisation, to report ``coef`` and
        ``intercept`` on the original scale like :class:`LinearTerms`.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        codes: Mapping[str, np.ndarray],
        *,
        levels: Mapping[str, Sequence[Any]] | None = None,
        trials: np.ndarray | None = None,
        priors: Mapping[str, float] | None = None,
        centered: Sequence[str] | Literal["auto"] = (),
        collapse: bool = False,
        predictors: Sequence[str] | None = None,
        center: np.ndarray | None = None,
        scale: np.ndarray | None = None,
    ) -> None:
        X = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
        if X.ndim != 2:
            raise ValueError("X must be a 2-d array (rows × predictors).")
        n, p = X.shape
        groups = tuple(str(g) for g in codes)
        if not groups:
            raise ValueError("FastLogit needs at least one grouping column.")
        nt0 = np.ones(n) if trials is None else np.asarray(trials, dtype=np.float64).reshape(n)
        if isinstance(centered, str) and centered == "auto":
            centered = tuple(
                g
                for g in groups
                if np.median(np.bincount(np.asarray(codes[g]), weights=nt0)) >= AUTO_CENTER_ROWS
            )
        elif isinstance(centered, str):
            raise ValueError(f"centered={centered!r}: expected 'auto' or a list of groups.")
        unknown = sorted(set(centered) - set(groups))
        if unknown:
            raise ValueError(f"centered={list(centered)}: {unknown} are not groups {groups}.")
        levels = dict(levels or {})
        n_levels = []
        level_labels: dict[str, list[Any]] = {}
        for g in groups:
            c = np.asarray(codes[g])
            if c.shape != (n,):
                raise ValueError(f"codes[{g!r}] must have one code per row.")
            labs = list(levels[g]) if g in levels else list(range(int(c.max()) + 1))
            if c.min() < 0 or c.max() >= len(labs):
                raise ValueError(f"codes[{g!r}] outside 0..{len(labs) - 1}.")
            if len(labs) < 2:
                raise ValueError(f"group {g!r} needs at least two levels.")
            n_levels.append(len(labs))
            level_labels[g] = labs
        pr = {**DEFAULT_PRIORS, "intercept_loc": 0.0, **dict(priors or {})}
        offs = np.concatenate([[0], np.cumsum(n_levels)]).astype(np.int64)
        code_mat = np.stack([np.asarray(codes[g], dtype=np.int64) for g in groups])
        yv = np.asarray(y, dtype=np.float64).reshape(n)
        nt = nt0
        if collapse:
            X, yv, nt, code_mat = collapse_rows(X, yv, nt, code_mat)
        self.n_rows_in = n
        self.n_rows = int(X.shape[0])
        # rows sorted by level (coarsest group first) so that levels come in runs
        order = np.lexsort([code_mat[g] for g in np.argsort(n_levels)[::-1]])
        X, yv, nt, code_mat = X[order], yv[order], nt[order], code_mat[:, order]
        self.X, self.y, self.trials, self.runs, self.rptr = _to_blocks(
            X, yv, nt, code_mat + offs[:-1, None]
        )
        self.offs = offs
        self.centered = np.array([g in set(centered) for g in groups], dtype=np.bool_)
        self.centered_groups = tuple(g for g in groups if g in set(centered))
        self.prior = np.array(
            [pr["intercept_loc"], pr["intercept"], pr["coef"], pr["group_sd"]], dtype=np.float64
        )
        self.center = np.zeros(p) if center is None else np.asarray(center, dtype=np.float64)
        self.scale = np.ones(p) if scale is None else np.asarray(scale, dtype=np.float64)
        self.layout = _Layout(p, groups, tuple(n_levels))
        self.predictors = (
            [f"x{j}" for j in range(p)] if predictors is None else [str(c) for c in predictors]
        )
        self.levels = level_labels
        self.meta = np.array(
            [
                self.X.ctypes.data,
                self.y.ctypes.data,
                self.trials.ctypes.data,
                self.runs.ctypes.data,
                self.offs.ctypes.data,
                self.centered.ctypes.data,
                self.prior.ctypes.data,
                self.center.ctypes.data,
                self.scale.ctypes.data,
                self.X.shape[0],
                p,
                len(groups),
                int(offs[-1]),
                self.layout.n_dim,
                self.X.shape[2],
                self.rptr.ctypes.data,
                self.runs.shape[0],
            ],
            dtype=np.uint64,
        )

    # ---- construction from dearstats' PyMC model -----------------------------------------
    @classmethod
    def from_pymc_model(
        cls, model: Any, *, priors: Mapping[str, float] | None = None, **kw: Any
    ) -> FastLogit:
        """From a :class:`HierarchicalLogit` ``pymc.Model`` (its ``pm.Data`` and coords).

        ``priors`` must be the ones the model was built with (default: the defaults).
        """
        X = np.asarray(model["X"].get_value())
        groups = [name[len("idx_") :] for name in model.named_vars if str(name).startswith("idx_")]
        codes = {g: np.asarray(model[f"idx_{g}"].get_value()) for g in groups}
        levels = {g: list(model.coords[g]) for g in groups}
        trials = np.asarray(model["trials"].get_value()) if "trials" in model.named_vars else None
        return cls(
            X,
            np.asarray(model["y_obs"].get_value()),
            codes,
            levels=levels,
            trials=trials,
            priors=priors,
            predictors=list(model.coords["predictor"]),
            center=np.asarray(model["x_center"].get_value()),
            scale=np.asarray(model["x_scale"].get_value()),
            **kw,
        )

    # ---- evaluation ----------------------------------------------------------------------
    @property
    def n_dim(self) -> int:
        return self.layout.n_dim

    def logp_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Log density (up to a constant) and gradient at the unconstrained point."""
        theta = np.ascontiguousarray(theta, dtype=np.float64)
        grad = np.empty(self.n_dim)
        val = _logp_grad(
            theta,
            grad,
            self.X,
            self.y,
            self.trials,
            self.runs,
            self.rptr,
            self.offs,
            self.centered,
            self.prior,
        )
        return float(val), grad

    def unconstrained_point(self, values: Mapping[str, Any]) -> np.ndarray:
        """theta from ``{"alpha", "beta", "sigma_<g>", "u_<g>"}`` (constrained values)."""
        lay = self.layout
        parts = [np.atleast_1d(float(values["alpha"])), np.asarray(values["beta"], float)]
        for g, c in zip(lay.groups, self.centered, strict=True):
            sg = float(values[f"sigma_{g}"])
            u = np.asarray(values[f"u_{g}"], dtype=float)
            parts += [np.atleast_1d(np.log(sg)), _zerosum_reverse(u * sg if c else u)]
        return np.concatenate(parts)

    def from_pymc_point(self, point: Mapping[str, Any]) -> np.ndarray:
        """theta from a PyMC unconstrained point (``sigma_g_log__``, ``u_g_zerosum__``).

        Only for non-centred groups (the PyMC model's parametrisation)."""
        parts = [np.atleast_1d(point["alpha"]), np.asarray(point["beta"])]
        for g in self.layout.groups:
            parts += [
                np.atleast_1d(point[f"sigma_{g}_log__"]),
                np.asarray(point[f"u_{g}_zerosum__"]),
            ]
        return np.concatenate(parts).astype(float)

    def expand(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """The reported values (LinearTerms names) of one unconstrained point."""
        out = np.empty(self.layout.n_expanded)
        _expand(
            np.ascontiguousarray(theta, dtype=np.float64),
            out,
            self.layout.p,
            self.offs,
            self.centered,
            self.center,
            self.scale,
        )
        return {
            name: out[sl].reshape(shape)
            for name, sl, shape in zip(*self._expanded_info(), strict=True)
        }

    def initial_point(self, seed: int | None = None) -> np.ndarray:
        """A start like PyMC's: prior location (0, σ = 1) jittered by U(−1, 1)."""
        theta = np.random.default_rng(seed).uniform(-1.0, 1.0, self.n_dim)
        theta[0] += self.prior[0]
        return theta

    def _expanded_info(self) -> tuple[list[str], list[slice], list[tuple[int, ...]]]:
        lay = self.layout
        names: list[str] = ["alpha", "beta"]
        shapes: list[tuple[int, ...]] = [(), (lay.p,)]
        for g, k in zip(lay.groups, lay.n_levels, strict=True):
            names += [f"sigma_{g}", f"u_{g}"]
            shapes += [(), (k,)]
        names += ["intercept", "coef"]
        shapes += [(), (lay.p,)]
        slices, pos = [], 0
        for shape in shapes:
            size = int(np.prod(shape)) if shape else 1
            slices.append(slice(pos, pos + size))
            pos += size
        return names, slices, shapes

    def _dims_coords(self) -> tuple[dict[str, tuple[str, ...]], dict[str, Any]]:
        dims: dict[str, tuple[str, ...]] = {"beta": ("predictor",), "coef": ("predictor",)}
        coords: dict[str, Any] = {"predictor": list(self.predictors)}
        for g in self.layout.groups:
            dims[f"u_{g}"] = (g,)
            coords[g] = list(self.levels[g])
        return dims, coords

    # ---- nutpie --------------------------------------------------------------------------
    def compile(self, entry: Entry = "cfunc") -> Any:
        """The nutpie compiled model: C function pointers (``"cfunc"``) or Python
        callbacks through :func:`nutpie.compiled_pyfunc.from_pyfunc` (``"pyfunc"``)."""
        if entry == "cfunc":
            logp_c, expand_c = _cfuncs()
            dims, coords = self._dims_coords()
            return _FastCompiled(
                dims=dims, fast=self, logp_c=logp_c, expand_c=expand_c, _coords=coords
            )
        if entry == "pyfunc":
            return self._from_pyfunc()
        raise ValueError(f"entry={entry!r}: expected 'cfunc' or 'pyfunc'.")

    def _from_pyfunc(self) -> Any:
        from nutpie.compiled_pyfunc import from_pyfunc

        names, _, shapes = self._expanded_info()
        dims, coords = self._dims_coords()
        fast = self

        def make_logp_fn():
            def logp(x, **_shared):
                return fast.logp_grad(x)

            return logp

        def make_expand_fn(seed1, seed2, chain):
            def expand(x, **_shared):
                return fast.expand(x)

            return expand

        return from_pyfunc(
            ndim=self.n_dim,
            make_logp_fn=make_logp_fn,
            make_expand_fn=make_expand_fn,
            expanded_dtypes=[np.dtype("float64")] * len(names),
            expanded_shapes=shapes,
            expanded_names=names,
            coords=coords,
            dims=dims,
            make_initial_point_fn=self.initial_point,
        )

    def sample(
        self,
        *,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        cores: int | None = None,
        seed: int = 0,
        target_accept: float = 0.9,
        maxdepth: int = 10,
        adaptation: str = "diag",
        entry: Entry = "cfunc",
        compiled: Any = None,
        **kwargs: Any,
    ) -> xr.DataTree:
        """NUTS draws (nutpie) as a DataTree with ``posterior`` and ``sample_stats``.

        ``posterior.attrs`` records the settings and ``compile_seconds`` /
        ``sampling_seconds``. ``adaptation`` is nutpie's mass-matrix adaptation
        (``"diag"`` or ``"low_rank"``); other keywords go to :func:`nutpie.sample`.
        """
        import os

        import nutpie
        from threadpoolctl import threadpool_limits

        t0 = time.perf_counter()
        model = compiled if compiled is not None else self.compile(entry)
        t1 = time.perf_counter()
        with threadpool_limits(limits=1):
            idata = nutpie.sample(
                model,
                draws=draws,
                tune=max(tune, 1),
                chains=chains,
                cores=cores or max(1, min(chains, os.cpu_count() or 1)),
                seed=seed,
                save_warmup=False,
                progress_bar=False,
                target_accept=target_accept,
                maxdepth=maxdepth,
                adaptation=adaptation,
                **kwargs,
            )
        t2 = time.perf_counter()
        idata["posterior"].attrs.update(
            {
                "dearstats_inference": "nuts",
                "dearstats_sampler": f"fast-{entry}",
                "dearstats_random_seed": seed,
                "dearstats_draws": int(draws),
                "dearstats_tune": int(tune),
                "dearstats_chains": int(chains),
                "dearstats_target_accept": float(target_accept),
                "dearstats_max_treedepth": int(maxdepth),
                "dearstats_adaptation": adaptation,
                "compile_seconds": round(t1 - t0, 4),
                "dearstats_sampling_seconds": round(t2 - t1, 3),
            }
        )
        return idata

    # ---- timing --------------------------------------------------------------------------
    def time_gradient(self, theta: np.ndarray | None = None, *, min_seconds: float = 0.3) -> float:
        """Seconds per logp+gradient evaluation (numba loop, one thread, best of 3)."""
        theta = self.initial_point(0) if theta is None else np.asarray(theta, dtype=np.float64)
        grad = np.empty(self.n_dim)
        args = (
            theta,
            grad,
            self.X,
            self.y,
            self.trials,
            self.runs,
            self.rptr,
            self.offs,
            self.centered,
            self.prior,
        )
        return time_kernel(_repeat_fast, args, min_seconds=min_seconds)


def time_kernel(repeat_fn: Any, args: tuple, *, min_seconds: float = 0.3) -> float:
    """Seconds per call of a numba ``repeat_fn(reps, *args)`` (best of three batches)."""
    repeat_fn(1, *args)  # compile
    reps = 1
    while True:
        t = time.perf_counter()
        repeat_fn(reps, *args)
        dt = time.perf_counter() - t
        if dt > min_seconds / 3 or reps > 1 << 24:
            break
        reps *= 4
    best = dt / reps
    for _ in range(2):
        t = time.perf_counter()
        repeat_fn(reps, *args)
        best = min(best, (time.perf_counter() - t) / reps)
    return best


def time_floor(
    X: np.ndarray, y: np.ndarray, *, blocked: bool = False, min_seconds: float = 0.3
) -> float:
    """Seconds per evaluation of the floor on rows (X, y): :func:`floor_logp_grad` (a row
    loop calling libm's exp/log1p) or, with ``blocked``, :func:`floor_blocked`."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    beta = np.random.default_rng(0).normal(size=X.shape[1]) * 0.1
    grad = np.empty(X.shape[1])
    if blocked:
        Xb, yb, _, _, _ = _to_blocks(X, y, np.ones_like(y), np.zeros((0, X.shape[0]), np.int64))
        return time_kernel(_repeat_floor_blocked, (beta, grad, Xb, yb), min_seconds=min_seconds)
    return time_kernel(_repeat_floor, (beta, grad, X, y), min_seconds=min_seconds)


@dataclass(frozen=True)
class _FastCompiled:
    """A nutpie compiled model whose logp/gradient and expansion are numba C callbacks."""

    dims: dict[str, tuple[str, ...]] | None
    fast: FastLogit
    logp_c: Any
    expand_c: Any
    _coords: dict[str, Any]
    _transform_adapt_args: dict | None = None
    reparameterized_names: list[str] | None = field(default=None, kw_only=True)

    @property
    def n_dim(self) -> int:
        return self.fast.n_dim

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        names, _, shapes = self.fast._expanded_info()
        return dict(zip(names, shapes, strict=True))

    @property
    def coords(self) -> dict[str, Any]:
        return self._coords

    def with_transform_adapt(self, **kwargs: Any) -> _FastCompiled:
        return dataclasses.replace(self, _transform_adapt_args=kwargs)

    def _make_sampler(
        self, settings, init_mean, cores, progress_type, extra_callback, extra_callback_rate, store
    ):
        from nutpie import _lib

        return _lib.PySampler.from_pymc(
            settings,
            cores,
            self._make_model(init_mean),
            progress_type,
            extra_callback,
            extra_callback_rate,
            store,
        )

    def _make_model(self, init_mean):
        from nutpie import _lib

        fast = self.fast
        logp_fn = _lib.LogpFunc(self.logp_c.address, fast.meta.ctypes.data, self)
        expand_fn = _lib.ExpandFunc(
            fast.n_dim, fast.layout.n_expanded, self.expand_c.address, fast.meta.ctypes.data, self
        )
        names, _, shapes = fast._expanded_info()
        coords = dict(self._coords)
        dim_sizes = {k: len(v) for k, v in coords.items()}
        variables = _lib.PyVariable.new_variables(
            names,
            ["float64"] * len(names),
            [list(s) for s in shapes],
            dim_sizes,
            dict(self.dims or {}),
        )
        outer = self._transform_adapt_args or {}

        def make_adapter(*args, **kwargs):
            from nutpie.transform_adapter import make_transform_adapter

            return make_transform_adapter(**outer)(*args, **kwargs, logp_fn=None)

        return _lib.PyMcModel(
            logp_fn,
            expand_fn,
            variables,
            fast.n_dim,
            dim_sizes,
            coords,
            fast.initial_point,
            make_adapter,
        )

    def benchmark_logp(self, point: np.ndarray, num_evals: int, cores: int | Sequence[int]):
        """nutpie's own timing of logp+gradient evaluations (as for compiled PyMC models)."""
        from nutpie.sample import CompiledModel

        return CompiledModel.benchmark_logp(self, point, num_evals, cores)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# The fused log density of HierarchicalLogit's PyMC model, on nutpie's vector
# --------------------------------------------------------------------------------------


def _value_layout(model: Any) -> tuple[list[str], dict[str, slice], dict[str, tuple[int, ...]]]:
    """nutpie's unconstrained vector: value variables of ``model.free_RVs``, raveled."""
    point = model.initial_point()
    names: list[str] = []
    slices: dict[str, slice] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    pos = 0
    for rv in model.free_RVs:
        name = model.rvs_to_values[rv].name
        shape = tuple(np.shape(point[name]))
        size = int(np.prod(shape)) if shape else 1
        names.append(name)
        slices[name] = slice(pos, pos + size)
        shapes[name] = shape
        pos += size
    return names, slices, shapes


def _const_param(var: Any) -> float | None:
    """The value of a constant scalar graph (a prior's parameter), else None."""
    try:
        from pytensor.tensor import get_underlying_scalar_constant_value

        return float(get_underlying_scalar_constant_value(var))
    except Exception:  # not a constant
        return None


class FusedLogit:
    """:class:`FastLogit`'s kernel as the log density of a :class:`HierarchicalLogit`
    ``pymc.Model`` on nutpie's unconstrained vector (issue 7).

    For :meth:`HierarchicalLogit._fused_log_density
    <dearstats.models.hierarchical.HierarchicalLogit._fused_log_density>` and
    :func:`dearstats.models._fast_renewal.fused_compiled`: nutpie's vector of that model is
    the value variables of ``model.free_RVs`` in order, which LinearTerms creates as
    ``alpha``, ``beta``, then per group ``sigma_<g>_log__`` and ``u_<g>_zerosum__``
    (non-centred) or ``e_<g>_zerosum__`` (centred, ``e_g ~ ZeroSumNormal(σ_g)``): exactly
    FastLogit's theta (α, β, then log σ_g and the K_g − 1 free values per group) with
    FastLogit's ``centered`` set to the groups PyMC samples centred. :meth:`from_model`
    checks that layout, the transforms, the priors and the likelihood and raises
    :class:`NotImplementedError` for anything else (varying slopes, fixed or outside
    groups, no predictors or no groups, other likelihoods or extra terms).

    Attributes used by ``fused_compiled``: :attr:`cfunc` (FastLogit's numba C callback,
    nutpie's logp signature), :attr:`meta` (its user data: keep this object alive while
    nutpie may call it), :attr:`n_dim`, :attr:`names`, :attr:`slices`, :attr:`shapes`.
    """

    def __init__(
        self,
        fast: FastLogit,
        names: list[str],
        slices: dict[str, slice],
        shapes: dict[str, tuple[int, ...]],
    ) -> None:
        self.fast = fast
        self.names = names
        self.slices = slices
        self.shapes = shapes
        self.meta = fast.meta
        self.centered_groups = fast.centered_groups
        _cfuncs()  # compile the C callback now (seconds), not inside nutpie.sample

    @classmethod
    def from_model(
        cls,
        model: Any,
        *,
        groups: Sequence[str],
        priors: Mapping[str, float],
        intercept_loc: float = 0.0,
    ) -> FusedLogit:
        """From the ``pymc.Model`` of ``HierarchicalLogit._build`` (its ``pm.Data``).

        ``groups`` are the model's grouping columns in order and ``priors`` the merged
        prior scales it was built with (``intercept``, ``coef``, ``group_sd``); a prior
        scale or location that differs from the model's constant raises
        :class:`ValueError`, a structure the kernel does not cover
        :class:`NotImplementedError`. Groups whose effects are ``e_<g>`` in the model are
        sampled centred by the kernel too.
        """
        groups = tuple(str(g) for g in groups)
        if not groups:
            raise NotImplementedError("FusedLogit: no grouping columns.")
        named = model.named_vars
        centered = tuple(g for g in groups if f"e_{g}" in named)
        expected: list[tuple[str, str | None]] = [("alpha", None), ("beta", None)]
        for g in groups:
            expected += [
                (f"sigma_{g}_log__", "LogTransform"),
                (f"{'e' if g in centered else 'u'}_{g}_zerosum__", "ZeroSumTransform"),
            ]
        names, slices, shapes = _value_layout(model)
        if names != [n for n, _ in expected]:
            raise NotImplementedError(
                f"FusedLogit: the model's free values are {names}; the kernel covers "
                f"{[n for n, _ in expected]} (random intercepts, no varying slopes)."
            )
        transforms = {
            model.rvs_to_values[rv].name: model.rvs_to_transforms.get(rv) for rv in model.free_RVs
        }
        for name, want in expected:
            tr = transforms[name]
            got = None if tr is None else type(tr).__name__
            if got != want:
                raise NotImplementedError(
                    f"FusedLogit: {name!r} has transform {got}; expected {want}."
                )
        obs = list(model.observed_RVs)
        if len(obs) != 1 or obs[0].name != "y" or model.potentials:
            raise NotImplementedError("FusedLogit: the model must have one observed 'y'.")
        kind = type(obs[0].owner.op).__name__
        has_trials = "trials" in named
        if kind not in ("BernoulliRV", "BinomialRV") or (kind == "BinomialRV") != has_trials:
            raise NotImplementedError(f"FusedLogit: likelihood {kind} is not covered.")
        X = np.asarray(model["X"].get_value(), dtype=np.float64)
        p = X.shape[1] if X.ndim == 2 else 0
        if p == 0 or shapes["beta"] != (p,):
            raise NotImplementedError("FusedLogit: needs a (rows, predictors) X and beta.")
        pr = {**DEFAULT_PRIORS, **{k: float(v) for k, v in priors.items()}}
        checks: list[tuple[str, int, float]] = [
            ("alpha", 0, float(intercept_loc)),
            ("alpha", 1, pr["intercept"]),
        ]
        checks += [("beta", 0, 0.0), ("beta", 1, pr["coef"])]
        for g in groups:
            checks.append((f"sigma_{g}", -1, pr["group_sd"]))
            if g not in centered:
                checks.append((f"u_{g}", 0, 1.0))
        for rv_name, k, want_value in checks:
            params = list(model[rv_name].owner.op.dist_params(model[rv_name].owner))
            value = _const_param(params[k])
            if value is None or not math.isclose(value, want_value, rel_tol=1e-9, abs_tol=1e-12):
                raise ValueError(
                    f"FusedLogit: prior parameter {k} of {rv_name!r} is {value} in the model "
                    f"but {want_value} in priors; pass the priors the model was built with."
                )
        codes = {g: np.asarray(model[f"idx_{g}"].get_value()) for g in groups}
        fast = FastLogit(
            X,
            np.asarray(model["y_obs"].get_value()),
            codes,
            levels={g: list(model.coords[g]) for g in groups},
            trials=np.asarray(model["trials"].get_value()) if has_trials else None,
            priors={**pr, "intercept_loc": float(intercept_loc)},
            centered=centered,
            predictors=list(model.coords["predictor"]),
            center=np.asarray(model["x_center"].get_value()),
            scale=np.asarray(model["x_scale"].get_value()),
        )
        if fast.n_dim != slices[names[-1]].stop:
            raise NotImplementedError("FusedLogit: the kernel's vector is not nutpie's.")
        return cls(fast, names, slices, shapes)

    @property
    def n_dim(self) -> int:
        return self.fast.n_dim

    @property
    def cfunc(self) -> Any:
        """The numba C callback ``(dim, x*, grad*, logp*, user_data) → int64``; user data
        ``meta.ctypes.data`` (0 ok, 3/4 non-finite gradient/logp, −1 wrong dim)."""
        return _cfuncs()[0]

    def logp_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Log density (PyMC's up to an additive constant) and gradient at ``x``."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.shape != (self.n_dim,):
            raise ValueError(f"x has shape {x.shape}; expected ({self.n_dim},).")
        return self.fast.logp_grad(x)

    def to_point(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The unconstrained vector as PyMC's point dict (value-variable names)."""
        x = np.asarray(x, dtype=np.float64)
        return {n: x[self.slices[n]].reshape(self.shapes[n]) for n in self.names}

    def from_point(self, point: Mapping[str, Any]) -> np.ndarray:
        """PyMC's point dict (value-variable names) as the unconstrained vector."""
        return np.concatenate([np.asarray(point[n], dtype=np.float64).ravel() for n in self.names])

"""Random streams: one per purpose, and one per (purpose, account) for per-account detail.

Everything random in the simulated world comes from ``np.random.SeedSequence(random_seed,
spawn_key=(purpose,))`` (a world-level stream, always drawn with a shape fixed by
``n_accounts`` and ``years``) or ``SeedSequence(random_seed, spawn_key=(purpose, i))`` (the
stream of account ``i``, read in time order). Because no draw's position depends on the
simulated state, an intervention on some accounts leaves every other account's random
numbers, and so its whole history, unchanged (common random numbers).
"""

from __future__ import annotations

import numpy as np

__all__ = ["PURPOSES", "Streams", "logistic", "poisson_inverse"]

#: purpose -> spawn key; never renumber (it would change every simulated world)
PURPOSES: dict[str, int] = {
    "accounts": 0,
    "csms": 1,
    "latent": 2,
    "activity_counts": 3,
    "renewals": 4,
    "cross_sell": 5,
    "contacts": 6,
    "seats": 7,
    "outcomes": 8,
    "activity_details": 9,
    "usage_users": 10,
    "usage_active": 11,
    "usage_detail": 12,
    "csm_reads": 13,
}


class Streams:
    """Factory of the world-level and per-account generators of one ``random_seed``."""

    def __init__(self, random_seed: int) -> None:
        self.random_seed = int(random_seed)

    def world(self, purpose: str) -> np.random.Generator:
        """The world-level generator of ``purpose`` (draw fixed shapes only)."""
        seq = np.random.SeedSequence(self.random_seed, spawn_key=(PURPOSES[purpose],))
        return np.random.Generator(np.random.PCG64(seq))

    def account(self, purpose: str, account: int) -> np.random.Generator:
        """The generator of ``purpose`` for account number ``account`` (0-based)."""
        seq = np.random.SeedSequence(self.random_seed, spawn_key=(PURPOSES[purpose], int(account)))
        return np.random.Generator(np.random.PCG64(seq))


def logistic(x: np.ndarray | float) -> np.ndarray:
    """``1 / (1 + exp(-x))``, elementwise (float32 stays float32)."""
    x = np.asarray(x)
    if x.dtype != np.float32:
        x = x.astype(np.float64)
    return 1.0 / (1.0 + np.exp(-x))


def poisson_inverse(u: np.ndarray, rate: np.ndarray, max_count: int = 60) -> np.ndarray:
    """Poisson(``rate``) counts by inversion of the uniform ``u``: monotone in ``rate``.

    ``n = min{k : F(k; rate) >= u}``, so with a fixed ``u`` a higher rate never gives fewer
    events (the coupling behind common random numbers).
    """
    rate = np.asarray(rate, dtype=float)
    p = np.exp(-rate)
    cdf = p.copy()
    n = np.zeros(rate.shape, dtype=np.int64)
    for k in range(1, max_count + 1):
        more = u > cdf
        if not more.any():
            break
        n += more
        p = p * rate / k
        cdf = cdf + p
    return n

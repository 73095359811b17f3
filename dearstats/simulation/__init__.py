"""A synthetic SaaS company with known truth, to test every statistical claim against.

:func:`simulate` returns the nine tables of the data contract and the :class:`Truth` that
generated them: segments, CSMs with different skill, monthly latent health on the four
DEAR dimensions, CSM activities that causally raise health but are aimed at accounts whose
health is low (confounding), observables drawn from the latents (seats, contacts touched,
telemetry, success-plan outcomes), and contract renewals whose churn / contraction / flat /
expansion probabilities are known functions of the latents. :class:`Intervention`
re-simulates a what-if with common random numbers. :func:`csm_read_confounders` gives the
health reads the simulated CSMs act on as ``extra_confounders`` of
:func:`dearstats.activity_effects`. :func:`write_book_parquet` streams a
large book (hundreds of millions of usage rows) to Parquet.
"""

from __future__ import annotations

from dearstats.simulation._config import (
    ACTIVITY_TYPES,
    DIMENSIONS,
    FEATURE_CATALOG,
    SEGMENTS,
    ActivityTargeting,
    SegmentConfig,
    SimConfig,
)
from dearstats.simulation._core import ParquetBook, simulate, write_book_parquet
from dearstats.simulation._intervention import Intervention
from dearstats.simulation._reads import csm_read_confounders
from dearstats.simulation._truth import Truth

__all__ = [
    "ACTIVITY_TYPES",
    "DIMENSIONS",
    "FEATURE_CATALOG",
    "SEGMENTS",
    "ActivityTargeting",
    "Intervention",
    "ParquetBook",
    "SegmentConfig",
    "SimConfig",
    "Truth",
    "csm_read_confounders",
    "simulate",
    "write_book_parquet",
]

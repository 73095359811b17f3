"""Point-in-time DEAR features: one row per account (× date) with ARR > 0.

``build_features(book, as_of=...)`` cuts the book with ``book.as_of(as_of)`` and computes
Deployment, Engagement, Adoption and ROI features plus activity counts and context as
lazy narwhals queries on the book's engine (pandas, Polars, DuckDB, PySpark); only small
account × date frames are collected to pandas. ``build_panel`` does many dates at once,
``renewal_snapshots`` the features ahead of each renewal. Every column is documented in
:data:`FEATURES` (render it with :func:`features_markdown`); every window, SLA and
threshold lives in :class:`FeatureConfig`.

The boundary, once: a feature "as of t" reads only records dated strictly before ``t``;
"the last w days" is ``[t − w days, t)``; an account has a row when its ARR on ``t − 1``
(contracts with ``start_date < t ≤ end_date``) is positive.
"""

from __future__ import annotations

from dearstats.features._config import FeatureConfig
from dearstats.features._registry import (
    DIMENSIONS,
    FEATURES,
    FeatureSpec,
    feature_specs,
    features_markdown,
)
from dearstats.features.build import (
    build_features,
    build_panel,
    deployment_by_product,
    renewal_snapshots,
)

__all__ = [
    "DIMENSIONS",
    "FEATURES",
    "FeatureConfig",
    "FeatureSpec",
    "build_features",
    "build_panel",
    "deployment_by_product",
    "feature_specs",
    "features_markdown",
    "renewal_snapshots",
]

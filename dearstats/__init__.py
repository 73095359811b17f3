"""dearstats: statistical modelling and forecasting of SaaS revenue retention from DEAR
customer-health data.

Public names only; importing dearstats has no side effects. The model classes (which
import PyMC and statsmodels) load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

# ``forecast`` and ``backtest`` are both functions and submodules: importing the functions
# eagerly binds the package attributes to the functions (a lazy import would let the
# submodule object shadow them once ``dearstats.forecast`` is imported anywhere).
from dearstats.backtest import Backtest, backtest
from dearstats.book import Book, read_book
from dearstats.errors import (
    BookValidationError,
    ConvergenceWarning,
    DearstatsError,
    DearstatsWarning,
    InputError,
)
from dearstats.forecast import Forecast, forecast
from dearstats.retention import renewal_events, retention
from dearstats.scorecard import ScoreCard
from dearstats.simulation import Intervention, SimConfig, simulate

# name -> module, imported on first attribute access (PEP 562)
_LAZY = {
    "build_features": "dearstats.features",
    "build_panel": "dearstats.features",
    "FeatureConfig": "dearstats.features",
    "renewal_snapshots": "dearstats.features",
    "calibrate_scorecard": "dearstats.calibrate",
    "renewal_frame": "dearstats.calibrate",
    "RenewalLogit": "dearstats.models",
    "ColorModel": "dearstats.models",
    "HierarchicalLogit": "dearstats.models",
    "HierarchicalRenewal": "dearstats.models",
    "HierarchicalOrderedLogit": "dearstats.models",
    "scenario": "dearstats.scenarios",
    "Scenario": "dearstats.scenarios",
    "activity_effects": "dearstats.effects",
    "ActivityEffects": "dearstats.effects",
    "report": "dearstats.report",
    "ReportResult": "dearstats.report",
}

__all__ = [
    "Backtest",
    "Book",
    "Forecast",
    "BookValidationError",
    "ConvergenceWarning",
    "DearstatsError",
    "DearstatsWarning",
    "InputError",
    "Intervention",
    "ScoreCard",
    "SimConfig",
    "backtest",
    "forecast",
    "read_book",
    "renewal_events",
    "retention",
    "simulate",
    *sorted(_LAZY),
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dearstats' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

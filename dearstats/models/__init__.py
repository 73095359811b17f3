"""Models: statsmodels-backed (logistic, colour) and PyMC-backed (hierarchical)."""

from dearstats.models._bayes import BayesModel, check_convergence, compare
from dearstats.models.color import ColorModel
from dearstats.models.hierarchical import HierarchicalLogit, HierarchicalRenewal
from dearstats.models.logistic import RenewalLogit
from dearstats.models.ordinal_bayes import HierarchicalOrderedLogit

__all__ = [
    "BayesModel",
    "ColorModel",
    "HierarchicalLogit",
    "HierarchicalOrderedLogit",
    "HierarchicalRenewal",
    "RenewalLogit",
    "check_convergence",
    "compare",
]

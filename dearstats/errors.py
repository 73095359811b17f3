"""One exception and warning tree for dearstats.

Every message says what was expected, what was found (names, counts, an example) and how
to fix it.
"""

from __future__ import annotations

__all__ = [
    "BookValidationError",
    "ConvergenceWarning",
    "DearstatsError",
    "DearstatsWarning",
    "InputError",
    "ModelFileMismatchError",
]


class DearstatsError(Exception):
    """Base class of every error dearstats raises on purpose."""


class InputError(DearstatsError, ValueError):
    """An argument or a table is not what dearstats can work with."""


class BookValidationError(InputError):
    """A book of business failed validation; ``.report`` lists every problem at once."""

    def __init__(self, report):
        self.report = report
        super().__init__(report.render())


class ModelFileMismatchError(DearstatsError):
    """A saved model file was written by another model class, version or configuration."""


class DearstatsWarning(UserWarning):
    """Base class of dearstats warnings."""


class ConvergenceWarning(DearstatsWarning):
    """A Bayesian fit failed the diagnostics gate (R-hat, ESS, divergences)."""

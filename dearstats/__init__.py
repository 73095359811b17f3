"""dearstats: statistical modelling and forecasting of SaaS revenue retention from DEAR
customer-health data.

Public names only; importing dearstats has no side effects.
"""

from __future__ import annotations

from dearstats.book import Book, read_book
from dearstats.errors import (
    BookValidationError,
    ConvergenceWarning,
    DearstatsError,
    DearstatsWarning,
    InputError,
)

__all__ = [
    "Book",
    "BookValidationError",
    "ConvergenceWarning",
    "DearstatsError",
    "DearstatsWarning",
    "InputError",
    "read_book",
]

__version__ = "0.1.0"

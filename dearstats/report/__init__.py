"""The board pack: ``report(book, fiscal_year, out=...)`` → HTML, PDF, figures and tables.

See :func:`dearstats.report.build.report` for what it contains and
:class:`ReportResult` for what it returns. Every figure is a :class:`ReportFigure` with
the finding as its title and ``.frame()`` for the numbers behind it.

``dearstats.report`` is both this package and the function ``ds.report``: importing the
package (``import dearstats.report``) makes Python set the attribute ``dearstats.report``
to the module, so the module is made callable and forwards to :func:`report` — the two
spellings ``ds.report(...)`` and ``dearstats.report.report(...)`` always work.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from dearstats.report._figures import ReportFigure
from dearstats.report.build import ReportResult, report

__all__ = ["ReportFigure", "ReportResult", "report"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> ReportResult:
        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

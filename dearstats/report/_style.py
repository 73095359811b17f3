"""One matplotlib style for every report figure, and the number formats of the report.

Colour encoding of health (colour-blind safe, never colour alone)
-----------------------------------------------------------------
The red / yellow / green of a DEAR scorecard are drawn with the Okabe–Ito palette
(vermillion, orange, bluish green), which stays distinct under the common colour-vision
deficiencies, *and* a second cue: a hatch pattern on areas (red ``///``, yellow ``..``,
green plain) and a marker shape on points (red ▼, yellow ●, green ▲). Every health chart
also names the colours in its legend or labels. Unknown (no data for the dimension) is
light grey with ``xx``.

Other series: the forecast is blue, actuals black, baselines sky blue / reddish purple /
grey — also from the Okabe–Ito palette, with distinct markers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure

#: health colours (Okabe–Ito) and their second cue
HEALTH: dict[str, str] = {
    "red": "#D55E00",  # vermillion
    "yellow": "#E69F00",  # orange
    "green": "#009E73",  # bluish green
    "unknown": "#C8C8C8",
}
HATCH: dict[str, str] = {"red": "///", "yellow": "..", "green": "", "unknown": "xx"}
MARKER: dict[str, str] = {"red": "v", "yellow": "o", "green": "^", "unknown": "s"}
HEALTH_LABEL: dict[str, str] = {
    "red": "red ▼",
    "yellow": "yellow ●",
    "green": "green ▲",
    "unknown": "unknown",
}
COLOUR_ORDER: tuple[str, ...] = ("red", "yellow", "green", "unknown")

#: series colours (Okabe–Ito)
FORECAST = "#0072B2"  # blue
ACTUAL = "#000000"
PLAN = "#CC79A7"  # reddish purple
NEUTRAL = "#7F7F7F"
MODEL_COLOURS: tuple[str, ...] = ("#0072B2", "#56B4E9", "#CC79A7", "#7F7F7F", "#F0E442")
MODEL_MARKERS: tuple[str, ...] = ("o", "s", "D", "P", "X")

#: page size of the PDF board pack (A4 landscape, inches); figures are drawn at this size
PAGE = (11.69, 8.27)
DPI_PNG = 110

RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",  # ships with matplotlib: same glyphs everywhere
    "font.size": 10.5,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#E3E3E3",
    "grid.linewidth": 0.8,
    "axes.edgecolor": "#555555",
    "axes.axisbelow": True,
    "legend.frameon": False,
    "legend.fontsize": 9.5,
    "hatch.linewidth": 0.8,
    "hatch.color": "#FFFFFF",
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "svg.hashsalt": "dearstats-report",  # stable element ids: same figure, same SVG bytes
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "axes.unicode_minus": True,
}


@contextmanager
def style() -> Iterator[None]:
    """The report style, scoped (never changes the user's global rcParams)."""
    with mpl.rc_context(RC):  # type: ignore[arg-type]
        yield


def new_figure(title: str, *, size: tuple[float, float] = PAGE) -> Figure:
    """A page-sized figure (no pyplot: nothing global to close) with the finding as its
    title, wrapped to the page width."""
    fig = Figure(figsize=size, layout="constrained")
    fig.suptitle(wrap(title, 88), x=0.01, ha="left", fontsize=14, fontweight="bold")
    return fig


def wrap(text: str, width: int) -> str:
    """Greedy word wrap (textwrap without its hyphen splitting of ranges like 88–92%)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# number formats (one place, so the title, the tables and the HTML agree)
def pct(x: float, digits: int = 1) -> str:
    """``0.9071 → '90.7%'``; NaN → ``'n/a'``."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{100 * x:.{digits}f}%"


def pct_range(lo: float, hi: float, digits: int = 1) -> str:
    """``(0.884, 0.927) → '88.4–92.7%'``."""
    return f"{100 * lo:.{digits}f}–{100 * hi:.{digits}f}%"


def pts(x: float, digits: int = 1) -> str:
    """A change in percentage points with its sign: ``0.0123 → '+1.2 pts'``."""
    if not math.isfinite(x):
        return "n/a"
    v = 100 * x
    sign = "−" if v < 0 else "+"
    return f"{sign}{abs(v):.{digits}f} pts"


def money(x: float) -> str:
    """Compact money: ``3_187_070 → '3.19M'``, ``146_932 → '147k'``, signed with ``−``."""
    if not math.isfinite(x):
        return "n/a"
    sign = "−" if x < 0 else ""
    a = abs(x)
    if a >= 1e9:
        s = f"{a / 1e9:.2f}B"
    elif a >= 1e6:
        s = f"{a / 1e6:.2f}M"
    elif a >= 1e3:
        s = f"{a / 1e3:.0f}k"
    else:
        s = f"{a:.0f}"
    return sign + s


def signed_money(x: float) -> str:
    """``money`` with an explicit ``+`` for gains."""
    return ("+" if x > 0 else "") + money(x)

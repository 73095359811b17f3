"""The board pack (dearstats.report, issue 6 item 1).

Fast path: one report on a small simulated book with the logit model and a two-year
backtest (logit, colour_rate, last_year) is built once per module and checked for files,
self-containment, findings and determinism. Acceptance (issue 6):

- ``report.html`` opened in headless Chromium through the DevTools protocol (a stdlib
  websocket client below), with DNS mapped to nothing: no console errors, no network
  request other than the file itself and its data: URIs, every image decoded, and the
  headline forecast visible in a screenshot (its text rendered light-on-dark in the top
  block); plus ``chromium --dump-dom`` shows the headline text in the DOM.
- ``report.pdf`` rendered to PNG pages with ``pdftoppm -r 50``: every page landscape and
  with content.

The browser and PDF tests skip (with the reason) only when ``chromium`` or ``pdftoppm``
is not installed; CI installs the Debian packages ``chromium`` and ``poppler-utils``.
"""

from __future__ import annotations

import base64
import html.parser
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import dearstats as ds
from dearstats.errors import ConvergenceWarning, InputError
from dearstats.report import ReportFigure, ReportResult, report
from dearstats.report import _figures as F
from dearstats.report import _tables as T
from dearstats.report._style import HATCH, HEALTH

FY = 2025
PLAN = {"grr": 0.9, "nrr": 1.05}
FIGURES = {
    "outlook",
    "distribution",
    "waterfall",
    "health_mix",
    "health_trend",
    "track_record",
    "calibration",
    "drivers",
    "scenarios",
    "targets",
    "at_risk",
}


def _chromium() -> str | None:
    for name in (
        os.environ.get("DEARSTATS_CHROMIUM"),
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


CHROMIUM = _chromium()
PDFTOPPM = shutil.which("pdftoppm")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)"
)
needs_pdftoppm = pytest.mark.skipif(
    PDFTOPPM is None,
    reason="pdftoppm is not installed (Debian: apt-get install -y poppler-utils)",
)


# ---------------------------------------------------------------------------------------
# fixtures: one book, one report (and one rerun with the same seed) per module
def _effects_frame() -> pd.DataFrame:
    """A small effects table shaped like dearstats.effects' ``.frame()``."""
    rows = []
    for act, eff in (("ebr", 0.03), ("training", 0.01), ("health_check", -0.004)):
        for est, shift in (("naive", -0.02), ("regression", 0.0), ("ipw", 0.002), ("dr", 0.0)):
            e = eff + shift
            rows.append(
                {
                    "activity": act,
                    "outcome": "renewed",
                    "estimator": est,
                    "estimate": e,
                    "std_err": 0.008,
                    "ci_low": e - 0.016,
                    "ci_high": e + 0.016,
                    "n": 5000,
                    "n_treated": 400,
                    "n_accounts": 300,
                    "unit": "probability",
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def book() -> ds.Book:
    return ds.simulate(n_accounts=600, years=5, random_seed=1)


@pytest.fixture(scope="module")
def built(book: ds.Book, tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    out = tmp_path_factory.mktemp("report") / "fy2025"
    return report(
        book, FY, out=out, model="logit", plan=PLAN, backtest_years=[2022, 2023], random_seed=0
    )


@pytest.fixture(scope="module")
def rerun(
    book: ds.Book, built: ReportResult, tmp_path_factory: pytest.TempPathFactory
) -> ReportResult:
    """Same book, settings and seed, reusing the forecast and backtest objects (the
    calibration and campaigns are recomputed), plus an activity-effects table."""
    out = tmp_path_factory.mktemp("report") / "again"
    return report(
        book,
        FY,
        out=out,
        plan=PLAN,
        forecast=built.forecast,
        backtest=built.backtest,
        effects=_effects_frame(),
        random_seed=0,
    )


# ---------------------------------------------------------------------------------------
# files, figures, tables
def test_writes_html_pdf_figures_and_tables(built: ReportResult) -> None:
    assert built.html.is_file()
    assert built.html.stat().st_size > 10_000
    assert built.pdf.is_file()
    assert built.pdf.read_bytes()[:5] == b"%PDF-"
    assert set(built.figures) >= FIGURES
    for name, paths in built.figures.items():
        assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert b"<svg" in paths["svg"].read_bytes()[:2000], name
        # every figure's numbers are a table: .frame() and tables/<name>.csv agree
        fig = built.plots[name]
        assert isinstance(fig, ReportFigure)
        frame = fig.frame()
        assert len(frame) > 0, name
        csv = pd.read_csv(built.tables[name])
        assert list(csv.columns) == [str(c) for c in frame.columns], name
        assert len(csv) == len(frame), name
    for name in (
        "headline",
        "forecast_by_segment",
        "retention_history",
        "targets",
        "forecast_accounts",
        "diagnostics",
        "data_period",
        "settings",
        "versions",
    ):
        assert built.tables[name].is_file(), name
    assert built.tables["headline"].parent == built.out / "tables"


def test_headline_numbers_match_the_forecast(built: ReportResult, book: ds.Book) -> None:
    h = built.headline
    fc = built.forecast
    assert h["fiscal_year"] == FY
    assert h["as_of"] == "2025-01-01"
    assert h["model"] == "logit"
    lo, hi = fc.interval("grr", 0.8)
    assert h["grr_lo80"] == pytest.approx(lo)
    assert h["grr_hi80"] == pytest.approx(hi)
    assert h["p_plan_grr"] == pytest.approx(fc.prob_at_least(PLAN["grr"], "grr"))
    assert h["plan_nrr"] == PLAN["nrr"]
    # the reference is the last *final* year: FY2024 is still provisional on 2025-01-01
    assert h["reference_year"] == 2023
    assert h["previous_year_provisional"] is True
    ret = ds.retention(book, 2023, as_of="2025-01-01").frame().set_index("segment")
    assert h["grr_reference"] == pytest.approx(ret.loc["All", "grr"])
    assert h["nrr_reference"] == pytest.approx(ret.loc["All", "nrr"])


def test_titles_state_the_finding_from_the_numbers(built: ReportResult) -> None:
    h = built.headline
    title = built.findings["outlook"]
    assert title.startswith(f"FY{FY} GRR forecast {100 * h['grr']:.1f}% (80%: ")
    assert f"{100 * h['grr_lo80']:.1f}–{100 * h['grr_hi80']:.1f}%" in title
    side = "above" if h["grr"] > PLAN["grr"] else "below"
    assert f"{side} plan 90.0% (P(hit plan) {100 * h['p_plan_grr']:.0f}%)" in title
    for name, text in built.findings.items():
        assert re.search(r"\d", text), f"{name}: the title states no number: {text!r}"
    mix = built.frame("health_mix")
    red = mix[(mix["colour"] == "red") & (mix["dimension"] != "overall")]
    top = red.sort_values("share", ascending=False).iloc[0]
    assert built.findings["health_mix"].startswith(
        f"{F._dim(top['dimension'])} has the largest red share of ARR: {100 * top['share']:.0f}%"
    )


def test_headline_title_without_plan_compares_with_last_final_year() -> None:
    h = {
        "fiscal_year": 2026,
        "grr": 0.907,
        "grr_lo80": 0.884,
        "grr_hi80": 0.927,
        "plan_grr": None,
        "reference_year": 2024,
        "grr_reference": 0.9,
    }
    assert (
        F.headline_title(h)
        == "FY2026 GRR forecast 90.7% (80%: 88.4–92.7%), +0.7 pts on FY2024 (90.0%)"
    )
    h |= {"plan_grr": 0.92, "p_plan_grr": 0.13}
    assert F.headline_title(h) == (
        "FY2026 GRR forecast 90.7% (80%: 88.4–92.7%), below plan 92.0% (P(hit plan) 13%)"
    )
    h |= {"grr_lo80": 0.907, "grr_hi80": 0.907}  # last_year: one number, no interval
    assert F.headline_title(h).startswith("FY2026 GRR forecast 90.7% (a point forecast), below")


def test_health_colours_are_not_told_by_colour_alone(built: ReportResult) -> None:
    assert len(set(HATCH[c] for c in ("red", "yellow", "green"))) == 3
    assert len(set(HEALTH.values())) == len(HEALTH)
    ax = built.plots["health_mix"].figure.axes[0]
    hatches = {p.get_hatch() for p in ax.patches}
    assert {HATCH["red"], HATCH["yellow"]} <= hatches


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.imgs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href", "srcset", "data", "poster", "action", "xlink:href"):
                self.refs.append((tag, k, v or ""))
        if tag == "img":
            self.imgs.append(dict(attrs).get("src") or "")


def test_html_is_self_contained(built: ReportResult) -> None:
    text = built.html.read_text(encoding="utf-8")
    p = _Links()
    p.feed(text)
    assert "script" not in p.tags, "the report needs no JavaScript"
    for tag, attr, value in p.refs:
        ok = value.startswith(("data:", "#"))
        assert ok, f"<{tag} {attr}={value[:80]!r}> points outside the file"
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, flags=re.I)
    assert not re.search(r"url\(\s*['\"]?(?!data:)", text), "CSS must not load anything"
    assert "@import" not in text
    assert len(p.imgs) == len(built.plots)
    assert all(src.startswith("data:image/png;base64,") for src in p.imgs)


def test_html_says_what_was_not_computed(built: ReportResult, rerun: ReportResult) -> None:
    first = built.html.read_text(encoding="utf-8")
    assert "Adjusted activity effects: not computed" in first
    assert "effects" in built.notes
    assert "effects" not in built.plots
    second = rerun.html.read_text(encoding="utf-8")
    assert "Adjusted activity effects: not computed" not in second
    assert "effects" in rerun.plots
    assert 'id="fig-effects"' in second
    assert rerun.findings["effects"].startswith(
        "Largest adjusted activity effect (dr): one more ebr moves renewed by +3.0 pts"
    )


def test_same_seed_gives_identical_tables(built: ReportResult, rerun: ReportResult) -> None:
    names = set(built.tables)
    assert set(rerun.tables) - names == {"effects"}
    different = [
        n for n in sorted(names) if built.tables[n].read_bytes() != rerun.tables[n].read_bytes()
    ]
    assert different == []
    assert rerun.headline == built.headline


@pytest.mark.slow
def test_same_seed_from_scratch_gives_identical_tables(
    book: ds.Book, built: ReportResult, tmp_path: Path
) -> None:
    again = report(
        book,
        FY,
        out=tmp_path / "r",
        model="logit",
        plan=PLAN,
        backtest_years=[2022, 2023],
        random_seed=0,
    )
    assert set(again.tables) == set(built.tables)
    for name, path in built.tables.items():
        assert path.read_bytes() == again.tables[name].read_bytes(), name


def test_input_errors_are_one_clear_line(
    built: ReportResult, book: ds.Book, tmp_path: Path
) -> None:
    import dearstats.report as module

    with pytest.raises(InputError, match="fiscal_year='2025'; expected an int"):
        module(book, "2025", out=tmp_path)  # the module is callable: ds.report(...)
    with pytest.raises(InputError, match="the forecast given is for FY2025"):
        report(book, 2024, out=tmp_path, forecast=built.forecast)
    with pytest.raises(InputError, match="no column"):
        T.effects_table(pd.DataFrame({"activity": ["ebr"]}))
    assert not (tmp_path / "report.html").exists()


# ---------------------------------------------------------------------------------------
# acceptance: the HTML in headless Chromium
class _WebSocket:
    """Just enough of RFC 6455 for the DevTools protocol (text frames, client masking)."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        hostport, _, path = url.removeprefix("ws://").partition("/")
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self._exact(1)
        assert b" 101 " in head.split(b"\r\n", 1)[0], head[:200]

    def _exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("the DevTools websocket closed")
            buf += chunk
        return bytes(buf)

    def send(self, data: bytes, opcode: int = 0x1) -> None:
        n = len(data)
        if n < 126:
            size = bytes([0x80 | n])
        elif n < 1 << 16:
            size = bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            size = bytes([0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        body = np.frombuffer(data, np.uint8) ^ np.resize(np.frombuffer(mask, np.uint8), n)
        self.sock.sendall(bytes([0x80 | opcode]) + size + mask + body.tobytes())

    def recv(self) -> str:
        parts = []
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._exact(2), "big")
            elif n == 127:
                n = int.from_bytes(self._exact(8), "big")
            data = self._exact(n)  # server frames are not masked
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping
                self.send(data, opcode=0xA)
                continue
            if opcode == 0x8:
                raise ConnectionError("the DevTools websocket was closed by the browser")
            parts.append(data)
            if b0 & 0x80:
                return b"".join(parts).decode()

    def close(self) -> None:
        self.sock.close()


class _Browser:
    """Headless Chromium with DNS mapped to nothing, driven over the DevTools protocol."""

    def __init__(self, profile: Path) -> None:
        assert CHROMIUM is not None
        args = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--window-size=1400,2000",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            port = self._port(profile / "DevToolsActivePort")
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
                targets = json.loads(r.read())
            page = next(t for t in targets if t["type"] == "page")
            self.ws = _WebSocket(page["webSocketDebuggerUrl"])
        except BaseException:
            self.close()
            raise
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _port(self, path: Path) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if path.exists() and len(lines := path.read_text().splitlines()) >= 2:
                return int(lines[0])
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self.proc.returncode}")
            time.sleep(0.1)
        raise TimeoutError("chromium did not open its DevTools port within 60 s")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}).encode())
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                assert "error" not in msg, (method, msg["error"])
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def open(self, url: str, settle: float = 1.0) -> list[dict[str, Any]]:
        """Navigate, wait for the load event and ``settle`` seconds more; the events."""
        self.events = []
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 60
        while not any(e["method"] == "Page.loadEventFired" for e in self.events):
            assert time.monotonic() < deadline, "the page did not finish loading in 60 s"
            self.events.append(json.loads(self.ws.recv()))
        self.ws.sock.settimeout(settle)
        try:
            while True:
                msg = json.loads(self.ws.recv())
                if "method" in msg:
                    self.events.append(msg)
        except TimeoutError:
            pass
        self.ws.sock.settimeout(60)
        return [e for e in self.events if "method" in e]

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)


def _problems(events: list[dict[str, Any]], page: str) -> tuple[list[str], list[str]]:
    """(requests to anything but the page file and data: URIs, console errors)."""
    requests, errors = [], []
    for e in events:
        m, p = e["method"], e.get("params", {})
        if m == "Network.requestWillBeSent":
            url = p["request"]["url"]
            if not (url == page or url.startswith("data:")):
                requests.append(url)
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
            errors.append(
                " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            )
        elif m == "Runtime.exceptionThrown":
            errors.append(p["exceptionDetails"].get("text", "exception"))
        elif m == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
            errors.append(p["entry"].get("text", ""))
        elif m == "Network.loadingFailed":
            errors.append(f"loading failed: {p.get('errorText')}")
    return requests, errors


_HEADLINE_JS = """(() => {
  const h = document.getElementById('headline-text');
  const r = h.getBoundingClientRect();
  const s = getComputedStyle(h);
  const imgs = Array.from(document.images);
  return {text: h.innerText, x: r.left, y: r.top, w: r.width, h: r.height,
          visible: s.visibility === 'visible' && s.display !== 'none' && s.opacity !== '0',
          images: imgs.length, decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
          scripts: document.scripts.length, viewport: [innerWidth, innerHeight]};
})()"""


@needs_chromium
def test_html_in_headless_chromium(built: ReportResult, tmp_path: Path) -> None:
    from PIL import Image

    control = tmp_path / "control.html"
    control.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
        '<img src="https://example.invalid/x.png"><script>console.error("boom")</script>'
        "</body></html>"
    )
    browser = _Browser(tmp_path / "profile")
    try:
        for domain in ("Page", "Network", "Runtime", "Log"):
            browser.call(f"{domain}.enable")
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            width=1400,
            height=2000,
            deviceScaleFactor=1,
            mobile=False,
        )
        # the harness sees what it must catch: an external request and a console error
        requests, errors = _problems(browser.open(control.as_uri()), control.as_uri())
        assert any("example.invalid" in u for u in requests), requests
        assert any("boom" in e for e in errors), errors

        page = built.html.resolve().as_uri()
        requests, errors = _problems(browser.open(page), page)
        assert requests == [], f"the report made network requests: {requests[:5]}"
        assert errors == [], f"console errors: {errors[:5]}"
        info = browser.call("Runtime.evaluate", expression=_HEADLINE_JS, returnByValue=True)
        v = info["result"]["value"]
        shot = browser.call("Page.captureScreenshot", format="png")
    finally:
        browser.close()

    assert v["text"] == F.headline_title(built.headline)
    assert v["visible"]
    assert v["scripts"] == 0
    assert v["images"] == len(built.plots) == v["decoded"]
    assert v["y"] >= 0
    assert v["y"] + v["h"] <= 600, "the headline is not at the top of the page"
    img = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("L")
    assert img.size == (1400, 2000)
    box = img.crop((int(v["x"]), int(v["y"]), int(v["x"] + v["w"]), int(v["y"] + v["h"])))
    px = np.asarray(box, dtype=float)
    # light text on the dark headline block: both must be there in the screenshot
    assert (px < 80).mean() > 0.5, "no dark headline block in the screenshot"
    assert (px > 200).mean() > 0.03, "no headline text rendered in the screenshot"
    top = np.asarray(img.crop((0, 0, 1400, 300)), dtype=float)
    assert top.std() > 20, "the top of the page is blank"


@needs_chromium
def test_html_dom_from_chromium_command_line(built: ReportResult, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp_path / 'p'}",
        "--dump-dom",
        built.html.resolve().as_uri(),
    ]
    proc = subprocess.run(
        args, capture_output=True, text=True, timeout=120, check=False, start_new_session=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    title = F.headline_title(built.headline)
    assert f'<h1 id="headline-text">{title}</h1>' in dom
    assert dom.count("<img ") == len(built.plots)


# ---------------------------------------------------------------------------------------
# acceptance: the PDF, page by page
@needs_pdftoppm
def test_pdf_pages_all_have_content(built: ReportResult, tmp_path: Path) -> None:
    from PIL import Image

    assert PDFTOPPM is not None
    subprocess.run(
        [PDFTOPPM, "-r", "50", "-png", str(built.pdf), str(tmp_path / "page")],
        check=True,
        timeout=120,
        capture_output=True,
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= len(built.plots) + 1  # the executive page, then a page per figure
    for page in pages:
        img = Image.open(page).convert("L")
        assert img.width > img.height, f"{page.name} is not landscape"
        ink = (np.asarray(img, dtype=float) < 235).mean()
        assert ink > 0.01, f"{page.name} is blank ({ink:.2%} non-white)"


# ---------------------------------------------------------------------------------------
# the hierarchical model: convergence is reported, never silent
@pytest.mark.slow
def test_hierarchical_report_shows_convergence(book: ds.Book, tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        res = report(
            book,
            FY,
            out=tmp_path / "h",
            model="hierarchical",
            plan=PLAN,
            backtest_years=(),
            calibration=False,
            random_seed=0,
            sampler_config={"draws": 300, "tune": 300},
        )
    diag = res.frame("diagnostics")
    fc_rows = diag[diag["source"] == "forecast"].set_index("key")["value"]
    for key in ("passed", "rhat_max", "ess_bulk_min", "divergences"):
        assert key in fc_rows.index, key
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert (fc_rows["passed"] == "False") == warned
    assert "Convergence and fit diagnostics" in res.html.read_text(encoding="utf-8")
    assert "track_record" in res.notes

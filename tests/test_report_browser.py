"""The HTML report in a real browser (headless Chromium): every image decodes, every formula is
laid out, and nothing errors — checked by a probe script the test adds to a copy of the page."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import nnc
import pytest

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (.ci/run installs Debian's)"
)
ROOT = Path(__file__).resolve().parents[1]
PAGE_SECONDS = 60  # wall-clock limit for one page load on a busy 2-core machine

PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(
  String(e.message || (e.target && (e.target.src || "").slice(0, 40)) || e)), true);
const __consoleError = console.error;
console.error = (...a) => { window.__errors.push(a.join(" ")); __consoleError(...a); };
window.addEventListener("load", () => {
  const found = {
    images: [...document.images].map(i => [i.alt, i.complete, i.naturalWidth]),
    maths: [...document.querySelectorAll("math")].map(m => m.getBoundingClientRect().width),
    errors: window.__errors,
  };
  const out = document.createElement("pre");
  out.id = "nnc-probe";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>"""


def _load(page: Path, tmp_path: Path) -> tuple[dict, str]:
    """Open a probed copy of the page in headless Chromium: what the probe saw, and the log."""
    probed = tmp_path / f"probed-{page.name}"
    probed.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    run = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=PAGE_SECONDS,
        check=False,
    )
    found = re.search(r'<pre id="nnc-probe">(.*?)</pre>', run.stdout, re.DOTALL)
    assert found, f"the probe did not run: {run.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1))), run.stderr


def _console_errors(log: str) -> list[str]:
    """Page-level messages Chromium logged (uncaught errors, failed resources)."""
    return [line for line in log.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def _check(page: Path, tmp_path: Path, images: int) -> None:
    found, log = _load(page, tmp_path)
    assert found["errors"] == [] and _console_errors(log) == []
    assert len(found["images"]) >= images
    for alt, complete, width in found["images"]:
        assert complete and width > 0, f"image {alt!r} did not load"
    assert found["maths"] and all(width > 0 for width in found["maths"])


def test_the_probe_catches_a_broken_image(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        '<!doctype html><html><head><meta charset="utf-8"></head><body>'
        '<img alt="broken" src="data:image/png;base64,AAAA"></body></html>'
    )
    found, _ = _load(page, tmp_path)
    assert found["images"] == [["broken", True, 0]] and found["errors"]


def test_law_report_renders(law, tmp_path: Path) -> None:
    """Sweeps along each input, the Pareto front, the graph before and after."""
    _check(law[0].report.write(tmp_path / "law.html"), tmp_path, images=4)


@pytest.mark.slow  # the flagship compile takes minutes (tests/test_grokking.py)
def test_grokking_report_renders(grokking: nnc.Artifact, tmp_path: Path) -> None:
    """Sweeps of the class along a and b, the embedding spectrum, the graphs."""
    _check(grokking.report.write(tmp_path / "modadd.html"), tmp_path, images=4)


def test_classifier_report_renders(classifier: nnc.Artifact, tmp_path: Path) -> None:
    """Decisions: the confusion matrix instead of a scatter; no formula to lay out (a table)."""
    page = classifier.report.write(tmp_path / "classes.html")
    assert "confusion matrix" in page.read_text()
    found, log = _load(page, tmp_path)
    assert found["errors"] == [] and _console_errors(log) == []
    assert all(complete and width > 0 for _, complete, width in found["images"])

"""The HTML report in headless Chromium: loads without console errors, every chart renders."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from flows.cli import main
from tests import browser
from tests.test_marts import home  # noqa: F401  (module fixture: sample, later snapshot, other profile)

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture
def report(home, tmp_path):  # noqa: F811
    out = tmp_path / "report.html"
    assert main(["--home", str(home), "report", str(out)]) == 0
    return out


def test_report_is_self_contained(report):
    html = report.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the report must not load anything"
    assert "<script" not in html
    assert html.count("<svg") == 2 * 5  # two profiles, five charts each
    assert "Weiran Huang" in html and "A Brand New Paper on Testing" in html and "Data quality" in html


@pytest.mark.skipif(browser.chromium() is None and not os.environ.get("CI"), reason="Debian's chromium is not installed")
def test_report_renders_in_headless_chromium(report):
    with browser.open_page(report.as_uri()) as page:
        sizes = browser.chart_sizes(page)
        browser.screenshot(page, ARTIFACTS / "report.png")
        errors = page.errors()
    assert errors == []
    assert len(sizes) == 10 and all(w > 100 and h > 100 and children > 0 for w, h, children in sizes)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000

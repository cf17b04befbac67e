"""The HTML report in headless Chromium: loads without console errors, every chart renders."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from flows.cli import main
from tests import browser
from tests.test_marts import home  # noqa: F401  (the session's two-profile home, tests/conftest.py)

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
    assert html.index('id="overview"') < html.index('class="profile"') and "Data as of 2026-" in html
    assert "<b>LG</b> Machine Learning" in html and "<b>CV</b> Computer Vision" in html


def test_a_category_has_one_colour_across_the_report(report):
    html = report.read_text()
    legend = dict(re.findall(r'<i style="background:(#[0-9a-f]{6})"></i><b>(\w+)</b>', html))
    assert len(set(legend)) == len(legend) >= 4   # a colour per category
    for colour, code in legend.items():           # every chart draws the category in its colour
        bars = re.findall(rf'<g id="patch_\d+">\s*<path[^>]*style="fill: {colour}', html)
        assert bars, code


@pytest.mark.e2e
@pytest.mark.skipif(browser.chromium() is None and not os.environ.get("CI"), reason="Debian's chromium is not installed")
def test_report_renders_in_headless_chromium(report):
    with browser.open_page(report.as_uri()) as page:
        sizes = browser.chart_sizes(page)
        overview = page.call("Runtime.evaluate", expression="document.querySelectorAll('#overview tr a').length",
                             returnByValue=True)["result"]["value"]
        browser.screenshot(page, ARTIFACTS / "report.png")
        errors = page.errors()
    assert errors == [] and overview == 2   # a linked overview row per profile
    assert len(sizes) == 10 and all(w > 100 and h > 100 and children > 0 for w, h, children in sizes)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000

"""The HTML report in headless Chromium: loads without console errors, every chart renders."""
from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb
import pytest

from core import identity
from flows.cli import main
from tests import browser
from warehouse import charts, report as report_module
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


def test_papers_with_code_counts_badge_and_link_per_paper():
    """A badge without a link and a link without a badge are two papers with one of them, not one with both."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging; CREATE TABLE staging.stg_profile_papers (profile_key TEXT, paper_id TEXT, "
                "year INT, has_code_badge BOOLEAN, has_code_link BOOLEAN)")
    con.execute("INSERT INTO staging.stg_profile_papers VALUES ('k', 'badge', 2024, true, false), "
                "('k', 'link', 2024, false, true), ('k', 'none', 2024, false, false), ('k', 'both', 2025, true, true), "
                "('k', 'unknown', 2025, NULL, false), ('other', 'x', 2024, true, true)")
    assert report_module.code_counts(con, "k") == ([2024, 2025], {"badge and link": [0, 1], "badge or link only": [2, 0],
                                                          "neither": [1, 1]})


def test_the_owners_coauthors_match_the_owner_by_author_id_not_as_printed():
    con = duckdb.connect()
    con.execute("CREATE TABLE profile_coauthors (profile_key TEXT, author_id_a TEXT, author_a TEXT, author_id_b TEXT, "
                "author_b TEXT, shared_papers INT)")
    alice, bob, carol = (identity.stable_id(name) for name in ("Alice Smith", "Bob Jones", "Carol King"))
    con.executemany("INSERT INTO profile_coauthors VALUES ('k', ?, ?, ?, ?, ?)", [
        (alice, "Alice Smith", bob, "Bob Jones", 3), (carol, "Carol King", alice, "Alice Smith", 2),
        (bob, "Bob Jones", carol, "Carol King", 5)])
    assert report_module.top_coauthors(con, "k", "Alice SMITH") == [{"who": "Bob Jones", "shared_papers": 3},
                                                             {"who": "Carol King", "shared_papers": 2}]
    assert report_module.top_coauthors(con, "k", None)[0] == {"who": "Bob Jones & Carol King", "shared_papers": 5}


def test_a_dollar_sign_in_a_name_is_drawn_as_text():
    svg = charts.ranked_bars("Top co-authors of Ann $^$ One", ["Bob $^$ Two", "Cy $x$ Three"], [2, 1], "shared papers")
    assert "Bob $^$ Two" in svg and "Cy $x$ Three" in svg


def test_a_chart_of_no_series_draws_without_a_warning(recwarn):
    """A profile whose snapshots list no entries: `report` printed matplotlib's legend warning."""
    svg = charts.stacked_years("Papers per year", [2025], {}, {}, None, None)
    assert "<svg" in svg and not [w for w in recwarn if "legend" in str(w.message)]


def test_an_owner_who_is_no_visible_author_gets_a_chart_that_says_so(monkeypatch, recwarn):
    """A sidecar's owner_name that no entry's author line shows: no co-authors, and the chart says why."""
    from warehouse import report
    monkeypatch.setattr(report, "top_coauthors", lambda con, key, owner: [])
    svg = report.coauthor_chart(None, "k", "Prof. Nobody")
    assert "Prof. Nobody is not among the listed papers" in svg and not recwarn.list


def test_a_long_name_is_cut_on_its_chart_and_two_alike_once_cut_keep_their_bars():
    """A 1 MB author name took minutes to draw."""
    from warehouse.charts import LABEL_CHARACTERS, ranked_bars, short_label
    long = "A" * 1_000_000
    assert short_label(long) == "A" * (LABEL_CHARACTERS - 1) + "…" and short_label("Ann Lee") == "Ann Lee"
    html = ranked_bars("coauthors", [long, long + "B"], [3, 2], "shared papers")
    assert html.count("A" * (LABEL_CHARACTERS - 1) + "…") == 2 and html.count("<path") >= 2


def test_the_same_warehouse_makes_the_same_report(home, report, tmp_path):  # noqa: F811
    """No time of its making in it (matplotlib writes the local time into each SVG unless told not
    to): a report changes when the data does."""
    again = tmp_path / "again.html"
    assert main(["--home", str(home), "report", str(again)]) == 0
    assert again.read_bytes() == report.read_bytes()
    assert "<dc:date>" not in report.read_text()

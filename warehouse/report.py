"""`profile-etl report OUT.html`: one self-contained HTML page (inline SVG from matplotlib, no
scripts, no network) built from the marts: a "data as of" line, an overview of the profiles, the
categories' colours and codes, then per profile growth over time, output, code availability,
co-authors and what changed; then data quality."""
from __future__ import annotations

import datetime as dt
from html import escape

import duckdb

from core import identity
from warehouse import charts
from warehouse.views import query

STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
section.profile{border-top:2px solid #ddd;padding-top:1rem;margin-top:2rem}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{margin:0}.chart figcaption{font-weight:600}
.chart small{font-weight:400;color:#666}.asof{color:#444}
.key{display:inline-block;margin:0 1.2rem .3rem 0}.key i{display:inline-block;width:10px;height:10px;margin-right:4px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}
td.n{text-align:right}pre{white-space:pre-wrap;max-width:60ch;margin:0;font-size:12px}"""
# arXiv's computer-science subject classes: the category codes profile pages print
CATEGORY_NAMES = {
    "AI": "Artificial Intelligence", "AR": "Hardware Architecture", "CC": "Computational Complexity",
    "CE": "Computational Engineering", "CG": "Computational Geometry", "CL": "Computation and Language",
    "CR": "Cryptography and Security", "CV": "Computer Vision and Pattern Recognition",
    "CY": "Computers and Society", "DB": "Databases", "DC": "Distributed, Parallel, and Cluster Computing",
    "DL": "Digital Libraries", "DM": "Discrete Mathematics", "DS": "Data Structures and Algorithms",
    "ET": "Emerging Technologies", "FL": "Formal Languages and Automata Theory", "GL": "General Literature",
    "GR": "Graphics", "GT": "Computer Science and Game Theory", "HC": "Human-Computer Interaction",
    "IR": "Information Retrieval", "IT": "Information Theory", "LG": "Machine Learning", "LO": "Logic in Computer Science",
    "MA": "Multiagent Systems", "MM": "Multimedia", "MS": "Mathematical Software", "NA": "Numerical Analysis",
    "NE": "Neural and Evolutionary Computing", "NI": "Networking and Internet Architecture",
    "OS": "Operating Systems", "PF": "Performance", "PL": "Programming Languages", "RO": "Robotics",
    "SC": "Symbolic Computation", "SD": "Sound", "SE": "Software Engineering", "SI": "Social and Information Networks",
    "SY": "Systems and Control"}
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac", "#86bcb6", "#d37295"]
CODE_COLORS = {"badge and link": "#59a14f", "badge or link only": "#edc948", "neither": "#bab0ac"}


def rows(con: duckdb.DuckDBPyConnection, name: str, first: int | None = None, **params) -> list[dict]:
    """The rows (the first ones only, if given) of the query sql/queries/NAME.sql, with its $parameters."""
    cursor = con.execute(query(name), params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in (cursor.fetchall() if first is None else cursor.fetchmany(first))]


def table(records: list[dict], columns: list[str], empty: str = "none") -> str:
    if not records:
        return f"<p><em>{escape(empty)}</em></p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r[c])}</td>" for c in columns) + "</tr>" for r in records)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return f"<pre>{escape(text[:400])}</pre>" if "\n" in text else escape(text)


def category_colors(con) -> dict[str, str]:
    """One colour per category for the whole report, the most listed first."""
    cats = [r["category"] for r in rows(con, "report_categories")]
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(cats)}


def categories_section(colors: dict[str, str]) -> str:
    keys = "".join(f'<span class="key"><i style="background:{color}"></i><b>{escape(code)}</b> '
                   f'{escape(CATEGORY_NAMES.get(code, "as printed on the profile pages"))}</span>'
                   for code, color in colors.items())
    return f'<section id="categories"><h2>Categories</h2><p>{keys}</p></section>'


def growth_charts(con, key: str) -> list[str]:
    growth = rows(con, "report_growth", profile_key=key)
    times = [r["captured_at"] for r in growth]
    return [charts.over_time("Citations at each capture", times, [r["citations"] for r in growth], "citations"),
            charts.over_time("h-index at each capture", times, [r["h_index"] for r in growth], "h-index")]


def output_chart(con, key: str, colors: dict[str, str], as_of: dt.date) -> str:
    cells = rows(con, "report_output", profile_key=key)
    years = sorted({r["year"] for r in cells})
    counts = {(r["year"], r["category"]): r["papers"] for r in cells}
    present = [c for c in colors if any((y, c) in counts for y in years)]
    return charts.stacked_years("Papers listed, per publication year and category", years,
                                {c: [counts.get((y, c), 0) for y in years] for c in present}, colors, as_of.year, as_of)


def code_counts(con, key: str) -> tuple[list[int], dict[str, list[int]]]:
    """The profile's papers per publication year: with the Code badge and a code link, with one of
    them, with neither."""
    shares = rows(con, "report_code", profile_key=key)
    return [r["year"] for r in shares], {"badge and link": [r["both"] for r in shares],
                                         "badge or link only": [r["one"] for r in shares],
                                         "neither": [r["neither"] for r in shares]}


def code_chart(con, key: str, as_of: dt.date) -> str:
    return charts.stacked_years("Papers with code, per publication year", *code_counts(con, key),
                                CODE_COLORS, as_of.year, as_of)


def top_coauthors(con, key: str, owner: str | None) -> list[dict]:
    """The owner's co-authors on the profile's papers (the owner matched by author_id, as the pipeline
    matches names), or the top pairs when the owner is unnamed."""
    owner_id = identity.stable_id(owner) if owner else None
    return rows(con, "report_coauthors", profile_key=key, owner_id=owner_id)


def coauthor_chart(con, key: str, owner: str | None) -> str:
    pairs = top_coauthors(con, key, owner)
    title = f"Top co-authors of {owner}" if owner else "Top co-author pairs"
    empty = (f"{charts.short_label(owner)} is not among the listed papers' visible authors" if owner
             else "no listed paper shows two authors")
    return charts.ranked_bars(title, [r["who"] for r in pairs], [r["shared_papers"] for r in pairs], "shared papers",
                              empty)


def profile_section(con, profile: dict, colors: dict[str, str]) -> str:
    key, owner = profile["profile_key"], profile["name"]
    as_of = profile["last_captured_at"].date()
    news = rows(con, "report_new_papers", profile_key=key, dump_id=profile["latest_dump_id"])
    figures = [*growth_charts(con, key), output_chart(con, key, colors, as_of), code_chart(con, key, as_of),
               coauthor_chart(con, key, owner)]
    return (f'<section class="profile" id="p-{escape(key)}"><h2>{escape(owner or "owner never named")} '
            f'<small>({escape(key)})</small></h2><p>{profile["snapshots"]} capture(s), the latest on '
            f'{as_of:%Y-%m-%d}: h-index {_value(profile["h_index"])}, {_value(profile["citations"])} citations. '
            f'<a href="#overview">overview</a></p><div class="charts">{"".join(figures)}</div>'
            f'<h3>Since the previous capture</h3>'
            f'{table(news, ["change", "title"], "no earlier capture, or nothing changed")}</section>')


def _value(value) -> str:
    return "unknown" if value is None else str(value)


def _change(value) -> str:
    return "—" if value is None else f"{value:+d}"


def overview(profiles: list[dict]) -> str:
    """One row per profile, linked to its section: the last named owner, captures, latest metrics
    and their change since the capture before."""
    head = ("<tr><th>profile</th><th>key</th><th>captures</th><th>latest capture</th><th>h-index</th>"
            "<th>change</th><th>citations</th><th>change</th><th>papers listed</th></tr>")
    body = "".join(
        f'<tr><td><a href="#p-{escape(p["profile_key"])}">{escape(p["name"] or "owner never named")}</a></td>'
        f'<td>{escape(p["profile_key"])}</td><td class="n">{p["snapshots"]}</td>'
        f'<td>{p["last_captured_at"]:%Y-%m-%d}</td><td class="n">{p["h_index"] if p["h_index"] is not None else ""}</td>'
        f'<td class="n">{_change(p["h_index_change"])}</td><td class="n">{p["citations"] if p["citations"] is not None else ""}</td>'
        f'<td class="n">{_change(p["citations_change"])}</td><td class="n">{p["papers_listed"]}</td></tr>'
        for p in profiles)
    return f'<section id="overview"><h2>Overview</h2><table>{head}{body}</table></section>'


def as_of_line(con, shown: int) -> str:
    [facts] = rows(con, "report_as_of")
    latest, dumps, profiles, last_run = facts["latest"], facts["dumps"], facts["profiles"], facts["last_run"]
    when = f"{latest:%Y-%m-%d %H:%M} UTC" if latest else "no capture yet"
    run = f"; last run {last_run:%Y-%m-%d %H:%M} UTC" if last_run else ""
    return (f'<p class="asof">Data as of {when} (the latest capture){run}. {profiles} profiles from {dumps} '
            f"loaded captures; shown: the {shown} with the most citations.</p>")


def quality_section(con) -> str:
    quarantined = rows(con, "quarantined_dumps")
    rejected = rows(con, "rejected_entries", first=500)
    return ('<section id="quality"><h2>Data quality</h2><h3>Quarantined dumps</h3>'
            + table(quarantined, ["source_path", "replaced_by", "reason"]) + "<h3>Rejected entries and header lines</h3>"
            + table(rejected, ["source_path", "line_no", "reason", "raw_text"]) + "</section>")


def render(con: duckdb.DuckDBPyConnection, limit: int = 20) -> str:
    profiles = rows(con, "report_profiles", limit=limit)
    colors = category_colors(con)
    sections = "".join(profile_section(con, p, colors) for p in profiles)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>profile-etl report</title>'
            f"<style>{STYLE}</style></head><body><h1>Researcher profiles</h1>{as_of_line(con, len(profiles))}"
            f"{overview(profiles)}{categories_section(colors)}{sections}{quality_section(con)}</body></html>")

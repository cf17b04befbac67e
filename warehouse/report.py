"""`profile-etl report OUT.html`: one self-contained HTML page (inline SVG, no scripts, no network)
built from the marts: per profile growth, output, code availability, co-authors and news; then
data quality."""
from __future__ import annotations

from html import escape

import duckdb

from warehouse import svg

STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
section.profile{border-top:2px solid #ddd;padding-top:1rem;margin-top:2rem}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{margin:0}.chart figcaption{font-weight:600}
.legend{font-size:12px}.key{margin-right:1rem}.key i{display:inline-block;width:10px;height:10px;margin-right:4px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}
pre{white-space:pre-wrap;max-width:60ch;margin:0;font-size:12px}"""


def rows(con: duckdb.DuckDBPyConnection, sql: str, *params) -> list[dict]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def table(records: list[dict], columns: list[str], empty: str = "none") -> str:
    if not records:
        return f"<p><em>{escape(empty)}</em></p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r[c])}</td>" for c in columns) + "</tr>" for r in records)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return f"<pre>{escape(text[:400])}</pre>" if "\n" in text else escape(text)


def growth_charts(con, key: str) -> list[str]:
    growth = rows(con, "SELECT captured_at, citations, h_index FROM profile_growth WHERE profile_key = ? "
                       "ORDER BY snapshot_no", key)
    labels = [str(r["captured_at"])[:10] for r in growth]
    return [svg.line_chart("Citations over snapshots", labels, [r["citations"] for r in growth], "citations"),
            svg.line_chart("h-index over snapshots", labels, [r["h_index"] for r in growth], "h-index")]


def output_chart(con, key: str) -> str:
    cells = rows(con, "SELECT year, category, papers FROM papers_per_year WHERE profile_key = ? ORDER BY year", key)
    years = sorted({r["year"] for r in cells})
    categories = sorted({r["category"] for r in cells})
    counts = {(r["year"], r["category"]): r["papers"] for r in cells}
    return svg.stacked_bars("Papers per year by category", [str(y) for y in years],
                            {c: [counts.get((y, c), 0) for y in years] for c in categories})


def code_chart(con, key: str) -> str:
    shares = rows(con, "SELECT year, count(*) AS papers, count(*) FILTER (has_code_badge) AS badge, "
                       "count(*) FILTER (has_code_link) AS link FROM staging.stg_profile_papers WHERE profile_key = ? "
                       "GROUP BY year ORDER BY year", key)
    return svg.stacked_bars("Papers with code, per year (badge and link / neither)", [str(r["year"]) for r in shares],
                            {"badge and link": [min(r["badge"], r["link"]) for r in shares],
                             "badge or link only": [max(r["badge"], r["link"]) - min(r["badge"], r["link"]) for r in shares],
                             "neither": [r["papers"] - max(r["badge"], r["link"]) for r in shares]})


def coauthor_chart(con, key: str, owner: str | None) -> str:
    pairs = rows(con, "SELECT CASE WHEN author_a = ? THEN author_b WHEN author_b = ? THEN author_a "
                      "ELSE author_a || ' & ' || author_b END AS who, shared_papers FROM profile_coauthors "
                      "WHERE profile_key = ? AND (? IS NULL OR ? IN (author_a, author_b)) "
                      "ORDER BY shared_papers DESC, who LIMIT 8", owner, owner, key, owner, owner)
    title = f"Top co-authors of {owner}" if owner else "Top co-author pairs"
    return svg.horizontal_bars(title, [r["who"] for r in pairs], [r["shared_papers"] for r in pairs])


def profile_section(con, profile: dict) -> str:
    key, owner = profile["profile_key"], profile["owner_name"]
    news = rows(con, "SELECT change, title FROM new_papers WHERE profile_key = ? AND dump_id = ? ORDER BY change, title",
                key, profile["latest_dump_id"])
    charts = [*growth_charts(con, key), output_chart(con, key), code_chart(con, key), coauthor_chart(con, key, owner)]
    return (f'<section class="profile" id="p-{escape(key)}"><h2>{escape(owner or "owner unknown")} '
            f'<small>({escape(key)})</small></h2><p>{profile["snapshots"]} snapshot(s), latest '
            f'{str(profile["last_captured_at"])[:16]}: h-index {profile["h_index"]}, {profile["citations"]} citations</p>'
            f'<div class="charts">{"".join(charts)}</div><h3>Since the previous capture</h3>'
            f'{table(news, ["change", "title"], "no earlier capture, or nothing changed")}</section>')


def quality_section(con) -> str:
    quarantined = rows(con, "SELECT source_path, reason FROM dumps WHERE status = 'quarantined' ORDER BY source_path")
    rejected = rows(con, "SELECT d.source_path, r.line_no, r.reason, r.raw_text FROM rejects r JOIN dumps d "
                         "USING (dump_id) WHERE d.status <> 'quarantined' ORDER BY 1, 2 LIMIT 500")
    return ('<section id="quality"><h2>Data quality</h2><h3>Quarantined dumps</h3>'
            + table(quarantined, ["source_path", "reason"]) + "<h3>Rejected entries and header lines</h3>"
            + table(rejected, ["source_path", "line_no", "reason", "raw_text"]) + "</section>")


def render(con: duckdb.DuckDBPyConnection, limit: int = 20) -> str:
    profiles = rows(con, "SELECT * FROM profiles ORDER BY citations DESC NULLS LAST, profile_key LIMIT ?", limit)
    sections = "".join(profile_section(con, p) for p in profiles)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>profile-etl report</title>'
            f"<style>{STYLE}</style></head><body><h1>Researcher profiles</h1>"
            f"<p>{len(profiles)} profiles (by citations).</p>{sections}{quality_section(con)}</body></html>")

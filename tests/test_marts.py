"""Each mart against values computed by hand from the dump texts (not from the pipeline's tables)."""
from __future__ import annotations

import re
from collections import Counter
from itertools import combinations

import duckdb
import pytest

from tests import dumps
from tests.conftest import KEY, OTHER
from tests.dumps import later_snapshot, other_profile


def by_hand(text: str, capture_year: int = 2026) -> list[dict]:
    """Entries of a dump read with plain string operations."""
    rows = []
    for block in dumps.split(text)[1]:
        head = re.fullmatch(r"([A-Z]+?)([A-Z][a-z]{2}) (\d+)(?:, (\d{4}))?(Code)?", block[0])
        authors = block[3].split(" · ")[0].removesuffix(" et al.").split(", ")
        rows.append({"title": block[1], "category": head[1], "year": int(head[4] or capture_year),
                     "badge": bool(head[5]), "link": "https://" in " ".join(block[5:]), "authors": authors})
    return rows


@pytest.fixture
def home(two_profile_home):
    """The session's shared home (tests/conftest.py): read only, or copied first."""
    return two_profile_home


def query(home, sql, *params):
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_profile_growth(home):
    assert query(home, "SELECT snapshot_no, h_index, h_index_change, citations_change, papers_reported_change, "
                       "days_since_previous FROM profile_growth WHERE profile_key = ? ORDER BY 1", KEY) == [
        (1, 28, None, None, None, None), (2, 29, 1, 2101 - 1945, 60 - 57, 30)]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_days_since_previous_counts_whole_days_in_any_readers_time_zone(zone):
    """Captures an hour apart across midnight UTC are 0 days apart, 25 hours apart 1, wherever it is read."""
    from warehouse.ddl import create_table
    from warehouse.views import create_views
    con = duckdb.connect()
    con.execute(create_table("profile_snapshots"))
    con.execute("INSERT INTO profile_snapshots (dump_id, profile_key, captured_at, papers_listed) VALUES "
                "('a', 'k', '2026-01-01 23:30Z', 1), ('b', 'k', '2026-01-02 00:30Z', 1), ('c', 'k', '2026-01-03 01:30Z', 1)")
    for table in ("dumps", "papers", "authors", "paper_authors", "listings", "profiles", "rejects", "runs"):
        con.execute(create_table(table))
    create_views(con)
    con.execute(f"SET TimeZone = '{zone}'")
    assert con.execute("SELECT dump_id, days_since_previous FROM profile_growth ORDER BY snapshot_no").fetchall() == [
        ("a", None), ("b", 0), ("c", 1)]


def test_papers_per_year(home, sample_text):
    # the same paper in both snapshots counts once: count distinct titles
    titles = {(e["year"], e["category"], e["title"]) for e in by_hand(sample_text) + by_hand(later_snapshot(sample_text))}
    expected = Counter((y, c) for y, c, _ in titles)
    got = dict(((y, c), n) for y, c, n in query(home, "SELECT year, category, papers FROM papers_per_year "
                                                      "WHERE profile_key = ?", KEY))
    assert got == dict(expected) and sum(got.values()) == 52


def test_code_availability(home, sample_text):
    latest = {e["title"]: e for e in by_hand(later_snapshot(sample_text))}
    entries = list(latest.values()) + [e for e in by_hand(sample_text) if e["title"] not in latest]
    entries += [e for e in by_hand(other_profile(sample_text)) if e["title"] == "A Paper Only The Other Profile Lists"]
    cell = [e for e in entries if (e["year"], e["category"]) == (2023, "LG")]
    assert query(home, "SELECT papers, with_badge, with_link FROM code_availability WHERE year = 2023 AND category = 'LG'") == [
        (len(cell), sum(e["badge"] for e in cell), sum(e["link"] for e in cell))]


def test_coauthors(home, sample_text):
    pairs = Counter(frozenset(p) for e in by_hand(other_profile(sample_text)) for p in combinations(e["authors"], 2))
    expected = sorted((sorted(p), n) for p, n in pairs.items())
    got = query(home, "SELECT author_a, author_b, shared_papers FROM profile_coauthors WHERE profile_key = ?", OTHER)
    assert sorted((sorted([a, b]), n) for a, b, n in got) == expected
    overall = query(home, "SELECT shared_papers FROM coauthors WHERE "
                          "list_sort([author_a, author_b]) = ['Lai Wei', 'Weiran Huang']")
    latest = {e["title"]: e for e in by_hand(sample_text) + by_hand(later_snapshot(sample_text))}
    assert overall == [(sum({"Lai Wei", "Weiran Huang"} <= set(e["authors"]) for e in latest.values()),)]


def test_new_papers(home, sample_text):
    rows = query(home, "SELECT change, title FROM new_papers WHERE profile_key = ? ORDER BY 1, 2", KEY)
    dropped = dumps.split(sample_text)[1][-1][1]
    # the later snapshot lists 51 entries of the 60 papers it reports: the last one may be past the listing
    assert rows == [("beyond_listing", dropped), ("new", "A Brand New Paper on Testing"), ("new", "Another New Paper")]
    assert query(home, "SELECT count(*) FROM new_papers WHERE profile_key = ?", OTHER) == [(0,)]


@pytest.mark.parametrize("snapshots, expected", [
    ([("x", "y"), ("y", "partial"), ("y",)], {(3, "dropped", "x")}),
    ([("x", "y"), ("y",), ("y", "partial"), ("x", "y")], {(2, "dropped", "x"), (4, "new", "x")}),
    ([("x", "y"), ("x", "partial"), ("x", "y")], set()),
    ([("x",), ("x", "z", "partial"), ("x", "z")], {(2, "new", "z")}),
    ([("x", "partial"), ("x", "y", "partial"), ("y",)], {(2, "new", "y"), (3, "dropped", "x")}),
    ([("x", "y"), ("y", "full of 60")], {(2, "beyond_listing", "x")}),
    ([("x", "y"), ("y", "full of ?")], {(2, "beyond_listing", "x")}),
    ([("x", "y"), ("y", "full of 50")], {(2, "dropped", "x")}),
])
def test_new_papers_compares_with_every_snapshot_since_the_last_without_rejects(snapshots, expected):
    """Snapshots of one profile as the papers they list ("partial": it rejected an entry, which may
    have been any paper it doesn't list; "full of N": it found the site's most, 50 entries, of N papers
    reported, ? for no count): the mart's SQL on tables holding just what it reads."""
    from warehouse.views import view_files
    con = duckdb.connect()
    con.execute("CREATE TABLE profile_snapshots (dump_id VARCHAR, profile_key VARCHAR, captured_at TIMESTAMPTZ, "
                "papers_reported BIGINT)")
    con.execute("CREATE TABLE dumps (dump_id VARCHAR, entries_rejected BIGINT, entries_found BIGINT)")
    con.execute("CREATE TABLE listings (dump_id VARCHAR, paper_id VARCHAR)")
    con.execute("CREATE TABLE papers AS SELECT unnest(['x', 'y', 'z']) AS paper_id, upper(paper_id) AS title")
    for no, listed in enumerate(snapshots, start=1):
        full = [p.removeprefix("full of ") for p in listed if p.startswith("full of ")]
        papers = [p for p in listed if p != "partial" and not p.startswith("full of ")]
        reported = (None if full[0] == "?" else int(full[0])) if full else len(papers)
        con.execute("INSERT INTO profile_snapshots VALUES (?, 'k', TIMESTAMPTZ '2026-01-01' + to_days(?), ?)",
                    [f"d{no}", no, reported])
        con.execute("INSERT INTO dumps VALUES (?, ?, ?)", [f"d{no}", int("partial" in listed), 50 if full else len(papers)])
        con.executemany("INSERT INTO listings VALUES (?, ?)", [(f"d{no}", p) for p in papers])
    con.execute("CREATE SCHEMA staging")
    for view in view_files():
        if view.name in ("stg_snapshots", "new_papers"):
            con.execute(view.sql)
    assert set(con.execute("SELECT CAST(substr(dump_id, 2) AS INTEGER), change, paper_id FROM new_papers").fetchall()) == expected


@pytest.mark.flow
def test_new_papers_claims_no_change_a_partial_snapshots_rejected_entries_may_hide(run_ingest, tmp_path, sample_text):
    """Snapshot 2 rejects the entry of a paper (an impossible date) its page still lists: it is not
    `dropped` there, nor `new` again in snapshot 3; snapshot 4 really drops the last paper."""
    import datetime as dt
    from tests.conftest import write_dump
    inbox, day = tmp_path / "inbox", dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
    hidden = "Rethinking Weak Supervision in Helping Contrastive Learning"
    header, blocks = dumps.split(sample_text)
    texts = [sample_text, sample_text.replace("LGJun 7, 2023", "LGFeb 30, 2023").replace("h-index28", "h-index29"),
             sample_text.replace("h-index28", "h-index30"),
             dumps.join(header, blocks[:-1]).replace("h-index28", "h-index31")]
    for i, text in enumerate(texts):
        write_dump(inbox, f"{i:03d}_{KEY}.txt", text, day + dt.timedelta(days=i))
    run_ingest(tmp_path / "home", inbox)
    assert query(tmp_path / "home", "SELECT d.entries_rejected FROM dumps AS d ORDER BY captured_at") == [
        (0,), (1,), (0,), (0,)]
    rows = query(tmp_path / "home", "SELECT s.snapshot_no, n.change, n.title FROM new_papers AS n "
                                    "JOIN staging.stg_snapshots AS s USING (dump_id) ORDER BY 1")
    assert rows == [(4, "dropped", blocks[-1][1])] and hidden not in {r[2] for r in rows}


def test_author_activity(home, sample_text):
    latest = {e["title"]: e for e in by_hand(sample_text) + by_hand(later_snapshot(sample_text))}
    mine = [e for e in latest.values() if "Weiran Huang" in e["authors"]]
    profiles = 1 + any("Weiran Huang" in e["authors"] for e in by_hand(other_profile(sample_text)))
    assert query(home, "SELECT papers, first_year, last_year, profiles FROM author_activity WHERE name = 'Weiran Huang'") == [
        (len(mine), min(e["year"] for e in mine), max(e["year"] for e in mine), profiles)]

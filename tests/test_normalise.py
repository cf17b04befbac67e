"""Merging observations into the mutable tables, on small inline frames."""
from __future__ import annotations

import datetime as dt
import os

import polars as pl

from core.normalise import (author_observations, id_lists, merge_authors, merge_papers, paper_observations,
                            split_duplicates)
from schemas.tables import Authors, Papers, empty_frame

T1 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
T2 = dt.datetime(2026, 2, 1, tzinfo=dt.timezone.utc)
CAPTURED_NS = int((T1 - dt.timedelta(days=1)).timestamp()) * 10**9   # a file's mtime, the day before T1


def observations(*rows) -> pl.DataFrame:
    """Loaded entries: (paper_id, dump_id, captured_at, badge, authors)."""
    frame = pl.DataFrame([{
        "paper_id": p, "dump_id": d, "captured_at": c, "has_code_badge": badge, "authors": authors,
        "title": f"Title {p}", "category": "LG", "published_on": dt.date(2025, 1, 1), "year_inferred": False,
        "code_url": None, "code_host": None, "abstract": None, "authors_truncated": False, "tag": None,
        "entry_index": 1, "line_no": 1, "raw_text": "", "profile_key": "k"} for p, d, c, badge, authors in rows],
        schema_overrides={"captured_at": pl.Datetime("us", "UTC"), "code_url": pl.String, "code_host": pl.String,
                          "abstract": pl.String, "tag": pl.String})
    return frame.with_columns(author_ids=id_lists(frame["authors"]))


def test_latest_capture_wins_whatever_the_arrival_order():
    """The later capture's dump id sorts first: the capture time decides, not the id."""
    old = paper_observations(observations(("p1", "d2", T1, False, ["A"])))
    new = paper_observations(observations(("p1", "d1", T2, True, ["A"])))
    in_order = merge_papers(merge_papers(empty_frame(Papers), old), new).drop("author_ids")
    reversed_ = merge_papers(merge_papers(empty_frame(Papers), new), old).drop("author_ids")
    assert in_order.equals(reversed_)
    row = in_order.row(0, named=True)
    assert (row["has_code_badge"], row["first_seen_at"], row["last_seen_at"], row["last_seen_dump_id"]) == (True, T1, T2, "d1")


def test_author_name_from_latest_capture():
    first = author_observations(observations(("p1", "d1", T1, False, ["weiran huang"])))
    later = author_observations(observations(("p2", "d2", T2, False, ["Weiran Huang"])))
    authors = merge_authors(merge_authors(empty_frame(Authors), later), first)
    assert authors.select("name", "first_seen_at", "last_seen_at").rows() == [("Weiran Huang", T1, T2)]


def test_repeated_paper_in_one_dump_is_a_reject():
    frame = observations(("p1", "d1", T1, False, ["A"]), ("p1", "d1", T1, False, ["A"]))
    frame = frame.with_columns(entry_index=pl.Series([1, 2]), line_no=pl.Series([9, 16]))
    kept, repeats = split_duplicates(frame)
    assert kept["entry_index"].to_list() == [1]
    assert repeats.select("entry_index", "line_no", "reason").rows() == [(2, 16, "duplicate of entry 1 in the same dump")]


def listed(path):
    """The file as a listing gives it, its mtime (the capture time) set to CAPTURED_NS."""
    from core.records import SourceFile
    os.utime(path, ns=(CAPTURED_NS, CAPTURED_NS))
    return SourceFile(path, path.stat().st_size, CAPTURED_NS)


def test_dump_with_no_valid_entry_and_no_metric_is_quarantined(tmp_path):
    from core.records import Batch
    from core.validate import to_frames
    from flows.batch import transform
    from schemas.tables import MERGED_TABLES, TABLES
    from store import extract
    path = tmp_path / "000_heads_only.txt"
    path.write_text("\n\n".join(["LGAug 23, 2023Code"] * 3))
    batch = Batch()
    stamp = {"run_id": "r", "ingested_at": T1}
    extract.extract_one(batch, listed(path), set(), None, 1 << 20, stamp)
    tables = transform([to_frames(batch)], {n: empty_frame(TABLES[n]) for n in MERGED_TABLES})
    dump = tables["dumps"].row(0, named=True)
    assert (dump["status"], dump["entries_found"], dump["entries_rejected"]) == ("quarantined", 3, 3)
    assert dump["reason"] == "nothing usable: none of its 3 entries is valid and it has no metric line"
    assert tables["profile_snapshots"].is_empty() and tables["profiles"].is_empty()
    assert tables["rejects"]["entry_index"].drop_nulls().to_list() == [1, 2, 3]


def test_owner_is_the_most_frequent_author_and_none_on_a_tie():
    from core.normalise import owners
    loaded = pl.DataFrame({"dump_id": ["d1", "d1", "d1", "d2", "d2"], "entry_index": [1, 2, 3, 1, 2],
                           "authors": [["A", "B"], ["A"], ["C", "a"], ["A", "B"], ["B", "A"]]})
    dumps = pl.DataFrame({"dump_id": ["d1", "d2", "d3", "d4"], "sidecar_owner_name": [None, None, None, "b"]})
    loaded = pl.concat([loaded, pl.DataFrame({"dump_id": ["d4"] * 2, "entry_index": [1, 2], "authors": [["B"], ["C"]]})])
    got = owners(dumps, loaded.with_columns(author_ids=id_lists(loaded["authors"]))).sort("dump_id").rows()
    assert got == [("d1", "A", 1.0), ("d2", None, None), ("d3", None, None), ("d4", "b", 0.5)]


def test_same_bytes_read_twice_in_one_run_keep_the_first_reading_only(tmp_path):
    from flows.batch import extract_frames, transform
    from schemas.tables import MERGED_TABLES, TABLES
    text = "h-index3\n3papers\n30citations\nNovelty10%\nAI Score5\n\n3 Papers\n\nLGAug 23, 2023\nT\n\nA B\n\nX."
    for name, sidecar in (("000_a.txt", "{broken"), ("001_b.txt", None)):
        (tmp_path / name).write_text(text)
        if sidecar:
            (tmp_path / name.replace(".txt", ".meta.json")).write_text(sidecar)
    stamp = {"run_id": "r", "ingested_at": T1}
    parts = [extract_frames([listed(tmp_path / n)], set(), tmp_path / "raw", 1 << 20, stamp, i)
             for i, n in enumerate(("000_a.txt", "001_b.txt"))]
    tables = transform(parts, {n: empty_frame(TABLES[n]) for n in MERGED_TABLES})
    assert tables["dumps"].select("status", "entries_found", "entries_loaded").rows() == [("quarantined", 0, 0)]
    assert tables["listings"].is_empty()


def test_a_profile_is_its_latest_snapshot_by_capture_time_not_by_dump_id():
    from core.normalise import merge_profiles
    from schemas.tables import Profiles
    schema = empty_frame(Profiles).schema

    def snapshot(dump_id, captured_at, h_index):
        return pl.DataFrame([{"profile_key": "k", "owner_name": "O", "snapshots": 1, "first_captured_at": captured_at,
                              "last_captured_at": captured_at, "latest_dump_id": dump_id, "h_index": h_index,
                              "papers_reported": 1, "citations": 1, "novelty_pct": 1, "ai_score": 1,
                              "papers_listed": 1, "owner_share": None}], schema=schema)
    merged = merge_profiles(merge_profiles(empty_frame(Profiles), snapshot("00", T2, 2)), snapshot("ff", T1, 1))
    row = merged.row(0, named=True)
    assert (row["h_index"], row["latest_dump_id"], row["last_captured_at"], row["first_captured_at"], row["snapshots"]) == (
        2, "00", T2, T1, 2)

"""`run --reprocess`: quarantined dumps are read again once the cause is fixed."""
from __future__ import annotations

import duckdb

from flows.pipeline import ingest
from tests.conftest import SAMPLE_NAME, write_dump
from tests.test_pipeline import FIRST, LATER


def rows(home, sql):
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_fixed_sidecar_loads_on_reprocess(prefect_harness, tmp_path, sample_text):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    sidecar = inbox / "000_7707062aadfcc580.meta.json"
    sidecar.write_text('{"profile_key": "fixed"')
    ingest(home=home, inbox=inbox, settle_seconds=0)
    assert rows(home, "SELECT status FROM dumps") == [("quarantined",)]
    sidecar.write_text('{"profile_key": "fixed"}')
    assert ingest(home=home, inbox=inbox, settle_seconds=0)["dumps_new"] == 0   # known dump: not retried
    summary = ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)
    assert (summary["reprocessed"], summary["dumps_loaded"]) == (1, 1)
    assert rows(home, "SELECT profile_key, status, entries_loaded FROM dumps") == [("fixed", "loaded", 50)]
    assert rows(home, "SELECT count(*) FROM rejects") == [(0,)]
    assert rows(home, "SELECT count(*), count(DISTINCT paper_id) FROM listings") == [(50, 50)]


def test_dump_over_the_size_limit_loads_from_raw_after_the_limit_is_raised(prefect_harness, tmp_path, sample_text):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    original = write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    ingest(home=home, inbox=inbox, settle_seconds=0, max_dump_bytes=1000)
    [(status, reason)] = rows(home, "SELECT status, reason FROM dumps")
    assert status == "quarantined" and "size limit" in reason
    original.unlink()                                   # only the raw/ copy is left
    summary = ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)
    assert (summary["reprocessed"], summary["dumps_loaded"], summary["dumps_seen"]) == (1, 1, 0)
    assert rows(home, "SELECT status, source_path, entries_loaded FROM dumps") == [("loaded", str(original), 50)]
    assert rows(home, "SELECT h_index, owner_name FROM profile_snapshots") == [(28, "Weiran Huang")]
    again = ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)
    assert (again["reprocessed"], again["dumps_new"]) == (0, 0)


def test_reprocess_keeps_a_dump_whose_inbox_file_was_overwritten(prefect_harness, tmp_path, sample_text):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    path = write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    (inbox / "000_7707062aadfcc580.meta.json").write_text("{broken")
    ingest(home=home, inbox=inbox, settle_seconds=0)
    (inbox / "000_7707062aadfcc580.meta.json").unlink()
    write_dump(inbox, SAMPLE_NAME, sample_text.replace("h-index28", "h-index30"), LATER)   # a new capture
    summary = ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)
    assert summary["reprocessed"] == 1 and path.exists()
    assert sorted(rows(home, "SELECT status FROM dumps")) == [("loaded",), ("quarantined",)]
    assert rows(home, "SELECT count(*) FROM rejects WHERE entry_index IS NULL") == [(1,)]

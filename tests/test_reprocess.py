"""`run --reprocess`: quarantined dumps are read again once the cause is fixed."""
from __future__ import annotations

import gzip

import duckdb
import pytest

from flows import file_index, runs
from flows.cli import main
from flows.pipeline import ingest
from flows.schedule import Watcher
from store.settings import Settings
from tests.conftest import SAMPLE_NAME, write_dump
from tests.dumps import FIRST, LATER


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
    assert "1 new dump, 1 of them quarantined before and read again" in runs.describe(summary)
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
    indexed = file_index.read_file_index(home / "state")["path"]   # the copy is no inbox's file
    assert not [path for path in indexed if path.startswith(str(home / "raw"))]
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
    assert summary["quarantined_as_before"] == 1 and path.exists()   # its raw/ copy, read again
    assert sorted(rows(home, "SELECT status FROM dumps")) == [("loaded",), ("quarantined",)]
    assert rows(home, "SELECT count(*) FROM rejects WHERE entry_index IS NULL") == [(1,)]


def test_rebuild_from_raw_after_reprocessing_a_refused_gz_keeps_the_reprocessed_reading(prefect_harness, tmp_path,
                                                                                         sample_text):
    """The refused .gz stays in raw/ under the hash of its compressed bytes; its reading after the
    limit was raised is stored as .txt under the new id, and that is the one a rebuild keeps."""
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, "000_7707062aadfcc580.txt.gz", gzip.compress(sample_text.encode()), FIRST)
    ingest(home=home, inbox=inbox, settle_seconds=0, max_dump_bytes=30_000)
    ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)
    query = "SELECT dump_id, status, run_id, ingested_at FROM dumps ORDER BY dump_id"
    before = rows(home, query)
    assert [status for _, status, _, _ in before] == ["loaded"] and len(list((home / "raw").rglob("*.txt*"))) == 2
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert rows(home, query) == before


def test_rebuild_from_raw_reads_a_dump_once_though_two_copies_hold_it(prefect_harness, tmp_path, sample_text):
    """A .gz refused for its size (with a broken sidecar) and, later, its text as a .txt: the rebuild
    reads the .txt copy, and none of the refused copy's problems attach to that dump."""
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, "000_a.txt.gz", gzip.compress(sample_text.encode()), FIRST)
    (inbox / "000_a.meta.json").write_text('{"profile_key": ')
    ingest(home=home, inbox=inbox, settle_seconds=0, max_dump_bytes=30_000)
    write_dump(inbox, "001_a.txt", sample_text, LATER)
    ingest(home=home, inbox=inbox, settle_seconds=0)
    loaded = "SELECT status, entries_loaded, (SELECT count(*) FROM rejects r WHERE r.dump_id = d.dump_id) FROM dumps d " \
             "WHERE status <> 'quarantined'"
    assert rows(home, loaded) == [("loaded", 50, 0)]
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert rows(home, loaded) == [("loaded", 50, 0)]


def test_a_refused_gz_reprocessed_under_a_higher_limit_stays_loaded_under_the_usual_one(prefect_harness, tmp_path,
                                                                                        sample_text):
    """The limit raised only for the reprocessing run: the next ordinary run knows the .gz by its
    new reading and doesn't quarantine it again under its old id."""
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, "000_7707062aadfcc580.txt.gz", gzip.compress(sample_text.encode()), FIRST)
    ingest(home=home, inbox=inbox, settle_seconds=0, max_dump_bytes=30_000)
    assert ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)["dumps_loaded"] == 1
    assert ingest(home=home, inbox=inbox, settle_seconds=0, max_dump_bytes=30_000)["files_read"] == 0
    assert rows(home, "SELECT status, entries_loaded FROM dumps") == [("loaded", 50)]
    assert rows(home, "SELECT count(*) FROM rejects") == [(0,)]


def test_a_retried_commit_of_a_reprocessing_run_replaces_the_old_rejects_too(prefect_harness, tmp_path, sample_text,
                                                                              monkeypatch):
    """dumps committed, then an I/O error before rejects: Prefect's retry still knows which dump the new
    reading replaced (from dumps as it was before the run), so no reject of the old id is left."""
    from warehouse import lake
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, "000_7707062aadfcc580.txt.gz", gzip.compress(sample_text.encode()), FIRST)
    ingest(home=home, inbox=inbox, settle_seconds=0, max_dump_bytes=30_000)
    replace, failed = lake.replace_dumps, []

    def fails_once_on_rejects(lake_dir, name, *args):
        if name == "rejects" and not failed:
            failed.append(name)
            raise OSError("a transient write error")
        return replace(lake_dir, name, *args)
    monkeypatch.setattr(lake, "replace_dumps", fails_once_on_rejects)
    summary = ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)
    assert failed and summary["dumps_loaded"] == 1
    assert rows(home, "SELECT status, entries_loaded FROM dumps") == [("loaded", 50)]
    assert rows(home, "SELECT count(*) FROM rejects") == [(0,)]


def test_a_run_with_nothing_new_counts_only_files_it_had_read_before():
    summary = {"dumps_new": 0, "dumps_seen": 8, "unreadable": 6, "unlisted_folders": 2, "waiting": 1, "ignored": 0,
               "notes": []}
    said = runs.describe(summary, 1.0)
    assert said.startswith("nothing new: 2 dump files read before (loaded or quarantined), 1 still being written")
    assert "6 unreadable (tried again next run), 2 folders that can't be listed (tried again next run)" in said


@pytest.mark.parametrize("mb, rate", [(0.5, "0.04 MB/s"), (30.0, "2.5 MB/s"), (1830.0, "150.0 MB/s"),
                                      (0.001, "<0.01 MB/s"), (12.1, "0.99 MB/s")])
def test_a_runs_rate_has_digits_to_show_even_when_small(mb, rate):
    summary = {"dumps_new": 8, "dumps_seen": 8, "dumps_loaded": 8, "dumps_partial": 0, "dumps_quarantined": 0,
               "waiting": 0, "bytes_new": int(mb * 1e6), "notes": []}
    assert runs.describe(summary, 12.2).endswith(f"(12.2 s end to end, {rate})")


def test_a_text_misnamed_gz_quarantined_under_the_texts_id_gives_way_on_reprocess(prefect_harness, tmp_path,
                                                                                 monkeypatch):
    """A home from before refused .gz ids were salted: the misnamed .gz holds the id of the same text
    named .txt, which was skipped as known. Reprocessing reads the .txt, which the file index maps to
    that id, in the .gz's place; nothing is quarantined twice, and a rebuild from raw/ agrees."""
    from core import identity
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    text = "h-index1\n\nLGMay 1\nT1\n\nA B\n\nx"
    write_dump(inbox, "000_p.txt.gz", text, FIRST)
    write_dump(inbox, "001_p.txt", text, FIRST)
    with monkeypatch.context() as before_the_salt:
        before_the_salt.setattr(identity, "refused_id", lambda stem, plain, salted: plain)
        ingest(home=home, inbox=inbox, settle_seconds=0)
    assert rows(home, "SELECT dump_id, status FROM dumps") == [(identity.dump_id(text.encode()), "quarantined")]
    ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)
    (home / "state" / "files.parquet").unlink()   # every file read again: the .gz is known, not new
    ingest(home=home, inbox=inbox, settle_seconds=0)
    query = "SELECT dump_id, regexp_extract(source_path, '[^/]*$'), status FROM dumps ORDER BY source_path"
    assert rows(home, query) == [(identity.dump_id(text.encode()), "001_p.txt", "partial")]
    monkeypatch.setenv("PROFILE_ETL_BATCH_SIZE", "1")   # the .txt and .gz copies in batches of their own
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert rows(home, query) == [(identity.dump_id(text.encode()), "001_p.txt", "partial")]


def test_a_gz_refused_before_the_salt_keeps_its_id(prefect_harness, tmp_path, monkeypatch):
    """Read again (the file index lost, or --reprocess), a corrupt .gz refused under its plain hash
    is known by it still: salted, it would be quarantined a second time, and a rebuild would
    bring its old copy back beside the new one."""
    from core import identity
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, "000_p.txt.gz", "not gzip at all", FIRST)
    with monkeypatch.context() as before_the_salt:
        before_the_salt.setattr(identity, "refused_id", lambda stem, plain, salted: plain)
        ingest(home=home, inbox=inbox, settle_seconds=0)
    (home / "state" / "files.parquet").unlink()
    ingest(home=home, inbox=inbox, settle_seconds=0)
    ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)
    plain = [(identity.dump_id(b"not gzip at all"), "quarantined")]
    assert rows(home, "SELECT dump_id, status FROM dumps") == plain
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert rows(home, "SELECT dump_id, status FROM dumps") == plain


def test_reprocess_reads_another_inbox_file_holding_a_dump_whose_sidecar_went_with_its_file(prefect_harness,
                                                                                           tmp_path, sample_text):
    """a.txt (broken sidecar) and b.txt hold the same dump; b.txt is indexed as it. With a.txt and
    its sidecar removed, the raw/ copy would repeat the old sidecar error for ever: b.txt loads."""
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, "a.txt", sample_text, FIRST)
    write_dump(inbox, "b.txt", sample_text, FIRST)
    (inbox / "a.meta.json").write_text("{bad")
    ingest(home=home, inbox=inbox, settle_seconds=0)
    (inbox / "a.txt").unlink()
    (inbox / "a.meta.json").unlink()
    summary = ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)
    assert (summary["reprocessed"], summary["dumps_loaded"]) == (1, 1)
    assert rows(home, "SELECT regexp_extract(source_path, '[^/]*$'), profile_key, status FROM dumps") == [
        ("b.txt", "b", "loaded")]
    assert rows(home, "SELECT count(*) FROM rejects") == [(0,)]
    assert ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)["files_read"] == 0


def test_reprocess_reads_a_dump_from_its_own_file_though_a_copy_new_to_the_run_holds_it_too(prefect_harness,
                                                                                          tmp_path, sample_text):
    """The dump's own file is read again first, so its fixed sidecar counts: the same bytes saved
    under another name since, which a plain run skips as known, must not be read in its place."""
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    sidecar = inbox / "000_7707062aadfcc580.meta.json"
    sidecar.write_text('{"profile_key": "fixed"')
    ingest(home=home, inbox=inbox, settle_seconds=0)
    sidecar.write_text('{"profile_key": "fixed"}')
    write_dump(inbox, "001_aaaabbbbccccdddd.txt", sample_text, LATER)
    summary = ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)
    assert (summary["reprocessed"], summary["dumps_loaded"]) == (1, 1)
    assert rows(home, "SELECT regexp_extract(source_path, '[^/]*$'), profile_key, captured_at = TIMESTAMPTZ '2026-06-01 00:00:00+00', "
                      "status FROM dumps") == [(SAMPLE_NAME, "fixed", True, "loaded")]


def test_a_dump_quarantined_again_as_before_keeps_its_rows_and_is_not_counted_new(prefect_harness, tmp_path,
                                                                                   sample_text):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    (inbox / "000_7707062aadfcc580.meta.json").write_text("{broken")
    first = ingest(home=home, inbox=inbox, settle_seconds=0)
    before = rows(home, "SELECT * FROM dumps"), rows(home, "SELECT * FROM rejects")
    summary = ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)
    assert (summary["dumps_new"], summary["reprocessed"], summary["quarantined_as_before"]) == (0, 0, 1)
    assert summary["rows_added"]["dumps"] == summary["rows_added"]["rejects"] == 0
    assert "1 quarantined dumps read again and quarantined as before" in runs.describe(summary)
    assert (rows(home, "SELECT * FROM dumps"), rows(home, "SELECT * FROM rejects")) == before
    assert rows(home, "SELECT run_id FROM dumps") == [(first["run_id"],)]


def test_a_home_inside_its_inbox_reads_its_raw_copies_once(prefect_harness, tmp_path, sample_text):
    """The inbox's scan finds the home's raw/ copies: they stay indexed, or every run reads them
    again and `watch` never goes idle."""
    inbox = tmp_path / "dumps"
    home = inbox / "etl"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    ingest(home=home, inbox=inbox, settle_seconds=0)
    reads = [ingest(home=home, inbox=inbox, settle_seconds=0)["files_read"] for _ in range(2)]
    assert reads[-1] == 0
    assert not Watcher(Settings.load(home=home, inbox=inbox), quiet_seconds=0).pending()


def test_a_refused_gz_whose_text_is_loaded_gives_way_on_reprocess(prefect_harness, tmp_path, sample_text, capsys):
    """SPEC §3: the same bytes under another name are the same dump. A .gz refused for its size is
    known by its salted hash; once its text is loaded from a .txt, reading the .gz again under a
    raised limit finds that dump: the .gz's quarantined row gives way, as when the .gz itself loads,
    and is not retried by every `run --reprocess` with a reason its user has followed already."""
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, "000_7707062aadfcc580.txt.gz", gzip.compress(sample_text.encode()), FIRST)
    ingest(home=home, inbox=inbox, settle_seconds=0, max_dump_bytes=30_000)
    write_dump(inbox, "001_7707062aadfcc580.txt", sample_text, LATER)
    ingest(home=home, inbox=inbox, settle_seconds=0)
    assert sorted(rows(home, "SELECT status FROM dumps")) == [("loaded",), ("quarantined",)]
    summary = ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)
    assert (summary["reprocessed"], summary["dumps_new"]) == (1, 0)
    assert "1 quarantined dump read again held a dump loaded already and gave way to it" in runs.describe(summary)
    assert rows(home, "SELECT regexp_extract(source_path, '[^/]*$'), status FROM dumps") == [
        ("001_7707062aadfcc580.txt", "loaded")]
    assert rows(home, "SELECT count(*) FROM rejects") == [(0,)]
    assert ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)["reprocessed"] == 0
    capsys.readouterr()
    assert main(["--home", str(home), "doctor"]) == 0   # the .gz's copy is accounted for, not a dead run's
    said = capsys.readouterr().out
    assert "1 copies of .gz files refused unread" in said and "the lake doesn't" not in said, said
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert rows(home, "SELECT regexp_extract(source_path, '[^/]*$'), status FROM dumps") == [
        ("001_7707062aadfcc580.txt", "loaded")]

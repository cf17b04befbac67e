"""SPEC §6 and §3 through the flow: files recognised without re-reading, files still being written,
gzip, sidecars."""
from __future__ import annotations

import datetime as dt
import gzip
import json
import os

import duckdb

from flows.pipeline import ingest
from tests import dumps
from tests.conftest import SAMPLE_NAME, UTC, write_dump

FIRST = dt.datetime(2026, 6, 1, tzinfo=UTC)


def rows(home, sql):
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()


def test_unchanged_files_are_not_reread(run_ingest, tmp_path, sample_text):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    path = write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    assert run_ingest(home, inbox)["files_read"] == 1
    assert run_ingest(home, inbox)["files_read"] == 0
    os.utime(path, ((FIRST + dt.timedelta(days=1)).timestamp(),) * 2)   # touched: read again, same dump
    summary = run_ingest(home, inbox)
    assert (summary["files_read"], summary["dumps_new"]) == (1, 0)


def test_files_being_written_wait_for_the_next_run(prefect_harness, tmp_path, sample_text):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, ".000_hidden.txt", sample_text, FIRST)
    write_dump(inbox, "000_partial.txt.part", sample_text, FIRST)
    fresh = write_dump(inbox, SAMPLE_NAME, sample_text, dt.datetime.now(UTC))
    write_dump(inbox, "000_notes.TXT", sample_text, FIRST)   # not a dump name: reported, not read
    summary = ingest(home=home, inbox=inbox, settle_seconds=60)
    assert (summary["dumps_new"], summary["waiting"], summary["ignored"]) == (0, 3, 1)
    os.utime(fresh, (FIRST.timestamp(), FIRST.timestamp()))
    summary = ingest(home=home, inbox=inbox, settle_seconds=60)
    assert (summary["dumps_new"], summary["waiting"]) == (1, 2)


def test_gzipped_dump_is_the_same_dump_as_its_text(run_ingest, tmp_path, sample_text):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, "000_7707062aadfcc580.txt.gz", gzip.compress(sample_text.encode()), FIRST)
    summary = run_ingest(home, inbox)
    assert summary["dumps_loaded"] == 1
    assert rows(home, "SELECT profile_key, entries_loaded FROM dumps") == [("7707062aadfcc580", 50)]
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    assert run_ingest(home, inbox)["dumps_new"] == 0


def test_sidecar_names_profile_capture_time_and_owner(run_ingest, tmp_path, sample_text):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, "scrape-42.txt", sample_text, FIRST)
    (inbox / "scrape-42.meta.json").write_text(json.dumps({
        "profile_key": "wh-profile", "captured_at": "2026-03-01T12:00:00+01:00",
        "owner_name": "Lai Wei", "source_url": "https://example.org/p/wh"}))
    run_ingest(home, inbox)
    lines = [block[3].split(" · ")[0].removesuffix(" et al.") for block in dumps.split(sample_text)[1]]
    lai_wei = sum("Lai Wei" in line.split(", ") for line in lines)
    assert rows(home, "SELECT profile_key, captured_at::VARCHAR, owner_name, owner_share FROM profile_snapshots") == [
        ("wh-profile", "2026-03-01 11:00:00+00", "Lai Wei", lai_wei / 50)]
    # captured 2026-03-01: `May 29` without a year is after the capture, so it is in 2025
    assert rows(home, "SELECT published_on::VARCHAR FROM papers WHERE title LIKE 'Attend to Evidence%'") == [("2025-05-29",)]
    assert rows(home, "SELECT source_url FROM dumps") == [("https://example.org/p/wh",)]


def test_a_runs_log_names_the_files_whose_bytes_a_dump_already_loaded_holds(run_ingest, tmp_path, sample_text):
    """SPEC §6 skips them whatever their name, but not without a word."""
    from tests.servers import latest_flow_run_tasks_and_logs
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, "001_aaaaaaaaaaaaaaaa.txt", sample_text, FIRST)
    write_dump(inbox, "002_cccccccccccccccc.txt", sample_text, FIRST)   # the same bytes under another profile's name
    assert run_ingest(home, inbox)["dumps_new"] == 1
    assert any("1 file holds the bytes of a dump already loaded" in line and "002_cccccccccccccccc.txt" in line
               for line in latest_flow_run_tasks_and_logs()[2])
    (inbox / "001_aaaaaaaaaaaaaaaa.txt").rename(inbox / "003_aaaaaaaaaaaaaaaa.txt")   # renamed: read again
    assert run_ingest(home, inbox)["dumps_new"] == 0
    assert any("1 file holds the bytes" in line and "003_aaaaaaaaaaaaaaaa.txt" in line
               for line in latest_flow_run_tasks_and_logs()[2])


def test_a_runs_log_names_the_sidecar_keys_nothing_reads(run_ingest, tmp_path, sample_text):
    from tests.servers import latest_flow_run_tasks_and_logs
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, "scrape-42.txt", sample_text, FIRST)
    (inbox / "scrape-42.meta.json").write_text(json.dumps({"owner_name": "Lai Wei", "capture_time": "2026-03-01"}))
    run_ingest(home, inbox)
    logs = latest_flow_run_tasks_and_logs()[2]
    assert any(f"1 new dump's sidecar has keys that nothing reads (a sidecar's keys are captured_at, "
               f"owner_name, profile_key, source_url; others are ignored): {inbox / 'scrape-42.meta.json'}: keys "
               "not read: capture_time" in line for line in logs), logs
    run_ingest(home, inbox)   # a dump already loaded: nothing read, nothing said
    assert not any("keys not read" in line for line in latest_flow_run_tasks_and_logs()[2])


def test_unreadable_sidecar_quarantines_its_dump_only(run_ingest, tmp_path, sample_text):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, "000_badsidecar.txt", sample_text, FIRST)
    (inbox / "000_badsidecar.meta.json").write_text("{not json")
    write_dump(inbox, "001_other.txt", sample_text.replace("h-index28", "h-index29"), FIRST)
    summary = run_ingest(home, inbox)
    assert (summary["dumps_loaded"], summary["dumps_quarantined"]) == (1, 1)
    [(status, reason)] = rows(home, "SELECT status, reason FROM dumps WHERE source_path LIKE '%badsidecar%'")
    assert status == "quarantined" and "000_badsidecar.meta.json is not valid JSON" in reason
    assert rows(home, "SELECT count(*) FROM rejects WHERE entry_index IS NULL") == [(1,)]


def test_a_runs_log_warns_of_each_new_quarantined_dump_with_its_reason(run_ingest, tmp_path, sample_text):
    """An operator watching Prefect's UI saw only a count in a batch's log."""
    from tests.servers import latest_flow_run_tasks_and_logs
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    write_dump(inbox, "001_empty.txt", "", FIRST)
    run_ingest(home, inbox)
    logs = latest_flow_run_tasks_and_logs()[2]
    assert any(line.startswith("1 new dump was quarantined (bytes kept in raw/; `profile-etl status` lists them): "
                               f"{inbox / '001_empty.txt'}: empty file") for line in logs), logs
    write_dump(inbox, "002_other.txt", sample_text.replace("h-index28", "h-index29"), FIRST)
    run_ingest(home, inbox)   # the quarantined dump is not new: not warned of again
    assert not any("quarantined (bytes kept" in line for line in latest_flow_run_tasks_and_logs()[2])

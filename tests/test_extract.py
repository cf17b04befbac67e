"""Reading dump files into raw records: capture times no capture can have are refused, files written
to since the listing wait."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from core.records import SourceFile
from store import extract, storage
from tests.conftest import UTC, write_dump
from tests.test_raw_store import CAPTURED, dump_text, extract_inbox

RUN = CAPTURED + dt.timedelta(days=1)   # extract_inbox's ingestion time


@pytest.mark.parametrize("sidecar_time, mtime, says", [
    ("0001-01-01T00:00:00Z", CAPTURED, "is before 2000"),
    ("1970-01-01T00:00:00Z", CAPTURED, "is before 2000"),
    ("9999-12-31T00:00:00Z", CAPTURED, "is more than a day after this run"),
    (None, dt.datetime(1990, 5, 1, tzinfo=UTC), "is before 2000"),
    (None, RUN + dt.timedelta(hours=1), "is later than this run"),
])
def test_a_capture_time_outside_a_sane_range_quarantines_the_dump(tmp_path, sidecar_time, mtime, says):
    write_dump(tmp_path / "inbox", "000_p.txt", dump_text(10), mtime)
    if sidecar_time:
        (tmp_path / "inbox" / "000_p.meta.json").write_text(json.dumps({"captured_at": sidecar_time}))
    [row] = extract_inbox(tmp_path / "inbox", tmp_path / "raw", "20260602T000000Z-aaaa").dumps
    assert says in (row["quarantine_reason"] or ""), row["quarantine_reason"]


def test_a_sidecar_time_within_a_day_ahead_loads(tmp_path):
    write_dump(tmp_path / "inbox", "000_p.txt", dump_text(10), CAPTURED)
    (tmp_path / "inbox" / "000_p.meta.json").write_text(json.dumps({"captured_at": (RUN + dt.timedelta(hours=12)).isoformat()}))
    [row] = extract_inbox(tmp_path / "inbox", tmp_path / "raw", "20260602T000000Z-aaaa").dumps
    assert row["quarantine_reason"] is None and row["captured_at"] == RUN + dt.timedelta(hours=12)


def test_a_file_written_to_after_the_listing_is_left_for_the_next_run(tmp_path):
    """The settle check is the listing's: a file whose size or time has changed since was written to
    while the run read it, so it is neither loaded, nor quarantined, nor indexed."""
    write_dump(tmp_path / "inbox", "000_p.txt", dump_text(10), CAPTURED)
    write_dump(tmp_path / "inbox", "001_q.txt", dump_text(11), CAPTURED)
    path = tmp_path / "inbox" / "000_p.txt"
    listed = [SourceFile(path, path.stat().st_size - 7, path.stat().st_mtime_ns),   # listed before its last write
              SourceFile(tmp_path / "inbox" / "001_q.txt", *storage.stat(tmp_path / "inbox" / "001_q.txt"))]
    stamp = {"run_id": "20260602T000000Z-aaaa", "ingested_at": RUN}
    batch = extract.extract_batch(listed, set(), tmp_path / "raw", 1 << 20, stamp, 0)
    assert [row["profile_key"] for row in batch.dumps] == ["q"]
    assert [f["path"] for f in batch.files] == [str(tmp_path / "inbox" / "001_q.txt")]
    [why] = batch.unread
    assert "000_p.txt" in why and "written to while the run read it" in why

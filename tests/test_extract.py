"""Reading dump files into raw records: capture times no capture can have are refused, files written
to since the listing wait."""
from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from core import identity
from core.records import SourceFile
from store import dump_file, extract, raw_store, storage
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


def test_a_refused_dump_changed_before_its_copy_is_left_for_the_next_run(tmp_path, monkeypatch):
    """A dump over the size limit is hashed, then copied to raw/ in a second read: bytes changed in
    between (same size and time, as an object replaced in a store) are not stored under the first id."""
    write_dump(tmp_path / "inbox", "000_p.txt", dump_text(10), CAPTURED)
    path = tmp_path / "inbox" / "000_p.txt"
    hashed = extract.read_dump

    def read_then_rewrite(source, *args):
        read = hashed(source, *args)
        times = source.stat()
        source.write_text(dump_text(99))   # as long as before: h-index 10 became 99
        os.utime(source, ns=(times.st_atime_ns, times.st_mtime_ns))
        return read

    monkeypatch.setattr(extract, "read_dump", read_then_rewrite)
    listed = [SourceFile(path, *storage.stat(path))]
    stamp = {"run_id": "20260602T000000Z-aaaa", "ingested_at": RUN}
    batch = extract.extract_batch(listed, set(), tmp_path / "raw", 100, stamp, 0)   # 100 bytes: refused
    assert not batch.dumps and not batch.files and not batch.raw_meta
    [why] = batch.unread
    assert "000_p.txt" in why and "written to while the run read it" in why
    assert not list((tmp_path / "raw").glob("*/*.txt"))
    monkeypatch.undo()
    [row] = extract.extract_batch(listed, set(), tmp_path / "raw", 100, stamp, 0).dumps   # the next run
    assert {row["dump_id"]} == dump_file.stored_ids(path) and "size limit" in row["quarantine_reason"]
    assert (tmp_path / "raw" / row["dump_id"][:2] / f"{row['dump_id']}.txt").read_text() == dump_text(99)


def test_a_text_misnamed_gz_does_not_take_the_id_of_the_same_text_named_txt(tmp_path):
    """A plain text named .txt.gz is refused unread; its id is its bytes' hash salted, so the same
    bytes named .txt are a dump of their own that loads, and both copies are kept in raw/."""
    write_dump(tmp_path / "inbox", "000_p.txt.gz", dump_text(10), CAPTURED)
    write_dump(tmp_path / "inbox", "001_p.txt", dump_text(10), CAPTURED)
    batch = extract_inbox(tmp_path / "inbox", tmp_path / "raw", "20260602T000000Z-aaaa")
    gz, txt = batch.dumps
    assert "Not a gzipped file" in gz["quarantine_reason"] and txt["quarantine_reason"] is None
    assert txt["dump_id"] == identity.dump_id(dump_text(10).encode()) != gz["dump_id"]
    assert {gz["dump_id"]} == dump_file.stored_ids(tmp_path / "inbox" / "000_p.txt.gz") - {txt["dump_id"]}
    copies = {p.name: p.read_bytes() for p in (tmp_path / "raw").glob("*/*.txt*")}
    assert copies == {f"{gz['dump_id']}.txt.gz": dump_text(10).encode(), f"{txt['dump_id']}.txt": dump_text(10).encode()}
    assert raw_store.check_copies(tmp_path / "raw", set()).damaged() == {}


def test_a_sidecar_that_is_a_dangling_link_quarantines_its_dump(tmp_path):
    write_dump(tmp_path / "inbox", "000_p.txt", dump_text(10), CAPTURED)
    (tmp_path / "inbox" / "000_p.meta.json").symlink_to(tmp_path / "nowhere" / "side.json")
    [row] = extract_inbox(tmp_path / "inbox", tmp_path / "raw", "20260602T000000Z-aaaa").dumps
    assert row["quarantine_reason"] == (f"sidecar 000_p.meta.json can't be read: it is a link to "
                                        f"{tmp_path / 'nowhere' / 'side.json'}, which doesn't exist; "
                                        "fix the sidecar, then reprocess the dump")


@pytest.mark.parametrize("raw, suggested", [
    ("Ren\u00e9 \u201cquoted\u201d \u2013 a dash".encode("cp1252"), "if it is Windows-1252 `iconv -f CP1252 "),
    ("Ren\u00e9 and \u00e5".encode("latin-1"), "if it is Latin-1 `iconv -f LATIN1 ")])
def test_a_text_that_is_not_utf8_gets_the_likelier_of_two_conversions(raw, suggested):
    """Bytes 0x80-0x9f are quotes and dashes in Windows-1252; converted as Latin-1 they'd be control characters."""
    from core.records import Quarantine, decode_text
    with pytest.raises(Quarantine, match="can't be decoded") as refused:
        decode_text(b"h-index28\n" + raw)
    assert suggested in str(refused.value)


@pytest.mark.parametrize("raw", [b"caf\xe9 \x81", "caf\u00e9 \u201cquoted\u201d".encode() + b" \xe9 \x93"])
def test_bytes_windows_1252_cant_convert_get_the_latin1_example(raw):
    """0x81 is undefined in Windows-1252 (iconv would refuse it); a file partly UTF-8 is neither."""
    from core.records import Quarantine, decode_text
    with pytest.raises(Quarantine) as refused:
        decode_text(b"h-index28\n" + raw)
    assert "if it is Latin-1 `iconv -f LATIN1 " in str(refused.value)


def test_a_dump_whose_name_leaves_no_room_for_a_sidecar_has_none(tmp_path):
    """A 251-byte name is legal; `.meta.json` beside it would pass the file system's 255 bytes, and
    looking for that sidecar failed every run with `File name too long`."""
    write_dump(tmp_path / "inbox", "017_" + "L" * 243 + ".txt", dump_text(10), CAPTURED)
    [row] = extract_inbox(tmp_path / "inbox", tmp_path / "raw", "20260602T000000Z-aaaa").dumps
    assert row["quarantine_reason"] is None and row["profile_key"] == "L" * 243


def test_a_dump_missing_a_metric_line_with_every_entry_valid_is_partial(tmp_path, capsys):
    """SPEC §7: a header problem makes the dump partial, with the reason, though no entry is rejected."""
    from flows.cli import main
    from tests import dumps
    text = "h-index28\n57papers\n1,945citations\nNovelty55%\n\n57 Papers\n\n" + "\n".join(
        dumps.entry("LGAug 23, 2023", "A Title", "A B, C D", "Text."))
    (tmp_path / "000_k.txt").write_text(text)
    assert main(["validate", str(tmp_path / "000_k.txt")]) == 1
    said = capsys.readouterr().out
    assert "000_k.txt: missing metric ai_score" in said and "000_k.txt: partial, 1 of 1 entries valid" in said


def test_a_category_of_five_capitals_is_valid(tmp_path, capsys):
    """SPEC §2: a category is two to five capital letters."""
    from flows.cli import main
    from tests import dumps
    text = "h-index28\n57papers\n1,945citations\nNovelty55%\nAI Score62\n\n57 Papers\n\n" + "\n".join(
        dumps.entry("ROBOTJun 3, 2024", "A Title", "A B, C D", "Text."))
    (tmp_path / "000_k.txt").write_text(text)
    assert main(["validate", str(tmp_path / "000_k.txt")]) == 0
    assert "000_k.txt: loaded, 1 of 1 entries valid" in capsys.readouterr().out


def test_a_modification_time_past_2262_quarantines_its_dump_and_holds_up_no_other(tmp_path):
    """`touch -d 2300-01-01` (ext4 keeps times to 2446): more nanoseconds since 1970 than an Int64
    holds. The dump is quarantined for its time, the others load, and its file is indexed."""
    from core.validate import to_frames
    from flows.discover import scan_inbox
    write_dump(tmp_path / "inbox", "000_p.txt", dump_text(10), CAPTURED)
    far = write_dump(tmp_path / "inbox", "001_q.txt", dump_text(11), CAPTURED)
    year_2300 = int(dt.datetime(2300, 1, 1, tzinfo=UTC).timestamp()) * 10**9
    os.utime(far, ns=(year_2300, year_2300))
    if far.stat().st_mtime_ns != year_2300:
        pytest.skip("this file system can't hold a time in 2300")
    found = scan_inbox(tmp_path / "inbox", settle_seconds=0)
    stamp = {"run_id": "20260602T000000Z-aaaa", "ingested_at": RUN}
    frames = to_frames(extract.extract_batch(found.ready, set(), tmp_path / "raw", 1 << 20, stamp, 0))
    reasons = dict(frames.dumps.select("profile_key", "quarantine_reason").iter_rows())
    assert reasons["p"] is None and "is later than this run" in reasons["q"]
    assert frames.files.height == 2 and not frames.unread

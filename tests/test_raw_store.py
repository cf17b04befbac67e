"""raw/: a batch's copies and the one meta file that names them, and what a rebuild reads back."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from core import identity
from core.records import Batch, SourceFile
from store import extract, raw_store
from tests.conftest import UTC, write_dump

CAPTURED = dt.datetime(2026, 6, 1, tzinfo=UTC)
PROFILE = (Path(__file__).parent / "fixtures" / "hostile" / "profile.txt").read_text()


def dump_text(h_index: int) -> str:
    return PROFILE.replace("h-index7\n", f"h-index{h_index}\n")


def extract_inbox(inbox: Path, raw: Path, run_id: str, batch_index: int = 0,
                  rule: str = identity.DEFAULT_KEY_PATTERN) -> Batch:
    sources = [SourceFile(p, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(inbox.iterdir())
               if not p.name.endswith(identity.SIDECAR_SUFFIX)]
    stamp = {"run_id": run_id, "ingested_at": CAPTURED + dt.timedelta(days=1)}
    return extract.extract_batch(sources, set(), raw, 1 << 20, stamp, batch_index, identity.key_pattern(rule))


def meta_line(dump_id: str, run_id: str, source_path: str, ingested_at: str = "2026-06-02 00:00:00+00:00") -> str:
    return json.dumps({"dump_id": dump_id, "source_path": source_path, "profile_key": "k", "run_id": run_id,
                       "captured_at": "2026-06-01 00:00:00+00:00", "ingested_at": ingested_at})


def test_a_batch_writes_its_copies_and_one_meta_file_that_names_each(tmp_path):
    for i in range(3):
        write_dump(tmp_path / "inbox", f"00{i}_p{i}.txt", dump_text(10 + i), CAPTURED)
    batch = extract_inbox(tmp_path / "inbox", tmp_path / "raw", "20260602T000000Z-aaaa", batch_index=7)
    assert [p.name for p in (tmp_path / "raw" / "meta").iterdir()] == ["20260602T000000Z-aaaa-00007.jsonl"]
    assert not list((tmp_path / "raw").glob("*/*.meta.json"))
    metas = raw_store.raw_metas(tmp_path / "raw")
    assert sorted(metas) == sorted(row["dump_id"] for row in batch.dumps)
    for row in batch.dumps:
        assert (tmp_path / "raw" / row["dump_id"][:2] / f"{row['dump_id']}.txt").is_file()
        assert metas[row["dump_id"]]["profile_key"] == row["profile_key"] == row["source_path"][-6:-4]


def test_the_loading_run_names_a_copy_else_the_latest_run_and_in_a_run_the_first_batch(tmp_path):
    raw = tmp_path / "raw"
    (raw / "meta").mkdir(parents=True)
    (raw / "ab").mkdir()
    for did, path in (("ab1", "/legacy"), ("ab2", "/legacy-only")):   # a home from before the meta files
        legacy = json.loads(meta_line(did, "20260501T000000Z-o", path, "2026-05-01 00:00:00+00:00"))
        (raw / "ab" / f"{did}.meta.json").write_text(json.dumps({k: v for k, v in legacy.items() if k != "dump_id"}))
    a, b, early, late = "20260601T000000Z-a", "20260602T000000Z-b", "20260603T000000Z-ffff", "20260603T000000Z-0000"
    lines = {f"{a}-00000": [meta_line("ab1", a, "/first", "2026-06-01 00:00:00+00:00")],
             f"{b}-00000": [meta_line("ab1", b, "/second"), "\0\0\0"],
             f"{b}-00001": [meta_line("ab1", b, "/same-run")],
             # two runs in one second: their run ids sort the other way round from their start times
             f"{early}-00000": [meta_line("cd1", early, "/earlier", "2026-06-03 00:00:00.1+00:00")],
             f"{late}-00000": [meta_line("cd1", late, "/later", "2026-06-03 00:00:00.9+00:00")]}
    for name, text in lines.items():
        (raw / "meta" / f"{name}.jsonl").write_text("\n".join(text) + "\n")
    metas = raw_store.raw_metas(raw)
    assert {did: meta["source_path"] for did, meta in metas.items()} == {
        "ab1": "/second", "ab2": "/legacy-only", "cd1": "/later"}
    assert raw_store.raw_metas(raw, {"ab1": a})["ab1"]["source_path"] == "/first"


def test_a_copy_no_meta_file_names_is_left_out_of_a_rebuild_and_returned(tmp_path):
    write_dump(tmp_path / "inbox", "000_p.txt", dump_text(20), CAPTURED)
    extract_inbox(tmp_path / "inbox", tmp_path / "raw", "20260602T000000Z-aaaa")
    orphan = tmp_path / "raw" / "ff" / f"ff{'0' * 62}.txt"   # a batch that died before its meta file
    orphan.parent.mkdir()
    orphan.write_text(dump_text(21))
    copies, unnamed = extract.raw_copies(tmp_path / "raw", {})
    batch = extract.extract_copies(copies, set(), 1 << 20)
    assert unnamed == [orphan]
    [row] = batch.dumps
    assert (row["source_path"], row["profile_key"], row["captured_at"]) == (str(tmp_path / "inbox" / "000_p.txt"),
                                                                             "p", CAPTURED)
    assert row["run_id"] == "20260602T000000Z-aaaa" and row["entries_found"] == 3


def test_a_raw_copy_keeps_its_first_sidecar_without_reading_one(tmp_path):
    write_dump(tmp_path / "inbox", "000_p.txt", dump_text(30), CAPTURED)
    (tmp_path / "inbox" / "000_p.meta.json").write_text(json.dumps(
        {"profile_key": "from-sidecar", "captured_at": "2026-05-01T00:00:00Z", "owner_name": "Ada"}))
    [first] = extract_inbox(tmp_path / "inbox", tmp_path / "raw", "20260602T000000Z-aaaa").dumps
    [again] = extract.extract_copies(extract.raw_copies(tmp_path / "raw", {})[0], set(), 1 << 20).dumps
    assert again == first
    assert (again["profile_key"], again["sidecar_owner_name"]) == ("from-sidecar", "Ada")
    assert again["captured_at"] == identity.parse_timestamp("2026-05-01T00:00:00Z")


def test_a_quarantined_dump_whose_meta_is_lost_is_retried_from_raw_with_its_dumps_row(tmp_path):
    import polars as pl

    from flows.reprocess import quarantined_sources
    from schemas.tables import TABLES, empty_frame
    write_dump(tmp_path / "inbox", "000_p.txt", dump_text(40), CAPTURED)
    [row] = extract_inbox(tmp_path / "inbox", tmp_path / "raw", "20260602T000000Z-aaaa").dumps
    (tmp_path / "inbox" / "000_p.txt").unlink()                  # only the raw/ copy is left
    for path in (tmp_path / "raw" / "meta").iterdir():
        path.unlink()
    dumps = pl.DataFrame([row | {"status": "quarantined", "reason": "r", "entries_loaded": 0, "entries_rejected": 0}],
                         schema=empty_frame(TABLES["dumps"]).schema, strict=False)
    [source] = quarantined_sources(dumps, tmp_path / "raw", 1 << 20).values()
    assert source.origin == row["source_path"] and source.path.parent.parent == tmp_path / "raw"
    assert (source.sidecar.profile_key, source.sidecar.captured_at) == ("p", CAPTURED)


def test_a_dump_quarantined_for_a_sidecar_gone_with_its_file_is_retried_from_another_file_holding_it(tmp_path):
    """a.txt (broken sidecar) and b.txt hold the same bytes; b.txt was skipped as that dump and
    indexed so. With a.txt and its sidecar gone, the raw/ copy would only repeat the sidecar's
    error: b.txt, which the file index maps to the dump, is read instead."""
    import polars as pl

    from core.validate import FILE_SCHEMA
    from flows.reprocess import quarantined_sources
    from schemas.tables import TABLES, empty_frame
    write_dump(tmp_path / "inbox", "a.txt", dump_text(40), CAPTURED)
    write_dump(tmp_path / "inbox", "b.txt", dump_text(40), CAPTURED)
    (tmp_path / "inbox" / "a.meta.json").write_text("{bad")
    batch = extract_inbox(tmp_path / "inbox", tmp_path / "raw", "20260602T000000Z-aaaa")
    [row] = batch.dumps
    assert "a.meta.json is not valid JSON" in row["quarantine_reason"]
    (tmp_path / "inbox" / "a.txt").unlink()
    (tmp_path / "inbox" / "a.meta.json").unlink()
    dumps = pl.DataFrame([row | {"status": "quarantined", "reason": "r", "entries_loaded": 0, "entries_rejected": 0}],
                         schema=empty_frame(TABLES["dumps"]).schema, strict=False)
    index = pl.DataFrame(batch.files, schema=FILE_SCHEMA)
    [source] = quarantined_sources(dumps, tmp_path / "raw", 1 << 20, index).values()
    assert (source.path, source.origin, source.sidecar_error) == (tmp_path / "inbox" / "b.txt", None, None)


def test_a_batch_parses_its_texts_in_parts_past_the_text_bound(tmp_path, sample_text, monkeypatch):
    """Texts wait to be parsed together only up to extract.PARSE_AT_CHARS: a batch of big dumps
    doesn't hold them all at once, and gives the same records as one parse."""
    from core.validate import to_frames

    def records(bound: int):
        monkeypatch.setattr(extract, "PARSE_AT_CHARS", bound)
        inbox = tmp_path / f"inbox-{bound}"
        for i in range(3):
            write_dump(inbox, f"00{i}_k{i}.txt", sample_text + "\n" * i, CAPTURED)
        frames = to_frames(extract_inbox(inbox, tmp_path / f"raw-{bound}", "r1"))
        return frames.entries, frames.dumps.drop("source_path")

    whole, parts = records(1 << 30), records(len(sample_text))
    assert whole[0].height == 150 and whole[0].equals(parts[0]) and whole[1].equals(parts[1])


def test_a_name_the_key_rule_does_not_match_is_quarantined_and_keyed_by_its_name_on_reprocessing(tmp_path):
    write_dump(tmp_path / "inbox", "r1_013_p.txt", dump_text(50), CAPTURED)
    write_dump(tmp_path / "inbox", "014_q.txt", dump_text(51), CAPTURED)
    rule = r"r\d+_\d+_(?P<key>.+)"
    batch = extract_inbox(tmp_path / "inbox", tmp_path / "raw", "20260602T000000Z-aaaa", rule=rule)
    rows = {Path(row["source_path"]).name: row for row in batch.dumps}
    assert rows["r1_013_p.txt"]["profile_key"] == "p" and rows["r1_013_p.txt"]["quarantine_reason"] is None
    unnamed = rows["014_q.txt"]
    assert unnamed["profile_key"] == "014_q" and "gives no profile key by the rule" in unnamed["quarantine_reason"]
    assert raw_store.raw_metas(tmp_path / "raw")[unnamed["dump_id"]]["profile_key"] is None
    (tmp_path / "inbox" / "014_q.txt").unlink()   # gone from the inbox: reprocessing reads its raw/ copy
    fixed = identity.key_pattern(r"(?:r\d+_)?\d+_(?P<key>.+)")
    copies = extract.raw_copies(tmp_path / "raw", {})[0]
    again = {row["dump_id"]: row for row in extract.extract_copies(copies, set(), 1 << 20, fixed).dumps}
    assert (again[unnamed["dump_id"]]["profile_key"], again[unnamed["dump_id"]]["quarantine_reason"]) == ("q", None)


def test_a_copy_cut_short_is_set_aside_and_written_again(tmp_path):
    """A copy whose file lost its bytes (a power loss before the run's flush reached the disk) is not
    trusted for being there: a later reading of the dump writes it again and keeps the short one aside."""
    write_dump(tmp_path / "inbox", "000_p.txt", dump_text(10), CAPTURED)
    data = (tmp_path / "inbox" / "000_p.txt").read_bytes()
    did = identity.dump_id(data)
    short = tmp_path / "raw" / did[:2] / f"{did}.txt"
    short.parent.mkdir(parents=True)
    short.write_bytes(b"")
    extract_inbox(tmp_path / "inbox", tmp_path / "raw", "20260602T000000Z-aaaa")
    assert short.read_bytes() == data
    assert (tmp_path / "raw" / raw_store.DAMAGED_DIR / f"{did}.txt.damaged").read_bytes() == b""
    assert raw_store.check_copies(tmp_path / "raw", {did}).damaged() == {}
    short.write_bytes(b"cut")                          # cut short again: the first one set aside stays
    extract_inbox(tmp_path / "inbox", tmp_path / "raw", "20260603T000000Z-bbbb")
    assert sorted(p.read_bytes() for p in (tmp_path / "raw" / raw_store.DAMAGED_DIR).iterdir()) == [b"", b"cut"]


def test_a_dump_the_lake_holds_is_missing_from_raw_even_when_no_meta_file_names_it(tmp_path):
    """raw/ is the source of truth (SPEC §8): a copy gone with its meta files must still be found missing."""
    did = "ab" + "0" * 62
    (tmp_path / "cd").mkdir()
    other = tmp_path / "cd" / ("cd" + "1" * 62 + ".txt")
    other.write_text("x")
    check = raw_store.check_copies(tmp_path, held={did}, metas={})
    assert check.missing == [did] and check.why[did] == f"raw/ab/{did}.txt is missing"

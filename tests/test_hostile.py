"""SPEC §7 through the real flow: hostile and broken dumps beside good ones in one inbox, run once,
each with its exact outcome (status, reason, what loaded, what is in `rejects` with its text);
and a dump's encoding changes nothing in the tables."""
from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from core.records import Batch, SourceFile
from core.validate import to_frames
from flows.batch import transform
from flows.cli import main
from schemas.tables import MERGED_TABLES
from schemas.tables import TABLES as TABLES_MODELS
from schemas.tables import empty_frame
from store import extract
from tests import dumps
from tests.conftest import SAMPLE_NAME, UTC, write_dump

FIXTURES = Path(__file__).parent / "fixtures" / "hostile"
CAPTURED = dt.datetime(2026, 6, 1, tzinfo=UTC)
TABLES = ["dumps", "profile_snapshots", "profiles", "papers", "authors", "paper_authors", "listings", "rejects", "runs"]
PROFILE_TITLES = ["Surviving Hostile Input: A Case Study", "Broken Files in the Wild — Ω Edition",
                  "Encodings Considered Harmful"]
GARBLED = "entry head is garbled: expected CATEGORY + `Mon D[, YYYY]` [+ `Code`]"
ODD_NAMES = {"040_prof ile é $(x);'q'.txt": "prof ile é $(x);'q'",
             os.fsdecode(b"041_\xff\xfe not utf-8.txt"): "\\xff\\xfe not utf-8",
             "042_new\nline `rm -rf ~` *?.txt": "new\nline `rm -rf ~` *?"}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def profile(h_index: int) -> str:
    """The small good profile with its own h-index, so every dump made from it has its own bytes."""
    return fixture("profile.txt").decode().replace("h-index7\n", f"h-index{h_index}\n")


def entry_text(text: str, head: str) -> str:
    """An entry's text as written: its head line up to the blank line before the next head (or the end)."""
    start = text.index(head + "\n")
    ends = [text.index("\n\n" + h, start) for h in ("LG", "CV", "RO") if "\n\n" + h in text[start:]]
    return text[start:min(ends, default=len(text))]


def hostile_files() -> dict[str, bytes]:
    files = {"001_profile.txt": fixture("profile.txt")}
    files |= {f"01{i}_{name}.txt": fixture(f"{name}.txt")
              for i, name in enumerate(["empty", "binary", "page", "document", "latin1"])}
    files |= {"015_utf16.txt": profile(15).encode("utf-16"),
              "016_utf16be.txt": codecs.BOM_UTF16_BE + profile(16).encode("utf-16-be"),
              "017_bom_crlf.txt": codecs.BOM_UTF8 + profile(17).replace("\n", "\r\n").encode()}
    files |= {f"02{i}_{name}.txt": fixture(f"{name}.txt") for i, name in
              enumerate(["cut_off", "impossible_date", "garbled_head", "header_problems", "duplicates"])}
    files |= {"030_sidecar_not_json.txt": profile(30).encode(), "030_sidecar_not_json.meta.json":
              fixture("sidecar_not_json.meta.json"), "031_sidecar_bad_time.txt": profile(31).encode(),
              "031_sidecar_bad_time.meta.json": fixture("sidecar_bad_time.meta.json")}
    return files | {name: profile(40 + i).encode() for i, name in enumerate(ODD_NAMES)}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, prefect_harness, sample_text):
    """One run over an inbox of the good sample and every hostile file: (home, inbox, summary)."""
    from flows.pipeline import ingest
    base = tmp_path_factory.mktemp("hostile")
    write_dump(base / "inbox", SAMPLE_NAME, sample_text, CAPTURED)
    for name, data in hostile_files().items():
        write_dump(base / "inbox", name, data, CAPTURED)
    return base / "home", base / "inbox", ingest(home=base / "home", inbox=base / "inbox", settle_seconds=0)


def query(home: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def shown(name: str) -> str:
    """A file name as stored: bytes that are not UTF-8 appear as `\\xNN`."""
    return "/" + name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def outcome(home: Path, name: str) -> tuple:
    """(status, reason, entries_found, entries_loaded, entries_rejected) of the dump read from `name`."""
    [row] = query(home, "SELECT status, reason, entries_found, entries_loaded, entries_rejected FROM dumps "
                        "WHERE suffix(source_path, ?)", shown(name))
    return row


def rejects(home: Path, name: str) -> list[tuple]:
    return query(home, "SELECT entry_index, line_no, r.reason, raw_text FROM rejects r JOIN dumps USING (dump_id) "
                       "WHERE suffix(source_path, ?) ORDER BY entry_index NULLS FIRST, line_no NULLS FIRST, r.reason",
                 shown(name))


def titles(home: Path, name: str) -> list[str]:
    return [t for _, t in query(home, "SELECT rank, title FROM listings JOIN papers USING (paper_id) JOIN dumps "
                                      "USING (dump_id) WHERE suffix(source_path, ?) ORDER BY rank", shown(name))]


def test_run_completes_and_counts_every_dump(hostile):
    home, _, summary = hostile
    assert (summary["status"], summary["dumps_new"]) == ("completed", 20)
    assert (summary["dumps_loaded"], summary["dumps_partial"], summary["dumps_quarantined"]) == (8, 5, 7)
    assert query(home, "SELECT count(*) FROM dumps WHERE entries_found <> entries_loaded + entries_rejected") == [(0,)]


def test_good_dumps_of_the_same_run_load(hostile):
    home, _, _ = hostile
    assert outcome(home, SAMPLE_NAME) == ("loaded", None, 50, 50, 0)
    assert query(home, "SELECT h_index, citations, papers_listed FROM profile_snapshots WHERE profile_key = "
                       "'7707062aadfcc580'") == [(28, 1945, 50)]
    assert outcome(home, "001_profile.txt") == ("loaded", None, 3, 3, 0)
    assert titles(home, "001_profile.txt") == PROFILE_TITLES


@pytest.mark.parametrize("name, reason, raw_text", [
    ("010_empty.txt", "empty file (a copy that failed? put the capture in the inbox, and the next run loads it)", ""),
    ("011_binary.txt", "binary file, not text: NUL byte at offset 8. If it is UTF-16 or UTF-32 text without a "
     "byte-order mark, convert it to UTF-8 in place, e.g. `iconv -f UTF-16LE -t UTF-8 FILE > FILE.new && touch -r "
     "FILE FILE.new && mv FILE.new FILE` (a .gz: gunzip it first), so the next run reads it as a new dump of the "
     "same profile and capture time; where the time can't be kept (object storage), give captured_at in a sidecar",
     None),
    ("012_page.txt", "not a profile dump (it looks like an HTML or XML page): no metric line such as `h-index28` "
     "and no entry head such as `LGAug 23, 2023` found", fixture("page.txt").decode()),
    ("013_document.txt", "not a profile dump (it is a JSON document): no metric line such as `h-index28` and no "
     "entry head such as `LGAug 23, 2023` found", fixture("document.txt").decode()),
    ("014_latin1.txt", "not valid UTF-8 text: byte 0xe9 at offset 88 (line 10) can't be decoded; the encoding "
     "can't be recognised for sure, so nothing was guessed: convert the file to UTF-8 in place, e.g. if it is "
     "Latin-1 `iconv -f LATIN1 -t UTF-8 FILE > FILE.new && touch -r FILE FILE.new && mv FILE.new FILE` (a .gz: "
     "gunzip it first), so the next run reads it as a new dump of the same profile and capture time; where the "
     "time can't be kept (object storage), give captured_at in a sidecar; the original bytes are kept in raw/", None),
    ("030_sidecar_not_json.txt", "sidecar 030_sidecar_not_json.meta.json is not valid JSON: Expecting ',' delimiter: "
     "line 1 column 47 (char 46); fix the sidecar, then reprocess the dump", profile(30)),
    ("031_sidecar_bad_time.txt", "sidecar 031_sidecar_bad_time.meta.json: captured_at '2026-02-30T10:00:00Z' is "
     "not an ISO 8601 time such as 2026-06-01T12:00:00Z; fix the sidecar, then reprocess the dump", profile(31)),
])
def test_unreadable_dumps_are_quarantined_with_reason_and_decoded_text(hostile, name, reason, raw_text):
    home, _, _ = hostile
    assert outcome(home, name) == ("quarantined", reason, 0, 0, 0)
    assert rejects(home, name) == [(None, None, reason, raw_text)]
    assert titles(home, name) == []
    assert query(home, "SELECT count(*) FROM profile_snapshots JOIN dumps USING (dump_id) "
                       "WHERE suffix(source_path, ?)", shown(name)) == [(0,)]


def test_following_the_conversion_hint_loads_the_same_profile_at_the_same_capture_time(tmp_path, prefect_harness,
                                                                                      capsys):
    from flows.pipeline import ingest
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    path = write_dump(inbox, "014_latin1.txt", fixture("latin1.txt"), CAPTURED)
    ingest(home=home, inbox=inbox, settle_seconds=0)
    # the hint: iconv -f LATIN1 -t UTF-8 FILE > FILE.new && touch -r FILE FILE.new && mv FILE.new FILE
    new = path.with_name(path.name + ".new")
    new.write_bytes(path.read_bytes().decode("latin-1").encode("utf-8"))
    os.utime(new, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    os.replace(new, path)
    ingest(home=home, inbox=inbox, settle_seconds=0)
    rows = query(home, "SELECT status, profile_key, captured_at FROM dumps ORDER BY status")
    assert [r[0] for r in rows] == ["loaded", "quarantined"] and rows[0][1:] == rows[1][1:]
    # `status` no longer shows it as an open problem: it names the reading that replaced it
    write_dump(inbox, "015_other.txt", b"\xff\xfe not text at all", CAPTURED)
    ingest(home=home, inbox=inbox, settle_seconds=0)
    assert main(["--home", str(home), "status", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["quarantined dumps"]
    assert [(Path(q["source_path"]).name, q["replaced_by"] and Path(q["replaced_by"]).name) for q in listed] == [
        ("015_other.txt", None), ("014_latin1.txt", "014_latin1.txt")]
    # nor does --reprocess read it again: it would load that capture twice once a parser could read it
    again = ingest(home=home, inbox=inbox, settle_seconds=0, reprocess=True)
    assert (again["files_read"], again["quarantined_as_before"]) == (1, 1)   # 015_other.txt only


def test_every_dump_is_kept_in_raw_byte_for_byte(hostile):
    home, inbox, _ = hostile
    files = [p.read_bytes() for p in inbox.iterdir() if not p.name.endswith(".meta.json")]
    stored = {hashlib.sha256(data).hexdigest(): data for data in files}
    ids = [did for (did,) in query(home, "SELECT dump_id FROM dumps")]
    assert sorted(ids) == sorted(stored) and len(ids) == len(files)
    for did in ids:
        assert (home / "raw" / did[:2] / f"{did}.txt").read_bytes() == stored[did]


def test_no_mojibake_or_replacement_characters_anywhere(hostile):
    home, _, _ = hostile
    for table in TABLES:
        text = read_table(home, table).select(pl.col(pl.String)).fill_null("")
        for column in text.columns:
            assert not text[column].str.contains("\ufffd|Ã|Â|\r|\ufeff").any(), (table, column)


@pytest.mark.parametrize("name", ["015_utf16.txt", "016_utf16be.txt", "017_bom_crlf.txt"])
def test_utf16_and_bom_crlf_load_like_plain_utf8(hostile, name):
    home, _, _ = hostile
    assert outcome(home, name) == ("loaded", None, 3, 3, 0)
    assert titles(home, name) == PROFILE_TITLES


CUT = fixture("cut_off.txt").decode()
IMPOSSIBLE = fixture("impossible_date.txt").decode()
GARBLED_TEXT = fixture("garbled_head.txt").decode()
DUPLICATES = fixture("duplicates.txt").decode()


@pytest.mark.parametrize("name, found, loaded_titles, reject", [
    ("020_cut_off.txt", 3, PROFILE_TITLES[:2],
     (3, 23, "entry has no author line (dump cut off?)", "ROFeb 28, 2024\nEncodings Consid")),
    ("021_impossible_date.txt", 3, PROFILE_TITLES[::2],
     (2, 16, "impossible date in entry head", entry_text(IMPOSSIBLE, "CVFeb 30, 2025"))),
    ("022_garbled_head.txt", 3, PROFILE_TITLES[::2], (2, 16, GARBLED, entry_text(GARBLED_TEXT, "CV Jan 9"))),
    ("024_duplicates.txt", 4, PROFILE_TITLES,
     (4, 30, "duplicate of entry 1 in the same dump", DUPLICATES[DUPLICATES.rindex("LGMar 3, 2025Code"):])),
])
def test_bad_entry_is_rejected_with_its_text_and_the_rest_loads(hostile, name, found, loaded_titles, reject):
    home, _, _ = hostile
    assert outcome(home, name) == ("partial", f"1 of {found} entries rejected", found, found - 1, 1)
    assert rejects(home, name) == [reject]
    assert titles(home, name) == loaded_titles


def test_cut_off_text_is_exactly_the_entry_so_far(hostile):
    home, _, _ = hostile
    assert CUT.endswith("\n\n" + rejects(home, "020_cut_off.txt")[0][3])


def test_header_with_missing_unparsable_and_out_of_range_metrics(hostile):
    home, _, _ = hostile
    name = "023_header_problems.txt"
    assert outcome(home, name) == ("partial", "missing metric citations; missing metric ai_score; unparsable header "
                                              "line (2 lines, first at line 3); metric novelty_pct out of range: 140 "
                                              "(line 4)", 3, 3, 0)
    assert rejects(home, name) == [(None, None, "missing metric ai_score", ""),
                                   (None, None, "missing metric citations", ""),
                                   (None, 3, "unparsable header line", "citations: 1.2k"),
                                   (None, 4, "metric novelty_pct out of range: 140", "Novelty140%"),
                                   (None, 5, "unparsable header line", "AI Score99999999999999999999")]
    assert titles(home, name) == PROFILE_TITLES
    assert query(home, "SELECT h_index, papers_reported, citations, novelty_pct, ai_score FROM profile_snapshots "
                       "WHERE profile_key = 'header_problems'") == [(7, 12, None, None, None)]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_file_names_load_normally(hostile, name):
    home, _, _ = hostile
    assert outcome(home, name) == ("loaded", None, 3, 3, 0)
    assert titles(home, name) == PROFILE_TITLES
    assert query(home, "SELECT profile_key FROM dumps WHERE suffix(source_path, ?)", shown(name)) == [(ODD_NAMES[name],)]


def test_rebuild_from_raw_gives_the_same_tables(hostile, tmp_path):
    from flows.cli import main
    home = tmp_path / "copy"
    shutil.copytree(hostile[0], home)
    before = {t: read_table(home, t, REBUILT_AWAY) for t in TABLES}
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    for table in TABLES:
        assert read_table(home, table, REBUILT_AWAY).equals(before[table]), table


# the lake versions runs recorded belong to the lake before a rebuild from raw/, which empties them
REBUILT_AWAY = ("lake_versions",)


def read_table(home: Path, table: str, drop: tuple[str, ...] = ()) -> pl.DataFrame:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        frame = con.sql(f"SELECT * FROM {table}").pl().drop(drop, strict=False)
    return frame.sort(frame.columns, nulls_last=True)


IDENTITY_COLUMNS = ("dump_id", "source_path", "byte_size", "latest_dump_id", "last_seen_dump_id")


def extract_and_validate(paths: list[Path], max_bytes: int = 64 << 20) -> dict[str, pl.DataFrame]:
    """The flow's pure path on files: extract a batch, then validate and normalise it into tables."""
    batch = Batch()
    stamp = {"run_id": "test", "ingested_at": CAPTURED}
    for path in paths:
        extract.extract_one(batch, SourceFile(path, path.stat().st_size, path.stat().st_mtime_ns), set(),
                            path.parent / "raw", max_bytes, stamp)
    return transform([to_frames(batch)], {name: empty_frame(TABLES_MODELS[name]) for name in MERGED_TABLES})


def test_utf16_and_bom_crlf_sample_give_exactly_the_tables_of_utf8(tmp_path, sample_text):
    """One sample in four encodings (with a rejected entry, so rejects are compared too), each on its own;
    CR CR LF is a CRLF text converted again, whose doubled line breaks rejected every entry."""
    header, blocks = dumps.split(sample_text)
    blocks[4][0] = "LGFeb 30, 2024"
    text = dumps.join(header, blocks)
    variants = {"utf8": text.encode(), "utf16": text.encode("utf-16"),
                "bom_crlf": codecs.BOM_UTF8 + text.replace("\n", "\r\n").encode(),
                "crcrlf": text.replace("\n", "\r\r\n").encode()}
    tables = {}
    for name, data in variants.items():
        path = write_dump(tmp_path / name, SAMPLE_NAME, data, CAPTURED)
        tables[name] = {t: frame.drop(IDENTITY_COLUMNS, strict=False) for t, frame in extract_and_validate([path]).items()}
    assert tables["utf8"]["dumps"]["status"].to_list() == ["partial"] and tables["utf8"]["rejects"].height == 1
    assert tables["utf8"]["papers"].height == 49 and tables["utf8"]["rejects"]["raw_text"][0].startswith("LGFeb 30")
    for name in ("utf16", "bom_crlf", "crcrlf"):
        for table, frame in tables["utf8"].items():
            assert tables[name][table].equals(frame), (name, table)

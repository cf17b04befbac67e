"""SPEC §7 at the limits: pathological text in linear time through extract + validate, and dumps over
the size limit (plain or a gzip bomb) quarantined in constant memory with their stored bytes in raw/."""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import tracemalloc
import zlib
from pathlib import Path

import duckdb
import pytest

from core.identity import REFUSED_GZ_SALT
from tests.conftest import SAMPLE_NAME, UTC, write_dump
from tests.test_hostile import REBUILT_AWAY, extract_and_validate, fixture, read_table

CAPTURED = dt.datetime(2026, 6, 1, tzinfo=UTC)
HEADER = "h-index7\n12papers\n1,234citations\nNovelty40%\nAI Score51\n\n12 Papers\n\n"
ENTRY = "LGMar 3, 2025Code\nA Title\n\nAnn Lee\n\nAbstract."
LIMIT = 1 << 20
LIMIT_HINT = "To load it, raise PROFILE_ETL_MAX_DUMP_BYTES and reprocess it"
CUT_HINT = " (cut short or damaged: put the whole file in the inbox, and the next run loads it)"
NO_TITLE = "entry has no title line; entry has no author line (dump cut off?)"
GARBLED = "entry head is garbled: expected CATEGORY + `Mon D[, YYYY]` [+ `Code`]; entry has no author line (dump cut off?)"
NOT_A_PROFILE = ("not a profile dump: no metric line such as `h-index28` and no entry head such as `LGAug 23, 2023` "
                 "found")

PATHOLOGICAL = {   # name: (text, status, reason, entries_found, entries_loaded, reject reasons)
    "one_1mb_line": ("LGAug 23, 2023Code " * 55_000, "quarantined", NOT_A_PROFILE, 0, 0, {NOT_A_PROFILE}),
    "1mb_abstract_line": (HEADER + ENTRY + " LGAug 2 https://github.com/o/r. h-index28" * 24_000,
                          "loaded", None, 1, 1, set()),
    "100k_heads": (HEADER + "\n\n".join(["LGAug 23, 2023Code"] * 100_000),
                   "partial", "100000 of 100000 entries rejected", 100_000, 0, {NO_TITLE}),
    "near_heads": (HEADER + ENTRY + "\n\n" + "\n\n".join(["LGAug 23, 2023Cod\n" + "LGAug 2" * 14] * 50_000),
                   "partial", "50000 of 50001 entries rejected", 50_001, 1, {GARBLED}),
}


@pytest.mark.parametrize("name", PATHOLOGICAL)
def test_pathological_text_is_judged(tmp_path, sample_text, name):
    text, status, reason, found, loaded, reject_reasons = PATHOLOGICAL[name]
    path = write_dump(tmp_path, f"000_{name}.txt", text, CAPTURED)
    good = write_dump(tmp_path, SAMPLE_NAME, sample_text, CAPTURED)
    tables = extract_and_validate([path, good])   # Rust's regexes don't backtrack: linear in the text
    by_path = {row["source_path"]: row for row in tables["dumps"].iter_rows(named=True)}
    row = by_path[str(path)]
    assert (row["status"], row["reason"], row["entries_found"], row["entries_loaded"]) == (status, reason, found, loaded)
    assert by_path[str(good)]["status"] == "loaded" and by_path[str(good)]["entries_loaded"] == 50
    mine = tables["rejects"].filter(dump_id=row["dump_id"])
    assert set(mine["reason"]) == reject_reasons and mine.height == max(found - loaded, len(reject_reasons))
    if name == "1mb_abstract_line":
        [abstract] = tables["papers"].filter(title="A Title")["abstract"]
        assert len(abstract) > 1_000_000 and "\n" not in abstract


def test_a_dump_of_more_lines_than_its_size_limit_allows_is_quarantined_unparsed(tmp_path, sample_text):
    """Parsing costs memory by the line: 60 MB of empty lines would take gigabytes. The size limit allows
    a line per 128 bytes of it (at least 10,000), and the reason says how to load such a dump."""
    many = write_dump(tmp_path, "000_blank.txt", HEADER + "\n" * 20_000, CAPTURED)
    fewer = write_dump(tmp_path, "001_blankish.txt", HEADER + "\n" * 9_000, CAPTURED)
    good = write_dump(tmp_path, SAMPLE_NAME, sample_text, CAPTURED)
    rows = {row["source_path"]: row for row in extract_and_validate([many, fewer, good], max_bytes=LIMIT)["dumps"]
            .iter_rows(named=True)}
    assert rows[str(many)]["status"] == "quarantined"
    assert rows[str(many)]["reason"] == (f"the dump has 20009 lines, more than the 10000 its size limit allows (a line "
                                         f"per 128 bytes of it). {LIMIT_HINT}")
    assert rows[str(fewer)]["status"] == "loaded" and rows[str(good)]["entries_loaded"] == 50


def write_bomb(path: Path, decompressed_mb: int) -> Path:
    """A .txt.gz of profile-looking text that decompresses to decompressed_mb MiB, written in chunks."""
    block = (HEADER * 15_000)[: 1 << 20].encode()
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as out:
        for _ in range(decompressed_mb):
            out.write(packer.compress(block))
        out.write(packer.flush())
    return path


def write_big(path: Path, mb: int) -> Path:
    with open(path, "wb") as out:
        for _ in range(mb):
            out.write((HEADER * 20_000)[: 1 << 20].encode())
    return path


@pytest.mark.parametrize("name, size_mb", [("bomb.txt.gz", 256), ("big.txt", 64)])
def test_oversized_dumps_are_refused_in_constant_memory(tmp_path, name, size_mb):
    path = (write_bomb if name.endswith(".gz") else write_big)(tmp_path / name, size_mb)
    tracemalloc.start()
    try:
        tables = extract_and_validate([path], max_bytes=LIMIT)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 << 20, f"peak {peak >> 20} MiB for a {size_mb} MiB dump"
    [row] = tables["dumps"].iter_rows(named=True)
    assert row["status"] == "quarantined" and row["dump_id"] == stored_id(path.name, path.read_bytes())


@pytest.fixture(scope="module")
def limited(tmp_path_factory, prefect_harness, sample_text):
    """One run with a 1 MiB size limit over the sample, a small .gz, broken .gz files and dumps over the limit."""
    from flows.pipeline import ingest
    base = tmp_path_factory.mktemp("limits")
    inbox = base / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, CAPTURED)
    write_dump(inbox, "001_small.txt.gz", gzip.compress(fixture("profile.txt")), CAPTURED)
    write_dump(inbox, "002_truncated.txt.gz", gzip.compress(fixture("profile.txt"))[:200], CAPTURED)
    write_dump(inbox, "003_not_gzip.txt.gz", fixture("page.txt"), CAPTURED)
    for name, data in {"010_big.txt": write_big(base / "big", 3), "011_bomb.txt.gz": write_bomb(base / "bomb", 20)}.items():
        write_dump(inbox, name, data.read_bytes(), CAPTURED)
    return base / "home", inbox, ingest(home=base / "home", inbox=inbox, settle_seconds=0, max_dump_bytes=LIMIT)


def stored_id(name: str, stored: bytes) -> str:
    """A refused dump's id: the hash of its bytes as stored, salted for a .gz."""
    return hashlib.sha256((REFUSED_GZ_SALT if name.endswith(".gz") else b"") + stored).hexdigest()


def dump_row(home: Path, name: str) -> tuple:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("SELECT dump_id, status, reason, byte_size, entries_loaded FROM dumps "
                           "WHERE suffix(source_path, ?)", ["/" + name]).fetchone()


def test_good_dumps_load_beside_oversized_ones(limited):
    home, inbox, summary = limited
    assert (summary["dumps_new"], summary["dumps_loaded"], summary["dumps_quarantined"]) == (6, 2, 4)
    assert dump_row(home, SAMPLE_NAME)[1:] == ("loaded", None, len((inbox / SAMPLE_NAME).read_bytes()), 50)
    did, status, reason, size, loaded = dump_row(home, "001_small.txt.gz")
    assert (did, status, reason, size, loaded) == (hashlib.sha256(fixture("profile.txt")).hexdigest(), "loaded",
                                                   None, len(fixture("profile.txt")), 3)


@pytest.mark.parametrize("name, reason", [
    ("010_big.txt", f"the dump is larger than the size limit of {LIMIT} bytes. {LIMIT_HINT}"),
    ("011_bomb.txt.gz", f"the dump decompresses to more than {LIMIT} bytes (reading stopped there: a gzip bomb?). "
                        f"{LIMIT_HINT}"),
    ("002_truncated.txt.gz", "can't decompress the file: Compressed file ended before the end-of-stream marker "
                             "was reached" + CUT_HINT),
    ("003_not_gzip.txt.gz", "named .gz, but not gzip-compressed (Not a gzipped file (b'<!')): if it is a dump as "
                            "text, rename it to end in .txt (`mv` keeps its time), and the next run loads it"),
])
def test_oversized_and_broken_dumps_are_quarantined_with_their_stored_bytes_in_raw(limited, name, reason):
    home, inbox, _ = limited
    stored = (inbox / name).read_bytes()
    did, status, actual_reason, size, loaded = dump_row(home, name)
    assert (status, actual_reason, size, loaded) == ("quarantined", reason, len(stored), 0)
    assert did == stored_id(name, stored)
    copy = home / "raw" / did[:2] / (did + (".txt.gz" if name.endswith(".gz") else ".txt"))
    assert copy.read_bytes() == stored
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT entry_index, line_no, reason, raw_text FROM rejects WHERE dump_id = ?",
                           [did]).fetchall() == [(None, None, reason, None)]


def test_rebuild_from_raw_with_the_same_limit_gives_the_same_tables(limited, tmp_path, monkeypatch):
    import shutil

    from flows.cli import main
    home = tmp_path / "copy"
    shutil.copytree(limited[0], home)
    names = ["dumps", "profile_snapshots", "papers", "listings", "rejects", "runs"]
    before = {t: read_table(home, t, REBUILT_AWAY) for t in names}
    monkeypatch.setenv("PROFILE_ETL_MAX_DUMP_BYTES", str(LIMIT))
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    for table in names:
        assert read_table(home, table, REBUILT_AWAY).equals(before[table]), table

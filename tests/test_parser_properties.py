"""Properties of the parser and of the whole extract + validate path, for any text and any bytes:
records or a reasoned rejection, never an unexpected exception, and
entries_found = entries_loaded + entries_rejected for every dump."""
from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.parse import MONTHS, parse_dump
from core.records import Quarantine, decode_text, plain_text, text_column
from tests.conftest import UTC, examples, write_dump
from tests.test_hostile import extract_and_validate

CAPTURED = dt.datetime(2026, 6, 1, tzinfo=UTC)
STATUSES = {"loaded", "partial", "quarantined"}

heads = st.builds(
    lambda cat, month, day, year, code: f"{cat}{month} {day}{year}{code}",
    st.sampled_from(["LG", "CV", "AI", "ROBOT", "X", "lg", "TOOLONG", ""]),
    st.sampled_from([*MONTHS, "May.", "Sept", "Foo"]), st.integers(0, 40),
    st.sampled_from(["", ", 2023", ", 0000", ", 9999", ",2023", ", 20233"]), st.sampled_from(["", "Code", " Code"]))
metrics = st.sampled_from(["h-index28", "57papers", "1,945citations", "Novelty55%", "Novelty150%", "AI Score62",
                           "57 Papers", "h-index" + "9" * 30, "1,2,3citations", "h-index 2.8", "AI Score"])
authors = st.sampled_from(["Ann Lee, Bo Chen et al. · mit", "Ann Lee", " et al.", " · ", "Ann Lee, , Bo Chen"])
lines = st.one_of(heads, metrics, authors, st.just(""), st.just("https://github.com/o/r."), st.text(max_size=40))
profile_like = st.builds(lambda parts, sep: sep.join(parts), st.lists(lines, max_size=40), st.sampled_from(["\n", "\r\n"]))
any_text = st.one_of(profile_like, st.text())
any_bytes = st.one_of(
    any_text.map(str.encode), st.binary(),
    profile_like.map(lambda t: t.encode("utf-16")), profile_like.map(lambda t: b"\xef\xbb\xbf" + t.encode()),
    st.builds(lambda t, junk: t.encode() + junk, profile_like, st.binary(min_size=1, max_size=4)))


@settings(max_examples=examples(300), deadline=None)
@given(any_bytes)
def test_parser_reads_any_bytes_or_refuses_them_with_a_reason(data):
    try:
        text = decode_text(data)
    except Quarantine as exc:
        assert str(exc)
        return
    parsed = parse_dump(text, CAPTURED.date())
    n_lines = text.count("\n") + 1
    assert [e.entry_index for e in parsed.entries] == list(range(1, len(parsed.entries) + 1))
    assert all(1 <= e.line_no <= n_lines and e.raw_text.startswith(e.head) for e in parsed.entries)
    assert all(p.reason and (p.line_no is None or 1 <= p.line_no <= n_lines) for p in parsed.header_problems)
    assert all(v is None or 0 <= v < 2**63 for v in parsed.metrics.values())


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(any_bytes, min_size=1, max_size=4))
def test_plain_bytes_decoded_by_polars_read_as_decode_text_reads_them(batch):
    """Bytes that skip decode_text (plain_text), decoded a batch at a time by polars, give decode_text's
    text, and only decode_text's failures (then the whole column is refused, to decode one by one)."""
    plain = [data for data in batch if plain_text(data)]
    try:
        expected = [decode_text(data) for data in plain]
    except Quarantine:
        assert text_column(plain) is None
        return
    assert all(text.strip() for text in expected)
    column = text_column([*plain, *expected])
    assert column is not None and column.to_list() == expected * 2


def check_dump(tables: dict, row: dict) -> None:
    """The invariants of SPEC §7 for one dump row of a transform result."""
    did = row["dump_id"]
    rejects = tables["rejects"].filter(dump_id=did)
    assert row["status"] in STATUSES
    assert row["entries_found"] == row["entries_loaded"] + row["entries_rejected"]
    assert tables["listings"].filter(dump_id=did).height == row["entries_loaded"]
    assert rejects["reason"].str.len_chars().min() is None or rejects["reason"].str.len_chars().min() > 0
    assert rejects.filter(pl.col("entry_index").is_not_null()).height == row["entries_rejected"]
    if row["status"] == "quarantined":
        assert row["entries_loaded"] == 0 and row["reason"]
        assert (None, None, row["reason"]) in rejects.select("entry_index", "line_no", "reason").rows()
        assert tables["profile_snapshots"].filter(dump_id=did).is_empty()
    else:
        assert (row["status"] == "loaded") == (rejects.height == 0) == (row["reason"] is None)


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(any_bytes, min_size=1, max_size=6))
def test_any_dumps_load_or_are_rejected_with_reasons(files):
    with tempfile.TemporaryDirectory() as folder:
        paths = [write_dump(Path(folder), f"{i:03d}_p.txt", data, CAPTURED) for i, data in enumerate(files)]
        tables = extract_and_validate(paths)
        dumps = tables["dumps"]
        assert sorted(dumps["dump_id"]) == sorted({hashlib.sha256(data).hexdigest() for data in files})
        for row in dumps.iter_rows(named=True):
            check_dump(tables, row)
            assert (Path(folder) / "raw" / row["dump_id"][:2] / f"{row['dump_id']}.txt").read_bytes() in files

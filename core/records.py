"""A batch's raw records, and the pure steps that make them from a dump's bytes: decoding, the
dump's row, quarantine reasons, and parsing the batch's texts together (core/parse_frame.py).
No I/O: store/extract.py reads the files."""
from __future__ import annotations

import codecs
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from core import identity
from core.parse import METRICS, PARSER_VERSION


MAX_TEXT = 100_000      # characters of a quarantined dump's text kept in rejects.raw_text; raw/ has it all


class Quarantine(Exception):
    """The dump can't be read as a profile dump at all; the message is the reason."""


@dataclass
class SourceFile:
    """A file to read; origin, sidecar_error and sidecar describe a raw/ copy's first ingestion."""
    path: Path | str   # a local path, or a URL (store/storage.py)
    size: int
    mtime_ns: int
    origin: str | None = None
    sidecar_error: str | None = None
    sidecar: identity.Sidecar | None = None    # a raw/ copy's, from its meta: not read from a file


@dataclass
class Batch:
    """Raw records of a batch of files: rows of dumps, problems and files; the texts left to parse,
    and the entries and header problems of those parsed (frames, from core/parse_frame.py)."""
    dumps: list[dict] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    raw_meta: list[dict] = field(default_factory=list)     # identities of the dumps copied to raw/
    unread: list[str] = field(default_factory=list)        # "path: why" of files that couldn't be read now
    unread_keys: list[tuple] = field(default_factory=list)  # (sidecar, its keys nothing reads)
    # (dumps row, text) to parse: decoded, or plain bytes (plain_text) that polars decodes with the batch's
    texts: list[tuple[dict, str | bytes]] = field(default_factory=list)
    text_chars: int = 0                                            # characters (or bytes) in `texts`
    text_lines: int = 0                                            # lines in `texts`
    entries: list[pl.DataFrame] = field(default_factory=list)
    header_problems: list[pl.DataFrame] = field(default_factory=list)


BOMS = [(codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")]
BOM_PREFIXES = tuple(bom for bom, _ in BOMS)


def in_place(source_encoding: str) -> str:
    """A conversion that keeps the file's name and modification time: its profile key and capture
    time (when it has no sidecar) come from them."""
    return (f"`iconv -f {source_encoding} -t UTF-8 FILE > FILE.new && touch -r FILE FILE.new && mv FILE.new FILE` "
            "(a .gz: gunzip it first), so the next run reads it as a new dump of the same profile and capture "
            "time; where the time can't be kept (object storage), give captured_at in a sidecar")


# Bytes 0x80-0x9f are control characters in Latin-1 but quotes, dashes and the euro sign in Windows-1252.
C1_BYTES = re.compile(rb"[\x80-\x9f]")


def convert_hint(raw: bytes) -> str:
    """How to convert a file that isn't UTF-8, with the likelier of Windows-1252 and Latin-1 as the example
    (Windows-1252 where such bytes occur, the file reads as it, and no part of it is UTF-8)."""
    example = ("Windows-1252", "CP1252") if C1_BYTES.search(raw) and _reads_as(raw, "cp1252") and not any(
        ord(ch) > 0x7f for ch in raw.decode("utf-8", "ignore")) else ("Latin-1", "LATIN1")
    return ("the encoding can't be recognised for sure, so nothing was guessed: convert the file to UTF-8 in "
            f"place, e.g. if it is {example[0]} {in_place(example[1])}; the original bytes are kept in raw/")


def _reads_as(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:   # cp1252 leaves 0x81, 0x8d, 0x8f, 0x90 and 0x9d undefined
        return False
    return True


# A byte that no white space's UTF-8 encoding holds: a text with one isn't blank (str.isspace's set
# includes \x1c-\x1f; the other non-ASCII spaces are multi-byte).
NOT_BLANK = re.compile(rb"[\x00-\x08\x0e-\x1b\x21-\x7f]")


def plain_text(raw: bytes | None) -> bool:
    """Bytes that decode_text would return unchanged as UTF-8 if they are valid UTF-8: no byte-order
    mark, no NUL, no CR, and not blank. Their validity and decoding are left to polars, a batch at a
    time (text_column)."""
    return (raw is not None and not raw.startswith(BOM_PREFIXES) and b"\x00" not in raw and b"\r" not in raw
            and NOT_BLANK.search(raw) is not None)


def text_column(texts: list[str | bytes]) -> pl.Series | None:
    """The texts as one String column, plain bytes decoded by polars (checked as UTF-8); None when
    some bytes aren't valid UTF-8, for the caller to decode them one by one."""
    plain = pl.Series([t if isinstance(t, bytes) else None for t in texts], dtype=pl.Binary)
    decoded = pl.Series([t if isinstance(t, str) else None for t in texts], dtype=pl.String)
    try:
        return pl.select(pl.coalesce(plain.cast(pl.String), decoded)).to_series()
    except pl.exceptions.ComputeError:   # polars: "invalid utf8", for the whole column
        return None


def decode_text(raw: bytes) -> str:
    """UTF-8, or UTF-8/16/32 with a byte-order mark; CRLF/CR become LF (CR CR LF too, a CRLF text
    converted again, which would otherwise double every line break). Anything else is refused:
    a wrong guess would put mojibake in the tables."""
    encoding, bom = next(((enc, len(bom)) for bom, enc in BOMS if raw.startswith(bom)), (None, 0))
    if encoding is None and b"\x00" in raw:
        raise Quarantine(f"binary file, not text: NUL byte at offset {raw.index(0)}. If it is UTF-16 or UTF-32 text "
                         "without a byte-order mark, convert it to UTF-8 in place, e.g. "
                         f"{in_place('UTF-16LE')}")
    encoding = encoding or "utf-8"
    try:
        text = raw.decode(encoding) if encoding != "utf-8" else raw[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + (bom if encoding == "utf-8" else 0)
        line = _lines(raw[:offset].decode(encoding, "replace"))
        raise Quarantine(f"not valid {encoding.upper()} text: byte 0x{raw[offset]:02x} at offset {offset} "
                         f"(line {line}) can't be decoded; {convert_hint(raw)}") from None
    text = _newlines(text.removeprefix("\ufeff"))
    if "\x00" in text:
        raise Quarantine(f"binary file, not text: NUL character on line {_lines(text[:text.index(chr(0))])}")
    return text


def _newlines(text: str) -> str:
    if "\r" not in text:   # most dumps: a scan instead of two copies of the text
        return text
    return text.replace("\r\r\n", "\n").replace("\r\n", "\n").replace("\r", "\n")


def _lines(text: str) -> int:
    """The number of the line where text ends."""
    return _newlines(text).count("\n") + 1


def not_a_profile(text: str) -> str:
    start = text.lstrip()[:1]
    looks = " (it looks like an HTML or XML page)" if start == "<" else ""
    if start and start in "{[":
        try:
            json.loads(text)
            looks = " (it is a JSON document)"
        except ValueError:
            pass
    return (f"not a profile dump{looks}: no metric line such as `h-index28` and no entry head such as "
            "`LGAug 23, 2023` found")


def dump_row(did: str, source: SourceFile, byte_size: int, sidecar: identity.Sidecar, stamp: dict,
             profile_key: str) -> dict:
    captured_at = sidecar.captured_at or dt.datetime.fromtimestamp(source.mtime_ns / 1e9, dt.timezone.utc)
    return {
        "dump_id": did, "source_path": source.origin or identity.printable(str(source.path)), "byte_size": byte_size,
        "profile_key": profile_key,
        "captured_at": captured_at, "sidecar_owner_name": sidecar.owner_name,
        "source_url": sidecar.source_url, "parser_version": PARSER_VERSION,
        "quarantine_reason": None, "papers_heading": None, "entries_found": 0, **stamp,
        **dict.fromkeys(METRICS),
    }


def parse_texts(batch: Batch) -> None:
    """Parse the texts extract_one left in the batch, all in one pass; a dump in which nothing looks
    like a profile is quarantined instead, without its entries or header problems. The same bytes
    read twice (by callers that don't skip known dumps) are parsed once, with the first reading's
    capture date, which is the reading validate.combine keeps."""
    if not batch.texts:
        return
    from core import parse_frame  # here: building its regexes costs every import, and most commands parse nothing
    rows, firsts = readings(batch.texts)
    frame = texts_frame(batch, rows, firsts)
    parsed = parse_frame.parse_texts(frame)
    if parsed.declined or parsed.dumps.height != frame.height:   # a bug in parse_frame: fail, don't guess
        raise RuntimeError(f"the batch parser gave {parsed.dumps.height} of {frame.height} dumps "
                           f"({len(parsed.declined)} declined)")
    not_profiles = []
    for values in parsed.dumps.iter_rows(named=True):
        did = values.pop("dump_id")
        if values.pop("looks_like_profile"):
            for row in rows[did]:
                row.update(values)
            continue
        text = firsts[did][1]
        text = text.decode("utf-8") if isinstance(text, bytes) else text   # valid: polars decoded it
        for row in rows[did]:
            quarantine(batch, row, [not_a_profile(text)], text)
        not_profiles.append(did)
    kept = ~pl.col("dump_id").is_in(pl.Series(not_profiles, dtype=pl.String).implode())
    batch.entries.append(parsed.entries.filter(kept))
    batch.header_problems.append(parsed.problems.filter(kept))
    batch.texts.clear()
    batch.text_chars = batch.text_lines = 0


Reading = tuple[dict, str | bytes]   # a dumps row and its text (decoded, or plain bytes)


def readings(texts: list[Reading]) -> tuple[dict[str, list[dict]], dict[str, Reading]]:
    """The rows of each dump read, and its first reading."""
    rows: dict[str, list[dict]] = {}
    firsts: dict[str, Reading] = {}
    for row, text in texts:
        rows.setdefault(row["dump_id"], []).append(row)
        firsts.setdefault(row["dump_id"], (row, text))
    return rows, firsts


def texts_frame(batch: Batch, rows: dict[str, list[dict]], firsts: dict[str, Reading]) -> pl.DataFrame:
    """(dump_id, text, captured_on) of each dump's first reading. When some plain bytes aren't UTF-8,
    each is decoded alone: one that fails quarantines its dump (decode_text says why)."""
    column = text_column([text for _, text in firsts.values()])
    if column is None:
        for did, (row, text) in list(firsts.items()):
            try:
                firsts[did] = (row, decode_text(text) if isinstance(text, bytes) else text)
            except Quarantine as exc:
                for reading in rows[did]:
                    quarantine(batch, reading, [str(exc)], None)
                del firsts[did]
        column = pl.Series([text for _, text in firsts.values()], dtype=pl.String)
    return pl.DataFrame({"dump_id": list(firsts), "text": column,
                         "captured_on": [row["captured_at"].date() for row, _ in firsts.values()]},
                        schema={"dump_id": pl.String, "text": pl.String, "captured_on": pl.Date})


def quarantine(batch: Batch, row: dict, reasons: list[str], text: str | None) -> None:
    """The whole dump is a reject: its decoded text when there is one, else NULL (the bytes are in raw/)."""
    row["quarantine_reason"] = identity.printable("; ".join(reasons))
    batch.problems.append({"dump_id": row["dump_id"], "entry_index": None, "line_no": None,
                           "reason": row["quarantine_reason"], "raw_text": None if text is None else text[:MAX_TEXT]})


def profile_key(source: SourceFile, sidecar: identity.Sidecar, pattern: re.Pattern) -> tuple[str | None, str | None]:
    """The dump's profile key (its sidecar's, else its file name's by the rule: a raw/ copy's
    original name), or None and why."""
    name = source.origin or source.path
    key = sidecar.profile_key or identity.profile_key_from_name(name, pattern)
    return (key, None) if key else (None, identity.unnamed_reason(name, pattern))

FUTURE_TOLERANCE = dt.timedelta(minutes=5)   # clocks of machines sharing a folder differ by seconds, not minutes

SIDECAR_FUTURE = dt.timedelta(days=1)        # a sidecar's time is the scraper's word: a time zone off, not more

EARLIEST_CAPTURE = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)   # before any profile page of this kind


def future_capture(captured_at: dt.datetime, sidecar: identity.Sidecar, ingested_at: dt.datetime) -> list[str]:
    """A capture time no capture can have: before 2000, or later than the run (a modification time
    by more than a few minutes: a skewed clock, local time written as UTC; a sidecar's by more than
    a day). Loaded, it would be the profile's latest snapshot for good, its undated entries in the
    wrong year."""
    fix = ("set the file's time (`touch -d TIME FILE`) or give captured_at in a sidecar" if sidecar.captured_at is None
           else "fix captured_at in the sidecar")
    if captured_at < EARLIEST_CAPTURE:
        return [f"the capture time {captured_at:%Y-%m-%d %H:%M:%S} UTC (from the "
                f"{'sidecar' if sidecar.captured_at else 'file modification time'}) is before 2000, so it can't "
                f"be one: {fix}, then run with --reprocess"]
    if sidecar.captured_at is not None:
        if captured_at <= ingested_at + SIDECAR_FUTURE:
            return []
        return [f"the sidecar's captured_at {captured_at:%Y-%m-%d %H:%M:%S} UTC is more than a day after this run "
                f"({ingested_at:%Y-%m-%d %H:%M:%S} UTC): {fix}, then run with --reprocess"]
    if captured_at <= ingested_at + FUTURE_TOLERANCE:
        return []
    return [f"the file's modification time {captured_at:%Y-%m-%d %H:%M:%S} UTC is later than this run "
            f"({ingested_at:%Y-%m-%d %H:%M:%S} UTC), so it can't be the capture time: {fix}, then run with --reprocess"]

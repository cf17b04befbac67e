"""Read dump files into raw records (core/records.py): bytes, identity, raw/ copies, sidecars.

File I/O only (no prefect, no duckdb). One call handles a batch of files; their texts are parsed
together (core/records.py), so a task never pays per-file overhead. Inbox files may
be local paths or fsspec URLs (store/storage.py); raw/ is always local.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from core import identity
from core.records import (Batch, Quarantine, SourceFile, decode_text, dump_row, future_capture, parse_texts, plain_text,
                          profile_key, quarantine)
from store import raw_store, storage
from store.dump_file import DumpBytes, Unreadable, as_before_the_salt, read_dump, read_sidecar
from store.faults import checkpoint

RAW_META_FIELDS = ["source_path", "profile_key", "captured_at", "source_url", "run_id", "ingested_at"]
# A copy's meta line has these too (profile_key: None if unnamed; captured_from: "sidecar" or "file").
RAW_META_EXTRA = ["owner_name", "sidecar_error", "captured_from"]
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
PARSE_AT_CHARS = 64 << 20   # a batch's texts wait to be parsed together up to this much text: memory stays bounded
PARSE_AT_LINES = 1 << 19    # or this many lines
BYTES_PER_LINE = 128        # the size limit allows a line per this many bytes


def extract_one(batch: Batch, source: SourceFile, known: set[str], raw_dir: Path | None, max_bytes: int,
                stamp: dict, sidecar_error: str | None = None, key_pattern: re.Pattern = identity.DEFAULT_KEY) -> None:
    """Append the records of one file to the batch; raw_dir=None re-reads a raw/ copy without storing it
    (sidecar_error: the reason its original sidecar was unusable, recorded with that copy). A dump
    whose name gives no profile key by key_pattern is quarantined under its whole stem."""
    try:
        read = as_before_the_salt(read_dump(source.path, max_bytes, listing(source)), known, raw_dir)
        if changed_since_listed(source):
            raise Unreadable(f"{identity.printable(str(source.path))}: {WRITTEN_TO}")
        if read.dump_id in known:
            batch.files.append(file_row(source, read))
            return
        sidecar, sidecar_error = ((source.sidecar, sidecar_error) if source.sidecar is not None
                                  else _sidecar(source.path, sidecar_error))
        key, unnamed = profile_key(source, sidecar, key_pattern)
        row = dump_row(read.dump_id, source, read.byte_size, sidecar, stamp,
                       key or identity.printable(identity.dump_stem(source.path)))
        if raw_dir is not None:
            captured_from = "file" if sidecar.captured_at is None else "sidecar"
            store_copy(batch, raw_dir, source, read, row | {"profile_key": key, "owner_name": sidecar.owner_name,
                                                            "sidecar_error": sidecar_error,
                                                            "captured_from": captured_from})
    except Unreadable as exc:
        batch.unread.append(str(exc))
        return
    known.add(read.dump_id)
    batch.files.append(file_row(source, read))
    batch.dumps.append(row)
    if sidecar.ignored:
        batch.unread_keys.append((str(identity.sidecar_path(source.path)), sidecar.ignored))
    reasons = [sidecar_error] if sidecar_error else []
    reasons += [unnamed] if unnamed else []
    add_text(batch, row, read, max_bytes, reasons + future_capture(row["captured_at"], sidecar, stamp["ingested_at"]))


WRITTEN_TO = "written to while the run read it (the next run reads it again once it has settled)"


def file_row(source: SourceFile, read: DumpBytes) -> dict:
    """The file index's row of a file read: the listing's (path, size, mtime) and the dump it holds."""
    return {"path": identity.printable(str(source.path)), "size": source.size, "mtime_ns": source.mtime_ns,
            "dump_id": read.dump_id}


def store_copy(batch: Batch, raw_dir: Path, source: SourceFile, read: DumpBytes, row: dict) -> None:
    """The dump's raw/ copy, and its identity for the batch's meta file. A refused dump is copied from
    its file again, which must still hold the bytes its dump_id hashes."""
    try:
        raw_store.store_raw(raw_dir, source.path, read)
    except raw_store.SourceChanged as exc:
        raise Unreadable(f"{identity.printable(str(source.path))}: {str(exc) or WRITTEN_TO}") from None
    batch.raw_meta.append({"dump_id": read.dump_id, **{k: row[k] for k in RAW_META_FIELDS + RAW_META_EXTRA}})


def add_text(batch: Batch, row: dict, read: DumpBytes, max_bytes: int, reasons: list[str]) -> None:
    """The dump's text to parse with the batch's others (parse_texts), or its quarantine with the reasons.
    Plain bytes wait undecoded: polars decodes the batch's texts together."""
    if not reasons and plain_text(read.raw) and (lines := read.raw.count(b"\n") + 1) <= max_lines(max_bytes):
        queue_text(batch, row, read.raw, lines)
        return
    text, lines, unparsable = decoded(read, max_bytes)
    if reasons or unparsable:
        quarantine(batch, row, unparsable + reasons, text)
        return
    queue_text(batch, row, text, lines)


def queue_text(batch: Batch, row: dict, text: str | bytes, lines: int) -> None:
    batch.texts.append((row, text))
    batch.text_chars += len(text)
    batch.text_lines += lines
    if batch.text_chars > PARSE_AT_CHARS or batch.text_lines > PARSE_AT_LINES:
        parse_texts(batch)


def decoded(read: DumpBytes, max_bytes: int) -> tuple[str | None, int, list[str]]:
    """The dump's text, its number of lines, and the reasons it can't be parsed."""
    text, reasons = None, [read.refused] if read.refused else []
    if read.raw is not None:
        try:
            text = decode_text(read.raw)
        except Quarantine as exc:
            reasons.append(str(exc))
    if text is not None and not text.strip():
        reasons.append(f"empty file{'' if not read.raw else ': only white space'} (a copy that failed? put the "
                       "capture in the inbox, and the next run loads it)")
    lines = text.count("\n") + 1 if text is not None else 0
    if lines > max_lines(max_bytes):
        reasons.append(f"the dump has {lines} lines, more than the {max_lines(max_bytes)} its size limit allows "
                       f"(a line per {BYTES_PER_LINE} bytes of it). To load it, raise PROFILE_ETL_MAX_DUMP_BYTES "
                       "and reprocess it")
    return text, lines, reasons


def max_lines(max_bytes: int) -> int:
    """Lines a dump may have: parsing costs memory by the line (about 130 bytes each, and an entry's
    fields), and real dumps run at about 200 bytes a line."""
    return max(max_bytes // BYTES_PER_LINE, 10_000)


def listing(source: SourceFile) -> tuple[int, int] | None:
    """What an inbox object must still be when it is read: (size, mtime_ns) as listed."""
    return (source.size, source.mtime_ns) if source.origin is None and storage.is_url(source.path) else None


def changed_since_listed(source: SourceFile) -> bool:
    """An inbox file whose size or modification time is no longer the listing's: its bytes may be
    half of a write that began after the settle check. (An object in a store is checked as it is
    opened: read_dump's `listed`.)"""
    if source.origin is not None or storage.is_url(source.path):
        return False
    try:
        return storage.stat(source.path) != (source.size, source.mtime_ns)
    except OSError:   # removed or moved away meanwhile: what was read may be all of it, or not
        return True


def _sidecar(path: storage.Location, known_error: str | None) -> tuple[identity.Sidecar, str | None]:
    try:
        return read_sidecar(path), known_error
    except identity.SidecarError as exc:
        return identity.Sidecar(), identity.printable(str(exc))


def extract_batch(sources: list[SourceFile], known: set[str], raw_dir: Path, max_bytes: int,
                  stamp: dict, batch_index: int, key_pattern: re.Pattern = identity.DEFAULT_KEY) -> Batch:
    """Raw records for every file of the batch not already known by dump_id."""
    batch = Batch()
    seen = set(known)
    for source in sources:
        extract_one(batch, source, seen, raw_dir, max_bytes, stamp, source.sidecar_error, key_pattern)
    checkpoint("extract:copies-written")
    raw_store.write_raw_meta(raw_dir, f"{stamp['run_id']}-{batch_index:05d}", batch.raw_meta)
    parse_texts(batch)
    return batch


def raw_copies(raw_dir: Path, loaded_by: dict[str, str], leave_out: frozenset[str] = frozenset()
               ) -> tuple[list[tuple[SourceFile, dict]], list[Path]]:
    """The raw/ copies to read again, in reading order, each with the identity and stamps of its
    ingestion (see raw_metas), but those of the dumps to leave out; and the copies no meta names
    (their batch died before writing its meta file)."""
    metas, copies, unnamed = raw_store.raw_metas(raw_dir, loaded_by), [], []
    # .txt copies first: a .txt.gz copy is a .gz refused unread (its id the salted hash of its
    # compressed bytes); once reprocessed, its reading is the .txt copy under the new id
    for path in [*sorted(raw_dir.glob("*/*.txt")), *sorted(raw_dir.glob("*/*.txt.gz"))]:
        if identity.dump_stem(path) in leave_out:
            continue
        if (meta := metas.get(identity.dump_stem(path))) is None:
            unnamed.append(path)
            continue
        copies.append((raw_copy(path, meta),
                       {"run_id": meta["run_id"], "ingested_at": identity.parse_timestamp(meta["ingested_at"])}))
    return copies, unnamed


def extract_copies(copies: list[tuple[SourceFile, dict]], seen: set[str], max_bytes: int,
                   key_pattern: re.Pattern = identity.DEFAULT_KEY) -> Batch:
    """Raw records of raw/ copies (from raw_copies) read again. Only the first reading of a dump id
    is read, rows and problems alike: `seen` holds the ids read, across the calls of a rebuild."""
    batch = Batch()
    for source, stamp in copies:
        extract_one(batch, source, seen, None, max_bytes, stamp, source.sidecar_error, key_pattern)
    parse_texts(batch)
    return batch


def raw_copy(path: Path, meta: dict) -> SourceFile:
    """A raw/ copy as a source file that remembers its first ingestion (meta: from raw_metas): a capture
    time taken from the file's modification time stays one, judged as such (copies from before
    `captured_from` was recorded count as a sidecar's)."""
    captured_at = identity.parse_timestamp(meta["captured_at"])
    from_file = meta.get("captured_from") == "file"
    sidecar = identity.Sidecar(meta["profile_key"], None if from_file else captured_at,
                               meta.get("owner_name"), meta.get("source_url"))
    mtime_ns = (captured_at - EPOCH) // dt.timedelta(microseconds=1) * 1000 if from_file else 0
    return SourceFile(path, path.stat().st_size, mtime_ns, meta["source_path"], meta.get("sidecar_error"), sidecar)

"""Read dump files into raw records: bytes, identity, decoded text, parsed entries.

File I/O only (no prefect, no duckdb). One call handles a batch of files and returns
column lists ready to become DataFrames, so a task never pays per-file overhead.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flows import identity
from flows.parse import PARSER_VERSION, ParsedDump, parse_dump

ENTRY_FIELDS = ["entry_index", "line_no", "head", "category", "date_text", "published_on",
                "year_inferred", "has_code_badge", "title", "authors_text", "authors",
                "authors_truncated", "tag", "abstract", "code_url", "code_host", "raw_text"]
RAW_META_FIELDS = ["source_path", "profile_key", "captured_at", "source_url", "run_id", "ingested_at"]
METRIC_FIELDS = ["h_index", "papers_reported", "citations", "novelty_pct", "ai_score"]


class Quarantine(Exception):
    """The dump can't be read as a profile dump at all; the message is the reason."""


@dataclass
class SourceFile:
    path: Path
    size: int
    mtime_ns: int


@dataclass
class Batch:
    """Raw records of a batch of files, as column-oriented rows."""
    dumps: list[dict] = field(default_factory=list)
    entries: list[dict] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)


def read_dump_bytes(path: Path, max_bytes: int) -> bytes:
    """The dump's raw bytes, gunzipped for .gz, refusing more than max_bytes without reading it all."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise Quarantine(f"can't read {path.name}: {exc}") from None
    if len(raw) > max_bytes:
        raise Quarantine(f"larger than the size limit of {max_bytes} bytes")
    return raw


def decode_text(raw: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with BOM; CRLF/CR become LF."""
    if not raw.strip():
        raise Quarantine("empty file")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = _decode(raw, "utf-16")
    elif b"\x00" in raw:
        raise Quarantine("binary file: contains NUL bytes")
    else:
        text = _decode(raw, "utf-8-sig")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode(raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise Quarantine(f"not valid {encoding} text: byte {exc.start} can't be decoded") from None


def read_sidecar(path: Path) -> identity.Sidecar:
    side = identity.sidecar_path(path)
    if not side.exists():
        return identity.Sidecar()
    try:
        raw = side.read_bytes()
    except OSError as exc:
        raise identity.SidecarError(f"sidecar {side.name} can't be read: {exc}") from None
    return identity.parse_sidecar(raw, side.name)


def store_raw(raw_dir: Path, dump_id: str, raw: bytes, meta: dict) -> None:
    """Content-addressed copy of the dump, with what is needed to re-ingest it from raw/."""
    target = raw_dir / dump_id[:2] / f"{dump_id}.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        _write_atomic(target, raw)
    _write_atomic(target.with_suffix(".meta.json"), json.dumps(meta, default=str).encode())


def _write_atomic(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def dump_row(did: str, source: SourceFile, raw: bytes, sidecar: identity.Sidecar, stamp: dict) -> dict:
    captured_at = sidecar.captured_at or dt.datetime.fromtimestamp(source.mtime_ns / 1e9, dt.timezone.utc)
    return {
        "dump_id": did, "source_path": str(source.path), "byte_size": len(raw),
        "profile_key": sidecar.profile_key or identity.profile_key_from_name(source.path),
        "captured_at": captured_at, "sidecar_owner_name": sidecar.owner_name,
        "source_url": sidecar.source_url, "parser_version": PARSER_VERSION,
        "quarantine_reason": None, "papers_heading": None, "entries_found": 0, **stamp,
        **dict.fromkeys(METRIC_FIELDS),
    }


def add_parsed(batch: Batch, row: dict, parsed: ParsedDump) -> None:
    row.update(parsed.metrics, papers_heading=parsed.papers_heading, entries_found=len(parsed.entries))
    for entry in parsed.entries:
        values = asdict(entry)
        batch.entries.append({"dump_id": row["dump_id"], **{k: values[k] for k in ENTRY_FIELDS}})
    for problem in parsed.header_problems:
        batch.problems.append({"dump_id": row["dump_id"], "entry_index": None, "line_no": problem.line_no,
                               "reason": problem.reason, "raw_text": problem.raw_text})


def extract_one(batch: Batch, source: SourceFile, known: set[str], raw_dir: Path | None, max_bytes: int,
                stamp: dict) -> None:
    """Append the records of one file to the batch; raw_dir=None re-reads a raw/ copy without storing it."""
    try:
        raw = read_dump_bytes(source.path, max_bytes)
    except Quarantine as exc:
        raw, reason = b"", str(exc)
        did = identity.dump_id(f"unreadable:{source.path}:{source.size}:{source.mtime_ns}".encode())
    else:
        did, reason = identity.dump_id(raw), None
    batch.files.append({"path": str(source.path), "size": source.size, "mtime_ns": source.mtime_ns, "dump_id": did})
    if did in known:
        return
    known.add(did)
    try:
        sidecar = read_sidecar(source.path)
    except identity.SidecarError as exc:
        sidecar, reason = identity.Sidecar(), reason or str(exc)
    row = dump_row(did, source, raw, sidecar, stamp)
    batch.dumps.append(row)
    if raw_dir is not None:
        store_raw(raw_dir, did, raw, {k: row[k] for k in RAW_META_FIELDS} | {"owner_name": sidecar.owner_name})
    try:
        if reason:
            raise Quarantine(reason)
        parsed = parse_dump(decode_text(raw), row["captured_at"].date())
        if not parsed.looks_like_profile:
            raise Quarantine("not a profile dump: no metric line and no entry head found")
    except Quarantine as exc:
        row["quarantine_reason"] = str(exc)
        batch.problems.append({"dump_id": did, "entry_index": None, "line_no": None,
                               "reason": str(exc), "raw_text": raw[:100_000].decode("utf-8", "replace")})
        return
    add_parsed(batch, row, parsed)


def extract_batch(sources: list[SourceFile], known: set[str], raw_dir: Path, max_bytes: int,
                  stamp: dict) -> Batch:
    """Raw records for every file of the batch not already known by dump_id."""
    batch = Batch()
    seen = set(known)
    for source in sources:
        extract_one(batch, source, seen, raw_dir, max_bytes, stamp)
    return batch


def extract_raw_store(raw_dir: Path, max_bytes: int) -> Batch:
    """Raw records re-read from raw/, with the identity and stamps of their first ingestion."""
    batch = Batch()
    for path in sorted(raw_dir.glob("*/*.txt")):
        meta = json.loads(path.with_suffix(".meta.json").read_text())
        stamp = {"run_id": meta["run_id"], "ingested_at": identity.parse_timestamp(meta["ingested_at"]),
                 "source_path": meta["source_path"]}
        extract_one(batch, SourceFile(path, path.stat().st_size, 0), set(), None, max_bytes, stamp)
    return batch

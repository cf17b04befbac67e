"""raw/: the content-addressed copy of every dump ingested, `raw/<ab>/<dump_id>.txt`, and the
identities a re-ingestion needs (flows/rebuild.py, reprocessing), one meta file per batch:
`raw/meta/<run_id>-<batch>.jsonl`. File I/O only.
"""
from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core import identity
from store import storage

if TYPE_CHECKING:
    from store.dump_file import DumpBytes  # dump_file imports this module

RAW_META_DIR = "meta"     # raw/meta/<run_id>-<batch>.jsonl: the identities of a batch's copies


class SourceChanged(Exception):
    """A refused dump's file no longer holds the bytes its dump_id hashes (written to, or gone, since)."""


def store_raw(raw_dir: Path, source: storage.Location, read: DumpBytes) -> None:
    """Content-addressed copy of the dump. A refused dump is copied from its file in chunks, in
    constant memory, and must hash to its dump_id (else SourceChanged). Its identity goes into the
    batch's meta file (write_raw_meta)."""
    folder = raw_dir / read.dump_id[:2]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{read.dump_id}{read.stored_suffix}"
    if (size := _stored_size(target)) == read.byte_size:
        return
    if size is not None:   # cut short (a power loss before the run's flush): kept aside, written anew
        set_aside(raw_dir, target)
    write_atomic(target, lambda tmp: tmp.write_bytes(read.raw) if read.raw is not None
                 else copy_as_hashed(source, tmp, read.dump_id, target.name.endswith(".gz")))


def copy_as_hashed(source: storage.Location, target: Path, dump_id: str, gz: bool = False) -> None:
    """Copy the file, streamed, checking that its bytes are still the ones dump_id hashes (salted,
    for a .gz: identity.refused_id)."""
    with open(target, "wb") as out:
        hashes = identity.stored_hashes(_written(_chunks(source), out), gz)
    if identity.refused_id(dump_id, *hashes) != dump_id:
        raise SourceChanged()


def _written(chunks, out):
    for chunk in chunks:
        out.write(chunk)
        yield chunk


def _chunks(source: storage.Location):
    """The file's bytes in blocks; a failed read (the file removed meanwhile) is SourceChanged."""
    try:
        with storage.open_read(source) as handle:
            while chunk := handle.read(storage.READ_BLOCK_BYTES):
                yield chunk
    except OSError as exc:
        raise SourceChanged(f"can't be read again to copy it: {exc.strerror or exc}") from None


def _stored_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def write_raw_meta(raw_dir: Path, name: str, metas: list[dict]) -> None:
    """What is needed to re-ingest the batch's raw/ copies, in one file, since each file created costs
    kernel time. A batch run again replaces its file, or leaves it when it has nothing to store:
    either way it names this run's readings."""
    if not metas:
        return
    folder = raw_dir / RAW_META_DIR
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(meta, default=str) + "\n" for meta in metas)
    write_atomic(folder / f"{name}.jsonl", lambda tmp: tmp.write_text(lines, encoding="utf-8"))


def raw_metas(raw_dir: Path, loaded_by: dict[str, str] | None = None) -> dict[str, dict]:
    """Each raw/ copy's identity at its ingestion, by dump_id: the reading of the run that loaded it
    (loaded_by: dump_id -> run_id, from the lake), else the latest run's (a crashed or failed run
    may have read it again); within a run, the first batch's (the one that loads)."""
    loaded_by = loaded_by or {}
    best: dict[str, tuple[tuple, dict]] = {}
    for batch, meta in _meta_records(raw_dir):
        did = meta["dump_id"]
        rank = (loaded_by.get(did) == meta["run_id"], identity.parse_timestamp(meta["ingested_at"]),
                meta["run_id"], -batch)
        if did not in best or rank > best[did][0]:
            best[did] = (rank, meta)
    return {did: meta for did, (_, meta) in best.items()}


META_NAME = re.compile(r".*-(\d+)\.jsonl")


def _meta_records(raw_dir: Path):
    """(batch index, meta) of each meta line in raw/, and of each `<dump_id>.meta.json` of homes made
    before the batches' meta files. A line that can't be read (a file cut short) names nothing."""
    for path in raw_dir.glob("*/*.meta.json"):
        if (meta := _meta(path.read_text(encoding="utf-8", errors="replace"),
                           path.name.removesuffix(".meta.json"))) is not None:
            yield 0, meta
    for path in (raw_dir / RAW_META_DIR).glob("*.jsonl"):
        batch = int(m.group(1)) if (m := META_NAME.fullmatch(path.name)) else 0
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if (meta := _meta(line)) is not None:
                yield batch, meta


def _meta(text: str, dump_id: str | None = None) -> dict | None:
    try:
        meta = json.loads(text)
        meta = {"dump_id": dump_id, **meta} if dump_id else meta
        for key in ("captured_at", "ingested_at"):
            identity.parse_timestamp(meta[key])
        return meta if all(isinstance(meta.get(k), str) for k in ("dump_id", "run_id", "source_path")) else None
    except (ValueError, KeyError, TypeError, AttributeError):   # JSONDecodeError is a ValueError
        return None


def write_atomic(target: Path, write) -> None:
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.replace(tmp, target)  # made durable by the flush before the run's commit, once per run
    finally:
        tmp.unlink(missing_ok=True)


def raw_copy_path(raw_dir: Path, dump_id: str) -> Path | None:
    folder = raw_dir / dump_id[:2]
    return next((p for p in (folder / f"{dump_id}.txt", folder / f"{dump_id}.txt.gz") if p.exists()), None)


DAMAGED_DIR = "damaged"   # raw/damaged/<name>.damaged: corrupt copies set aside, kept, never read
DROPPED = "dropped.jsonl"  # raw/damaged/dropped.jsonl: the dumps a rebuild left out, and why
ROLLED_BACK = "rolled-back.jsonl"   # raw/rolled-back.jsonl: the dumps rollbacks removed, each with the run undone


@dataclass
class RawCheck:
    """raw/ against what names its copies (its meta files, the lake's dumps)."""
    missing: list[str] = field(default_factory=list)          # dump ids named, with no copy
    corrupt: dict[str, Path] = field(default_factory=dict)    # dump id -> copy whose bytes don't hash to it
    why: dict[str, str] = field(default_factory=dict)         # dump id -> what is wrong, for a message
    copies: int = 0

    def damaged(self) -> dict[str, str]:
        return dict(sorted(self.why.items()))


def copies_in(raw_dir: Path) -> dict[str, Path]:
    """Each copy in raw/ by the dump id its name gives."""
    paths = [*raw_dir.glob("*/*.txt"), *raw_dir.glob("*/*.txt.gz")] if raw_dir.is_dir() else []
    return {identity.dump_stem(path): path for path in sorted(paths)}


def digest(path: Path) -> str:
    """The id a copy's bytes give: their SHA-256, salted for a .txt.gz copy (identity.refused_id)."""
    with open(path, "rb") as handle:
        hashes = identity.stored_hashes(iter(lambda: handle.read(storage.READ_BLOCK_BYTES), b""),
                                        path.name.endswith(".gz"))
    return identity.refused_id(identity.dump_stem(path), *hashes)


def check_copies(raw_dir: Path, held: set[str], metas: dict[str, dict] | None = None) -> RawCheck:
    """Hash every copy (its name is its bytes' SHA-256) and find the dumps named by raw/meta/ (metas,
    read here unless given) or held by the lake (held) that have no copy."""
    metas = raw_metas(raw_dir) if metas is None else metas
    copies, check = copies_in(raw_dir), RawCheck()
    check.copies = len(copies)
    for did, path in copies.items():
        try:
            actual = digest(path)
        except OSError as exc:
            actual = f"unreadable ({exc.strerror or exc})"
        if actual != did:
            check.corrupt[did] = path
            check.why[did] = f"raw/{path.relative_to(raw_dir)} is corrupt: its bytes hash to {actual[:16]}…"
    for did in sorted((set(metas) - dropped(raw_dir) | held) - set(copies)):
        check.missing.append(did)
        check.why[did] = f"raw/{did[:2]}/{did}.txt is missing"
    return check


def set_aside(raw_dir: Path, path: Path) -> Path:
    """Move a corrupt copy out of the copies' folders (a later ingestion copies the dump again)."""
    target = raw_dir / DAMAGED_DIR / f"{path.name}.damaged"
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():   # one set aside before: both kept
        target = target.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.damaged")
    os.replace(path, target)
    return target


def record_dropped(raw_dir: Path, reasons: dict[str, str]) -> None:
    """Remember the dumps a rebuild left out, so their meta lines no longer count as missing copies."""
    target = raw_dir / DAMAGED_DIR / DROPPED
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"dump_id": did, "reason": why}) + "\n" for did, why in sorted(reasons.items()))


def dropped(raw_dir: Path) -> set[str]:
    target = raw_dir / DAMAGED_DIR / DROPPED
    if not target.exists():
        return set()
    return {meta["dump_id"] for line in target.read_text(encoding="utf-8").splitlines()
            if (meta := _json_or_none(line)) and isinstance(meta.get("dump_id"), str)}


def record_rolled_back(raw_dir: Path, loaded_by: dict[str, str]) -> None:
    """Remember the dumps a rollback removes (dump_id -> the run that loaded them), so that a rebuild
    from raw/ leaves them out as the rollback did."""
    if not loaded_by:
        return
    raw_dir.mkdir(parents=True, exist_ok=True)
    with open(raw_dir / ROLLED_BACK, "a", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"dump_id": did, "run_id": run}) + "\n" for did, run in sorted(loaded_by.items()))


def rolled_back(raw_dir: Path) -> set[tuple[str, str]]:
    """(dump_id, run_id) of each dump a rollback removed, with the run it undid."""
    target = raw_dir / ROLLED_BACK
    if not target.exists():
        return set()
    return {(meta["dump_id"], meta["run_id"]) for line in target.read_text(encoding="utf-8").splitlines()
            if (meta := _json_or_none(line)) and isinstance(meta.get("dump_id"), str)
            and isinstance(meta.get("run_id"), str)}


def _json_or_none(line: str) -> dict | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None

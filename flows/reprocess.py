"""What `run --reprocess` reads again of each quarantined dump: an inbox file that still holds it
(so a fixed sidecar counts), else its raw/ copy. No prefect."""
from __future__ import annotations

from pathlib import Path

import polars as pl

from core import identity
from core.records import SourceFile
from store import storage
from store.dump_file import read_dump, stored_ids
from store.extract import RAW_META_FIELDS, raw_copy
from store.raw_store import raw_copy_path, raw_metas


def quarantined_sources(dumps: pl.DataFrame, raw_dir: Path, max_bytes: int,
                        index: pl.DataFrame | None = None) -> dict[str, SourceFile]:
    """What to read again for each quarantined dump: an inbox file that holds it readably (its own
    file first, so a fixed sidecar counts; then the others the file index maps to it, such as the
    same text under another name beside a misnamed .gz), else its own file, else its copy in raw/
    (unless that copy keeps the error of a sidecar gone with its file and another file holds it).
    A dump replaced since (see replaced) isn't read again: it would be a second snapshot of that capture."""
    sources, metas = {}, None
    quarantined = dumps.filter(pl.col("status") == "quarantined", ~pl.col("dump_id").is_in(replaced(dumps).implode()))
    others = indexed_paths(index, set(quarantined["dump_id"]))
    for row in quarantined.select(*ROW_META).iter_rows(named=True):
        did = row["dump_id"]
        inbox = list(dict.fromkeys([row["source_path"], *others.get(did, [])]))
        if found := holding(inbox, did, max_bytes, readable=True) or holding(inbox[:1], did, max_bytes):
            sources[did] = found
            continue
        if (copy := raw_copy_path(raw_dir, did)) is not None:
            metas = raw_metas(raw_dir, dict(zip(dumps["dump_id"], dumps["run_id"]))) if metas is None else metas
            sources[did] = raw_copy(copy, metas.get(did) or _meta_of(row))
        if (copy is None or sources[did].sidecar_error) and (other := holding(inbox[1:], did, max_bytes)):
            sources[did] = other
    return sources


def replaced(dumps: pl.DataFrame) -> pl.Series:
    """Quarantined dumps of which a later run loaded a dump of the same profile and capture time
    (the file fixed as the reason said, say), as `status` shows them (replaced_by)."""
    later = dumps.filter(pl.col("status") != "quarantined").select("profile_key", "captured_at",
                                                                  later_at=pl.col("ingested_at"))
    return (dumps.filter(pl.col("status") == "quarantined").join(later, on=["profile_key", "captured_at"])
            .filter(pl.col("later_at") > pl.col("ingested_at"))["dump_id"].unique())


def indexed_paths(index: pl.DataFrame | None, dump_ids: set[str]) -> dict[str, list[str]]:
    """The inbox files the file index maps to each of dump_ids."""
    if index is None or not dump_ids:
        return {}
    rows = index.filter(pl.col("dump_id").is_in(list(dump_ids))).group_by("dump_id", maintain_order=True)
    return dict(rows.agg("path").iter_rows())


def holding(paths: list[str], dump_id: str, max_bytes: int, readable: bool = False) -> SourceFile | None:
    """The first of paths that is a file still holding the dump (readable: whose bytes aren't refused)."""
    for path in map(storage.location, paths):
        if storage.is_file(path) and holds_dump(path, dump_id, max_bytes, readable):
            return SourceFile(path, *storage.stat(path))
    return None


def holds_dump(original: storage.Location, dump_id: str, max_bytes: int, readable: bool = False) -> bool:
    """Whether an inbox file still holds a quarantined dump: the same bytes, or, for a .gz refused
    unread (its id the compressed file's hash, salted or not), the same compressed bytes. Read from
    there, not from raw/, the file index then knows the file by its new reading's id."""
    read = read_dump(original, max_bytes)
    if readable:
        return read.dump_id == dump_id and not read.refused
    return read.dump_id == dump_id or (original.name.endswith(".gz") and dump_id in stored_ids(original))


ROW_META = ("dump_id", *RAW_META_FIELDS)   # what a batch's meta file holds of each dumps row


def _meta_of(row: dict) -> dict:
    """A raw/ copy's identity from its dumps row, for a copy whose meta file was lost."""
    return row | {"captured_at": row["captured_at"].isoformat(), "ingested_at": row["ingested_at"].isoformat()}


def read_as_other(retry: dict[str, SourceFile], files: list[pl.DataFrame]) -> set[str]:
    """The retried dumps whose source this run read as another dump (its files rows: path -> dump_id):
    a .gz refused unread, known by its salted hash, whose text is now read and is a dump the lake
    holds, or one another file of the run loaded first. No row of the run replaces theirs otherwise."""
    if not retry or not files:
        return set()
    read = dict(pl.concat(files, how="vertical_relaxed").select("path", "dump_id").iter_rows())
    return {did for did, source in retry.items()
            if (other := read.get(identity.printable(str(source.path)))) is not None and other != did}

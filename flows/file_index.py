"""The file index (state/files.parquet): which dump each inbox file held, by (path, size, mtime_ns), so
that a run reads only the files it doesn't recognise (SPEC §6)."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import polars as pl

from core import identity
from core.records import SourceFile
from core.validate import FILE_SCHEMA
from store import storage

FILE_INDEX = "files.parquet"


def source_file(row: tuple[str | storage.Url, int, int]) -> SourceFile:
    path, size, mtime_ns = row
    return SourceFile(path if isinstance(path, storage.Url) else Path(path), size, mtime_ns)


def read_file_index(state: Path) -> pl.DataFrame:
    """(path, size, mtime_ns) -> dump_id of every file a run has read (empty when missing or damaged)."""
    return index_for_run(state, move_damaged=False)[0]


def index_for_run(state: Path, move_damaged: bool = True) -> tuple[pl.DataFrame, str | None]:
    """The file index, and what became of it when damaged. The index only saves reading files
    again: a damaged one is moved aside (kept, not deleted), and the run that finds it reads every
    inbox file, which indexes them anew."""
    path = state / FILE_INDEX
    if not path.exists():
        return pl.DataFrame(schema=FILE_SCHEMA), None
    try:
        return pl.read_parquet(path).select(FILE_SCHEMA.names()).cast(dict(FILE_SCHEMA)), None
    except (pl.exceptions.PolarsError, OSError) as exc:
        problem = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if not move_damaged:
        return pl.DataFrame(schema=FILE_SCHEMA), None
    aside = path.with_name(f"{FILE_INDEX}.damaged-{time.time_ns()}")
    path.rename(aside)
    return pl.DataFrame(schema=FILE_SCHEMA), (f"the file index {path} couldn't be read ({problem}), "
                                              f"so every inbox file was read again; the old one is {aside.name}")


def add_to_file_index(state: Path, files: list[pl.DataFrame],
                      listed: tuple[storage.Location, pl.DataFrame] | None = None,
                      raw: storage.Location | None = None) -> None:
    """Index the run's files (path, size, mtime_ns, dump_id); a file indexed again keeps its new row.
    With the run's inbox and listing (listed_keys), rows of files in that inbox no longer there as
    indexed (removed, or changed since) go, so the index follows the inbox rather than everything it
    ever held; those of a home's other inboxes stay. Copies read from raw/ (a reprocess's) are no
    inbox's files (an inbox's scan passes over a home inside it): not indexed."""
    if not any(frame.height for frame in files):
        return
    path = state / FILE_INDEX
    old = [pl.read_parquet(path)] if path.exists() else []
    rows = pl.concat([*old, *files], how="vertical_relaxed").cast(dict(FILE_SCHEMA))
    index = rows.unique(["path", "size", "mtime_ns"], keep="last", maintain_order=True).filter(absolute())
    if raw is not None:
        index = index.filter(~under(raw))
    if listed is not None:
        inbox, keys = listed
        index = (index.join(keys, on=["path", "size", "mtime_ns"], how="semi", maintain_order="left")
                 .vstack(index.filter(~under(inbox))).unique(["path", "size", "mtime_ns"], maintain_order=True))
    state.mkdir(parents=True, exist_ok=True)
    tmp = state / f".{FILE_INDEX}.tmp"
    index.write_parquet(tmp)
    os.replace(tmp, path)


def absolute() -> pl.Expr:
    """Whether a row's path is absolute or a URL: an older version indexed an inbox given relative
    as it was given, rows no listing matches now (inboxes are made absolute)."""
    return pl.col("path").str.starts_with("/") | pl.col("path").str.contains(storage.SCHEME)


def under(folder: storage.Location) -> pl.Expr:
    """Whether a row's path is in folder (s3 and s3a alike)."""
    return pl.col("path").str.replace(storage.SCHEME, "").str.starts_with(prefix_of(folder))   # s3a:// as s3://


def prefix_of(folder: storage.Location) -> str:
    return unschemed(identity.printable(str(folder))).rstrip("/") + "/"


def unschemed(path: str) -> str:
    return re.sub(storage.SCHEME, "", path)


def unrecognised(found: list[tuple[str | storage.Url, int, int]], index: pl.DataFrame, known: set[str]) -> list[SourceFile]:
    """Files that must be read: not indexed with the same (path, size, mtime), or indexed to a
    dump the warehouse doesn't hold (e.g. the run that indexed it crashed before committing)."""
    keys = listed_keys(found)
    matched = keys.with_row_index("at").join(index, on=keys.columns, how="left", nulls_equal=True)
    held = pl.Series(list(known), dtype=pl.String).implode()
    todo = matched.filter(pl.col("dump_id").is_null() | ~pl.col("dump_id").is_in(held))
    return [source_file(found[i]) for i in sorted(todo["at"])]


def index_key(source: SourceFile) -> tuple[str, int, int]:
    """How the file index names a file (as extract records it: printable, for odd file names)."""
    return row_key((source.path, source.size, source.mtime_ns))


def listed_keys(found: list[tuple[str | storage.Location, int, int]]) -> pl.DataFrame:
    """The index keys (path, size, mtime_ns) of a run's listing."""
    return pl.DataFrame([row_key(row) for row in found], schema=list(FILE_SCHEMA.items())[:3], orient="row")


def row_key(row: tuple[str | storage.Location, int, int]) -> tuple[str, int, int]:
    """index_key of a scanned (path, size, mtime_ns) row, with no SourceFile made for it."""
    path, size, mtime_ns = row
    return identity.printable(str(path)), size, mtime_ns

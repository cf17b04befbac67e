"""Opening a lake table, and reusing the opened tables within a run.

Opening a Delta table replays its log since the last checkpoint (a big partitioned table's lists
thousands of files), and a run opens each table at every stage. Within a run each table is opened
once and then brought up to date with `update_incremental`, which reads only the commits since.
"""
from __future__ import annotations

from contextlib import contextmanager

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from store import storage

_REUSED: dict[str, dict[str, DeltaTable]] = {}   # lake -> table name -> the table opened first


def table_uri(lake: storage.Location, name: str) -> str:
    return str(lake / name)


def open_table(lake: storage.Location, name: str, version: int | None = None, own: bool = False) -> DeltaTable | None:
    """The table at `version` (default: its latest), None when it doesn't exist; with `own`, an
    object of its own even where a run reuses tables (for a caller that moves it between versions)."""
    reused = _REUSED.get(str(lake)) if version is None and not own else None
    if reused is not None and name in reused:
        table = reused[name]
        table.update_incremental()
        return table
    try:
        table = DeltaTable(table_uri(lake, name), version=version, storage_options=storage.object_store_options(lake))
    except TableNotFoundError:
        return None
    if reused is not None:
        reused[name] = table
    return table


@contextmanager
def reusing_tables(lake: storage.Location):
    """Within the block, open_table(lake, name) at the latest version returns the object it opened
    first, brought up to date. For a run, under the run lock: nothing replaces a table's folder
    meanwhile, and the run's stages use each table from one thread at a time."""
    key = str(lake)
    if key in _REUSED:   # an enclosing block reuses them already
        yield
        return
    _REUSED[key] = {}
    try:
        yield
    finally:
        del _REUSED[key]

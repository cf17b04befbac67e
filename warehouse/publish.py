"""Publishing the warehouse: the idle file of the two behind `warehouse.duckdb` (warehouse/files.py)
is brought up to the lake by a load (warehouse/load.py), and the link is then pointed at it.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
from deltalake import DeltaTable

from schemas.tables import MERGED_TABLES
from store import storage
from store.faults import checkpoint
from warehouse import changes, files
from warehouse import lake as lake_mod
from warehouse import lake_files, load


def publish(warehouse_path: Path, lake: Path, from_scratch: bool = False) -> int:
    """Bring the idle warehouse file up to the lake and point `warehouse.duckdb` at it (see
    warehouse/files.py): readers never block the run, and a failure or a crash at any point leaves
    the link on the last published file."""
    previous = files.current(warehouse_path)
    target, read = load_idle(warehouse_path, lake, from_scratch, lake_mod.open_all(lake))
    checkpoint("load:built")
    files.point_to(warehouse_path, target)
    if from_scratch and previous is not None and previous != warehouse_path:
        # replaced by a copy, never removed: a reader may have resolved the link to it a moment ago
        files.copy_current(warehouse_path, previous)
    checkpoint("load:published")
    return read


def idle_target(warehouse_path: Path, lake: Path, from_scratch: bool, tables: dict[str, DeltaTable]) -> Path:
    """The idle file, ready to be loaded in place (or emptied, or made a copy of the current one)."""
    previous = files.current(warehouse_path)
    far_behind = not from_scratch and previous is not None and catching_up_costs_more(warehouse_path, previous,
                                                                                      lake, tables)
    return files.prepare_idle(warehouse_path, from_scratch, copy=far_behind)


def load_idle(warehouse_path: Path, lake: Path, from_scratch: bool, tables: dict[str, DeltaTable]) -> tuple[Path, int]:
    target = idle_target(warehouse_path, lake, from_scratch, tables)
    checkpoint("load:copied")
    try:
        return target, load.load(target, lake, tables)
    except duckdb.Error as exc:
        if not files.is_held_by_a_reader(exc):
            raise
    target = files.prepare_idle(warehouse_path, from_scratch, copy=True)
    return target, load.load(target, lake, tables)


# A byte of Parquet to catch up on costs about as much as 25 bytes of warehouse file to copy
# (measured on the bench's 20,000-dump home, over these tables; docs/benchmarks.md).
CATCH_UP_BYTE_COST = 25
CATCH_UP_TABLES = ("dumps", *MERGED_TABLES, "listings", "runs")


def catching_up_costs_more(link: Path, current: Path, lake: Path, tables: dict[str, DeltaTable]) -> bool:
    """Is the idle file so far behind (a big run published last) that a copy of the current one is
    cheaper than loading what it lacks? A guess from the share of the lake's dumps it lacks and the
    lake's size; local lakes only."""
    idle = files.idle(link)
    if storage.is_url(lake) or not idle.exists():
        return False
    try:
        with duckdb.connect(str(idle), read_only=True) as con:
            have, runs = con.execute("SELECT (SELECT count(*) FROM dumps), (SELECT count(*) FROM runs)").fetchone()
    except duckdb.Error:
        return False   # not a warehouse we can read: the load says why
    sizes = {name: lake_files.stored_size(tables[name]) for name in CATCH_UP_TABLES}
    # tables it alone would read whole (rewritten since: a split, say), in full
    rewritten = read_whole_by_idle_only(idle, current, lake, tables)
    behind = sum((sizes.get(name) or lake_files.stored_size(tables[name]))[0] for name in rewritten)
    if sizes["runs"][1] > runs:
        total_dumps = max(sizes["dumps"][1], 1)
        # the runs rows it lacks at least, and the rows of the dumps it lacks in proportion
        behind += sizes["runs"][0] + sum(size for size, _ in sizes.values()) * max(total_dumps - have, 0) / total_dumps
    return behind * CATCH_UP_BYTE_COST > current.stat().st_size


def read_whole_by_idle_only(idle: Path, current: Path, lake: Path, tables: dict[str, DeltaTable]) -> set[str]:
    """The tables a load of the idle file would read whole and one of the current file wouldn't."""
    try:
        whole = changes.whole_reads(idle, lake, tables)
        return whole - changes.whole_reads(current, lake, tables) if whole else set()
    except duckdb.Error:   # the current file held by a writer, say: judge by the dumps alone
        return set()


def rebuild(warehouse_path: Path, lake: Path) -> None:
    """A new warehouse from the lake alone."""
    publish(warehouse_path, lake, from_scratch=True)

"""Publishing the warehouse: the idle file of the two behind `warehouse.duckdb` (warehouse/files.py)
is brought up to the lake by a load (warehouse/load.py), and the link is then pointed at it.
"""
from __future__ import annotations

from functools import partial
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
    if from_scratch and previous is not None and previous != warehouse_path:
        # loaded from the lake as it was: never the idle file to load in place (the next publish
        # copies over it); left as it is, for a reader that resolved the link to it a moment ago
        files.stale(previous).touch()
    files.point_to(warehouse_path, target)
    checkpoint("load:published")
    return read


def load_idle(warehouse_path: Path, lake: Path, from_scratch: bool, tables: dict[str, DeltaTable]) -> tuple[Path, int]:
    """Load the idle file in place, or a copy of the current file when a reader holds the idle one
    or the load finds it so far behind that copying is cheaper than catching up."""
    in_place = not from_scratch and not files.lacks_idle(warehouse_path)   # else prepare_idle copies
    target = files.prepare_idle(warehouse_path, from_scratch)
    checkpoint("load:copied")
    judge = partial(copy_is_cheaper, warehouse_path, lake, tables) if in_place else None
    try:
        return target, load.load(target, lake, tables, copy_is_cheaper=judge)
    except load.CopyInstead:
        pass
    except duckdb.Error as exc:   # a reader holds the idle file, or it is damaged: load a copy instead
        if not files.is_held_by_a_reader(exc) and files.opens(target):
            raise
    target = files.prepare_idle(warehouse_path, from_scratch, copy=True)
    return target, load.load(target, lake, tables)


# A byte of Parquet to catch up on costs about as much as 25 bytes of warehouse file to copy
# (docs/benchmarks.md).
CATCH_UP_BYTE_COST = 25
CATCH_UP_TABLES = ("dumps", *MERGED_TABLES, "listings", "runs")


def copy_is_cheaper(link: Path, lake: Path, tables: dict[str, DeltaTable], con: duckdb.DuckDBPyConnection,
                    whole: set[str]) -> bool:
    """Is the idle file (open on con; a load would read the tables `whole` whole) so far behind (a
    big run published last) that a copy of the current one is cheaper than catching up? A guess
    from the share of the lake's dumps it lacks and the lake's size; local lakes only."""
    current = files.current(link)
    if current is None or storage.is_url(lake):
        return False
    [(have, runs)] = con.execute("SELECT (SELECT count(*) FROM dumps), (SELECT count(*) FROM runs)").fetchall()
    sizes = {name: lake_files.stored_size(tables[name]) for name in CATCH_UP_TABLES}
    # tables it alone would read whole (rewritten since: a split, say), in full
    rewritten = read_whole_by_idle_only(whole, current, lake, tables)
    behind = sum((sizes.get(name) or lake_files.stored_size(tables[name]))[0] for name in rewritten)
    if sizes["runs"][1] > runs:
        # the runs rows it lacks, and the rows of the dumps it lacks, each in proportion: not the whole
        # runs table, which grows with every run (a long-lived home's would make every publish copy)
        behind += (sizes["runs"][0] * share_lacking(sizes["runs"][1], runs)
                   + sum(size for size, _ in sizes.values()) * share_lacking(sizes["dumps"][1], have))
    return behind * CATCH_UP_BYTE_COST > current.stat().st_size and files.opens(current)   # never copy damage


def share_lacking(stored: int, held: int) -> float:
    """The share of a lake table's rows (stored) that a warehouse file holding `held` of them lacks."""
    return max(stored - held, 0) / stored if stored else 0.0


def read_whole_by_idle_only(whole: set[str], current: Path, lake: Path, tables: dict[str, DeltaTable]) -> set[str]:
    """Of the tables a load of the idle file reads whole, those a load of the current file wouldn't."""
    try:
        return whole - changes.whole_reads(current, lake, tables) if whole else set()
    except duckdb.Error:   # the current file held by a writer, say: judge by the dumps alone
        return set()


def rebuild(warehouse_path: Path, lake: Path) -> None:
    """A new warehouse from the lake alone."""
    publish(warehouse_path, lake, from_scratch=True)

"""A warehouse load begun before the lake commit, by a run's head start (flows/headstart.py).

Once a run's batches and merges have written their files, the tables they change are loaded into
the idle warehouse file inside a transaction left open. The flow commits the lake, then finishes
the load in that same transaction: the rest of the tables, keys, views, the data tests, COMMIT;
then warehouse/load.py points the link at the file as usual. Nothing of the load is committed
before the lake is, so a crash or a failed run loses it whole and the idle file stays as it was.
If the committed lake is not the one the load expected, it is rolled back and the flow loads the
usual way. A load ahead is an optimisation only: where it can't be made (a lake on object storage,
a warehouse of another lake lineage, any error), the flow's own load does the work and meets the
same errors, with its retries.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from flows import storage
from flows.faults import checkpoint
from warehouse import lake as lake_mod, load, publish


@dataclass
class PendingLoad:
    con: duckdb.DuckDBPyConnection | None
    target: Path
    lake: Path
    expected: dict[str, list[str]]   # the tables loaded ahead: their file lists once the lake is committed
    scoped: bool                     # see load.scope_changes
    read: int
    finished: bool = False

    def finish(self) -> tuple[Path, int] | None:
        """After the lake commit: the load completed and committed, with its file and the number of
        lake files it read; None (rolled back) when the lake isn't the expected one, or when it
        was finished or discarded before (a retried publish)."""
        if self.con is None:
            return None
        manifest = lake_mod.read_manifest(self.lake)
        if any(manifest["tables"].get(name, []) != rels for name, rels in self.expected.items()):
            self.discard()
            return None
        try:
            read = load.bring_to(self.con, self.lake, manifest, load.loaded_files(self.con), self.scoped)
            self.con.execute("COMMIT")
            self.finished = True
            self.con.execute("CHECKPOINT")
        finally:
            self.discard()   # after a COMMIT, the ROLLBACK has nothing to undo
        return self.target, self.read + read

    def discard(self) -> None:
        """Roll the load back (if it wasn't committed) and close its connection."""
        if self.con is None:
            return
        con, self.con = self.con, None
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:   # no transaction open: it committed, or DuckDB aborted it
            pass
        con.close()


def begin(warehouse_path: Path, lake: Path, run_id: str, staged: dict[str, list[str]],
          replaced: dict[str, list[str]]) -> PendingLoad | None:
    """Load the staged files of run run_id (which supersede its `replaced` files) into the idle
    warehouse file, in a transaction left open; None when the flow is to load as usual."""
    if storage.is_url(lake):
        return None   # the head start is for the local case; a remote lake keeps the one path it is tested on
    manifest = lake_mod.read_manifest(lake)
    if manifest.get("run_id") == run_id:
        return None   # committed already (the flow got there first): nothing to get ahead of
    expected = lake_mod.with_staged(manifest["tables"], staged, replaced)
    try:
        target = publish.idle_target(warehouse_path, lake)
        checkpoint("load:copied")
        con = load.open_for_load(target, lake)
    except (duckdb.Error, OSError):   # a reader still holding the idle file, say
        return None
    try:
        return _loaded(PendingLoad(con, target, lake, expected, False, 0), manifest)
    except Exception:
        con.close()
        return None


def _loaded(pending: PendingLoad, manifest: dict) -> PendingLoad | None:
    con, lake = pending.con, pending.lake
    if load.from_another_lake(con, manifest):
        con.close()
        return None   # it is loaded again whole, which the flow's load does
    have = load.loaded_files(con)
    upcoming = manifest | {"tables": manifest["tables"] | pending.expected}
    pending.scoped = load.scope_changes(con, lake, upcoming, have)
    con.execute("BEGIN TRANSACTION")
    pending.read = sum(load.sync_table(con, lake, name, rels, have[name]) for name, rels in pending.expected.items())
    checkpoint("load:begun-ahead")
    return pending

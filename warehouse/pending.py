"""A warehouse load begun before the lake commit, by a run's head start (flows/headstart.py).

As the run's files are written, they are loaded into the idle warehouse file inside a transaction
left open: the append tables' files once the batches are done, then each merge task's bucket
files as it finishes. The flow commits the lake, then finishes the load in that same transaction
(the small tables, keys, views, the data tests, COMMIT), and warehouse/publish.py points the link
at the file as usual. Nothing of the load is committed before the lake is, so a crash or a failed
run loses it whole and the idle file stays as it was. If the committed lake is not the one the
load expected, it is rolled back and the flow loads the usual way. A load ahead is an
optimisation only: where it can't be made (a lake on object storage, a warehouse of another lake
lineage, any error), the flow's own load does the work, and meets the same errors with its retries.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from flows import storage
from flows.faults import checkpoint
from schemas.tables import TABLES
from warehouse import lake as lake_mod, load, publish


@dataclass
class PendingLoad:
    con: duckdb.DuckDBPyConnection | None
    target: Path
    lake: Path
    manifest: dict                  # the lake's manifest when the load began
    before: dict[str, set[str]]     # the files each table of the idle file held then
    files: dict[str, list[str]] = field(default_factory=dict)   # each table's files as loaded so far
    expected: set[str] = field(default_factory=set)   # the tables `add` was called for: the commit lists `files`
    scoped: bool = False            # see load.scope_changes
    read: int = 0
    finished: bool = False

    def catch_up(self) -> None:
        """The idle file is a publish behind: bring it to the lake as it is (before the run's files)."""
        self.files = {name: list(self.manifest["tables"].get(name, [])) for name in TABLES}
        for name, rels in self.files.items():
            self.read += load.sync_table(self.con, self.lake, name, rels, self.before[name])

    def add(self, staged: dict[str, list[str]], replaced: dict[str, list[str]] | None = None) -> None:
        """Load staged files of the run (which supersede its `replaced` files), in commit order."""
        for name, rels in staged.items():
            wanted = lake_mod.with_staged(self.files, {name: rels}, replaced or {})[name]
            if self.manifest["tables"].get(name):
                self.read += load.sync_table(self.con, self.lake, name, wanted, set(self.files[name]))
            else:   # no file before this run: each call inserts its own (an upsert needs a key, which a
                    # never-loaded file's tables only get at the finish)
                self.read += load.sync_table(self.con, self.lake, name, rels, set())
            self.files[name] = wanted
            self.expected.add(name)

    def all_added(self) -> None:
        """Every file of the run is loaded: scope the data tests to what it adds (load.scope_changes)."""
        upcoming = self.manifest | {"tables": self.files}
        self.scoped = load.scope_changes(self.con, self.lake, upcoming, self.before)

    def finish(self) -> tuple[Path, int] | None:
        """After the lake commit: the load completed and committed, with its file and the number of
        lake files it read; None (rolled back) when the lake isn't the expected one, or when it
        was finished or discarded before (a retried publish)."""
        if self.con is None:
            return None
        manifest = lake_mod.read_manifest(self.lake)
        if any(manifest["tables"].get(name, []) != self.files[name] for name in self.expected):
            self.discard()
            return None
        try:
            self.con.execute("RESET threads")   # Prefect is up: every core
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


def begin(warehouse_path: Path, lake: Path, run_id: str) -> PendingLoad | None:
    """Open the idle warehouse file for a load of run run_id's files, in a transaction left open;
    None when the flow is to load as usual."""
    if storage.is_url(lake):
        return None   # the head start is for the local case; a remote lake keeps the one path it is tested on
    manifest = lake_mod.read_manifest(lake)
    if manifest.get("run_id") == run_id:
        return None   # committed already (the flow got there first): nothing to get ahead of
    try:
        target = publish.idle_target(warehouse_path, lake)
        checkpoint("load:copied")
        con = load.open_for_load(target, lake)
    except (duckdb.Error, OSError):   # a reader still holding the idle file, say
        return None
    try:
        if load.from_another_lake(con, manifest):
            con.close()
            return None   # it is loaded again whole, which the flow's load does
        before = load.loaded_files(con)
        if not any(before.values()) and any(manifest["tables"].values()):
            con.close()   # a file never loaded (the warehouse was removed, say) has no keys yet: the
            return None   # flow's load fills it and adds them
        # One thread: the head start's workers and Prefect's start use the cores. The flow's
        # finish takes every core again (its thread starts DuckDB's others, at its niceness).
        con.execute("SET threads = 1")
        pending = PendingLoad(con, target, lake, manifest, before)
        con.execute("BEGIN TRANSACTION")
        pending.catch_up()
        return pending
    except Exception:
        con.close()
        return None

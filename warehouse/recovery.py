"""Recovery: the lake as the last run that reached its commit point left it (SPEC §6, §8).

A run that died between its commits leaves tables tagged with a newer run than `runs`; `recover`
restores them to their last committed versions before anything reads or writes the lake, and a
load reads `target_versions`, the committed versions, so what a dead run wrote is never seen.
docs/lake.md says why.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from deltalake import DeltaTable

from store import storage
from store.errors import UserError
from store.faults import checkpoint
from store.scratch import WORK
from warehouse import lake as lake_mod
from warehouse import lake_health
from warehouse.opened import open_table


def begin_rewrite(lake: storage.Location) -> int:
    """A rebuild's sequence number, the lake recovered first: its commits are a run's, the runs
    table's last (overwrite) its commit point."""
    if storage.exists(lake / lake_mod.OLD_MANIFEST):
        raise UserError(f"the lake at {lake} is in the format from before Delta tables: on object storage, pass a "
                        "new --lake (or move the old one aside) and run `rebuild --from-raw` again")
    return recover(lake, rewriting=True)


def committed_version(lake: storage.Location, name: str, table: DeltaTable, committed: int) -> int:
    """The table's last version holding the rows of its last one written by a run that reached its
    commit point (or by no run): that version, or a restore of it and the maintenance after."""
    version = table.version()
    while version > 0 and lake_mod.run_of(table if version == table.version() else open_table(lake, name, version)) > committed:
        version -= 1
    return version if version == table.version() else latest_with_rows_of(table, version)


def is_maintenance(commit: dict) -> bool:
    """A commit that keeps the rows as they were: compaction, vacuum, settings, a partition split."""
    return (commit.get("operation") in {"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES"}
            or str(commit.get("profile-etl", "")).startswith("split to"))


def latest_with_rows_of(table: DeltaTable, base: int) -> int:
    """The latest version holding the rows of version `base`: a restore to such a version joins them,
    and so does maintenance right after one. (A recovery restores the tables a dead run wrote; a
    later `maintain` compacts them and vacuums the files of the version restored to.)"""
    same = {base}
    if base >= table.version():
        return base
    for commit in sorted(table.history(limit=table.version() - base), key=lambda c: c["version"]):
        restored = str(commit.get("operationParameters", {}).get("version")) if commit.get("operation") == "RESTORE" else None
        if (is_maintenance(commit) and commit["version"] - 1 in same) or restored in {str(v) for v in same}:
            same.add(commit["version"])
    return max(same)


def target_versions(lake: storage.Location, tables: dict[str, DeltaTable] | None = None) -> dict[str, int]:
    """The versions a load reads: each table's committed_version (a run that died between its
    commits is not seen)."""
    tables = tables or lake_mod.open_all(lake)
    committed = lake_mod.run_of(tables["runs"])
    return {name: committed_version(lake, name, table, committed) for name, table in tables.items()}


def undos(lake: storage.Location, tables: dict[str, DeltaTable]) -> dict[str, int]:
    """The version each table holding a dead run's commits goes back to."""
    committed = lake_mod.run_of(tables["runs"])
    return {name: version for name, table in tables.items() if lake_mod.run_of(table) > committed
            and table.version() != (version := committed_version(lake, name, table, committed))}


def unrestorable(lake: storage.Location, restores: dict[str, int]) -> str | None:
    """Why a dead run's commits can't be undone (None: they can, or there are none): the files of a
    version to go back to are gone, vacuumed by another engine with a shorter retention."""
    gone = [f"{name} (version {version}: {missing[0]}{' …' if len(missing) > 1 else ''})"
            for name, version in restores.items()
            if (missing := lake_health.missing_files(lake, name, version))]
    return (f"the lake tables {', '.join(gone)} hold commits of a run that didn't finish, and files of their "
            "versions before it are gone (a vacuum with a retention shorter than the lake's, by another engine?), "
            "so those commits can't be undone") if gone else None


def refuse_unrestorable(lake: storage.Location, restores: dict[str, int], home: Path | None = None) -> None:
    """Refused before any table is restored: a half-undone run would leave tables that disagree."""
    if found := unrestorable(lake, restores):
        raise refusal(found, lake, home)


def refusal(unrestorable_why: str, lake: storage.Location, home: Path | None) -> UserError:
    return UserError(f"{unrestorable_why}. Nothing was changed. {lake_health.repair(lake, home)}")


def recover(lake: storage.Location, guard: Callable | None = None, home: Path | None = None,
            rewriting: bool = False) -> int:
    """Restore the tables a dead run committed to (its runs row never came) to their versions before
    it, remove runs' scratch; returns the next run's sequence number (guard, home: see lake_mod.ensure_tables).
    A rebuild rewriting the lake in place (`rewriting`) replaces every table's rows, so commits that
    can't be undone are left for it to replace instead of refused."""
    tables = lake_mod.ensure_tables(lake, guard, home)
    if (why := unrestorable(lake, restores := undos(lake, tables))) and not rewriting:
        raise refusal(why, lake, home)
    for name, version in ({} if why else restores).items():
        undone = lake_mod.noted(f"undo of unfinished run {lake_mod.run_of(tables[name])}")
        tables[name].restore(version, commit_properties=undone)
        checkpoint(f"lake:restored:{name}")
    storage.remove_tree(lake / WORK)
    return max(lake_mod.run_of(table) for table in tables.values()) + 1

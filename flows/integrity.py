"""Checks a home passes before a run writes to it: a lake whose tables are gone while the home
shows earlier data (raw/ copies, the file index, the warehouse, other lake tables) is refused,
since starting it over empty would publish a warehouse without that data. No prefect."""
from __future__ import annotations

from pathlib import Path

import duckdb

from flows import file_index
from schemas.tables import TABLES
from store import raw_store, storage
from store.advice import command
from store.errors import UserError
from store.scratch import WORK
from store.settings import Settings
from warehouse import history, lake, outside, recovery
from warehouse.lake_health import log_problems
from warehouse.partitions import BUCKET, PARTITIONED
from warehouse.changes import loaded_versions
from warehouse.load import connect


def earlier_data(settings: Settings, present: dict) -> list[str]:
    """What in the home says that runs have loaded data before (empty: a new home)."""
    found = [f"lake table {name} holds runs" for name, table in present.items() if lake.run_of(table) > 0]
    metas = list((settings.raw / raw_store.RAW_META_DIR).glob("*.jsonl")) if settings.raw.is_dir() else []
    if metas:
        found.append(f"raw/ names the copies of {len(metas)} batches")
    if (indexed := file_index.read_file_index(settings.state).height) > 0:
        found.append(f"the file index lists {indexed} files")
    if (dumps := warehouse_dumps(settings)) > 0:
        found.append(f"the warehouse holds {dumps} dumps")
    return found


def warehouse_dumps(settings: Settings) -> int:
    try:
        with connect(settings.warehouse, read_only=True) as con:
            return con.execute("SELECT count(*) FROM dumps").fetchone()[0]
    except duckdb.Error:
        return 0   # no warehouse, or one that can't be read: it proves nothing either way


def warehouse_run_ids(settings: Settings) -> set[str]:
    try:
        with connect(settings.warehouse, read_only=True) as con:
            return {run_id for (run_id,) in con.execute("SELECT run_id FROM runs").fetchall()}
    except duckdb.Error:
        return set()   # no warehouse, or one that can't be read: it holds no run we can tell of


def lake_guard(settings: Settings):
    """For recovery.recover: creating missing tables is refused while the home shows earlier data, and a
    lake that lost commits the published warehouse holds is refused before anything restores or
    writes (recovery would take the lost run's other tables for a dead run's and roll them back)."""
    def refuse(missing: list[str], present: dict) -> None:
        if missing:
            refuse_missing(settings, missing, present)
        loaded = published_versions(settings)   # the warehouse read once for both checks
        refuse_lost_commits(settings, present, loaded=loaded)
        refuse_outside_changes(settings, present, loaded=loaded)
    return refuse


def refuse_lost_commits(settings: Settings, present: dict, doing: str = "", loaded: dict | None = None) -> None:
    """A lake behind the warehouse it published: a run's recovery would roll the lost run's other
    tables back, and a warehouse rebuilt from it would drop that run's rows."""
    if behind := lost_commits(settings, {name: table for name, table in present.items() if table is not None}, loaded):
        raise UserError(f"{doing + ' stopped: ' if doing else ''}the lake at {settings.lake} is behind the warehouse "
                        f"it published ({'; '.join(behind)}): commits of its log were deleted or lost. Nothing was "
                        f"written. {command(settings.lake, 'doctor', settings.home)} checks the home; "
                        f"{command(settings.lake, 'rebuild --from-raw', settings.home)} makes the lake again from raw/ "
                        "(keeping the runs history the warehouse holds)")


def refuse_missing(settings: Settings, missing: list[str], present: dict) -> None:
    evidence = earlier_data(settings, present)
    if not evidence:
        return   # a new home, or a run that died while creating a new lake's tables
    what = ("has none of its Delta tables" if len(missing) == len(TABLES)
            else f"lacks the Delta tables {', '.join(missing)}")
    raise UserError(f"the lake at {settings.lake} {what}, though {'; '.join(evidence)}: it was deleted, "
                    "moved or damaged, and a run would start it over and publish a warehouse without the "
                    "earlier data. Nothing was written. If the lake is elsewhere, pass --lake (or set "
                    "PROFILE_ETL_LAKE); to make it again from raw/, the source of truth: "
                    f"{command(settings.lake, 'rebuild --from-raw', settings.home)}")


def published_versions(settings: Settings) -> dict[str, tuple[str, int]]:
    """Each table's id and the version the published warehouse holds ({}: no warehouse yet, or one from
    before the versions table: nothing to compare)."""
    try:
        with connect(settings.warehouse, read_only=True) as con:
            return loaded_versions(con)
    except duckdb.Error:
        return {}


def lost_commits(settings: Settings, present: dict, loaded: dict | None = None) -> list[str]:
    """Tables at a lower version than the published warehouse loaded (`loaded`: published_versions)
    from the same table: the log lost its newest commits (a lake rebuilt since has new table ids, and
    a restore is a new version)."""
    loaded = published_versions(settings) if loaded is None else loaded
    return [f"{name} at version {present[name].version()}, the warehouse at {version}"
            for name, (table_id, version) in loaded.items()
            if name in present and present[name].metadata().id == table_id and present[name].version() < version]


def outside_changes(settings: Settings, present: dict, loaded: dict | None = None) -> list[outside.OutsideChange]:
    """Commits of another engine that changed rows since the versions the published warehouse holds
    (`loaded`: published_versions), or the last run recorded for tables it doesn't hold (its file is
    gone, say)."""
    present = {name: table for name, table in present.items() if table is not None}
    loaded = published_versions(settings) if loaded is None else loaded
    bases = {name: version for name, (table_id, version) in loaded.items()
             if name in present and present[name].metadata().id == table_id}
    if missing := [name for name in present if name not in bases and name != "runs"]:
        recorded = history.recorded_versions(history.runs_in_order(settings.lake)) or {}   # None after a rebuild
        bases |= {name: recorded[name] for name in missing if name in recorded}
    return [change for name, base in bases.items() for change in outside.changes_since(settings.lake, name, present[name], base)]


def refuse_outside_changes(settings: Settings, present: dict, doing: str = "", loaded: dict | None = None) -> None:
    """Refused before anything is written: a run would commit beside rows no dump says (or load them), a
    recovery or maintenance would build on them, and a warehouse rebuilt from them would publish them."""
    if changes := outside_changes(settings, present, loaded):
        raise UserError(f"{doing + ' stopped: ' if doing else ''}{outside.describe(changes)}. Nothing was written. "
                        f"{command(settings.lake, 'rebuild --from-raw', settings.home)} makes the lake and the warehouse "
                        "again from raw/, the source of truth, without them (each table's history keeps those "
                        "versions for its retention period)")


def rewritable_in_place(settings: Settings) -> bool:
    """A lake of whole Delta tables with today's columns and partitions, its logs holding every commit
    the warehouse loaded: the rebuild writes new versions of them, so the tables keep their ids and
    versions, and a reader keeps the files it reads for the retention period (SPEC §8). Any other
    lake (gone, damaged, behind its warehouse, older columns or format) is replaced whole."""
    if not settings.lake.is_dir() or (settings.lake / lake.OLD_MANIFEST).exists():
        return False
    try:
        if any(log_problems(settings.lake, name) for name in TABLES):
            return False
        tables = lake.open_side_by_side(settings.lake, list(TABLES))
    except Exception:   # a log that can't be read: the lake is replaced, not repaired table by table
        return False
    if any(table is None or lake.column_drift(name, table) or not laid_out(name, table) for name, table in tables.items()):
        return False
    if recovery.unrestorable(settings.lake, recovery.undos(settings.lake, tables)):
        return False   # a dead run's commits it can't undo: the lake is kept aside whole, as it is
    return not lost_commits(settings, tables)   # its versions would be numbers the warehouse gave other rows


def laid_out(name: str, table) -> bool:
    """Partitioned by key_bucket if and only if the table is one of the partitioned ones."""
    return (BUCKET in table.metadata().partition_columns) == (name in PARTITIONED)


def refuse_to_replace(settings: Settings, aside: Path) -> None:
    """A lake a rebuild replaces whole is moved aside and kept: refuse, before anything is written, a
    lake folder holding what no lake holds (a --lake naming the wrong folder, the home itself) or a
    folder already at `aside`, the name the replaced lake passes through."""
    lake_dir = settings.lake   # a file there is refused by Settings.load
    ours = {*TABLES, WORK, lake.OLD_MANIFEST}
    foreign = sorted(entry.name for entry in lake_dir.iterdir() if entry.name not in ours) if lake_dir.is_dir() else []
    homes = [name for name, path in (("the home", settings.home), ("raw/", settings.raw), ("the inbox", settings.inbox))
             if not storage.is_url(path) and Path(path).resolve().is_relative_to(lake_dir.resolve())]
    if foreign or homes:
        what = ", ".join(homes) if homes else ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" * (len(foreign) > 5))
        raise UserError(f"the lake folder {lake_dir} holds what is no lake's ({what}), and a rebuild from raw/ "
                        "would move it aside with the lake it replaces. Nothing was changed. If --lake (or "
                        "PROFILE_ETL_LAKE) names the wrong folder, correct it; otherwise move those out of it")
    if aside.exists():
        raise UserError(f"{aside} exists: a rebuild from raw/ moves the lake it replaces there on its way to being "
                        "kept. Nothing was changed. If it is a lake a rebuild replaced, or yours, move or remove it, "
                        "then rebuild again")

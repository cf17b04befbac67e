"""What a load applies to each table (warehouse/load.py): the rows the Delta versions since the
loaded one changed, from the table's change data feed, or the table read whole at its version
(a table the warehouse doesn't hold yet, or one a restore or an overwrite changed).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
from deltalake import DeltaTable

from store import storage
from warehouse import lake as lake_mod
from warehouse import lake_files, recovery

if TYPE_CHECKING:
    import pyarrow as pa
    from arro3.core import Table


@dataclass
class Change:
    """What a load applies to one table: its whole rows at a version (`whole`: its `files`, or
    its `rows` read by deltalake), or the rows the versions since the last load changed (`rows`,
    from the table's change data feed)."""
    version: int
    table_id: str
    whole: bool = False
    files: list[str] | None = None
    rows: Table | pa.Table | None = None   # Arrow rows (pyarrow's only from an object store), for DuckDB


def loaded_versions(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, int]]:
    """Each table's Delta table id and the version this warehouse file holds."""
    rows = con.execute("SELECT table_name, table_id, version FROM internal.lake_versions").fetchall()
    return {name: (table_id, version) for name, table_id, version in rows}


# Commits whose changes the change data feed gives row by row; any other (a restore, a
# reprocessing run's overwrite of dumps) makes the load read the table whole.
INCREMENTAL = {"WRITE": "Append", "MERGE": None, "OPTIMIZE": None, "VACUUM START": None, "VACUUM END": None,
               "SET TBLPROPERTIES": None}


def table_change(lake: storage.Location, name: str, version: int, loaded: tuple[str, int] | None,
                 latest: DeltaTable) -> Change | None:
    """How to bring one table from the loaded version to `version` (None: it is there)."""
    table = latest if version == latest.version() else lake_mod.open_table(lake, name, version)
    table_id = table.metadata().id
    if loaded is not None and loaded == (table_id, version):
        return None
    if reads_whole(table_id, version, loaded, latest):
        return whole_table(lake, name, table)
    try:
        rows = table.load_cdf(starting_version=loaded[1] + 1, ending_version=version,
                              predicate="_change_type != 'update_preimage'").read_all()   # never applied
    except Exception:   # e.g. a vacuum removed files of those versions: read the table whole
        return whole_table(lake, name, table)
    return Change(version, table_id, rows=rows)


def reads_whole(table_id: str, version: int, loaded: tuple[str, int] | None, latest: DeltaTable) -> bool:
    """Must a load read the table whole to bring it from `loaded` to `version` of table `table_id`?"""
    return (loaded is None or loaded[0] != table_id or loaded[1] > version
            or (loaded[1] < version and not incremental(latest, loaded[1], version)))


def whole_reads(path: Path, lake: storage.Location, tables: dict[str, DeltaTable]) -> set[str]:
    """The tables a load of the warehouse file at path would read whole."""
    with duckdb.connect(str(path), read_only=True) as con:
        loaded = loaded_versions(con)
    return whole_reads_from(loaded, recovery.target_versions(lake, tables), tables)


def whole_reads_from(loaded: dict[str, tuple[str, int]], target: dict[str, int], tables: dict[str, DeltaTable]) -> set[str]:
    """The tables a load from `loaded` to `target` versions would read whole (from the logs alone)."""
    return {name for name, table in tables.items() if reads_whole(table.metadata().id, target[name], loaded.get(name), table)}


def whole_table(lake: storage.Location, name: str, table) -> Change:
    """A local table's files go to DuckDB's read_parquet; a remote one is read by deltalake, whose
    object store fetches files in parallel where DuckDB's reads through fsspec go one by one."""
    change = Change(table.version(), table.metadata().id, whole=True)
    if storage.is_url(lake):
        change.rows = table.to_pyarrow_table(columns=lake_mod.columns(name))
    else:
        change.files = lake_files.local_files(table)
    return change


def incremental(latest: DeltaTable, since: int, version: int) -> bool:
    """Did only appends, merges and maintenance commit after version `since`, up to `version`?
    (The history of the latest table: delta-rs numbers an older table's history as the latest's.)"""
    commits = [c for c in latest.history(limit=latest.version() - since) if since < c.get("version", -1) <= version]
    return len(commits) == version - since and all(
        c.get("operation") in INCREMENTAL
        and INCREMENTAL[c["operation"]] in (None, c.get("operationParameters", {}).get("mode")) for c in commits)

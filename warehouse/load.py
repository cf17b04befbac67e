"""Load the committed lake into `warehouse.duckdb`, in one transaction.

The lake's tables are Delta tables; DuckDB reads them without its delta extension (which can't be
downloaded here). The warehouse records the Delta version of each table it holds
(`internal.lake_versions`). A load applies the rows the versions since then changed, from each table's
change data feed, or, for a table it doesn't hold yet or one a restore or an overwrite changed,
reads the table's files at the version whole. In one transaction, so after a crash at any point
the next load converges to the lake. Which of the two warehouse files a load writes is
warehouse/files.py's business.

A lake on object storage (an fsspec URL) is read through its fsspec filesystem, registered on the
connection: DuckDB's own httpfs extension is not used, and must not be downloaded.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import duckdb
from deltalake import DeltaTable

from schemas.tables import MERGE_KEYS, TABLES
from store import storage
from store.faults import checkpoint
from warehouse import ddl
from warehouse import lake as lake_mod
from warehouse import recovery
from warehouse.changes import Change, loaded_versions, table_change, whole_reads_from
from warehouse.checks import CHECKED, assert_checks_pass
from warehouse.views import SQL, create_views, sql_literal

# DuckDB can't evict the primary keys' indexes, which grow with the warehouse, so the limit
# leaves room for them beside a load's data and the data tests.
PUBLISH_MEMORY_LIMIT = "768MB"

MARTS = "marts"   # <home>/marts/*.sql: an analyst's own marts, created at each publish


def sql_text(relative: str) -> str:
    return (SQL / relative).read_text()


# Rows per row group of what a load writes (DuckDB's default is 122,880): smaller groups fill and
# are written during a big insert, on every thread, instead of as one group at the commit.
ROW_GROUP_SIZE = 40_960


def connect(path: Path, read_only: bool = False, lake: storage.Location | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path), read_only=True) if read_only else attach_for_writing(path)
    con.execute("SET TimeZone = 'UTC'")
    if lake is not None and storage.is_url(lake):
        register_lake(con, lake)
    return con


def attach_for_writing(path: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse file as the connection's default database, attached: the row group size is an
    option of ATTACH only. Spills go beside the file, as when it is opened directly."""
    con = duckdb.connect()
    try:
        con.execute(f"SET temp_directory = {sql_literal(str(path) + '.tmp')}")
        con.execute(f"ATTACH {sql_literal(str(path))} AS warehouse (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
        con.execute("USE warehouse")
    except BaseException:   # a reader holding the file, say: the caller may try another file
        con.close()
        raise
    return con


def register_lake(con: duckdb.DuckDBPyConnection, lake: storage.Url) -> None:
    """read_parquet('s3://...') then goes through fsspec. Without it DuckDB would try to download
    and load httpfs for such a path; extension autoloading is turned off so that any path the
    registered filesystem doesn't serve fails at once instead of reaching for the network."""
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.register_filesystem(storage.filesystem(lake))


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables (with comments; keys come with their first rows) if this is a new warehouse,
    in one transaction: each of its ~100 statements would otherwise commit on its own."""
    if has_table(con, "internal", "lake_versions"):
        return
    with transaction(con):
        if has_table(con, "main", "_lake_versions"):   # a file from before the internal schema: moved there
            con.execute(sql_text("tables/lake_versions.sql"))
            con.execute("INSERT INTO internal.lake_versions SELECT * FROM main._lake_versions")
            con.execute("DROP TABLE main._lake_versions")
            return
        for name in TABLES:
            con.execute(ddl.create_table(name))
        con.execute(sql_text("tables/lake_versions.sql"))
        ddl.describe_tables(con)


def has_table(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                       [schema, name]).fetchone()[0] > 0


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection):
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def add_missing_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Primary keys of new tables, added after their first rows: the index is then built in one go,
    cheaper than inserting under keys. A load that fails rolls them back with its rows, so the
    next load adds them."""
    have = {name for (name,) in con.execute("SELECT table_name FROM duckdb_constraints() "
                                            "WHERE constraint_type = 'PRIMARY KEY'").fetchall()}
    for name in TABLES:
        if name not in have:
            ddl.add_primary_key(con, name)


def apply_change(con: duckdb.DuckDBPyConnection, name: str, change: Change) -> int:
    """Bring one table to its change; returns the rows read."""
    listed = ", ".join(TABLES[name].to_schema().columns)
    if change.whole and has_rows(con, name):
        recreate_table(con, name)
    if change.files is not None:
        if change.files:
            con.execute(f"INSERT INTO {name} BY NAME SELECT {listed} FROM "
                        f"read_parquet({_sql_list(change.files)}, hive_partitioning = false)")
        read = len(change.files)
    elif change.whole:
        con.register("_whole", change.rows)
        con.execute(f"INSERT INTO {name} BY NAME SELECT {listed} FROM _whole")
        con.unregister("_whole")
        read = change.rows.num_rows
    else:
        con.register("_changes", change.rows)
        apply_rows(con, name, listed)
        con.unregister("_changes")
        read = change.rows.num_rows
    con.execute("INSERT OR REPLACE INTO internal.lake_versions VALUES (?, ?, ?)", [name, change.table_id, change.version])
    checkpoint(f"load:table-synced:{name}")
    return read


def has_rows(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0] > 0   # fetched to the end: a register may follow


def recreate_table(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """An empty table for rows read whole (a new warehouse's tables are that already), its key added
    after them (add_missing_keys): deleting a big table's rows under its key and inserting them
    again makes DuckDB's checkpoint far slower."""
    con.execute(f"DROP TABLE {name}")
    con.execute(ddl.create_table(name))
    ddl.describe_table(con, name)


def apply_rows(con: duckdb.DuckDBPyConnection, name: str, listed: str) -> None:
    """The change feed's rows: an append table's inserts; a merged table's last change of each
    key, applied as a delete of the key's old row and an insert of its new one (a feed of one
    version, the usual case, holds one change a key: nothing to pick)."""
    if name not in MERGE_KEYS:
        con.execute(f"INSERT INTO {name} BY NAME SELECT {listed} FROM _changes WHERE _change_type = 'insert'")
        return
    keys = MERGE_KEYS[name]
    same_key = " AND ".join(f"o.{k} = c.{k}" for k in keys)
    last = "_changes"
    if con.execute("SELECT count(DISTINCT _commit_version) FROM _changes").fetchone()[0] > 1:
        last = "_last"
        con.execute(f"CREATE OR REPLACE TEMP TABLE _last AS SELECT * FROM _changes "
                    f"QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)} ORDER BY _commit_version DESC) = 1")
    con.execute(f"DELETE FROM {name} AS o WHERE EXISTS (SELECT 1 FROM {last} AS c WHERE {same_key})")
    con.execute(f"INSERT INTO {name} BY NAME SELECT {listed} FROM {last} WHERE _change_type <> 'delete'")
    con.execute("DROP TABLE IF EXISTS _last")


class CopyInstead(Exception):
    """The load found its file so far behind that a copy of the current file is cheaper (publish.py)."""


def sync(con: duckdb.DuckDBPyConnection, lake: storage.Location, tables: dict[str, DeltaTable],
         marts_folder: Path | None = None, copy_is_cheaper=None) -> int:
    """Make the warehouse equal the lake (`tables`, opened at their latest versions) at the versions
    the last run committed, with its views, in one transaction that commits only if the data tests
    pass; returns files and rows read. CopyInstead, before anything is read or changed, when
    copy_is_cheaper(con, the tables it would read whole) says so."""
    target = recovery.target_versions(lake, tables)
    loaded = loaded_versions(con)
    if copy_is_cheaper is not None and copy_is_cheaper(con, whole_reads_from(loaded, target, tables)):
        raise CopyInstead()
    changes = {name: table_change(lake, name, target[name], loaded.get(name), tables[name]) for name in TABLES}
    with transaction(con):
        scoped = scope_changes(con, changes)
        read = sum(apply_change(con, name, change) for name, change in changes.items() if change is not None)
        add_missing_keys(con)
        create_views(con, marts_folder)
        # a scoped load checks only what reads a table it changed
        assert_checks_pass(con, scoped, {name for name, change in changes.items() if change is not None} if scoped else None)
        checkpoint("load:before-commit")
    return read


def scope_changes(con: duckdb.DuckDBPyConnection, changes: dict[str, Change | None]) -> bool:
    """Fill `_scope_<column>` for each scoping column of warehouse/checks.py: the values of it in the
    rows this load changes, in every scoped table that has the column (so `_scope_paper_id` holds the
    papers whose rows it rewrites, and those its new listings name). False, check everything, when a
    table is read whole (a first load, a reprocessing run, a rollback)."""
    if any(change is not None and change.whole for change in changes.values()):
        return False
    for key in sorted(set(CHECKED.values())):
        names = [name for name in CHECKED if key in TABLES[name].to_schema().columns and changes[name] is not None]
        for name in names:
            con.register(f"_keys_{name}", changes[name].rows)
        parts = [f"SELECT {key} FROM _keys_{name}" for name in names] or [f"SELECT NULL::VARCHAR AS {key} WHERE false"]
        con.execute(f"CREATE OR REPLACE TEMP TABLE _scope_{key} AS SELECT DISTINCT {key} FROM ({' UNION ALL '.join(parts)})")
        for name in names:
            con.unregister(f"_keys_{name}")
    return True


def _sql_list(texts: list[str]) -> str:
    return "[" + ", ".join(sql_literal(t) for t in texts) + "]"


def open_for_load(path: Path, lake: Path) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse file at path, set up for a load, with its tables created."""
    con = connect(path, lake=lake)
    try:
        # zstd makes the checkpoint about twice as fast and the file
        # half the size of DuckDB's default choice per column (which tries every codec on each).
        con.execute("SET force_compression = 'zstd'")
        # A run's memory follows its batches; DuckDB's own default (80% of RAM) would follow the
        # size of the load instead, so it spills past this to a temporary folder beside the file.
        con.execute(f"SET memory_limit = '{PUBLISH_MEMORY_LIMIT}'")
        ensure_schema(con)
    except BaseException:
        con.close()
        raise
    return con


def load(warehouse_path: Path, lake: Path, tables: dict[str, DeltaTable] | None = None, copy_is_cheaper=None) -> int:
    """Bring the warehouse file at warehouse_path up to the lake, in place (see sync)."""
    with open_for_load(warehouse_path, lake) as con:
        read = sync(con, lake, tables or lake_mod.open_all(lake), warehouse_path.parent / MARTS, copy_is_cheaper)
        con.execute("CHECKPOINT")
    return read

"""Load the committed lake into `warehouse.duckdb`, in one transaction.

The warehouse records which lake files each table holds (`_lake_files`). A sync inserts the rows
of the files the manifest added (upserting those of a bucketed table's deltas) and reloads an
append table whose files were replaced, so after a crash at any point the next sync converges to
the lake. Which of the two warehouse files a sync writes is warehouse/files.py's business.

A lake on object storage (an fsspec URL) is read through its fsspec filesystem, registered on the
connection: DuckDB's own httpfs extension is not used, and must not be downloaded.
"""
from __future__ import annotations

from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import duckdb

from flows import storage
from flows.faults import checkpoint
from warehouse.checks import assert_checks_pass
from warehouse.views import create_views, sql_literal
from schemas.tables import TABLES
from warehouse import lake as lake_mod

SQL = resources.files("warehouse") / "sql"
# DuckDB can't evict the primary keys' indexes, which grow with the warehouse (115 MB at 20,000
# dumps, where 384 MB left too little beside a load's data for the data tests), so the limit leaves
# room for them.
PUBLISH_MEMORY_LIMIT = "768MB"


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
    if con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = '_lake_files'").fetchone()[0]:
        return
    with transaction(con):
        for name in [*TABLES, "_lake_files"]:
            con.execute(sql_text(f"tables/{name}.sql"))
        describe_tables(con)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection):
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def describe_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Table and column comments from the pandera models, so BI tools show them."""
    for name, model in TABLES.items():
        con.execute(f"COMMENT ON TABLE {name} IS {sql_literal(' '.join((model.__doc__ or '').split()))}")
        for column, spec in model.to_schema().columns.items():
            con.execute(f"COMMENT ON COLUMN {name}.{column} IS {sql_literal(spec.description or '')}")


LAKE_ROW = "_lake"   # the `_lake_files` row whose `file` is the lake_id the warehouse was loaded from


def loaded_files(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = con.execute("SELECT table_name, file FROM _lake_files WHERE table_name <> ?", [LAKE_ROW]).fetchall()
    loaded: dict[str, set[str]] = {name: set() for name in TABLES}
    for name, file in rows:
        loaded[name].add(file)
    return loaded


def from_another_lake(con: duckdb.DuckDBPyConnection, manifest: dict) -> bool:
    """Was this warehouse file loaded from another lineage of the lake (before a rebuild from raw/)?
    Its files' rows would then not be superseded by the new lake's, so it is loaded again whole."""
    recorded = con.execute("SELECT file FROM _lake_files WHERE table_name = ?", [LAKE_ROW]).fetchall()
    return bool(recorded) and recorded[0][0] != manifest.get("lake_id")


def start_over(con: duckdb.DuckDBPyConnection) -> None:
    for name in TABLES:
        con.execute(f"DELETE FROM {name}")
    con.execute("DELETE FROM _lake_files")


def record_lake(con: duckdb.DuckDBPyConnection, manifest: dict) -> None:
    if "lake_id" in manifest:
        con.execute("DELETE FROM _lake_files WHERE table_name = ?", [LAKE_ROW])
        con.execute("INSERT INTO _lake_files VALUES (?, ?)", [LAKE_ROW, manifest["lake_id"]])


# A row of a table the lake rewrites whole each run is unchanged when its key and these columns
# are: they name the observation the rest of the row was taken from.
VERSION_COLUMNS = {
    "papers": ["first_seen_at", "last_seen_at", "last_seen_dump_id"],
    "authors": ["name", "first_seen_at", "last_seen_at"],
    "paper_authors": ["author_id"],
    "profiles": ["snapshots", "first_captured_at", "latest_dump_id", "owner_name"],
    "runs": ["status", "finished_at"],
}


def primary_key(model) -> list[str]:
    """A table's key (SPEC §4) as its model declares it: `Config.unique`, else its unique column."""
    schema = model.to_schema()
    return list(schema.unique or []) or [name for name, column in schema.columns.items() if column.unique]


def add_missing_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Primary keys of new tables, added after their first rows: the index is then built in one go,
    cheaper than inserting under keys. A load that fails rolls them back with its rows, so the
    next load adds them."""
    have = {name for (name,) in con.execute("SELECT table_name FROM duckdb_constraints() "
                                            "WHERE constraint_type = 'PRIMARY KEY'").fetchall()}
    for name, model in TABLES.items():
        if name not in have and (keys := primary_key(model)):
            con.execute(f"ALTER TABLE {name} ADD PRIMARY KEY ({', '.join(keys)})")


def key_columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    [(columns,)] = con.execute("SELECT constraint_column_names FROM duckdb_constraints() "
                               "WHERE table_name = ? AND constraint_type = 'PRIMARY KEY'", [name]).fetchall()
    return columns


def rows_of(name: str, paths: list[str]) -> str:
    """A SELECT of a table's rows in the files at `paths` (commit order). In a bucketed table a key's
    rows come from the last of them that holds the key (a bucket's deltas follow its base)."""
    listed = _sql_list(paths)
    if name not in lake_mod.BUCKET_KEYS or not any(lake_mod.is_delta(p) for p in paths):
        return f"SELECT * FROM read_parquet({listed})"
    # compared without the URL scheme: DuckDB names a file read through fsspec `s3://` however the
    # lake spells it (`s3a://`)
    unschemed = _sql_list([lake_mod.without_scheme(p) for p in paths])
    order = f"list_position({unschemed}, regexp_replace(filename, '^[A-Za-z0-9+.-]+://', ''))"
    return (f"SELECT * EXCLUDE (filename) FROM read_parquet({listed}, filename = true) "
            f"QUALIFY {order} = max({order}) OVER (PARTITION BY {lake_mod.BUCKET_KEYS[name]})")


def upsert_version(con: duckdb.DuckDBPyConnection, name: str, paths: list[str]) -> None:
    """Apply new versions of some of a table's rows (a bucket's new base or delta, a small table's
    new file), touching only the rows that changed, so the cost follows what the run changed. Keys
    never leave these tables; a paper's author positions can, so rows of a key prefix the new files
    hold whole but that they no longer list are deleted."""
    keys, versions = key_columns(con, name), VERSION_COLUMNS[name]
    same_key = " AND ".join(f"o.{k} = n.{k}" for k in keys)
    same_row = " AND ".join([same_key] + [f"o.{v} IS NOT DISTINCT FROM n.{v}" for v in versions])
    rows = rows_of(name, paths)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _new AS SELECT {', '.join(keys + versions)} FROM ({rows})")
    if len(keys) > 1:
        con.execute(f"DELETE FROM {name} AS o WHERE o.{keys[0]} IN (SELECT {keys[0]} FROM _new) "
                    f"AND NOT EXISTS (SELECT 1 FROM _new AS n WHERE {same_key})")
    # The table is cut down to the new keys' rows first (a semi-join, built on the small side), so
    # the comparison doesn't hash the whole table.
    current = (f"SELECT {', '.join(f't.{c}' for c in keys + versions)} FROM {name} AS t "
               f"SEMI JOIN _new AS k ON t.{keys[0]} = k.{keys[0]}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _changed AS SELECT {', '.join(keys)} FROM _new AS n "
                f"WHERE NOT EXISTS (SELECT 1 FROM ({current}) AS o WHERE {same_row})")
    # Delete and insert, not INSERT OR REPLACE: DuckDB applies that as in-place updates, and a
    # checkpoint then rewrites every row group they touched, so a small run's cost would follow
    # the table's size.
    con.execute(f"DELETE FROM {name} AS o WHERE EXISTS (SELECT 1 FROM _changed AS n WHERE {same_key})")
    con.execute(f"INSERT INTO {name} BY NAME SELECT n.* FROM ({rows}) AS n "
                f"SEMI JOIN _changed AS c ON ({' AND '.join(f'c.{k} = n.{k}' for k in keys)})")
    con.execute("DROP TABLE _new; DROP TABLE _changed")


def record_files(con: duckdb.DuckDBPyConnection, name: str, gone: set[str], new: list[str]) -> None:
    if gone:
        con.executemany("DELETE FROM _lake_files WHERE table_name = ? AND file = ?", [[name, rel] for rel in gone])
    if new:
        con.executemany("INSERT INTO _lake_files VALUES (?, ?)", [[name, rel] for rel in new])


def sync_table(con: duckdb.DuckDBPyConnection, lake: Path, name: str, wanted: list[str], have: set[str]) -> int:
    """Bring one table to the manifest's files; returns the number of files read. A table the lake
    rewrites in parts gets the rows of its new files upserted; an append table gets its new files
    inserted (or is reloaded whole when files went away: a reprocessing run rewrote it)."""
    new = [rel for rel in wanted if rel not in have]
    if have and name in VERSION_COLUMNS:
        if new:
            upsert_version(con, name, [str(lake / r) for r in new])
        record_files(con, name, have - set(wanted), new)
        checkpoint(f"load:table-synced:{name}")
        return len(new)
    gone = have - set(wanted)
    if gone:
        con.execute(f"DELETE FROM {name}")
        gone, new = have, wanted
    if new:
        con.execute(f"INSERT INTO {name} BY NAME {rows_of(name, [str(lake / r) for r in new])}")
    record_files(con, name, gone, new)
    checkpoint(f"load:table-synced:{name}")
    return len(new)


def sync(con: duckdb.DuckDBPyConnection, lake: Path) -> int:
    """Make the warehouse equal the committed lake, with its views, in one transaction that commits
    only if the data tests pass; returns the number of files read."""
    manifest = lake_mod.read_manifest(lake)
    other_lake = from_another_lake(con, manifest)
    have = {name: set() for name in TABLES} if other_lake else loaded_files(con)
    scoped = scope_changes(con, lake, manifest, have)
    with transaction(con):
        if other_lake:
            start_over(con)
        return bring_to(con, lake, manifest, have, scoped)


def bring_to(con: duckdb.DuckDBPyConnection, lake: Path, manifest: dict, have: dict[str, set[str]],
             scoped: bool) -> int:
    """Within a sync's transaction: every table to the manifest's files, then keys, views and the
    data tests."""
    record_lake(con, manifest)
    read = sum(sync_table(con, lake, name, manifest["tables"].get(name, []), have[name]) for name in TABLES)
    add_missing_keys(con)
    create_views(con)
    assert_checks_pass(con, scoped)
    checkpoint("load:before-commit")
    return read


def scope_changes(con: duckdb.DuckDBPyConnection, lake: Path, manifest: dict, have: dict[str, set[str]]) -> bool:
    """Fill `_scope_dump_id` (the dumps whose rows this load adds) and `_scope_paper_id` (the papers
    whose rows it rewrites, and those its new listings name) for warehouse/checks.py. False, check
    everything, when the warehouse was empty or a table is reloaded whole (a reprocessing run)."""
    wanted = {name: manifest["tables"].get(name, []) for name in TABLES}
    if not have["dumps"] or any(have[name] - set(wanted[name]) for name in lake_mod.APPEND_TABLES):
        return False
    new = {name: [str(lake / rel) for rel in rels] for name, rels in lacking(manifest, have).items()}
    dumps = " UNION ".join(_keys_in(new[name], "dump_id") for name in lake_mod.APPEND_TABLES)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _scope_dump_id AS {dumps}")
    papers = " UNION ".join(_keys_in(new[name], "paper_id") for name in ("papers", "paper_authors", "listings"))
    con.execute(f"CREATE OR REPLACE TEMP TABLE _scope_paper_id AS {papers}")
    return True


def lacking(manifest: dict, have: dict[str, set[str]]) -> dict[str, list[str]]:
    """Each table's manifest files a warehouse file doesn't hold yet, in manifest order."""
    return {name: [rel for rel in manifest["tables"].get(name, []) if rel not in have[name]] for name in TABLES}


def _keys_in(files: list[str], key: str) -> str:
    if not files:
        return f"SELECT NULL::VARCHAR AS {key} WHERE false"
    return f"SELECT DISTINCT {key} FROM read_parquet({_sql_list(files)})"


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


def load(warehouse_path: Path, lake: Path) -> int:
    """Bring the warehouse file at warehouse_path up to the lake, in place."""
    with open_for_load(warehouse_path, lake) as con:
        read = sync(con, lake)
        con.execute("CHECKPOINT")
    return read

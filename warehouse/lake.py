"""The lake: one Delta Lake table per warehouse table at `<lake>/<table>/` (SPEC §8), written with
deltalake (delta-rs), so that any Delta reader (polars, Spark, Trino, DuckDB) reads it.

A run changes each table in one commit tagged with a Delta app transaction (app id `profile-etl`,
version the run's sequence number), and commits last a row to `runs` recording every table's
version: that row is the run's commit point. A table tagged with a newer run than `runs` holds a
run that died between two commits; `recovery.recover` restores it before anything reads the lake, and
loads read the versions the last runs row records. A commit whose table already carries the run's
tag is skipped, so a retried task writes nothing twice. docs/lake.md says why.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from deltalake import CommitProperties, DeltaTable, Field, QueryBuilder, Schema, Transaction, write_deltalake

from schemas.tables import MERGE_KEYS, REGISTRY, TABLES, empty_frame, polars_schema
from store import storage
from store.advice import command
from store.errors import UserError
from store.faults import checkpoint
from warehouse import lake_files, retention
from warehouse.opened import open_table, table_uri
from warehouse.partitions import (BUCKET, PARTITIONED, STATS_COLUMNS, bucket_chars, bucket_description,
                                  bucket_lengths, buckets_of, stats_columns, with_bucket)

# Frames go to delta-rs as they are (Arrow's PyCapsule interface): a run then never imports pyarrow,
# and polars' strings pass without the copy `to_arrow()` makes.
if TYPE_CHECKING:
    import pyarrow as pa

APP_ID = "profile-etl"
# A checkpoint every 10 commits: opening a table replays the log since the last one, and every
# run opens each table.
CONFIGURATION = {"delta.enableChangeDataFeed": "true", "delta.checkpointInterval": "10",
                 **retention.setting(retention.DEFAULT_DAYS)}
OLD_MANIFEST = "_manifest.json"


def configuration(name: str) -> dict[str, str]:
    return CONFIGURATION | ({STATS_COLUMNS: stats_columns(name)} if name in PARTITIONED else {})


def open_all(lake: storage.Location) -> dict[str, DeltaTable]:
    """Every table at its latest version, opened once for a stage that reads several."""
    return open_side_by_side(lake, list(TABLES))


def columns(name: str) -> list[str]:
    return list(polars_schema(TABLES[name]))


def check_layout(lake: storage.Location, home: Path | None = None) -> None:
    """Refuse a lake of the manifest format that came before Delta tables."""
    if storage.exists(lake / OLD_MANIFEST):
        raise UserError(f"the lake at {lake} is in the format of profile-etl before Delta Lake tables: run "
                        f"{command(lake, 'rebuild --from-raw', home)} once to make it again from raw/ (the source "
                        "of truth)")


def ensure_tables(lake: storage.Location, guard: Callable | None = None, home: Path | None = None) -> dict[str, DeltaTable]:
    """Every table, created empty if it isn't there yet; guard(missing, present), called first, may
    refuse by raising (a home that shows earlier data, or a lake behind its warehouse). home: the
    home a refusal's command names."""
    check_layout(lake, home)
    storage.makedirs(lake)
    tables = open_side_by_side(lake, list(TABLES))
    refuse_other_columns(lake, tables, home)
    missing = [name for name, table in tables.items() if table is None]
    if guard is not None:
        guard(missing, {name: table for name, table in tables.items() if table is not None})
    kept = retention.held(tables.values())   # a table made beside others keeps the retention `maintain` set
    for name, table in tables.items():
        if table is None:
            table = DeltaTable.create(table_uri(lake, name), delta_schema(name), mode="ignore",
                                      partition_by=[BUCKET] if name in PARTITIONED else None, name=name,
                                      description=REGISTRY[name].description,
                                      configuration=configuration(name) | ({retention.KEY: kept} if kept else {}),
                                      storage_options=storage.object_store_options(lake))
        tables[name] = table
    return tables


def delta_schema(name: str) -> Schema:
    """The table's Delta schema from its model: each column's description as its comment (what Spark's
    and Trino's DESCRIBE show), and NOT NULL where the model allows no null, which delta-rs enforces."""
    columns = TABLES[name].to_schema().columns
    fields = Schema.from_arrow(with_bucket(name, empty_frame(TABLES[name])).schema).fields
    return Schema([Field(f.name, f.type, nullable=f.name in columns and columns[f.name].nullable,
                         metadata={"comment": columns[f.name].description if f.name in columns else bucket_description(name)})
                   for f in fields])


def open_side_by_side(lake: storage.Location, names: list[str]) -> dict[str, DeltaTable | None]:
    """The tables opened in threads: delta-rs reads a log without holding the GIL, and a big home's
    logs take about twice as long one after another."""
    with ThreadPoolExecutor(4) as pool:
        return dict(zip(names, pool.map(lambda name: open_table(lake, name), names)))


def table_columns(table: DeltaTable) -> list[str]:
    return [field.name for field in table.schema().fields if field.name != BUCKET]


def column_drift(name: str, table: DeltaTable) -> str | None:
    """How a table's columns differ from its model's (None: they don't)."""
    have, want = table_columns(table), columns(name)
    missing, extra = [c for c in want if c not in have], [c for c in have if c not in want]
    parts = ([f"lacks {', '.join(missing)}"] if missing else []) + ([f"has {', '.join(extra)} too"] if extra else [])
    return f"{name} {' and '.join(parts)}" if parts else None


def other_columns(lake: storage.Location, tables: dict[str, DeltaTable | None]) -> str | None:
    """What a lake written before the tables' models changed (a column added, say) holds otherwise."""
    drift = [found for name, table in tables.items() if table is not None and (found := column_drift(name, table))]
    return f"the lake at {lake} holds other columns than this version of profile-etl's tables ({'; '.join(drift)})" \
        if drift else None


def refuse_other_columns(lake: storage.Location, tables: dict[str, DeltaTable | None], home: Path | None = None) -> None:
    """Such a lake is refused with its repair."""
    if found := other_columns(lake, tables):
        raise UserError(f"{found}: run {command(lake, 'rebuild --from-raw', home)} once to write the lake and the "
                        "warehouse again from raw/ with them")


def to_frame(name: str, data: pa.Table) -> pl.DataFrame:
    """A table's rows in its model's schema; a column the rows lack (an older table's) is null."""
    schema = polars_schema(TABLES[name])
    frame = pl.from_arrow(data) if data.num_rows else pl.DataFrame(schema={c: schema[c] for c in data.column_names})
    return frame.select([pl.col(c) if c in frame.columns else pl.lit(None).alias(c) for c in schema]).cast(schema)


def read_table(lake: storage.Location, name: str, version: int | None = None) -> pl.DataFrame:
    table = open_table(lake, name, version)
    if table is None:
        return empty_frame(TABLES[name])
    held = table_columns(table)
    return to_frame(name, table.to_pyarrow_table(columns=[c for c in columns(name) if c in held]))


def read_before_run(lake: storage.Location, name: str, seq: int) -> pl.DataFrame:
    """A table's rows before run seq's commit to it (which a retried task's first try may have made:
    a run commits once to a table it doesn't merge in parts)."""
    table = open_table(lake, name)
    return read_table(lake, name, table.version() - 1 if table is not None and run_of(table) >= seq else None)


def read_keys(lake: storage.Location, name: str, keys: pl.Series, version: int | None = None) -> pl.DataFrame:
    """The current rows of `keys` (values of the table's first key column; at `version`: as it
    was then): only the partitions that hold them are read."""
    table = open_table(lake, name, version)
    if table is None or keys.is_empty():
        return empty_frame(TABLES[name])
    held = pl.col(BUCKET).is_in(buckets_of(keys, bucket_lengths(table)).implode()) if name in PARTITIONED else None
    if (rows := lake_files.scan(table, held)) is None:
        return empty_frame(TABLES[name])
    wanted = pl.col(MERGE_KEYS[name][0]).is_in(keys.unique().implode())
    return collect_rows(name, rows.filter(wanted).select(columns(name))).cast(polars_schema(TABLES[name]))


def collect_rows(name: str, rows: pl.LazyFrame) -> pl.DataFrame:
    """A scan of a lake table, collected; polars' reader panics on a damaged file (a BaseException
    that a run's failure handling would miss), so that becomes an error that names the table."""
    try:
        return rows.collect(engine="streaming")   # filtered as it streams, whatever schemas/ makes the default
    except pl.exceptions.PanicException as exc:
        raise RuntimeError(f"lake table {name} can't be read: {(str(exc).splitlines() or ['a panic'])[0]}") from None


def known_dump_ids(lake: storage.Location, version: int | None = None) -> set[str]:
    """The dump ids of the dumps table (at `version`: the latest)."""
    table = open_table(lake, "dumps", version)
    if table is None:
        return set()
    # DataFusion's reader: a damaged file raises an error the run can report (polars' reader panics)
    ids = QueryBuilder().register("dumps", table).execute("SELECT dump_id FROM dumps")
    return set(pl.DataFrame(ids)["dump_id"].to_list())


def tagged(seq: int, by: str, part: str | None = None) -> CommitProperties:
    """A run's commit: tagged with its sequence number (a part of a merge with its own id too), and with
    what made it, a run id, in the commit's `userMetadata`, which every Delta reader's history shows."""
    return CommitProperties(custom_metadata={"userMetadata": by},
                            app_transactions=[Transaction(app, seq) for app in (APP_ID, part) if app])


def noted(by: str) -> CommitProperties:
    """A commit outside a run's sequence (marking a run failed, undoing a dead one), saying what made it."""
    return CommitProperties(custom_metadata={"userMetadata": by})


def run_of(table: DeltaTable) -> int:
    """The sequence number of the last run that committed to the table (0: none)."""
    return table.transaction_version(APP_ID) or 0


def append(lake: storage.Location, name: str, frame: pl.DataFrame, seq: int, by: str) -> None:
    table = open_table(lake, name)
    if run_of(table) < seq and frame.height:
        write_deltalake(table, with_bucket(name, frame, bucket_chars(table)), mode="append",
                        commit_properties=tagged(seq, by))
    checkpoint(f"lake:committed:{name}")


def overwrite(lake: storage.Location, name: str, frame: pl.DataFrame, seq: int, by: str) -> None:
    """The table's rows replaced by frame's, as a commit of the run (or rebuild) seq."""
    table = open_table(lake, name)
    if run_of(table) < seq:
        write_deltalake(table, with_bucket(name, frame, bucket_chars(table)), mode="overwrite",
                        commit_properties=tagged(seq, by))
    checkpoint(f"lake:committed:{name}")


def replace_dumps(lake: storage.Location, name: str, frame: pl.DataFrame, dump_ids: Iterable[str], seq: int,
                  by: str) -> None:
    """Rows of the given dumps give way to `frame` (whose rows are all of those dumps), in one commit."""
    table = open_table(lake, name)
    if run_of(table) < seq:
        listed = ", ".join(_literal(i) for i in sorted(set(dump_ids)))
        write_deltalake(table, with_bucket(name, frame, bucket_chars(table)), mode="overwrite",
                        predicate=f"dump_id IN ({listed})", commit_properties=tagged(seq, by))
    checkpoint(f"lake:committed:{name}")


def upsert(lake: storage.Location, name: str, rows: pl.DataFrame, seq: int, by: str, gone: pl.DataFrame | None = None,
           new_keys_only: bool = False, part: str | None = None) -> bool:
    """Merge rows into the table on its key, and delete the rows of `gone` (keys not among the rows'); rows
    whose keys the table doesn't hold yet (`new_keys_only`) are appended, which costs no scan. A `part`
    of a run's merge (an app id) commits once, as the run does without one: True when it had (a retry)."""
    table = open_table(lake, name)
    gone = gone if gone is not None and gone.height else None
    done = (table.transaction_version(part) or 0) if part else run_of(table)
    if done >= seq or (rows.is_empty() and gone is None):
        checkpoint(f"lake:committed:{name}")
        return done >= seq
    if new_keys_only and gone is None:
        write_deltalake(table, with_bucket(name, rows, bucket_chars(table)), mode="append",
                        commit_properties=tagged(seq, by, part))
    else:
        _merge(table, name, rows, gone, tagged(seq, by, part))
    checkpoint(f"lake:committed:{name}")
    return False


def _merge(table: DeltaTable, name: str, rows: pl.DataFrame, gone: pl.DataFrame | None, tags: CommitProperties) -> None:
    keys, lengths = MERGE_KEYS[name], bucket_lengths(table)
    chars = max(lengths)
    source = with_bucket(name, rows, chars).with_columns(_gone=pl.lit(False))
    if gone is not None:
        dead = with_bucket(name, gone.select(keys).with_columns(
            [pl.lit(None, dtype).alias(c) for c, dtype in polars_schema(TABLES[name]).items() if c not in keys]), chars)
        source = pl.concat([source, dead.with_columns(_gone=pl.lit(True))])
    predicate = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    if name in PARTITIONED:  # named, so that only the touched partitions are scanned
        touched = sorted(buckets_of(source[PARTITIONED[name]], lengths).to_list())
        predicate += f" AND t.{BUCKET} IN ({', '.join(_literal(b) for b in touched)})"
    values = {c: f"s.{c}" for c in with_bucket(name, rows, chars).columns}
    (table.merge(source, predicate, source_alias="s", target_alias="t", commit_properties=tags)
     .when_matched_delete(predicate="s._gone")
     .when_matched_update(values)
     .when_not_matched_insert(values, predicate="NOT s._gone")
     .execute())


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def versions(lake: storage.Location) -> dict[str, int]:
    return {name: open_table(lake, name).version() for name in TABLES}


def commit_run(lake: storage.Location, row: dict, seq: int) -> dict[str, int]:
    """The run's commit point: its runs row, recording the version each table reached."""
    reached = {name: version for name, version in versions(lake).items() if name != "runs"}
    frame = pl.DataFrame([row | {"lake_versions": json.dumps(reached, sort_keys=True)}],
                         schema=polars_schema(TABLES["runs"]))
    append(lake, "runs", frame, seq, row["run_id"])
    return reached


def mark_failed(lake: storage.Location, run_id: str) -> None:
    """A run that failed after its commit point: its data stays (the next run publishes it), its
    runs row says it failed."""
    open_table(lake, "runs").update(predicate=f"run_id = {_literal(run_id)}", updates={"status": "'failed'"},
                                    commit_properties=noted(run_id))

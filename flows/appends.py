"""A run's rows of the append tables, committed to the lake: appended, or in a reprocessing run
put in place of the rows of the dumps read again."""
from __future__ import annotations

from pathlib import Path

import polars as pl

from schemas.tables import APPEND_TABLES, REPROCESSED_TABLES, TABLES, empty_frame
from store.scratch import read_scratch
from warehouse import lake


def commit_appends(lake_dir: Path, seq: int, scratch: dict[str, list[Path]], retried: set[str]) -> dict[str, int]:
    """The batches' rows of each append table, appended in one commit per table. In a reprocessing
    run, the retried dumps' rows of dumps and rejects give way to those of their new reading (same
    dump_id, or the same source under a new one: a refused .gz). Returns the rows each table lost."""
    rows = {name: read_scratch(scratch[name]) if scratch.get(name) else empty_frame(TABLES[name])
            for name in APPEND_TABLES}
    gone = replaced_dumps(lake.read_before_run(lake_dir, "dumps", seq), rows["dumps"], retried) if retried else set()
    lost = {}
    for name in APPEND_TABLES:
        if gone and name in REPROCESSED_TABLES:
            lost[name] = lake.read_before_run(lake_dir, name, seq).filter(pl.col("dump_id").is_in(list(gone))).height
            lake.replace_dumps(lake_dir, name, rows[name], gone | set(rows[name]["dump_id"]), seq)
        else:
            lake.append(lake_dir, name, rows[name], seq)
    return lost


def replaced_dumps(current: pl.DataFrame, fresh: pl.DataFrame, retried: set[str]) -> set[str]:
    """The retried dumps whose rows give way: read again under the same dump_id, or their source
    read under a new one."""
    replaced = current.filter(pl.col("dump_id").is_in(list(retried)) & (
        pl.col("dump_id").is_in(fresh["dump_id"].implode()) | pl.col("source_path").is_in(fresh["source_path"].implode())))
    return set(replaced["dump_id"])

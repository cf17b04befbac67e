"""A run's rows of the append tables, committed to the lake: appended, or in a reprocessing run
put in place of the rows of the dumps read again."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from schemas.tables import APPEND_TABLES, REPROCESSED_TABLES, TABLES, empty_frame
from store.scratch import read_scratch
from warehouse import lake

RUN_STAMPS = ("run_id", "ingested_at", "source_path")   # what a new reading of a dump changes in its row anyway


@dataclass
class Committed:
    added: dict[str, int]                            # rows each append table gained (net of rows replaced)
    unchanged: set[str] = field(default_factory=set)  # retried dumps read as before: their rows stay as they were


def commit_appends(lake_dir: Path, seq: int, run_id: str, scratch: dict[str, list[Path]], retried: set[str],
                   read_as_other: set[str] = frozenset()) -> Committed:
    """The batches' rows of each append table, appended in one commit per table. In a reprocessing
    run, the retried dumps' rows of dumps and rejects give way to those of their new reading (same
    dump_id, or the same source under a new one: a refused .gz), unless that reading is the old one
    again: quarantined as before, by the same parser, the rows keep their first run and time. Those
    read_as_other (a refused .gz whose text, read now, is a dump loaded already, or read first in
    this run under another name) give way to that dump's rows: the same bytes are one dump."""
    rows = {name: read_scratch(scratch[name]) if scratch.get(name) else empty_frame(TABLES[name])
            for name in APPEND_TABLES}
    current = lake.read_before_run(lake_dir, "dumps", seq) if retried else empty_frame(TABLES["dumps"])
    unchanged = read_as_before(current, rows["dumps"], retried)
    rows = {name: frame.filter(~pl.col("dump_id").is_in(list(unchanged))) if name in REPROCESSED_TABLES else frame
            for name, frame in rows.items()}
    gone = (replaced_dumps(current, rows["dumps"], retried - unchanged) | (set(read_as_other) & set(current["dump_id"]))
            if retried else set())
    added = {name: frame.height for name, frame in rows.items()}
    for name in APPEND_TABLES:
        if gone and name in REPROCESSED_TABLES:
            added[name] -= lake.read_before_run(lake_dir, name, seq).filter(pl.col("dump_id").is_in(list(gone))).height
            lake.replace_dumps(lake_dir, name, rows[name], gone | set(rows[name]["dump_id"]), seq, run_id)
        else:
            lake.append(lake_dir, name, rows[name], seq, run_id)
    return Committed(added, unchanged)


def read_as_before(current: pl.DataFrame, fresh: pl.DataFrame, retried: set[str]) -> set[str]:
    """The retried dumps whose new reading is quarantined with the row they have, but for the run's stamps."""
    compared = [column for column in fresh.columns if column in current.columns and column not in RUN_STAMPS]
    again = fresh.filter(pl.col("status") == "quarantined", pl.col("dump_id").is_in(list(retried)))
    return set(again.join(current, on=compared, how="semi", nulls_equal=True)["dump_id"])


def replaced_dumps(current: pl.DataFrame, fresh: pl.DataFrame, retried: set[str]) -> set[str]:
    """The retried dumps whose rows give way: read again under the same dump_id, or their source
    read under a new one."""
    replaced = current.filter(pl.col("dump_id").is_in(list(retried)) & (
        pl.col("dump_id").is_in(fresh["dump_id"].implode()) | pl.col("source_path").is_in(fresh["source_path"].implode())))
    return set(replaced["dump_id"])

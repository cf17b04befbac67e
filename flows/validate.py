"""Raw records to validated DataFrames: pandera at the edge, failing entries become rejects."""
from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from flows.extract import Batch
from schemas.raw import RawDump, RawEntry
from schemas.tables import polars_schema

PROBLEM_SCHEMA = pl.Schema({"dump_id": pl.String, "entry_index": pl.Int64, "line_no": pl.Int64,
                            "reason": pl.String, "raw_text": pl.String})


@dataclass
class RawFrames:
    dumps: pl.DataFrame
    entries: pl.DataFrame
    problems: pl.DataFrame


def to_frames(batches: list[Batch]) -> RawFrames:
    """Concatenate batches, keeping the first of any dump read twice in one run."""
    def frame(rows: list[dict], schema: pl.Schema) -> pl.DataFrame:
        return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    dumps = frame([r for b in batches for r in b.dumps], polars_schema(RawDump)).unique("dump_id", keep="first", maintain_order=True)
    entries = frame([r for b in batches for r in b.entries], polars_schema(RawEntry))
    problems = frame([r for b in batches for r in b.problems], PROBLEM_SCHEMA)
    return RawFrames(dumps, entries.unique(["dump_id", "entry_index"], keep="first", maintain_order=True),
                     problems.unique(maintain_order=True))


def validate_dumps(dumps: pl.DataFrame) -> pl.DataFrame:
    """Dump rows come from our own code: a failure here is a bug, so it raises."""
    return RawDump.validate(dumps, lazy=True)


def validate_entries(entries: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid entries, rejects): every failing row becomes one reject with all its reasons."""
    try:
        return RawEntry.validate(entries, lazy=True), pl.DataFrame(schema=PROBLEM_SCHEMA)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    if cases["index"].null_count():
        raise pa.errors.SchemaError(RawEntry.to_schema(), entries, f"entries frame is malformed:\n{cases}")
    reasons = (cases.group_by("index").agg(pl.col("check").unique(maintain_order=True).str.join("; ").alias("reason"))
               .rename({"index": "row"}).with_columns(pl.col("row").cast(pl.UInt32)))
    indexed = entries.with_row_index("row")
    failed = indexed.join(reasons, on="row", how="inner").sort("row")
    rejects = failed.select("dump_id", "entry_index", "line_no", "reason", "raw_text")
    return indexed.join(reasons, on="row", how="anti").drop("row"), rejects

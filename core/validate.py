"""Raw records to validated DataFrames: pandera at the edge, failing entries become rejects."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandera.polars as pa
import polars as pl

from core.normalise import all_identifiable, identifiable
from core.records import Batch, parse_texts
from schemas.raw import RawDump, RawEntry
from schemas.tables import polars_schema

PROBLEM_SCHEMA = pl.Schema({"dump_id": pl.String, "entry_index": pl.Int64, "line_no": pl.Int64,
                            "reason": pl.String, "raw_text": pl.String})


FILE_SCHEMA = pl.Schema({"path": pl.String, "size": pl.Int64, "mtime_ns": pl.Int64, "dump_id": pl.String})


@dataclass
class RawFrames:
    """Raw records of one or more batches as DataFrames (opaque to Prefect, cheap to pass)."""
    dumps: pl.DataFrame
    entries: pl.DataFrame
    problems: pl.DataFrame
    files: pl.DataFrame
    unread: list[str] = field(default_factory=list)   # "path: why" of files to try again next run
    unread_keys: list[tuple] = field(default_factory=list)  # (sidecar, its keys nothing reads)


def _frame(rows: list[dict], schema: pl.Schema) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)


def to_frames(batch: Batch) -> RawFrames:
    """The batch's records as frames, its texts parsed first."""
    parse_texts(batch)
    entries = pl.concat(batch.entries) if batch.entries else pl.DataFrame(schema=polars_schema(RawEntry))
    problems = pl.concat([_frame(batch.problems, PROBLEM_SCHEMA), *batch.header_problems])
    return RawFrames(_frame(batch.dumps, polars_schema(RawDump)), entries, problems,
                     _frame(batch.files, FILE_SCHEMA), batch.unread, batch.unread_keys)


def combine(parts: list[RawFrames]) -> RawFrames:
    """Concatenate batches. A dump read twice in one run (the same bytes under two names) keeps
    the records of its first reading only, so its row and its entries agree."""
    seen: set[str] = set()
    kept = []
    for part in parts:
        first = part.dumps.filter(~pl.col("dump_id").is_in(list(seen)))
        ids = first["dump_id"].unique().implode()
        kept.append(RawFrames(first.unique("dump_id", keep="first", maintain_order=True),
                              part.entries.filter(pl.col("dump_id").is_in(ids)),
                              part.problems.filter(pl.col("dump_id").is_in(ids)), part.files, part.unread,
                              part.unread_keys))
        seen.update(first["dump_id"])
    def concat(name: str) -> pl.DataFrame:
        return pl.concat([getattr(p, name) for p in kept])
    return RawFrames(concat("dumps"), concat("entries").unique(["dump_id", "entry_index"], keep="first",
                                                              maintain_order=True),
                     concat("problems").unique(maintain_order=True), concat("files"),
                     [why for part in kept for why in part.unread], [keys for part in kept for keys in part.unread_keys])


def validate_dumps(dumps: pl.DataFrame) -> pl.DataFrame:
    """Dump rows come from our own code: a failure here is a bug, so it raises."""
    return RawDump.validate(dumps, lazy=True)


def validate_entries(entries: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid entries, rejects): every failing row becomes one reject with all its reasons."""
    try:
        entries, cases = RawEntry.validate(entries, lazy=True), pl.DataFrame(schema=CASE_SCHEMA)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        if cases["index"].null_count():
            raise pa.errors.SchemaError(RawEntry.to_schema(), entries, f"entries frame is malformed:\n{cases}")
    cases = pl.concat([cases.select(pl.col("index").cast(pl.UInt32), "check"), unidentifiable(entries)])
    reasons = (cases.group_by("index").agg(pl.col("check").unique(maintain_order=True).str.join("; ").alias("reason"))
               .rename({"index": "row"}))
    indexed = entries.with_row_index("row")
    failed = indexed.join(reasons, on="row", how="inner").sort("row")
    rejects = failed.select("dump_id", "entry_index", "line_no", "reason", "raw_text")
    return indexed.join(reasons, on="row", how="anti").drop("row"), rejects


CASE_SCHEMA = pl.Schema({"index": pl.UInt32, "check": pl.String})
# paper_id and author_id hash the normalised text (core.identity): a title or author name that
# normalises to nothing would share the empty text's id with every other such one
UNIDENTIFIABLE = {
    "title": "title has no letter or digit (once Unicode-normalised), so it can't identify a paper (paper_id is a "
             "hash of the title's letters and digits)",
    "authors": "an author name has no letter or digit (once Unicode-normalised), so it can't identify an author "
               "(author_id is a hash of the name's letters and digits)",
}


def unidentifiable(entries: pl.DataFrame) -> pl.DataFrame:
    """(index, check) of each entry whose title, or one of whose author names, normalises to nothing.
    Such a name is a reject, as such a title is: dropped, it would be lost and shift the others' positions."""
    title = entries["title"].fill_null("")
    bad = pl.DataFrame({"title": (title.str.strip_chars() != "") & ~identifiable(title),
                        "authors": ~all_identifiable(entries["authors"])}).with_row_index("index")
    return (bad.unpivot(index="index", variable_name="column").filter("value")
            .select("index", check=pl.col("column").replace_strict(UNIDENTIFIABLE, return_dtype=pl.String)))

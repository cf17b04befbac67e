"""Table layer: one model per warehouse table of SPEC §4, typed, with value checks, and the registry
(`REGISTRY`) of what each table is. The DuckDB DDL, keys and comments, the data dictionary and the
lake writer derive from these."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from schemas.types import UtcDatetime

SHA256 = r"^[0-9a-f]{64}$"
SHORT_ID = r"^[0-9a-f]{16}$"
DUMP_STATUSES = ["loaded", "partial", "quarantined"]
RUN_STATUSES = ["completed", "failed"]


class Dumps(pa.DataFrameModel):
    """One row per distinct dump ever seen, whatever became of it."""
    dump_id: str = pa.Field(unique=True, str_matches=SHA256, description="SHA-256 hex of the dump's raw bytes (after gunzip)")
    profile_key: str = pa.Field(description="Profile the dump is a snapshot of (sidecar, else file name)")
    source_path: str = pa.Field(description="Path the dump was first read from")
    captured_at: UtcDatetime = pa.Field(description="Capture time, UTC (sidecar, else file mtime)")
    ingested_at: UtcDatetime = pa.Field(description="When the run that loaded the dump started, UTC")
    run_id: str = pa.Field(description="Run that ingested the dump")
    parser_version: str = pa.Field(description="Version of the parser that read the dump")
    byte_size: pl.Int64 = pa.Field(ge=0, description="Size of the raw bytes")
    source_url: str = pa.Field(nullable=True, description="Page address from the sidecar, if any")
    status: str = pa.Field(isin=DUMP_STATUSES, description="loaded, partial (some entries or header lines rejected) or quarantined")
    reason: str = pa.Field(nullable=True, description="Why the dump is partial or quarantined")
    entries_found: pl.Int64 = pa.Field(ge=0, description="Entry heads found in the dump")
    entries_loaded: pl.Int64 = pa.Field(ge=0, description="Entries loaded into the tables")
    entries_rejected: pl.Int64 = pa.Field(ge=0, description="Entries sent to rejects")

    @pa.dataframe_check(error="entries_found must equal entries_loaded + entries_rejected")
    def entries_add_up(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("entries_found") == pl.col("entries_loaded") + pl.col("entries_rejected"))


class ProfileSnapshots(pa.DataFrameModel):
    """One row per loaded dump: the profile's header metrics at capture time."""
    dump_id: str = pa.Field(unique=True, str_matches=SHA256, description="Dump the snapshot comes from")
    profile_key: str = pa.Field(description="Profile the snapshot belongs to")
    captured_at: UtcDatetime = pa.Field(description="Capture time, UTC")
    h_index: pl.Int64 = pa.Field(nullable=True, ge=0, description="h-index shown on the page")
    papers_reported: pl.Int64 = pa.Field(nullable=True, ge=0, description="Paper count of the metric line `<N>papers`")
    papers_heading: pl.Int64 = pa.Field(nullable=True, ge=0, description="Paper count of the listing heading `<N> Papers`")
    citations: pl.Int64 = pa.Field(nullable=True, ge=0, description="Citation count shown on the page")
    novelty_pct: pl.Int64 = pa.Field(nullable=True, ge=0, le=100, description="Novelty percentage shown on the page")
    ai_score: pl.Int64 = pa.Field(nullable=True, ge=0, description="AI score shown on the page")
    papers_listed: pl.Int64 = pa.Field(ge=0, description="Entries of the page loaded into listings (entries_found in dumps counts rejected ones too; the site shows at most 50)")
    owner_name: str = pa.Field(nullable=True, description="Profile owner: sidecar owner_name, else the most frequent author; null on a tie")
    owner_share: pl.Float64 = pa.Field(nullable=True, ge=0, le=1, description="Share of loaded entries listing the owner as a visible author")


class Profiles(pa.DataFrameModel):
    """One row per profile: its current state, from its latest snapshot."""
    profile_key: str = pa.Field(unique=True, description="Profile identity (sidecar profile_key, else file name stem)")
    owner_name: str = pa.Field(nullable=True, description="Owner of the latest snapshot")
    snapshots: pl.Int64 = pa.Field(ge=1, description="Number of snapshots loaded")
    first_captured_at: UtcDatetime = pa.Field(description="Capture time of the first snapshot, UTC")
    last_captured_at: UtcDatetime = pa.Field(description="Capture time of the latest snapshot, UTC")
    latest_dump_id: str = pa.Field(description="Dump of the latest snapshot")
    h_index: pl.Int64 = pa.Field(nullable=True, ge=0, description="h-index of the latest snapshot")
    papers_reported: pl.Int64 = pa.Field(nullable=True, ge=0, description="Papers reported by the latest snapshot")
    citations: pl.Int64 = pa.Field(nullable=True, ge=0, description="Citations of the latest snapshot")
    novelty_pct: pl.Int64 = pa.Field(nullable=True, ge=0, le=100, description="Novelty percentage of the latest snapshot")
    ai_score: pl.Int64 = pa.Field(nullable=True, ge=0, description="AI score of the latest snapshot")
    papers_listed: pl.Int64 = pa.Field(ge=0, description="Entries of the latest snapshot loaded into listings")
    owner_share: pl.Float64 = pa.Field(nullable=True, ge=0, le=1, description="Owner share of the latest snapshot")


class Papers(pa.DataFrameModel):
    """One row per distinct paper (by normalised title); mutable fields from the latest capture."""
    paper_id: str = pa.Field(unique=True, str_matches=SHORT_ID, description="Stable hash of the normalised title")
    title: str = pa.Field(str_length={"min_value": 1}, description="Title as printed by the latest capture")
    category: str = pa.Field(str_matches=r"^[A-Z]{2,5}$", description="Category code, e.g. LG, CV")
    published_on: dt.date = pa.Field(description="Publication date (year inferred when the page printed none)")
    year_inferred: bool = pa.Field(description="True when the latest capture printed no year")
    has_code_badge: bool = pa.Field(description="The site's `Code` badge on the latest capture")
    code_url: str = pa.Field(nullable=True, description="Code link named in the abstract, without trailing punctuation")
    code_host: str = pa.Field(nullable=True, description="Host of code_url: github, huggingface, gitlab, ...")
    abstract: str = pa.Field(nullable=True, description="Abstract as written (TeX and non-ASCII kept)")
    authors_truncated: bool = pa.Field(description="True when the author list ends in ` et al.`")
    tag: str = pa.Field(nullable=True, description="The ` · TAG` suffix of the author line, as written")
    first_seen_at: UtcDatetime = pa.Field(description="Earliest capture listing the paper, UTC")
    last_seen_at: UtcDatetime = pa.Field(description="Latest capture listing the paper, UTC")
    last_seen_dump_id: str = pa.Field(description="Dump of the latest capture (ties broken by dump_id)")


class Authors(pa.DataFrameModel):
    """One row per distinct author (by normalised name)."""
    author_id: str = pa.Field(unique=True, str_matches=SHORT_ID, description="Stable hash of the normalised name")
    name: str = pa.Field(str_length={"min_value": 1}, description="Name as printed by the latest capture")
    first_seen_at: UtcDatetime = pa.Field(description="Earliest capture naming the author, UTC")
    last_seen_at: UtcDatetime = pa.Field(description="Latest capture naming the author, UTC")


class PaperAuthors(pa.DataFrameModel):
    """Visible authors of each paper, in order, from the paper's latest capture."""
    paper_id: str = pa.Field(description="Paper")
    position: pl.Int64 = pa.Field(ge=1, description="1-based position among the visible authors")
    author_id: str = pa.Field(description="Author at that position")

    class Config:
        unique = ["paper_id", "position"]


class Listings(pa.DataFrameModel):
    """Which snapshot listed which paper, at which rank."""
    dump_id: str = pa.Field(description="Snapshot (dump) that listed the paper")
    rank: pl.Int64 = pa.Field(ge=1, description="1-based position of the entry in the dump")
    profile_key: str = pa.Field(description="Profile of the snapshot")
    paper_id: str = pa.Field(description="Paper listed")
    captured_at: UtcDatetime = pa.Field(description="Capture time of the snapshot, UTC")

    class Config:
        unique = ["dump_id", "rank"]


class Rejects(pa.DataFrameModel):
    """Everything not loaded, with its reason and text: quarantined dumps, rejected entries, header problems."""
    dump_id: str = pa.Field(description="Dump the rejected text comes from")
    entry_index: pl.Int64 = pa.Field(nullable=True, ge=1, description="Entry position in the dump; null for the dump or its header")
    line_no: pl.Int64 = pa.Field(nullable=True, ge=1, description="Line in the dump where the rejected text starts")
    reason: str = pa.Field(str_length={"min_value": 1}, description="Why it was not loaded")
    raw_text: str = pa.Field(nullable=True, description="The rejected text as written")
    run_id: str = pa.Field(description="Run that rejected it")


class Runs(pa.DataFrameModel):
    """One row per ingestion run. A run that fails after its lake commit (while publishing the
    warehouse) keeps its data, which the next run publishes, and its row's status becomes failed.
    One killed before that has no row, unless `rebuild --from-raw` loads its dumps: then a failed one."""
    run_id: str = pa.Field(unique=True, description="Run identity (also the Prefect flow run name)")
    started_at: UtcDatetime = pa.Field(description="Start of the run, UTC")
    finished_at: UtcDatetime = pa.Field(nullable=True, description="When the run's data was ready to commit to the lake, UTC (the warehouse is published just after)")
    status: str = pa.Field(isin=RUN_STATUSES, description="completed or failed")
    dumps_seen: pl.Int64 = pa.Field(ge=0, description="Dump files present in the inbox")
    dumps_new: pl.Int64 = pa.Field(ge=0, description="Dumps the run read into the lake: not seen before, or quarantined and read again (run --reprocess)")
    dumps_loaded: pl.Int64 = pa.Field(ge=0, description="Of dumps_new, those loaded whole")
    dumps_partial: pl.Int64 = pa.Field(ge=0, description="Of dumps_new, those loaded with some parts rejected")
    dumps_quarantined: pl.Int64 = pa.Field(ge=0, description="Of dumps_new, those that could not be read at all")
    lake_versions: str = pa.Field(nullable=True, description="Version of each lake table (Delta) once the run committed, as JSON: time travel to it with any Delta reader")


APPEND = "append"   # each dump's rows, added by the run that reads it (runs: each run's row)
MERGE = "merge"     # one row per key, merged with each run's observations


@dataclass(frozen=True)
class Table:
    """What a table is beyond its model (columns, types, descriptions, key): how runs change it.
    DuckDB's DDL and keys, the data dictionary, the lake's writes and the merges derive from this."""
    model: type[pa.DataFrameModel]
    kind: str
    latest_by: tuple[str, ...] = ()   # a merged table's version columns: its key's last observation by these wins
    bucket_of: str | None = None      # the lake partitions it by key_bucket, the first hex digits of this column
    scoped_by: str | None = None      # a publish scopes data tests by this column: its changed rows' values join
                                      # the scope, and its checked_<table> view holds only rows in the scope
    by_batches: bool = True           # the batches make its rows (runs: the run itself)
    reprocessed: bool = False         # `run --reprocess` replaces a quarantined dump's rows (it has rows only here)

    @property
    def description(self) -> str:
        """Its model's docstring on one line: the table's comment in DuckDB, the dictionary and the lake."""
        return " ".join((self.model.__doc__ or "").split())

    @property
    def key(self) -> list[str]:
        """Its key (SPEC §4) as its model declares it: `Config.unique`, else its unique column."""
        schema = self.model.to_schema()
        return list(schema.unique or []) or [name for name, column in schema.columns.items() if column.unique]


REGISTRY: dict[str, Table] = {
    "dumps": Table(Dumps, APPEND, scoped_by="dump_id", reprocessed=True),
    "profile_snapshots": Table(ProfileSnapshots, APPEND, scoped_by="dump_id"),
    "profiles": Table(Profiles, MERGE, latest_by=("last_captured_at", "latest_dump_id")),
    "papers": Table(Papers, MERGE, latest_by=("last_seen_at", "last_seen_dump_id"), bucket_of="paper_id",
                    scoped_by="paper_id"),
    "authors": Table(Authors, MERGE, latest_by=("last_seen_at", "name"), bucket_of="author_id"),
    # its rows are those of each paper's winning capture: merged along with papers, not observed itself
    "paper_authors": Table(PaperAuthors, MERGE, bucket_of="paper_id", scoped_by="paper_id"),
    "listings": Table(Listings, APPEND, scoped_by="dump_id"),
    "rejects": Table(Rejects, APPEND, scoped_by="dump_id", reprocessed=True),
    "runs": Table(Runs, APPEND, by_batches=False),
}
TABLES: dict[str, type[pa.DataFrameModel]] = {name: table.model for name, table in REGISTRY.items()}
APPEND_TABLES = tuple(name for name, table in REGISTRY.items() if table.kind == APPEND and table.by_batches)
REPROCESSED_TABLES = frozenset(name for name, table in REGISTRY.items() if table.reprocessed)
MERGED_TABLES = tuple(name for name, table in REGISTRY.items() if table.kind == MERGE)
OBSERVED_TABLES = tuple(name for name, table in REGISTRY.items() if table.latest_by)
MERGE_KEYS = {name: REGISTRY[name].key for name in MERGED_TABLES}


def polars_schema(model: type[pa.DataFrameModel]) -> pl.Schema:
    """The polars schema of a model, in field order."""
    return pl.Schema({name: col.dtype.type for name, col in model.to_schema().columns.items()})


def empty_frame(model: type[pa.DataFrameModel]) -> pl.DataFrame:
    return pl.DataFrame(schema=polars_schema(model))

"""Raw layer: one model per dataset, mirroring what the dump says, before any table is built."""
from __future__ import annotations

import datetime as dt

import pandera.polars as pa
import polars as pl

from schemas.types import UtcDatetime

CATEGORY_PATTERN = r"^[A-Z]{2,5}$"
# The site shows at most three names and ` et al.` (SPEC §2): a line naming far more is other text in
# an author line's place, and a megabyte of it would make a million authors.
MAX_AUTHOR_NAMES = 50


class RawDump(pa.DataFrameModel):
    """One row per dump file read: its identity and the header metrics as written."""
    dump_id: str = pa.Field(unique=True, str_length=64, description="SHA-256 hex of the dump's raw bytes")
    source_path: str = pa.Field(description="Path of the file the dump was read from")
    byte_size: pl.Int64 = pa.Field(ge=0, description="Size of the raw (decompressed) bytes")
    profile_key: str = pa.Field(str_length={"min_value": 1}, description="Profile the dump is a snapshot of")
    captured_at: UtcDatetime = pa.Field(description="When the page was captured (sidecar, else file mtime), UTC")
    sidecar_owner_name: str = pa.Field(nullable=True, description="Owner named by the sidecar, if any")
    source_url: str = pa.Field(nullable=True, description="Page address named by the sidecar, if any")
    parser_version: str = pa.Field(description="Version of the parser that read the dump")
    run_id: str = pa.Field(description="Run that first ingested the dump")
    ingested_at: UtcDatetime = pa.Field(description="Start of the run that first ingested the dump, UTC")
    quarantine_reason: str = pa.Field(nullable=True, description="Why the dump could not be read at all")
    h_index: pl.Int64 = pa.Field(nullable=True, ge=0, description="Metric line `h-index<N>`")
    papers_reported: pl.Int64 = pa.Field(nullable=True, ge=0, description="Metric line `<N>papers`")
    citations: pl.Int64 = pa.Field(nullable=True, ge=0, description="Metric line `<N>citations`")
    novelty_pct: pl.Int64 = pa.Field(nullable=True, ge=0, le=100, description="Metric line `Novelty<N>%`")
    ai_score: pl.Int64 = pa.Field(nullable=True, ge=0, description="Metric line `AI Score<N>`")
    papers_heading: pl.Int64 = pa.Field(nullable=True, ge=0, description="Listing heading `<N> Papers`")
    entries_found: pl.Int64 = pa.Field(ge=0, description="Entry heads found in the dump")

    class Config:
        strict = True


class RawEntry(pa.DataFrameModel):
    """One row per entry block of a dump, split into the pieces the format defines.
    Checks carry the reason that lands in `rejects` when an entry fails them."""
    dump_id: str = pa.Field(description="Dump the entry belongs to")
    entry_index: pl.Int64 = pa.Field(ge=1, description="1-based position of the entry in the listing")
    line_no: pl.Int64 = pa.Field(ge=1, description="Line of the entry head in the dump")
    head: str = pa.Field(description="The entry head line as written")
    category: str = pa.Field(nullable=True, description="Category code of the head, e.g. LG")
    date_text: str = pa.Field(nullable=True, description="Date of the head as written, e.g. `Aug 23, 2023`")
    published_on: dt.date = pa.Field(nullable=True, description="Date resolved with the capture-year rule")
    year_inferred: bool = pa.Field(nullable=True, description="True when the head printed no year")
    has_code_badge: bool = pa.Field(nullable=True, description="True when the head ends with the `Code` badge")
    title: str = pa.Field(nullable=True, description="Title line")
    authors_text: str = pa.Field(nullable=True, description="Author line as written, tag included")
    authors: pl.List(pl.String) = pa.Field(description="Visible author names in order")
    authors_truncated: bool = pa.Field(nullable=True, description="True when the author line ends in ` et al.`")
    tag: str = pa.Field(nullable=True, description="The ` · TAG` suffix of the author line, as written")
    abstract: str = pa.Field(nullable=True, description="Abstract paragraphs as written")
    code_url: str = pa.Field(nullable=True, description="First link to a code host, without trailing punctuation")
    code_host: str = pa.Field(nullable=True, description="Code host of code_url: github, huggingface, ...")
    raw_text: str = pa.Field(description="The entry's text as written")

    @pa.check("category", error="entry head is garbled: expected CATEGORY + `Mon D[, YYYY]` [+ `Code`]")
    def head_is_well_formed(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).is_not_null() & pl.col(data.key).str.contains(CATEGORY_PATTERN))

    @pa.check("published_on", error="impossible date in entry head")
    def date_is_possible(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).is_not_null() | pl.col("category").is_null())

    @pa.check("title", error="entry has no title line")
    def has_title(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).fill_null("").str.strip_chars() != "")

    # a title or author name with nothing to identify it by (it normalises to the empty text) is
    # core/validate.py's check: it needs core.identity's normalisation, a layer above this one

    @pa.check("authors_text", error="entry has no author line (dump cut off?)")
    def has_author_line(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).fill_null("").str.strip_chars() != "")

    @pa.check("authors", error="author line names no author (only `et al.` or a tag)")
    def names_an_author(cls, data: pa.PolarsData) -> pl.LazyFrame:
        no_line = pl.col("authors_text").fill_null("").str.strip_chars() == ""
        return data.lazyframe.select((pl.col(data.key).list.len() > 0) | no_line)

    @pa.check("authors", error=f"author line names more than {MAX_AUTHOR_NAMES} people, where the site shows at "
                               "most three and `et al.`: not an author line")
    def names_few_enough(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).list.len() <= MAX_AUTHOR_NAMES)

    class Config:
        strict = True

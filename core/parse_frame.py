"""Parse a batch of dump texts at once with polars: the records core.parse.parse_dump gives (as
core/records.py lays them out), for a fraction of its CPU time.

The texts are split into lines once. Only lines short enough for a head meet a regex; entry and
paragraph bounds are row numbers, found with fills and cumulative sums over all the lines; a text
field is its line, or a byte slice of its dump when it spans lines, so nothing is joined. The regexes
are core.parse's, translated to Rust's dialect (core/rust_regex.py); the fields within the texts are
core/parse_fields.py's.
Nothing is declined: every difference between Python and polars found is handled here. Pure: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from core.parse import METRICS, NEAR_HEAD_MAX_LEN, SENTENCE_ENDS
from core.parse_fields import author_fields, code_links, head_fields, header_fields, patch
from core.rust_regex import (AUTHOR_LINE_RX, BLANK_RUN_RX, DIGIT_RX, ENTRY_HEAD_RX, LISTING_RX, MAX_HEAD_BYTES,
                             METRIC_RX, NEAR_HEAD_RX, SPACES_RX, WHITESPACE, WS_FIRST_BYTES, WS_LAST_BYTES)
from schemas.raw import RawEntry
from schemas.tables import polars_schema

ENTRY_SCHEMA = polars_schema(RawEntry)
DUMP_COLUMNS = ["dump_id", *METRICS, "papers_heading", "entries_found", "looks_like_profile"]
RAW_TEXT_MAX = 100_000     # parse_entry's cut of raw_text, in characters

ROW = pl.int_range(pl.len(), dtype=pl.Int64)


@dataclass
class ParsedFrames:
    dumps: pl.DataFrame      # DUMP_COLUMNS, one row per dump parsed, in input order
    entries: pl.DataFrame    # ENTRY_SCHEMA, in dump order then entry_index
    problems: pl.DataFrame   # header problems: dump_id, entry_index (null), line_no, reason, raw_text
    declined: list[str]      # dump_ids left to parse_dump: none (see the module's docstring)


def parse_texts(texts: pl.DataFrame) -> ParsedFrames:
    """texts: dump_id (String), text (String, decoded, LF newlines, no NUL), captured_on (Date)."""
    batch = texts.with_row_index("d")
    lines = _lines(batch)
    stripped = _stripped_lines(lines)
    lines, heads = _starts(lines, stripped)
    entries = _entries(batch, _bounds(lines), heads, stripped)
    metrics, problems = header_fields(batch, lines.select(
        "d", "i", "line", header=(pl.col("entry_no") == 0) & ~pl.col("blank")).filter("header"))
    found = entries.group_by("d").agg(entries_found=pl.len(), any_head=pl.col("category").is_not_null().any())
    dumps = batch.join(metrics, on="d", how="left").join(found, on="d", how="left").sort("d").with_columns(
        pl.col("entries_found").fill_null(0).cast(pl.Int64),
        looks_like_profile=pl.col("any_head").fill_null(False) | pl.any_horizontal(pl.col(*METRICS).is_not_null()))
    entries = entries.join(batch.select("d", "dump_id"), on="d", how="left", maintain_order="left")
    return ParsedFrames(dumps.select(DUMP_COLUMNS), entries.select(ENTRY_SCHEMA.names()).cast(ENTRY_SCHEMA),
                        problems, [])


def _lines(batch: pl.DataFrame) -> pl.DataFrame:
    """One row per line (text.split("\\n")): dump d, line, its index i in the dump (first: i == 0),
    its bytes and its byte offset in the dump."""
    lines = batch.select("d", line=pl.col("text").str.split("\n"))
    count, size = lines["line"].list.len().cast(pl.Int64), batch["text"].str.len_bytes().cast(pl.Int64) + 1
    first_row, first_offset = count.cum_sum() - count, size.cum_sum() - size
    nbytes = pl.col("line").str.len_bytes().cast(pl.Int64)
    lines = lines.explode("line").with_columns(
        nbytes=nbytes, i=ROW - pl.lit(first_row).gather("d"),
        off=(nbytes + 1).cum_sum() - nbytes - 1 - pl.lit(first_offset).gather("d"))
    return lines.with_columns(first=pl.col("i") == 0)


def _stripped_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """line.strip() (r, stripped, in row order) of the lines that may be heads or blank or changed by it:
    a line of over MAX_HEAD_BYTES bytes is one only if it starts or ends with a byte of white space.
    Stripping copies each line once, compactly; reading lines scattered over the texts again costs more."""
    line = pl.col("line").cast(pl.Binary)
    rows = lines.with_row_index("r").select("r", "line", "nbytes")
    padded = rows.filter(pl.col("nbytes") > MAX_HEAD_BYTES).filter(
        line.bin.get(0).is_in(WS_FIRST_BYTES) | line.bin.get(-1).is_in(WS_LAST_BYTES))
    return pl.concat([rows.filter(pl.col("nbytes").is_between(1, MAX_HEAD_BYTES)), padded]).select(
        "r", stripped=pl.col("line").str.strip_chars(WHITESPACE)).sort("r")


def _starts(lines: pl.DataFrame, stripped: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Adds blank (line.strip() is empty), after_blank, start (the line starts an entry, as parse.starts_entry
    says), entry_no and stripped_row to lines; and returns the entries' head lines (r, stripped, head_text)."""
    blank = (lines["nbytes"] == 0).scatter(stripped.filter(pl.col("stripped") == "")["r"], True)
    after_blank = blank.shift(1).fill_null(True) | lines["first"]
    short = stripped.filter(pl.col("stripped").str.len_chars().is_between(1, NEAR_HEAD_MAX_LEN))
    heads = _head_text(short).with_columns(head=pl.col("head_text").str.contains(ENTRY_HEAD_RX))
    # the other rules look at the short lines after a blank one only
    others = heads.filter(~pl.col("head") & pl.lit(after_blank).gather(pl.col("r")))
    near = pl.col("head_text").str.contains(NEAR_HEAD_RX)
    metric = pl.any_horizontal([pl.col("stripped").str.contains(rx) for rx in METRIC_RX.values()])
    titled = (~blank).shift(-1, fill_value=False) & ~lines["first"].shift(-1, fill_value=True)   # parse.has_title
    sentence = pl.any_horizontal(pl.col("head_text").str.ends_with(end) for end in SENTENCE_ENDS)
    others = others.with_columns(near=near).with_columns(
        head=pl.col("near") & ~metric & (pl.lit(titled).gather(pl.col("r")) | ~sentence))
    heads = pl.concat([heads.filter("head"), others.filter("head").drop("near"),
                       others.filter(~pl.col("near") & pl.col("head_text").str.contains(DIGIT_RX)
                                     & _entry_shaped(lines, blank, short)).drop("near")])
    heads = heads.sort("r").drop("head")
    start = pl.repeat(False, lines.height, eager=True).scatter(heads["r"], True)
    starts_before = (start.cast(pl.Int64).cum_sum() - start).filter(lines["first"])    # per dump
    stripped_row = pl.repeat(None, lines.height, dtype=pl.UInt32, eager=True).scatter(
        stripped["r"], pl.int_range(stripped.height, dtype=pl.UInt32, eager=True))
    return lines.with_columns(blank=blank, after_blank=after_blank, start=start, stripped_row=stripped_row,
                              entry_no=start.cast(pl.Int64).cum_sum() - pl.lit(starts_before).gather("d")), heads


def _entry_shaped(lines: pl.DataFrame, blank: pl.Series, short: pl.DataFrame) -> pl.Expr:
    """parse.has_entry_shape of row r, below its dump's first listing heading (parse.listing_start)."""
    listing = short.filter(pl.col("stripped").str.contains(LISTING_RX)).select(r=pl.col("r").cast(pl.Int64))
    if listing.is_empty():
        return pl.lit(False)
    first = listing.with_columns(d=pl.lit(lines["d"]).gather("r")).group_by("d").agg(pl.col("r").min())
    heading_row = pl.repeat(None, int(lines["d"].max()) + 1, dtype=pl.Int64, eager=True).scatter(
        first["d"], first["r"])
    row, last = pl.col("r").cast(pl.Int64), lines.height - 1

    def at(series: pl.Series, offset: int) -> pl.Expr:
        return pl.lit(series).gather((row + offset).clip(0, last))

    below = (row > pl.lit(heading_row).gather(at(lines["d"], 0))).fill_null(False)
    same_dump = at(lines["i"], 3) == at(lines["i"], 0) + 3
    ends = (row + 4 > last) | at(lines["first"], 4) | at(blank, 4)
    author = at(lines["line"], 3).str.strip_chars(WHITESPACE).str.contains(AUTHOR_LINE_RX)
    return below & same_dump & ~at(blank, 1) & at(blank, 2) & ends & author


def _head_text(heads: pl.DataFrame) -> pl.DataFrame:
    """Adds parse.head_text of the stripped lines: runs of white space read as one space, unless plain ASCII."""
    spaced = pl.col("stripped").str.contains(r"[^\x00-\x7f]|\t|  ")
    return patch(heads.with_columns(head_text="stripped"), "head_text", spaced,
                  pl.col("stripped").str.replace_all(SPACES_RX, " "))


def _bounds(lines: pl.DataFrame) -> pl.DataFrame:
    """Adds the rows an entry's fields are cut at, each a fill over all the lines."""
    after_start = pl.col("start").shift(1).fill_null(False)
    paragraph = ~pl.col("blank") & ~pl.col("start") & (pl.col("after_blank") | after_start)
    return lines.with_columns(
        next_block=pl.when(pl.col("start") | pl.col("first")).then(ROW).backward_fill().shift(-1).fill_null(pl.len()),
        next_paragraph=pl.when(paragraph).then(ROW).backward_fill().shift(-1),
        last_nonblank=pl.when(~pl.col("blank")).then(ROW).forward_fill(),
        last_nonempty=pl.when(pl.col("nbytes") > 0).then(ROW).forward_fill(),
        # a blank line that is not exactly one "" between paragraphs: the abstract must be joined again
        odd_blanks=(pl.col("blank") & ((pl.col("nbytes") > 0) | pl.col("after_blank"))).cum_sum())


def _entries(batch: pl.DataFrame, lines: pl.DataFrame, heads: pl.DataFrame, stripped: pl.DataFrame) -> pl.DataFrame:
    """One row per entry: d, e and ENTRY_SCHEMA's fields."""
    entries = _texts(batch, lines, _spans(lines, heads), stripped).select(
        "d", "head_text", "raw_text", entry_index="entry_no", line_no=pl.col("i") + 1, head="stripped",
        title="title_text", authors_text="authors_text", abstract="abstract_text")
    entries = head_fields(entries.join(batch.select("d", "captured_on"), on="d", how="left", maintain_order="left"))
    return code_links(author_fields(entries.with_row_index("e")))


def _texts(batch: pl.DataFrame, lines: pl.DataFrame, spans: pl.DataFrame, stripped: pl.DataFrame) -> pl.DataFrame:
    """Adds raw_text and the title, authors and abstract texts of the spans. A one-line title or author line
    is its stripped line, a one-line abstract its line (no copy); a text spanning lines is a byte slice."""
    text = pl.lit(batch["text"].cast(pl.Binary)).gather(pl.col("d"))

    def cut(first: str, last: str) -> pl.Expr:
        start, stop = _at(lines, "off", first), _at(lines, "off", last) + _at(lines, "nbytes", last)
        return text.bin.slice(start, stop - start).cast(pl.String)

    spans = spans.with_columns(raw_text=cut("r0", "raw_last"), abstract_text=_at(lines, "line", "abstract"), **{
        f"{name}_text": pl.lit(stripped["stripped"]).gather(_at(lines, "stripped_row", name))
        for name in ["title", "authors"]})
    for name in ["title", "authors"]:    # parse_entry: .replace("\n", " ").strip(); a long line is not in stripped
        unstripped = pl.col(name).is_not_null() & pl.col(f"{name}_text").is_null()
        several = (pl.col(f"{name}_last") > pl.col(name)) | unstripped
        joined = cut(name, f"{name}_last").str.replace_all("\n", " ", literal=True)
        spans = patch(spans, f"{name}_text", several, joined.str.strip_chars(WHITESPACE))
    spans = patch(spans, "abstract_text", pl.col("abstract_last") > pl.col("abstract"),
                   cut("abstract", "abstract_last"))
    spans = patch(spans, "abstract_text", pl.col("odd"),
                   pl.col("abstract_text").str.replace_all(BLANK_RUN_RX, "\n\n"))
    return patch(spans, "raw_text", pl.col("raw_text").str.len_bytes() > RAW_TEXT_MAX,
                  pl.col("raw_text").str.slice(0, RAW_TEXT_MAX))


def _at(lines: pl.DataFrame, name: str, rows: str | pl.Expr) -> pl.Expr:
    """lines[name] at the given rows (null where rows is null)."""
    return pl.lit(lines[name]).gather(pl.col(rows) if isinstance(rows, str) else rows)


def _spans(lines: pl.DataFrame, heads: pl.DataFrame) -> pl.DataFrame:
    """Per entry (head row r0, block up to `end`): the first and last row of its title, authors line,
    abstract and raw_text. Paragraphs as parse._paragraphs; a title only when the head's next line has text."""
    def at(name: str, rows: str | pl.Expr) -> pl.Expr:
        return _at(lines, name, rows)

    def in_block(rows: pl.Expr) -> pl.Expr:
        return pl.when(rows < pl.col("end")).then(rows)

    spans = heads.with_columns(r0=pl.col("r").cast(pl.Int64)).with_columns(
        d=at("d", "r0"), i=at("i", "r0"), entry_no=at("entry_no", "r0"), end=at("next_block", "r0"))
    spans = spans.with_columns(p1=in_block(at("next_paragraph", "r0")))
    spans = spans.with_columns(p2=in_block(at("next_paragraph", "p1")), titled=pl.col("p1") == pl.col("r0") + 1)
    spans = spans.with_columns(p3=in_block(at("next_paragraph", "p2")), titled=pl.col("titled").fill_null(False))
    spans = spans.with_columns(title=pl.when("titled").then("p1"), authors=pl.when("titled").then("p2").otherwise(
        "p1"), abstract=pl.when("titled").then("p3").otherwise("p2"))
    spans = spans.with_columns(
        title_last=pl.when("titled").then(at("last_nonblank", pl.coalesce("p2", "end") - 1)),
        authors_last=pl.when(pl.col("authors").is_not_null()).then(
            at("last_nonblank", pl.coalesce("abstract", "end") - 1)),
        abstract_last=pl.when(pl.col("abstract").is_not_null()).then(at("last_nonblank", pl.col("end") - 1)),
        raw_last=at("last_nonempty", pl.col("end") - 1))
    return spans.with_columns(odd=at("odd_blanks", "abstract_last") > at("odd_blanks", "abstract"))

"""Parse a batch of dump texts at once with polars: the records core.parse.parse_dump gives (as
core/records.py lays them out), for a fraction of its CPU time.

The texts are split into lines once. Only lines short enough for a head meet a regex; entry and
paragraph bounds are row numbers, found with fills and cumulative sums over all the lines; a text
field is its line, or a byte slice of its dump when it spans lines, so nothing is joined. The regexes
are core.parse's, translated to Rust's dialect (core/rust_regex.py).
Nothing is declined: every difference between Python and polars found is handled here. Pure: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from core.parse import (AUTHOR_SEPARATOR, CODE_HOSTS, ET_AL, METRIC_MAX, METRICS, MONTHS, NEAR_HEAD_MAX_LEN,
                        TAG_SEPARATOR, URL_TRAILING_PUNCTUATION)
from core.rust_regex import (BLANK_RUN_RX, DIGIT_VALUE, ENTRY_HEAD_RX, LISTING_RX, MAX_HEAD_BYTES, METRIC_RX,
                             NEAR_HEAD_RX, SPACES_RX, TAG_RX, URL_LIMIT, URL_RUN_RX, URL_RX, WHITESPACE, WS_FIRST_BYTES,
                             WS_LAST_BYTES)
from schemas.raw import RawEntry
from schemas.tables import polars_schema

ENTRY_SCHEMA = polars_schema(RawEntry)
DUMP_COLUMNS = ["dump_id", *METRICS, "papers_heading", "entries_found", "looks_like_profile"]
RAW_TEXT_MAX = 100_000     # parse_entry's cut of raw_text, in characters
PROBLEM_TEXT_MAX = 2_000   # parse_header's cut of a problem line

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
    metrics, problems = _header(batch, lines.select(
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
    heads = _head_text(stripped.filter(pl.col("stripped").str.len_chars().is_between(1, NEAR_HEAD_MAX_LEN)))
    heads = heads.filter(pl.col("head_text").str.contains(ENTRY_HEAD_RX)
                         | (pl.lit(after_blank).gather(pl.col("r")) & pl.col("head_text").str.contains(NEAR_HEAD_RX)))
    start = pl.repeat(False, lines.height, eager=True).scatter(heads["r"], True)
    starts_before = (start.cast(pl.Int64).cum_sum() - start).filter(lines["first"])    # per dump
    stripped_row = pl.repeat(None, lines.height, dtype=pl.UInt32, eager=True).scatter(
        stripped["r"], pl.int_range(stripped.height, dtype=pl.UInt32, eager=True))
    return lines.with_columns(blank=blank, after_blank=after_blank, start=start, stripped_row=stripped_row,
                              entry_no=start.cast(pl.Int64).cum_sum() - pl.lit(starts_before).gather("d")), heads


def _head_text(heads: pl.DataFrame) -> pl.DataFrame:
    """Adds parse.head_text of the stripped lines: runs of white space read as one space, unless plain ASCII."""
    spaced = pl.col("stripped").str.contains(r"[^\x00-\x7f]|\t|  ")
    return _patch(heads.with_columns(head_text="stripped"), "head_text", spaced,
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
    entries = _head_fields(entries.join(batch.select("d", "captured_on"), on="d", how="left", maintain_order="left"))
    return _code_links(_author_fields(entries.with_row_index("e")))


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
        spans = _patch(spans, f"{name}_text", several, joined.str.strip_chars(WHITESPACE))
    spans = _patch(spans, "abstract_text", pl.col("abstract_last") > pl.col("abstract"),
                   cut("abstract", "abstract_last"))
    spans = _patch(spans, "abstract_text", pl.col("odd"),
                   pl.col("abstract_text").str.replace_all(BLANK_RUN_RX, "\n\n"))
    return _patch(spans, "raw_text", pl.col("raw_text").str.len_bytes() > RAW_TEXT_MAX,
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


def _patch(frame: pl.DataFrame, name: str, rows: pl.Expr, fix: pl.Expr) -> pl.DataFrame:
    """frame with column name set to fix where rows is true: evaluated on those rows only (a when/then
    evaluates both sides on every row), for the rare cases."""
    where = frame.select(rows.fill_null(False)).to_series().arg_true()
    if where.is_empty():
        return frame
    return frame.with_columns(frame[name].scatter(where, frame[where].select(fix).to_series()))


def _ints(frame: pl.DataFrame, numbers: dict[str, str]) -> pl.DataFrame:
    """Adds parse.to_int of number texts ({name: text column}). A cast reads ASCII digits; a text it can't
    read has other decimal digits, which int() reads by their value: those are mapped first."""
    frame = frame.with_columns(pl.col(text).str.replace_all(",", "", literal=True).cast(pl.Int64, strict=False)
                               .alias(name) for name, text in numbers.items())
    for name, text in numbers.items():
        digits = pl.col(text).str.replace_many(DIGIT_VALUE)
        frame = _patch(frame, name, pl.col(text).is_not_null() & pl.col(name).is_null(),
                       digits.str.replace_all(",", "", literal=True).cast(pl.Int64))
    return frame


def _head_fields(entries: pl.DataFrame) -> pl.DataFrame:
    """category, date_text, published_on, year_inferred, has_code_badge of a well-formed head."""
    groups = ["category", "month", "day", "year", "badge"]
    entries = entries.with_columns(pl.col("head_text").str.extract_groups(ENTRY_HEAD_RX).struct.rename_fields(groups)
                                   .alias("groups")).unnest("groups")
    headed, length = pl.col("category").is_not_null(), pl.col("head_text").str.len_chars()
    entries = _ints(entries.with_columns(
        date_text=pl.col("head_text").str.slice(pl.col("category").str.len_chars(), length - pl.col("category")
                                                .str.len_chars() - pl.col("badge").str.len_chars().fill_null(0)),
        year_inferred=pl.when(headed).then(pl.col("year").is_null()),
        has_code_badge=pl.when(headed).then(pl.col("badge").is_not_null()),
        month_no=pl.col("month").replace_strict(MONTHS, default=None, return_dtype=pl.Int64),
        capture_day=pl.col("captured_on").cast(pl.Int64),
        capture_year=pl.col("captured_on").dt.year().cast(pl.Int64)), {"day_no": "day", "year_no": "year"})
    # parse.resolve_date: without a year, the capture year, or the year before if that is after the capture
    entries = entries.with_columns(on=_epoch_day(pl.coalesce("year_no", "capture_year"), "month_no", "day_no"))
    earlier = pl.col("year_no").is_null() & (pl.col("on") > pl.col("capture_day"))
    return entries.with_columns(published_on=pl.when(earlier).then(
        _epoch_day(pl.col("capture_year") - 1, "month_no", "day_no")).otherwise("on").cast(pl.Int32).cast(pl.Date))


def _epoch_day(year: pl.Expr, month: str, day: str) -> pl.Expr:
    """Days from 1970-01-01 to datetime.date(year, month, day), null where that raises (pl.date raises for
    the whole column, and is slower): H. Hinnant's days_from_civil, for years 1-9999."""
    month, day = pl.col(month), pl.col(day)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = pl.when(month == 2).then(28 + leap.cast(pl.Int64)).when(month.is_in([4, 6, 9, 11])).then(30).otherwise(31)
    march_year = year - (month <= 2).cast(pl.Int64)
    day_of_era = (march_year % 400) * 365 + (march_year % 400) // 4 - (march_year % 400) // 100 + (
        153 * ((month + 9) % 12) + 2) // 5 + day - 1
    return pl.when(year.is_between(1, 9999) & day.is_between(1, days)).then(
        (march_year // 400) * 146097 + day_of_era - 719468)


def _author_fields(entries: pl.DataFrame) -> pl.DataFrame:
    """parse.split_authors of authors_text (stripped already): authors, authors_truncated, tag."""
    padded = pl.concat_str(pl.lit(" "), pl.col("authors_text"), pl.lit(" "))
    entries = entries.with_columns(names="authors_text", tag=pl.lit(None, pl.String),
                                   tagged=padded.str.contains(TAG_SEPARATOR, literal=True))
    for name, group in [("names", "1"), ("tag", "2")]:
        entries = _patch(entries, name, pl.col("tagged"),
                         padded.str.extract_groups(TAG_RX).struct.field(group).str.strip_chars(WHITESPACE))
    truncated = (pl.col("names") == ET_AL.strip()) | pl.col("names").str.ends_with(ET_AL)
    names = pl.when(truncated).then(pl.col("names").str.strip_suffix(ET_AL.strip())).otherwise("names")
    return entries.with_columns(
        authors=names.str.split(AUTHOR_SEPARATOR).list.eval(pl.element().str.strip_chars(" ,"))
        .list.filter(pl.element() != "").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        authors_truncated=truncated, tag=pl.when(pl.col("tag") != "").then("tag"))


def _code_links(entries: pl.DataFrame) -> pl.DataFrame:
    """parse.find_code_link of the abstract: the first link whose host is a code host. The search starts
    at the first "http", where the first URL match must start: most of most abstracts is skipped."""
    found = entries.select("e", "abstract", at=pl.col("abstract").str.find("http", literal=True)).drop_nulls("at")
    found = found.select("e", tail=pl.col("abstract").cast(pl.Binary).bin.slice(pl.col("at")).cast(pl.String))
    found = found.with_columns(url=pl.col("tail").str.extract_all(URL_RUN_RX))
    cut = pl.col("url").list.eval(pl.element().str.len_chars() > URL_LIMIT).list.any()
    found = pl.concat([found.filter(~cut),
                       found.filter(cut).with_columns(url=pl.col("tail").str.extract_all(URL_RX))])
    urls = found.select("e", "url").explode("url").with_columns(
        code_url=pl.col("url").str.strip_chars_end(URL_TRAILING_PUNCTUATION))
    # url.split("/", 3)[2].lower().split(":")[0]: lowering makes no ":" and takes none away
    host = pl.col("code_url").str.extract(r"^https?://([^/:]*)").str.to_lowercase().str.strip_prefix("www.")
    links = (urls.with_columns(code_host=host.replace_strict(CODE_HOSTS, default=None)).drop_nulls("code_host")
             .unique("e", keep="first", maintain_order=True).select("e", "code_url", "code_host"))
    return entries.join(links, on="e", how="left", maintain_order="left")


def _header(batch: pl.DataFrame, lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """parse.parse_header of every dump's non-blank header lines: (metrics and heading per d, problems).
    The METRICS patterns exclude each other (a test checks), so a line names at most one metric."""
    header = lines.with_columns(stripped=pl.col("line").str.strip_chars(WHITESPACE))
    header = header.with_columns(pl.col("stripped").str.extract(rx, 1).alias(name)
                                 for name, rx in {"heading": LISTING_RX, **METRIC_RX}.items())
    first_heading = pl.col("heading").is_not_null() & (pl.col("heading").is_not_null().cum_sum().over("d") == 1)
    header = _ints(header.with_columns(first_heading=first_heading, number=pl.coalesce(*METRICS)).with_columns(
        name=pl.when(~pl.col("first_heading")).then(
            pl.coalesce([pl.when(pl.col(name).is_not_null()).then(pl.lit(name)) for name in METRICS]))),
        {"heading_no": "heading", "value": "number"})
    in_range = pl.col("value") <= pl.col("name").replace_strict(METRIC_MAX, default=None, return_dtype=pl.Int64)
    header = header.with_columns(
        set_at=pl.when(in_range.fill_null(True) & pl.col("name").is_not_null()).then("i").min().over("d", "name"))
    header = header.with_columns(reason=pl.when("first_heading").then(None)
                                 .when(pl.col("name").is_null() | (pl.col("i") > pl.col("set_at")))
                                 .then(pl.lit("unparsable header line"))
                                 .when(pl.col("i") == pl.col("set_at")).then(None)
                                 .otherwise(pl.format("metric {} out of range: {}", "name", "value")))
    per_dump = header.group_by("d").agg(
        pl.col("heading_no").filter("first_heading").first().alias("papers_heading"),
        *[pl.col("value").filter((pl.col("name") == name) & (pl.col("i") == pl.col("set_at"))).first().alias(name)
          for name in METRICS])
    return per_dump, _problems(batch, header)


def _problems(batch: pl.DataFrame, header: pl.DataFrame) -> pl.DataFrame:
    """Each dump's header problems in the reference's order: its lines' in line order, then a "missing
    metric" for each metric no line names, in METRICS order."""
    lines = header.drop_nulls("reason").select(
        "d", "reason", order="i", line_no=pl.col("i") + 1, raw_text=pl.col("line").str.slice(0, PROBLEM_TEXT_MAX))
    metrics = pl.DataFrame({"name": list(METRICS), "order": range(len(METRICS))},
                           schema_overrides={"order": pl.Int64})
    missing = batch.select("d").join(metrics, how="cross").join(header.select("d", "name"), on=["d", "name"],
                                                                   how="anti")
    missing = missing.select("d", "order", reason=pl.format("missing metric {}", "name"),
                             line_no=pl.lit(None, pl.Int64), raw_text=pl.lit(""))
    both = pl.concat([lines, missing], how="diagonal").sort("d", pl.col("line_no").is_null(), "order")
    return both.join(batch.select("d", "dump_id"), on="d", maintain_order="left").select(
        "dump_id", entry_index=pl.lit(None, pl.Int64), line_no="line_no", reason="reason", raw_text="raw_text")

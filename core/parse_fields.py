"""The fields of a batch's entries and header lines, parsed from their texts in polars as core.parse
does (core/parse_frame.py finds the texts): entry heads (category, dates, badge), author lines, code
links, and the header's metrics and problems. Pure: no I/O.
"""
from __future__ import annotations

import polars as pl

from core.parse import (AUTHOR_SEPARATOR, CODE_HOSTS, ET_AL, METRIC_MAX, METRICS, MONTHS, TAG_SEPARATOR,
                        URL_TRAILING_PUNCTUATION)
from core.rust_regex import (DIGIT_VALUE, ENTRY_HEAD_RX, LISTING_RX, METRIC_RX, SPACES_RX, TAG_RX, URL_LIMIT,
                             URL_RUN_RX, URL_RX, WHITESPACE)

PROBLEM_TEXT_MAX = 2_000   # parse_header's cut of a problem line


def patch(frame: pl.DataFrame, name: str, rows: pl.Expr, fix: pl.Expr) -> pl.DataFrame:
    """frame with column name set to fix where rows is true: evaluated on those rows only (a when/then
    evaluates both sides on every row), for the rare cases."""
    where = frame.select(rows.fill_null(False)).to_series().arg_true()
    if where.is_empty():
        return frame
    return frame.with_columns(frame[name].scatter(where, frame[where].select(fix).to_series()))


def ints(frame: pl.DataFrame, numbers: dict[str, str]) -> pl.DataFrame:
    """Adds parse.to_int of number texts ({name: text column}). A cast reads ASCII digits; a text it can't
    read has other decimal digits, which int() reads by their value: those are mapped first."""
    frame = frame.with_columns(pl.col(text).str.replace_all(",", "", literal=True).cast(pl.Int64, strict=False)
                               .alias(name) for name, text in numbers.items())
    for name, text in numbers.items():
        digits = pl.col(text).str.replace_many(DIGIT_VALUE)
        frame = patch(frame, name, pl.col(text).is_not_null() & pl.col(name).is_null(),
                       digits.str.replace_all(",", "", literal=True).cast(pl.Int64))
    return frame


def head_fields(entries: pl.DataFrame) -> pl.DataFrame:
    """category, date_text, published_on, year_inferred, has_code_badge of a well-formed head."""
    groups = ["category", "month", "day", "year", "badge"]
    entries = entries.with_columns(pl.col("head_text").str.extract_groups(ENTRY_HEAD_RX).struct.rename_fields(groups)
                                   .alias("groups")).unnest("groups")
    headed, length = pl.col("category").is_not_null(), pl.col("head_text").str.len_chars()
    entries = ints(entries.with_columns(
        date_text=pl.col("head_text").str.slice(pl.col("category").str.len_chars(), length - pl.col("category")
                                                .str.len_chars() - pl.col("badge").str.len_chars().fill_null(0)),
        year_inferred=pl.when(headed).then(pl.col("year").is_null()),
        has_code_badge=pl.when(headed).then(pl.col("badge").is_not_null()),
        month_no=pl.col("month").replace_strict(MONTHS, default=None, return_dtype=pl.Int64),
        capture_month=pl.col("captured_on").dt.month().cast(pl.Int64),
        capture_day=pl.col("captured_on").dt.day().cast(pl.Int64),
        capture_year=pl.col("captured_on").dt.year().cast(pl.Int64)), {"day_no": "day", "year_no": "year"})
    # parse.resolve_date: without a year, the capture year, or the year before if by month and day it is after the capture
    month, capture_month = pl.col("month_no"), pl.col("capture_month")
    later = (month > capture_month) | ((month == capture_month) & (pl.col("day_no") > pl.col("capture_day")))
    year = pl.col("year_no").fill_null(pl.col("capture_year") - pl.when(later).then(1).otherwise(0))
    return entries.with_columns(published_on=epoch_day(year, "month_no", "day_no").cast(pl.Int32).cast(pl.Date))


def epoch_day(year: pl.Expr, month: str, day: str) -> pl.Expr:
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


def author_fields(entries: pl.DataFrame) -> pl.DataFrame:
    """parse.split_authors of authors_text (stripped already): authors, authors_truncated, tag."""
    spaced = pl.col("authors_text").str.replace_all(SPACES_RX, " ")   # a no-break space reads as a space
    padded = pl.concat_str(pl.lit(" "), spaced, pl.lit(" "))
    entries = entries.with_columns(names=spaced.str.strip_chars(WHITESPACE), tag=pl.lit(None, pl.String),
                                   tagged=padded.str.contains(TAG_SEPARATOR, literal=True))
    for name, group in [("names", "1"), ("tag", "2")]:
        entries = patch(entries, name, pl.col("tagged"),
                         padded.str.extract_groups(TAG_RX).struct.field(group).str.strip_chars(WHITESPACE))
    truncated = (pl.col("names") == ET_AL.strip()) | pl.col("names").str.ends_with(ET_AL)
    names = pl.when(truncated).then(pl.col("names").str.strip_suffix(ET_AL.strip())).otherwise("names")
    return entries.with_columns(
        authors=names.str.split(AUTHOR_SEPARATOR).list.eval(pl.element().str.strip_chars(" ,"))
        .list.filter(pl.element() != "").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        authors_truncated=truncated, tag=pl.when(pl.col("tag") != "").then("tag"))


def code_links(entries: pl.DataFrame) -> pl.DataFrame:
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
    # parse.find_code_link's authority (up to `/?#`), after its last "@", up to ":"; lowering makes none of them
    host = (pl.col("code_url").str.extract(r"^https?://(?:[^/?#]*@)?([^/?#:@]*)").str.to_lowercase()
            .str.strip_prefix("www."))
    links = (urls.with_columns(code_host=host.replace_strict(CODE_HOSTS, default=None)).drop_nulls("code_host")
             .unique("e", keep="first", maintain_order=True).select("e", "code_url", "code_host"))
    return entries.join(links, on="e", how="left", maintain_order="left")


def header_fields(batch: pl.DataFrame, lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """parse.parse_header of every dump's non-blank header lines: (metrics and heading per d, problems).
    The METRICS patterns exclude each other (a test checks), so a line names at most one metric."""
    header = lines.with_columns(stripped=pl.col("line").str.strip_chars(WHITESPACE))
    header = header.with_columns(pl.col("stripped").str.extract(rx, 1).alias(name)
                                 for name, rx in {"heading": LISTING_RX, **METRIC_RX}.items())
    first_heading = pl.col("heading").is_not_null() & (pl.col("heading").is_not_null().cum_sum().over("d") == 1)
    header = ints(header.with_columns(first_heading=first_heading, number=pl.coalesce(*METRICS)).with_columns(
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
    return per_dump, problems(batch, header)


def problems(batch: pl.DataFrame, header: pl.DataFrame) -> pl.DataFrame:
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

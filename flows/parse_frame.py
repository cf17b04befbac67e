"""Parse a whole batch of dump texts at once with polars: the records flows.parse.parse_dump gives
(as extract.add_parsed and validate.entry_frame shape them), at a fraction of the cost.

The texts are split into lines once. Only short lines (possible heads) meet a regex; entry and
paragraph bounds are row numbers found with fills and cumulative sums over the lines; every text
field is a byte slice of its dump, so no line is copied or joined. The regexes are flows.parse's,
translated to Rust's dialect with Python's meaning of \\s, \\d and IGNORECASE spelled out as classes.
Pure: no I/O.
"""
from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass

import polars as pl

from flows.parse import (CODE_HOSTS, ENTRY_HEAD, ET_AL, AUTHOR_SEPARATOR, LISTING_HEADING, METRIC_MAX, METRICS,
                         MONTHS, NEAR_HEAD, NEAR_HEAD_MAX_LEN, SPACES, TAG_SEPARATOR, URL, URL_TRAILING_PUNCTUATION)
from schemas.raw import RawEntry
from schemas.tables import polars_schema

ENTRY_SCHEMA = polars_schema(RawEntry)
# as flows.validate.PROBLEM_SCHEMA, which is not imported because it pulls in extract's file I/O (a test checks)
PROBLEM_SCHEMA = pl.Schema({"dump_id": pl.String, "entry_index": pl.Int64, "line_no": pl.Int64,
                            "reason": pl.String, "raw_text": pl.String})
DUMP_COLUMNS = ["dump_id", *METRICS, "papers_heading", "entries_found", "looks_like_profile"]
RAW_TEXT_MAX = 100_000     # parse_entry's cut of raw_text, in characters
PROBLEM_TEXT_MAX = 2_000   # parse_header's cut of a problem line

# Python's character sets, scanned in planes 0-1 only (a cheap import): no white space, decimal digit or
# case twin of an ASCII letter lies beyond them, which tests/test_parse_frame.py checks on the whole range.
_CHARS = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x20000)))
WHITESPACE = "".join(re.findall(r"\s", _CHARS))   # str.strip()'s set: Rust's White_Space plus \x1c-\x1f
DIGITS = "".join(re.findall(r"\d", _CHARS))       # every Unicode decimal digit, which int() reads
_TWINS = re.findall(r"(?i:[a-z])", _CHARS)
# what each ASCII letter matches under IGNORECASE: Kelvin sign K, long s ſ, İ and ı too
CASELESS = {a: "".join(c for c in _TWINS if re.fullmatch(a, c, re.IGNORECASE)) for a in string.ascii_lowercase}
DIGIT_VALUE = {d: str(unicodedata.decimal(d)) for d in DIGITS if not d.isascii()}
WS_FIRST_BYTES = sorted({c.encode()[0] for c in WHITESPACE})
WS_LAST_BYTES = sorted({c.encode()[-1] for c in WHITESPACE})
MAX_HEAD_BYTES = 4 * NEAR_HEAD_MAX_LEN    # a line of at most NEAR_HEAD_MAX_LEN characters has at most this many bytes


def class_body(chars: str) -> str:
    """chars as the inside of a Rust regex class: runs of consecutive code points as ranges."""
    runs: list[list[int]] = []
    for code in sorted(set(map(ord, chars))):
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    def char(code: int) -> str:
        return chr(code) if chr(code).isascii() and chr(code).isalnum() else f"\\x{{{code:x}}}"
    return "".join(char(a) + (f"-{char(b)}" if b > a else "") for a, b in runs)


_SETS = {"d": class_body(DIGITS), "s": class_body(WHITESPACE)}


def to_rust(rx: re.Pattern) -> str:
    """rx in Rust's dialect with Python's meaning: \\d and \\s as Python's sets, a letter under IGNORECASE
    as the class of what Python lets it match. Raises on other constructs whose meaning could differ,
    so a change in flows.parse can't drift silently."""
    src, out, i, in_class, caseless = rx.pattern, [], 0, False, [bool(rx.flags & re.IGNORECASE)]
    while i < len(src):
        c, step = src[i], 1
        if c == "\\":
            c, step = src[i + 1], 2
            if c.isalnum() and c not in _SETS:
                raise ValueError(f"escape \\{c} in {src!r} has no translation")
            out.append((_SETS[c] if in_class else f"[{_SETS[c]}]") if c in _SETS else "\\" + c)
        elif in_class:
            if (c.isalpha() and caseless[-1]) or src[i:i + 2] in ("&&", "--", "~~"):
                raise ValueError(f"class in {src!r} reads differently in Rust")
            in_class = c != "]"
            out.append(c)
        elif src.startswith("(?i:", i):
            caseless.append(True)
            out.append("(?:")
            step = 4
        else:
            in_class = c == "["
            caseless += [caseless[-1]] if c == "(" else []
            caseless = caseless[:-1] if c == ")" else caseless
            out.append(f"[{class_body(CASELESS[c.lower()])}]" if c.isascii() and c.isalpha() and caseless[-1] else c)
        i += step
    return "".join(out)


def fullmatch(rx: re.Pattern) -> str:
    return f"^(?:{to_rust(rx)})$"


ENTRY_HEAD_RX = fullmatch(ENTRY_HEAD)
NEAR_HEAD_RX = f"^(?:{to_rust(NEAR_HEAD)})"     # NEAR_HEAD.match: a prefix
METRIC_RX = {name: fullmatch(rx) for name, rx in METRICS.items()}
LISTING_RX = fullmatch(LISTING_HEADING)
SPACES_RX = to_rust(SPACES)
URL_RX = to_rust(URL)
URL_LIMIT = int(re.search(r"\{1,(\d+)\}$", URL.pattern).group(1))
# unbounded, it runs several times faster; a link longer than URL_LIMIT is looked for again with URL_RX,
# where the bound cuts it and the search goes on behind the cut, as in Python
URL_RUN_RX = URL_RX.removesuffix(f"{{1,{URL_LIMIT}}}") + "+"
BLANK_RUN_RX = f"\n[{_SETS['s']}]*\n"    # the blank lines between two paragraphs, with their newlines
TAG_RX = f"^(?s:(.*)){pl.escape_regex(TAG_SEPARATOR)}(?s:(.*))$"   # greedy: the last separator, as rsplit
FIRST_LINE = (pl.col("d") != pl.col("d").shift(1)).fill_null(True)
ROW = pl.int_range(pl.len(), dtype=pl.Int64)
START = pl.col("start").cast(pl.Int64)


@dataclass
class ParsedFrames:
    dumps: pl.DataFrame      # dump_id, the METRICS, papers_heading, entries_found, looks_like_profile
    entries: pl.DataFrame    # ENTRY_SCHEMA, in dump order then entry_index
    problems: pl.DataFrame   # header problems, PROBLEM_SCHEMA
    declined: list[str]      # dump_ids left to parse_dump: none, as every difference is handled here


def parse_texts(texts: pl.DataFrame) -> ParsedFrames:
    """texts: dump_id (String), text (String, decoded, LF newlines), captured_on (Date)."""
    batch = texts.with_row_index("d")
    lines = _lines(batch)
    lines, heads = _starts(lines, *_short_lines(lines))
    lines = _bounds(lines)
    entries = _entries(batch, lines, heads)
    metrics, problems = _header(batch, lines.filter((pl.col("entry_no") == 0) & ~pl.col("blank")))
    found = entries.group_by("d").agg(entries_found=pl.len(), any_head=pl.col("category").is_not_null().any())
    dumps = (batch.join(metrics, on="d", how="left").join(found, on="d", how="left").sort("d")
             .with_columns(pl.col("entries_found").fill_null(0).cast(pl.Int64),
                           looks_like_profile=pl.col("any_head").fill_null(False)
                           | pl.any_horizontal(pl.col(*METRICS).is_not_null())))
    entries = entries.join(batch.select("d", "dump_id"), on="d", how="left", maintain_order="left")
    return ParsedFrames(dumps.select(DUMP_COLUMNS), entries.select(ENTRY_SCHEMA.names()).cast(ENTRY_SCHEMA),
                        problems, [])


def _lines(batch: pl.DataFrame) -> pl.DataFrame:
    """One row per line (text.split("\\n")): dump d, line, its index i in the dump, its bytes and byte offset."""
    lines = batch.select("d", line=pl.col("text").str.split("\n")).explode("line")
    nbytes = pl.col("line").str.len_bytes().cast(pl.Int64)
    return lines.with_columns(nbytes=nbytes, i=_since_first_line(ROW),
                              off=_since_first_line(nbytes.cum_sum() - nbytes + ROW))


def _since_first_line(value: pl.Expr) -> pl.Expr:
    """value less its value on the dump's first line (rows are in dump order)."""
    return value - pl.when(FIRST_LINE).then(value).forward_fill()


def _short_lines(lines: pl.DataFrame) -> tuple[pl.Series, pl.DataFrame]:
    """(rows of the non-empty blank lines, the lines short enough to be heads: row r and line.strip()).
    strip() changes only a line that starts or ends with a byte of white space ("padded"); a line of at
    most NEAR_HEAD_MAX_LEN characters has at most MAX_HEAD_BYTES bytes."""
    line = pl.col("line").cast(pl.Binary)
    rows = lines.with_row_index("r").select("r", "line", "nbytes").filter(pl.col("nbytes") > 0).with_columns(
        padded=line.bin.get(0).is_in(WS_FIRST_BYTES) | line.bin.get(-1).is_in(WS_LAST_BYTES))
    rows = rows.filter((pl.col("nbytes") <= MAX_HEAD_BYTES) | pl.col("padded"))
    plain = rows.filter(~pl.col("padded") & (pl.col("line").str.len_chars() <= NEAR_HEAD_MAX_LEN))
    padded = rows.filter("padded").with_columns(stripped=pl.col("line").str.strip_chars(WHITESPACE))
    short = ((pl.col("line").str.len_chars() <= NEAR_HEAD_MAX_LEN)
             | (pl.col("stripped").str.len_chars() <= NEAR_HEAD_MAX_LEN)) & (pl.col("stripped") != "")
    heads = pl.concat([plain.select("r", stripped="line"), padded.filter(short).select("r", "stripped")])
    return padded.filter(pl.col("stripped") == "")["r"], heads.sort("r")


def _starts(lines: pl.DataFrame, blank_rows: pl.Series, heads: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Adds blank (line.strip() is empty), after_blank, start (the line starts an entry, as
    parse.starts_entry says) and entry_no to lines; and keeps of heads the entries' head lines."""
    blank = (lines["nbytes"] == 0).scatter(blank_rows, True)
    after_blank = blank.shift(1).fill_null(True) | lines.select(FIRST_LINE).to_series()
    heads = heads.with_columns(head_text=_head_text(pl.col("stripped")))
    heads = heads.filter(pl.col("head_text").str.contains(ENTRY_HEAD_RX)
                         | (pl.lit(after_blank).gather(pl.col("r")) & pl.col("head_text").str.contains(NEAR_HEAD_RX)))
    start = pl.repeat(False, lines.height, eager=True).scatter(heads["r"], True)
    lines = lines.with_columns(blank=blank, after_blank=after_blank, start=start).with_columns(
        entry_no=_since_first_line(START.cum_sum()) + pl.when(FIRST_LINE).then(START).forward_fill())
    return lines, heads


def _head_text(stripped: pl.Expr) -> pl.Expr:
    """parse.head_text of a stripped line: runs of white space read as one space, unless plain ASCII."""
    spaced = stripped.str.contains(r"[^\x00-\x7f]|\t|  ")
    return pl.when(spaced).then(stripped.str.replace_all(SPACES_RX, " ")).otherwise(stripped)


def _bounds(lines: pl.DataFrame) -> pl.DataFrame:
    """Adds the rows an entry's fields are cut at, each a fill over the lines of the whole batch."""
    after_start = pl.col("start").shift(1).fill_null(False)
    paragraph = ~pl.col("blank") & ~pl.col("start") & (pl.col("after_blank") | after_start)
    block = pl.col("start") | FIRST_LINE     # an entry, or a dump's header
    return lines.with_columns(
        next_block=pl.when(block).then(ROW).backward_fill().shift(-1).fill_null(pl.len()),
        next_paragraph=pl.when(paragraph).then(ROW).backward_fill().shift(-1),
        last_nonblank=pl.when(~pl.col("blank")).then(ROW).forward_fill(),
        last_nonempty=pl.when(pl.col("nbytes") > 0).then(ROW).forward_fill(),
        # a blank line that is not exactly one "" between paragraphs: the abstract needs joining again
        odd_blanks=(pl.col("blank") & ((pl.col("nbytes") > 0) | pl.col("after_blank"))).cum_sum())


def _entries(batch: pl.DataFrame, lines: pl.DataFrame, heads: pl.DataFrame) -> pl.DataFrame:
    """One row per entry: d and ENTRY_SCHEMA's fields. A one-line paragraph is its line as split (no copy);
    other texts are byte slices of the dump."""
    text = pl.lit(batch["text"].cast(pl.Binary)).gather(pl.col("d"))

    def cut(first: str, last: str) -> pl.Expr:
        start = _at(lines, "off", pl.col(first))
        return text.bin.slice(start, _at(lines, "off", pl.col(last)) + _at(lines, "nbytes", pl.col(last)) - start
                              ).cast(pl.String)

    def one_line(first: str) -> pl.Expr:
        return _at(lines, "line", pl.col(first))

    def several(first: str) -> pl.Expr:
        return pl.col(f"{first}_last") > pl.col(first)

    spans = _spans(lines, heads)
    entries = spans.with_columns(
        entry_index="entry_no", line_no=pl.col("i") + 1, head="stripped", raw_text=cut("r0", "raw_last"),
        title_text=one_line("title").str.strip_chars(WHITESPACE), abstract_text=one_line("abstract"),
        authors_text=one_line("authors").str.strip_chars(WHITESPACE))
    for name in ["title", "authors"]:    # parse_entry: .replace("\n", " ").strip()
        entries = _patch(entries, f"{name}_text", several(name), cut(name, f"{name}_last").str.replace_all(
            "\n", " ", literal=True).str.strip_chars(WHITESPACE))
    entries = _patch(entries, "abstract_text", several("abstract"), cut("abstract", "abstract_last"))
    entries = _patch(entries, "abstract_text", pl.col("odd"), pl.col("abstract_text").str.replace_all(BLANK_RUN_RX, "\n\n"))
    entries = _patch(entries, "raw_text", pl.col("raw_text").str.len_bytes() > RAW_TEXT_MAX,
                     pl.col("raw_text").str.slice(0, RAW_TEXT_MAX))
    entries = entries.select("d", "entry_index", "line_no", "head", "head_text", "raw_text", title="title_text",
                             authors_text="authors_text", abstract="abstract_text")
    entries = _head_fields(entries.join(batch.select("d", "captured_on"), on="d", how="left", maintain_order="left"))
    return _code_links(_author_fields(entries.with_row_index("e")))


def _at(lines: pl.DataFrame, name: str, rows: pl.Expr) -> pl.Expr:
    """lines[name] at the given rows (null where rows is null)."""
    return pl.lit(lines[name]).gather(rows)


def _spans(lines: pl.DataFrame, heads: pl.DataFrame) -> pl.DataFrame:
    """Per entry (head row r0, block up to `end`): the first and last row of its title, authors line,
    abstract and raw_text. Paragraphs as parse._paragraphs; the title only when the head's next line has text."""
    def at(name: str, rows: str | pl.Expr) -> pl.Expr:
        return _at(lines, name, pl.col(rows) if isinstance(rows, str) else rows)

    def in_block(rows: pl.Expr) -> pl.Expr:
        return pl.when(rows < pl.col("end")).then(rows)

    spans = heads.with_columns(r0=pl.col("r").cast(pl.Int64)).with_columns(
        d=at("d", "r0"), i=at("i", "r0"), entry_no=at("entry_no", "r0"), end=at("next_block", "r0"))
    spans = spans.with_columns(p1=in_block(at("next_paragraph", "r0")))
    spans = spans.with_columns(p2=in_block(at("next_paragraph", "p1")), titled=pl.col("p1") == pl.col("r0") + 1)
    spans = spans.with_columns(p3=in_block(at("next_paragraph", "p2")), titled=pl.col("titled").fill_null(False))
    spans = spans.with_columns(
        title=pl.when("titled").then("p1"), authors=pl.when("titled").then("p2").otherwise("p1"),
        abstract=pl.when("titled").then("p3").otherwise("p2"))
    spans = spans.with_columns(
        title_last=pl.when("titled").then(at("last_nonblank", pl.coalesce("p2", "end") - 1)),
        authors_last=pl.when(pl.col("authors").is_not_null()).then(
            at("last_nonblank", pl.coalesce("abstract", "end") - 1)),
        abstract_last=pl.when(pl.col("abstract").is_not_null()).then(at("last_nonblank", pl.col("end") - 1)),
        raw_last=at("last_nonempty", pl.col("end") - 1))
    return spans.with_columns(odd=at("odd_blanks", "abstract_last") > at("odd_blanks", "abstract"))


def _patch(frame: pl.DataFrame, name: str, rows: pl.Expr, fix: pl.Expr) -> pl.DataFrame:
    """frame with column name set to fix where rows is true: vectorised, but evaluated on those rows
    only (a when/then evaluates both sides on every row), for the rare cases."""
    where = frame.select(rows.fill_null(False)).to_series().arg_true()
    if where.is_empty():
        return frame
    return frame.with_columns(frame[name].scatter(where, frame[where].select(fix).to_series()))


def _to_int(number: pl.Expr) -> pl.Expr:
    """parse.to_int: a Unicode decimal digit reads as its value (as int() does), commas are dropped."""
    return number.str.replace_many(DIGIT_VALUE).str.replace_all(",", "", literal=True).cast(pl.Int64)


def _head_fields(entries: pl.DataFrame) -> pl.DataFrame:
    """category, date_text, published_on, year_inferred, has_code_badge of a well-formed head."""
    groups = ["category", "month", "day", "year", "badge"]
    entries = entries.with_columns(pl.col("head_text").str.extract_groups(ENTRY_HEAD_RX).struct.rename_fields(groups)
                                   .alias("groups")).unnest("groups")
    headed = pl.col("category").is_not_null()
    length = pl.col("head_text").str.len_chars() - pl.col("category").str.len_chars()
    entries = entries.with_columns(
        date_text=pl.col("head_text").str.slice(pl.col("category").str.len_chars(),
                                                length - pl.col("badge").str.len_chars().fill_null(0)),
        year_inferred=pl.when(headed).then(pl.col("year").is_null()),
        has_code_badge=pl.when(headed).then(pl.col("badge").is_not_null()),
        month=pl.col("month").replace_strict(MONTHS, default=None, return_dtype=pl.Int64),
        day=_to_int(pl.col("day")), year=_to_int(pl.col("year")),
        captured_day=pl.col("captured_on").cast(pl.Int64), captured_year=pl.col("captured_on").dt.year().cast(pl.Int64))
    return entries.with_columns(published_on=_resolve_date(pl.col("month"), pl.col("day"), pl.col("year")))


def _resolve_date(month: pl.Expr, day: pl.Expr, year: pl.Expr) -> pl.Expr:
    """parse.resolve_date: a date without a year is in the capture year, or the year before when that
    would put it after the capture; null for an impossible date."""
    this_year = _epoch_day(pl.col("captured_year"), month, day)
    day_no = (pl.when(year.is_not_null()).then(_epoch_day(year, month, day))
              .when(this_year.is_null() | (this_year <= pl.col("captured_day"))).then(this_year)
              .otherwise(_epoch_day(pl.col("captured_year") - 1, month, day)))
    return day_no.cast(pl.Int32).cast(pl.Date)


def _epoch_day(year: pl.Expr, month: pl.Expr, day: pl.Expr) -> pl.Expr:
    """Days from 1970-01-01 to datetime.date(year, month, day), null where that raises (pl.date raises
    for the whole column, and is slower): H. Hinnant's days_from_civil, for years 1-9999."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = pl.when(month == 2).then(28 + leap.cast(pl.Int64)).when(month.is_in([4, 6, 9, 11])).then(30).otherwise(31)
    march_year = year - (month <= 2).cast(pl.Int64)
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = (march_year % 400) * 365 + (march_year % 400) // 4 - (march_year % 400) // 100 + day_of_year
    return pl.when(year.is_between(1, 9999) & day.is_between(1, days)).then(
        (march_year // 400) * 146097 + day_of_era - 719468)


def _author_fields(entries: pl.DataFrame) -> pl.DataFrame:
    """parse.split_authors of authors_text (stripped already): names, authors_truncated, tag."""
    padded = pl.concat_str(pl.lit(" "), pl.col("authors_text"), pl.lit(" "))
    entries = entries.with_columns(names="authors_text", tag=pl.lit(None, pl.String), tagged=padded.str.contains(
        TAG_SEPARATOR, literal=True))
    parts = padded.str.extract_groups(TAG_RX).struct
    entries = _patch(entries, "tag", pl.col("tagged"), parts.field("2").str.strip_chars(WHITESPACE))
    entries = _patch(entries, "names", pl.col("tagged"), parts.field("1").str.strip_chars(WHITESPACE))
    et_al = ET_AL.strip()
    truncated = (pl.col("names") == et_al) | pl.col("names").str.ends_with(ET_AL)
    names = pl.when(truncated).then(pl.col("names").str.strip_suffix(et_al)).otherwise("names")
    return entries.with_columns(
        authors=names.str.split(AUTHOR_SEPARATOR).list.eval(pl.element().str.strip_chars(" ,"))
        .list.filter(pl.element() != "").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        authors_truncated=truncated, tag=pl.when(pl.col("tag") != "").then("tag"))


def _code_links(entries: pl.DataFrame) -> pl.DataFrame:
    """parse.find_code_link of the abstract: the first link whose host is a code host."""
    found = entries.select("e", "abstract").filter(pl.col("abstract").str.contains("http", literal=True))
    found = found.with_columns(url=pl.col("abstract").str.extract_all(URL_RUN_RX))
    cut = pl.col("url").list.eval(pl.element().str.len_chars() > URL_LIMIT).list.any()
    found = pl.concat([found.filter(~cut), found.filter(cut).with_columns(url=pl.col("abstract").str.extract_all(URL_RX))])
    urls = found.select("e", "url").explode("url").with_columns(
        code_url=pl.col("url").str.strip_chars_end(URL_TRAILING_PUNCTUATION))
    host = (pl.col("code_url").str.extract(r"^https?://([^/]*)").str.to_lowercase().str.extract(r"^([^:]*)")
            .str.strip_prefix("www."))
    links = (urls.with_columns(code_host=host.replace_strict(CODE_HOSTS, default=None)).drop_nulls("code_host")
             .unique("e", keep="first", maintain_order=True).select("e", "code_url", "code_host"))
    return entries.join(links, on="e", how="left", maintain_order="left")


def _header(batch: pl.DataFrame, lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """parse.parse_header of every dump's non-blank header lines: (metrics and heading per d, problems).
    The METRICS patterns exclude each other (a test checks), so a line names at most one metric."""
    text = pl.col("stripped")
    header = lines.select("d", "i", "line", stripped=pl.col("line").str.strip_chars(WHITESPACE)).with_columns(
        heading=_to_int(text.str.extract(LISTING_RX, 1)),
        name=pl.coalesce([pl.when(text.str.contains(rx)).then(pl.lit(name)) for name, rx in METRIC_RX.items()]),
        value=_to_int(pl.coalesce([text.str.extract(rx, 1) for rx in METRIC_RX.values()])))
    first_heading = pl.col("heading").is_not_null() & (pl.col("heading").is_not_null().cum_sum().over("d") == 1)
    header = header.with_columns(first_heading=first_heading).with_columns(
        name=pl.when(~pl.col("first_heading")).then("name"))
    in_range = (pl.col("value") <= pl.col("name").replace_strict(METRIC_MAX, default=None, return_dtype=pl.Int64))
    header = header.with_columns(
        set_at=pl.when(in_range.fill_null(True) & pl.col("name").is_not_null()).then("i").min().over("d", "name"))
    header = header.with_columns(reason=pl.when("first_heading").then(None)
                                 .when(pl.col("name").is_null() | (pl.col("i") > pl.col("set_at")))
                                 .then(pl.lit("unparsable header line"))
                                 .when(pl.col("i") == pl.col("set_at")).then(None)
                                 .otherwise(pl.format("metric {} out of range: {}", "name", "value")))
    per_dump = header.group_by("d").agg(
        pl.col("heading").filter("first_heading").first().alias("papers_heading"),
        *[pl.col("value").filter((pl.col("name") == name) & (pl.col("i") == pl.col("set_at"))).first().alias(name)
          for name in METRICS],
        *[(pl.col("name") == name).any().alias(f"seen {name}") for name in METRICS])
    return per_dump.select("d", "papers_heading", *METRICS), _problems(batch, header, per_dump)


def _problems(batch: pl.DataFrame, header: pl.DataFrame, per_dump: pl.DataFrame) -> pl.DataFrame:
    """The header problems of each dump in the reference's order: its lines' in line order, then a
    "missing metric" for each metric no line names, in METRICS order."""
    lines = header.drop_nulls("reason").select(
        "d", order=pl.col("i"), line_no=pl.col("i") + 1, reason="reason",
        raw_text=pl.col("line").str.slice(0, PROBLEM_TEXT_MAX))
    seen = batch.select("d").join(per_dump, on="d", how="left").unpivot(
        [f"seen {name}" for name in METRICS], index="d", variable_name="metric", value_name="seen")
    missing = seen.filter(~pl.col("seen").fill_null(False)).select(
        "d", order=pl.col("metric").replace_strict({f"seen {n}": k for k, n in enumerate(METRICS)}) + (1 << 62),
        line_no=pl.lit(None, pl.Int64), reason=pl.lit("missing ") + pl.col("metric").str.replace("seen ", "metric "),
        raw_text=pl.lit(""))
    both = pl.concat([lines, missing.with_columns(pl.col("order").cast(pl.Int64))]).sort("d", "order")
    return both.join(batch.select("d", "dump_id"), on="d", maintain_order="left").select(
        "dump_id", entry_index=pl.lit(None, pl.Int64), line_no="line_no", reason="reason", raw_text="raw_text")

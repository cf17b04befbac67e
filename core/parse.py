"""Parse the text of one profile dump (SPEC §2) into header metrics and entries.

Pure and line-based: every regex is anchored and bounded, so the cost is linear in the input
size whatever the text holds. No I/O, no prefect, no duckdb.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

# 7: a code link's host ends at `/?#` and follows its user part (`https://github.com:x@evil.example/`).
# 6: a near-head that ends like a sentence starts an entry only glued to a title; `Feb 29` without a year may be in the year before.
# 5: `1 Paper` / `1paper`; a no-break space in an author line reads as a space; CR CR LF is one line
# break (core/records.py). 4: a garbled head in an entry's shape starts an entry; 3: a title or author
# name that normalises to nothing is a reject; 2: heads without a blank line before
PARSER_VERSION = "7"

MONTHS = {m: i for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1)}
_MONTH_ALT = "|".join(MONTHS)
ENTRY_HEAD = re.compile(rf"([A-Z]{{2,5}})({_MONTH_ALT}) (\d{{1,2}})(?:, (\d{{4}}))?(Code)?")
# Something that was meant to be an entry head but is not one (garbled by the scraper): a short
# word, maybe a namespace (`cs.LG`) or a separator (`LG·`) glued on, then a month and a digit; or
# a category glued to an ISO date (`LG2023-08-23`).
NEAR_HEAD = re.compile(rf"(?:[a-z]{{1,4}}\.)?[A-Za-z]{{0,8}}[·_/-]? ?(?i:{_MONTH_ALT})[a-z]{{0,6}}\.? ?\d"
                       rf"|[A-Z]{{2,5}}\d{{4}}-\d{{1,2}}-\d{{1,2}}")
NEAR_HEAD_MAX_LEN = 40
SENTENCE_ENDS = (".", "!", "?")
# An author line's shape: one to three names (no digit, comma, middle dot, `:;/()[]@`, or final full
# stop), ` et al.`, a tag. A garbled head in an entry's shape keeps a digit of its date.
_NAME = r"[^,·:;/()\[\]@0-9]{0,59}[^,·:;/()\[\]@0-9.]"
AUTHOR_LINE = re.compile(rf"{_NAME}(?:, {_NAME}){{0,2}}(?: et al\.)?(?: · [^·]{{0,60}})?")
DIGIT = re.compile(r"\d")
SPACES = re.compile(r"\s+")   # a tab or a no-break space (HTML's &nbsp;) in a head reads as a space
NUMBER = r"(\d{1,3}(?:,\d{3}){1,5}|\d{1,18})"     # bounded: at most 18 digits, always an Int64
METRIC_MAX = {"novelty_pct": 100}
METRICS = {
    "h_index": re.compile(rf"h-index ?{NUMBER}", re.IGNORECASE),
    "papers_reported": re.compile(rf"{NUMBER} ?papers?"),   # `1paper` on a one-paper profile
    "citations": re.compile(rf"{NUMBER} ?citations", re.IGNORECASE),
    "novelty_pct": re.compile(rf"Novelty ?{NUMBER} ?%", re.IGNORECASE),
    "ai_score": re.compile(rf"AI Score ?{NUMBER}", re.IGNORECASE),
}
LISTING_HEADING = re.compile(rf"{NUMBER} Papers?")
URL = re.compile(r"https?://[^\s<>\"'`{}|\\^\[\]]{1,2000}")
URL_TRAILING_PUNCTUATION = ".,;:!?)]}'\""
AUTHORITY_END = re.compile(r"[/?#]")
CODE_HOSTS = {
    "github.com": "github", "gitlab.com": "gitlab", "bitbucket.org": "bitbucket",
    "codeberg.org": "codeberg", "huggingface.co": "huggingface", "hf.co": "huggingface",
}
AUTHOR_SEPARATOR = ", "
TAG_SEPARATOR = " · "
ET_AL = " et al."


@dataclass
class Entry:
    """One entry of the listing, as written, with the pieces the format defines."""
    entry_index: int
    line_no: int
    raw_text: str
    head: str
    category: str | None = None
    date_text: str | None = None
    published_on: dt.date | None = None
    year_inferred: bool | None = None
    has_code_badge: bool | None = None
    title: str | None = None
    authors_text: str | None = None
    authors: list[str] = field(default_factory=list)
    authors_truncated: bool | None = None
    tag: str | None = None
    abstract: str | None = None
    code_url: str | None = None
    code_host: str | None = None


@dataclass
class HeaderProblem:
    line_no: int | None
    reason: str
    raw_text: str


@dataclass
class ParsedDump:
    metrics: dict[str, int | None]
    papers_heading: int | None
    entries: list[Entry]
    header_problems: list[HeaderProblem]

    @property
    def looks_like_profile(self) -> bool:
        """A metric line or a well-formed entry head: garbled heads alone don't make a profile."""
        return any(e.category for e in self.entries) or any(v is not None for v in self.metrics.values())


def to_int(text: str) -> int:
    return int(text.replace(",", ""))


def resolve_date(month: int, day: int, year: int | None, captured_on: dt.date) -> dt.date | None:
    """The entry's date; a date without a year is in the capture year, or the year before
    when that would put it after the capture. None for an impossible date."""
    if year is not None:
        return _safe_date(year, month, day)
    # by month and day, so that `Feb 29` captured in January of 2025 is 2024-02-29
    in_capture_year = (month, day) <= (captured_on.month, captured_on.day)
    return _safe_date(captured_on.year - (0 if in_capture_year else 1), month, day)


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def head_text(line: str) -> str:
    text = line.strip()
    return text if text.isascii() and "\t" not in text and "  " not in text else SPACES.sub(" ", text)


def starts_entry(lines: list[str], i: int, listed_from: int | None = None) -> bool:
    """A well-formed head starts an entry wherever it stands (a scraper may drop the blank line
    before it); a near-head only after a blank line, where a head belongs: elsewhere a short line
    with a date in it is abstract text. So does, below the listing heading (line listed_from - 1),
    a short line with a digit after a blank one in an entry's shape (has_entry_shape): a head garbled
    past NEAR_HEAD. A near-head that ends like a sentence needs its title (has_title)."""
    head = head_text(lines[i])
    if ENTRY_HEAD.fullmatch(head):
        return True
    if i > 0 and lines[i - 1].strip():
        return False
    if NEAR_HEAD.match(head) is not None:   # `Novelty55%` too, but a metric line is header text
        return ((has_title(lines, i) or not head.endswith(SENTENCE_ENDS))
                and not any(rx.fullmatch(lines[i].strip()) for rx in METRICS.values()))
    return listed_from is not None and i >= listed_from and DIGIT.search(head) is not None and has_entry_shape(lines, i)


def has_title(lines: list[str], i: int) -> bool:
    """Line i glued to a next line, as a head is to its title. A near-head that isn't must not end like
    a sentence: a short paragraph of an abstract (`Dec 2023 preprint.`) does, and stays abstract text,
    where a head cut off at the end of a dump or missing its title still starts an entry (a reject)."""
    return i + 1 < len(lines) and bool(lines[i + 1].strip())


def has_entry_shape(lines: list[str], i: int) -> bool:
    """Line i glued to a next line (a head and its title), then a blank line, an author line, and a
    blank line or the end: an entry's shape, which an abstract's paragraphs don't have."""
    return (i + 3 < len(lines) and bool(lines[i].strip()) and bool(lines[i + 1].strip()) and not lines[i + 2].strip()
            and AUTHOR_LINE.fullmatch(lines[i + 3].strip()) is not None
            and (i + 4 == len(lines) or not lines[i + 4].strip()))


def listing_start(lines: list[str]) -> int | None:
    """The line after the first listing heading (`57 Papers`), where entries may begin."""
    return next((i + 1 for i, line in enumerate(lines) if len(line.strip()) <= NEAR_HEAD_MAX_LEN
                 and LISTING_HEADING.fullmatch(line.strip())), None)


def split_authors(text: str) -> tuple[list[str], bool, str | None]:
    """Visible author names, whether the list ends in ' et al.', and the ' · TAG' suffix. The line
    comes stripped, so an empty tag is a trailing ` ·` and a line of only a tag starts with `· `;
    stray commas (`A,,  , B`) make no names."""
    text, tag = f" {SPACES.sub(' ', text)} ", None   # a no-break space or tab reads as a space, as in a head
    if TAG_SEPARATOR in text:
        text, tag = text.rsplit(TAG_SEPARATOR, 1)
        tag = tag.strip() or None
    text = text.strip()
    truncated = text == ET_AL.strip() or text.endswith(ET_AL)
    if truncated:
        text = text[: -len(ET_AL.strip())]
    names = [name.strip(" ,") for name in text.split(AUTHOR_SEPARATOR)]
    return [n for n in names if n], truncated, tag


def find_code_link(text: str) -> tuple[str | None, str | None]:
    """The first link to a known code host, without trailing sentence punctuation."""
    for match in URL.finditer(text):
        url = match.group(0).rstrip(URL_TRAILING_PUNCTUATION)
        # the host ends at `/`, `?` or `#` and follows any user part (`https://github.com:x@evil.example/`
        # goes to evil.example, `https://evil.example?@github.com/` to evil.example too)
        authority = AUTHORITY_END.split(url.split("/", 2)[2], maxsplit=1)[0]
        host = authority.rpartition("@")[2].lower().split(":")[0].removeprefix("www.")
        if host in CODE_HOSTS:
            return url, CODE_HOSTS[host]
    return None, None


def parse_header(lines: list[str]) -> tuple[dict[str, int | None], int | None, list[HeaderProblem]]:
    metrics: dict[str, int | None] = dict.fromkeys(METRICS)
    heading, problems, out_of_range = None, [], set()
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if (m := LISTING_HEADING.fullmatch(line.strip())) and heading is None:
            heading = to_int(m.group(1))
            continue
        name = next((k for k, rx in METRICS.items() if metrics[k] is None and rx.fullmatch(line.strip())), None)
        value = to_int(METRICS[name].fullmatch(line.strip()).group(1)) if name else None
        if name is None:
            problems.append(HeaderProblem(line_no, "unparsable header line", line[:2000]))
        elif value > METRIC_MAX.get(name, value):
            problems.append(HeaderProblem(line_no, f"metric {name} out of range: {value}", line[:2000]))
            out_of_range.add(name)
        else:
            metrics[name] = value
    problems += [HeaderProblem(None, f"missing metric {name}", "") for name, v in metrics.items()
                 if v is None and name not in out_of_range]
    return metrics, heading, problems


def parse_entry(entry_index: int, line_no: int, block: list[str], captured_on: dt.date) -> Entry:
    head = head_text(block[0])   # matched with its spaces made plain; kept as written
    entry = Entry(entry_index, line_no, "\n".join(block).strip("\n")[:100_000], block[0].strip())
    if m := ENTRY_HEAD.fullmatch(head):
        category, month, day, year, badge = m.groups()
        entry.category, entry.has_code_badge = category, badge is not None
        entry.date_text = head[len(category): len(head) - (4 if badge else 0)]
        entry.published_on = resolve_date(MONTHS[month], int(day), int(year) if year else None, captured_on)
        entry.year_inferred = year is None
    paragraphs = _paragraphs(block[1:])
    if len(block) > 1 and block[1].strip():
        entry.title = paragraphs.pop(0).replace("\n", " ").strip()
    if paragraphs:
        entry.authors_text = paragraphs.pop(0).replace("\n", " ").strip()
        entry.authors, entry.authors_truncated, entry.tag = split_authors(entry.authors_text)
    if paragraphs:
        entry.abstract = "\n\n".join(paragraphs)
        entry.code_url, entry.code_host = find_code_link(entry.abstract)
    return entry


def _paragraphs(lines: list[str]) -> list[str]:
    paragraphs, current = [], []
    for line in lines:
        if line.strip():
            current.append(line)
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return paragraphs


def parse_dump(text: str, captured_on: dt.date) -> ParsedDump:
    """Split a dump into its header and its entries. An entry starts at a head line (see
    starts_entry); everything up to the next one belongs to it."""
    lines = text.split("\n")
    listed_from = listing_start(lines)
    # most lines are blank or longer than any head: they are passed over without a call
    starts = [i for i, line in enumerate(lines) if line and (len(line) <= NEAR_HEAD_MAX_LEN or len(
        line.strip()) <= NEAR_HEAD_MAX_LEN) and starts_entry(lines, i, listed_from)]
    header_end = starts[0] if starts else len(lines)
    metrics, heading, problems = parse_header(lines[:header_end])
    bounds = zip(starts, starts[1:] + [len(lines)])
    entries = [parse_entry(k, start + 1, lines[start:end], captured_on)
               for k, (start, end) in enumerate(bounds, start=1)]
    return ParsedDump(metrics, heading, entries, problems)

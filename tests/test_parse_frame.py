"""core/parse_frame.py against the reference parser, frame for frame: parse.parse_dump per dump, shaped
as the pipeline shaped it before parse_frame (extract.add_parsed, validate.entry_frame): dump rows,
entries, header problems. On the real sample, generated corpora, the hostile fixtures and hostile
texts from hypothesis, one dump per call and many in one call. parse_texts declines nothing (no
difference is left to decline), so every dump is compared and `declined` must stay empty."""
from __future__ import annotations

import datetime as dt
import re
import string
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from examples import dumpgen
from core import parse_frame, rust_regex
from core.parse import (AUTHOR_LINE, CODE_HOSTS, ENTRY_HEAD, LISTING_HEADING, METRICS, NEAR_HEAD, NEAR_HEAD_MAX_LEN,
                        SPACES, parse_dump)
from core.validate import PROBLEM_SCHEMA
from schemas.raw import RawEntry
from schemas.tables import polars_schema
from tests.conftest import examples
from tests.test_parser_properties import authors, heads, metrics

CAPTURED = dt.date(2026, 6, 1)
ENTRY_FIELDS = [c for c in polars_schema(RawEntry) if c != "dump_id"]   # parse.Entry's, by name
DUMP_SCHEMA = pl.Schema({"dump_id": pl.String, **dict.fromkeys(METRICS, pl.Int64), "papers_heading": pl.Int64,
                         "entries_found": pl.Int64, "looks_like_profile": pl.Boolean})
FIXTURES = Path(__file__).parent / "fixtures" / "hostile"
HOSTILE_SETTINGS = settings(deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])


def reference(texts: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(dumps, entries, problems) of parse_dump, dump by dump, as the pipeline built them before
    parse_frame: metrics and counts per dump, ENTRY_FIELDS per entry, header problems as rejects."""
    dumps, entries, problems = [], {name: [] for name in ["dump_id", *ENTRY_FIELDS]}, []
    for dump_id, text, captured_on in texts.select("dump_id", "text", "captured_on").iter_rows():
        parsed = parse_dump(text, captured_on)
        dumps.append({"dump_id": dump_id, **parsed.metrics, "papers_heading": parsed.papers_heading,
                      "entries_found": len(parsed.entries), "looks_like_profile": parsed.looks_like_profile})
        for entry in parsed.entries:
            entries["dump_id"].append(dump_id)
            for name in ENTRY_FIELDS:
                entries[name].append(getattr(entry, name))
        problems += [{"dump_id": dump_id, "entry_index": None, "line_no": p.line_no, "reason": p.reason,
                      "raw_text": p.raw_text} for p in parsed.header_problems]
    entries["authors"] = [[name for name in names if name] for names in entries["authors"]]   # as entry_frame
    return (pl.DataFrame(dumps, schema=DUMP_SCHEMA), pl.DataFrame(entries, schema=polars_schema(RawEntry)),
            pl.DataFrame(problems, schema=PROBLEM_SCHEMA))


def batch(texts: list[str], captured: list[dt.date] | None = None) -> pl.DataFrame:
    return pl.DataFrame({"dump_id": [f"d{i:04d}" for i in range(len(texts))], "text": texts,
                         "captured_on": captured or [CAPTURED] * len(texts)},
                        schema={"dump_id": pl.String, "text": pl.String, "captured_on": pl.Date})


def assert_same_as_reference(texts: pl.DataFrame) -> parse_frame.ParsedFrames:
    got = parse_frame.parse_texts(texts)
    assert got.declined == []
    dumps, entries, problems = reference(texts)
    assert_frame_equal(got.dumps, dumps)
    assert_frame_equal(got.entries, entries)
    assert_frame_equal(got.problems, problems)
    return got


# --- the real sample, generated corpora, the hostile fixtures ------------------------------------------

def test_empty_batch_and_schemas():
    got = assert_same_as_reference(batch([]))
    assert got.entries.columns == ["dump_id", *ENTRY_FIELDS] and got.dumps.columns == list(DUMP_SCHEMA)


def test_real_sample(sample_text):
    got = assert_same_as_reference(batch([sample_text]))
    assert got.entries.height == 50 and got.entries["code_url"].count() == 17
    assert got.dumps.row(0, named=True)["citations"] == 1945


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_generated_corpus(seed):
    pairs = dumpgen.make_corpus(80, seed) + dumpgen.make_snapshots(80, seed, count=6) + dumpgen.make_corpus(20, seed, 3)
    captured = [dumpgen.capture_time(i % 80).date() for i in range(len(pairs))]
    got = assert_same_as_reference(batch([text for _, text in pairs], captured))
    assert got.entries.height > 80 * 40


def test_generated_corpus_captured_early_in_the_year():
    """The same dumps captured on 2 January: dates printed without a year fall in the year before."""
    texts = [text for _, text in dumpgen.make_corpus(60, 3)]
    got = assert_same_as_reference(batch(texts, [dt.date(2026, 1, 2)] * len(texts)))
    assert got.entries.filter(pl.col("year_inferred") & (pl.col("published_on").dt.year() == 2025)).height > 0


def hostile_profile(entries: list[dict]) -> dict:
    return {"h_index": 5, "papers_reported": 9, "citations": 12345, "novelty_pct": 100, "ai_score": 0,
            "papers_heading": 1_000_000, "captured_at": dt.datetime(2024, 3, 1), "entries": entries}


def hostile_entry(**fields) -> dict:
    return {"category": "LG", "date": dt.date(2024, 2, 29), "title": "A Title", "authors": ["Ann Lee"],
            "abstract": "Text at https://www.GitHub.com:443/o/r).", **fields}


def test_make_dumps_options_as_written():
    """render_dump's print-as-is options: odd date texts, author lines, tags, the year shown or not."""
    entries = [hostile_entry(date_text=t) for t in ["Feb 30, 2024", "Feb 29", "Sept 3", "Feb 29, 2023", "Dec 31",
                                                    "Mar 1, 0000", "May ٣, ٢٠٢٣"]]
    entries += [hostile_entry(authors_text=t) for t in ["et al.", "· mit", "A, B et al. · ", "A · B · C", " , ,"]]
    entries += [hostile_entry(show_year=False, code_badge=True, tag="apache-2.0",
                              authors=[f"N{i} M{i}" for i in range(6)]), hostile_entry(show_year=True)]
    texts = [dumpgen.render_dump(hostile_profile(entries)), dumpgen.render_dump(hostile_profile([]))]
    captured = [dt.date(2024, 3, 1), dt.date(2023, 12, 31)]
    assert_same_as_reference(batch(texts * 2, captured + captured[::-1]))


def test_hostile_fixtures():
    texts = []
    for path in sorted(FIXTURES.glob("*.txt")):
        try:
            texts.append(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            continue
    assert len(texts) >= 6 and not any("\0" in t for t in texts)
    assert_same_as_reference(batch(texts))


@pytest.mark.parametrize("k", [1950, 1986, 1987, 1988, 1989, 2100])
def test_a_link_run_longer_than_the_bound(k):
    """URL's {1,2000} cuts a longer run 2000 characters after its "https://", and the search goes on
    behind the cut: the GitHub link is found only when it starts there or later."""
    abstract = "see https://example.org/" + "a" * k + "https://github.com/o/r."
    got = assert_same_as_reference(batch(["\n".join(["LGAug 1, 2023", "T", "", "A B", "", abstract])]))
    assert got.entries["code_url"].to_list() == ["https://github.com/o/r" if k >= 1988 else None]


# --- the translated regexes and Python's character sets --------------------------------------------------

EVERY_CHAR = "".join(map(chr, range(0x110000)))


def test_character_sets_are_pythons_over_all_of_unicode():
    """The import scans planes 0-1 only; nothing beyond them is white space, a digit or a case twin."""
    assert rust_regex.WHITESPACE == "".join(re.findall(r"\s", EVERY_CHAR))
    assert set(rust_regex.WHITESPACE) == {c for c in EVERY_CHAR if c.isspace()}   # strip()'s set
    assert rust_regex.DIGITS == "".join(re.findall(r"\d", EVERY_CHAR))
    for letter in string.ascii_lowercase:
        assert rust_regex.CASELESS[letter] == "".join(re.findall(f"(?i:{letter})", EVERY_CHAR)), letter
    assert {"\x1c", "\x1f", "\xa0", "\u3000"} <= set(rust_regex.WHITESPACE)
    assert {"K", "\u212a"} <= set(rust_regex.CASELESS["k"]) and "\u0131" in rust_regex.CASELESS["i"]
    assert all(int(d) == int(rust_regex.DIGIT_VALUE.get(d, d)) for d in rust_regex.DIGITS)


@pytest.mark.filterwarnings("ignore:Possible set:FutureWarning")
@pytest.mark.parametrize("pattern, flags", [(r"\w+", 0), ("[a-z]", re.IGNORECASE), (r"\bx", 0), ("[ab&&c]", 0),
                                            ("a.b", re.DOTALL), ("x", re.ASCII | re.IGNORECASE)])
def test_translation_refuses_what_it_cannot_say(pattern, flags):
    with pytest.raises(ValueError):
        rust_regex.to_rust(re.compile(pattern, flags))


PATTERNS = {"head": (ENTRY_HEAD, rust_regex.ENTRY_HEAD_RX, True), "near": (NEAR_HEAD, rust_regex.NEAR_HEAD_RX, False),
            "listing": (LISTING_HEADING, rust_regex.LISTING_RX, True),
            "authors": (AUTHOR_LINE, rust_regex.AUTHOR_LINE_RX, True),
            **{name: (rx, rust_regex.METRIC_RX[name], True) for name, rx in METRICS.items()}}
odd_chars = st.sampled_from("İıſK\u212aKk٣߃𝟗०0 \t\xa0\u3000\x1c\x1f-,.%·")


@settings(HOSTILE_SETTINGS, max_examples=examples(60))
@given(st.data())
def test_translated_patterns_match_what_python_matches(data):
    for name, (rx, rust, full) in PATTERNS.items():
        texts = data.draw(st.lists(st.one_of(st.from_regex(rx, fullmatch=full), st.text(odd_chars, max_size=12),
                                             st.from_regex(rx, fullmatch=full).map(str.upper)), max_size=20), name)
        expected = [bool(rx.fullmatch(t) if full else rx.match(t)) for t in texts]
        assert pl.Series(texts, dtype=pl.String).str.contains(rust).to_list() == expected, name
    spaced = data.draw(st.lists(st.text(odd_chars, max_size=12), max_size=20))
    assert pl.Series(spaced, dtype=pl.String).str.replace_all(rust_regex.SPACES_RX, " ").to_list() == [
        SPACES.sub(" ", t) for t in spaced]


@settings(HOSTILE_SETTINGS, max_examples=examples(50))
@given(st.sampled_from(list(METRICS)).flatmap(lambda name: st.tuples(st.just(name), st.from_regex(
    METRICS[name], fullmatch=True))))
def test_a_metric_line_names_one_metric(name_and_line):
    """parse_fields.header_fields relies on it: the METRICS patterns exclude each other."""
    name, line = name_and_line
    assert [other for other, rx in METRICS.items() if rx.fullmatch(line)] == [name]


# --- hostile texts -------------------------------------------------------------------------------------------

blanks = st.sampled_from(["", "", "", " ", "\t", "\xa0", "\u3000", "\x1c", "\x1f \x1e", "\u2028", "\x85 "])
pads = st.sampled_from(["", "", " ", "\t", "\xa0", "\u3000", "\x1c\x1d", " " * 30, "\x1e" * 45])
well_formed = st.from_regex(ENTRY_HEAD, fullmatch=True)
near_heads = st.one_of(st.from_regex(NEAR_HEAD).map(lambda t: t[:60]), st.sampled_from(
    ["cs.LGAug 23, 2023", "LG·Aug 23", "LG2023-08-23", "lgaug 5", "LG_SEPT. 9", "ſep 3", "LGAug. 23", "X/Dec 1x"]))
# heads garbled past NEAR_HEAD: an entry's shape (parse.has_entry_shape) makes them heads below a listing heading
garbled_heads = st.text(st.sampled_from("LGCVAugJ 23,0٣.·-x\xa0"), min_size=1, max_size=14)
head_like = st.one_of(heads, well_formed, near_heads, garbled_heads, st.sampled_from(
    ["LGFeb 29", "LGFeb 29, 2023", "LGFeb 29, 2024", "CVDec 31", "ROJan 1, 0000", "AIMay ٣, ٢٠٢٣Code",
     "IRMar 0", "CLApr 31, 2024Code", "ABCDEJun 30Code", "LGAug 23,  2023", "LG\tAug 23", "LGAug\xa023, 2023"]))
padded_heads = st.one_of(
    head_like, st.builds(lambda a, h, b: a + h + b, pads, head_like, pads),
    st.builds(lambda h, ws: h.replace(" ", ws), head_like, st.sampled_from(["  ", "\t", "\xa0", "\u3000", "\x1f"])),
    st.builds(lambda h, n, fill: (h + fill * 50)[:n] if fill != " " else h.ljust(n), head_like,
              st.sampled_from([NEAR_HEAD_MAX_LEN - 1, NEAR_HEAD_MAX_LEN, NEAR_HEAD_MAX_LEN + 1]),
              st.sampled_from([" ", "x", "\xa0"])))
metric_lines = st.one_of(metrics, *[st.from_regex(rx, fullmatch=True) for rx in [*METRICS.values(), LISTING_HEADING]],
                         st.sampled_from(["h-İndex28", "h-ındex28", "AI ſcore7", "Novelty١٠٠%", "Novelty101%",
                                          "٣papers", " 57 Papers ", "57 Papers", "x" * 2500, "é" * 2100,
                                          "Aİ Score5", "aı score5", "1,945cıtatıons", "h-index\u212a"]))
author_lines = st.one_of(authors, st.sampled_from(
    ["A · B · C", "· mit", "Ann Lee ·", "et al.", "A, B et al. · ", "A,  B", "A , B", "Lai Wei,,  , Zi Jiang ·",
     "A · · B", "Ann Lee et al.", "Ann Lee et al. · x · ", "\xa0Ann Lee\u3000· mit", "A,B, C",
     "é" * 60 + ", " + "B" * 60 + ", C et al. · " + "t" * 60, " " + "é" * 59 + "., B", "Ann Lee, Bo Chen, Cy Li, Di Wu"]))
hosts = st.sampled_from([*CODE_HOSTS, "GitHub.COM", "www.github.com", "WWW.HF.CO", "bitbuc\u212aet.org",
                         "gİthub.com", "example.org", "gitlab.com.evil.org", "", "hf.co:8080",
                         "github.com:x@evil.example", "u@github.com", "a@b@hf.co", "github.com@", "@",
                         "evil.example?@github.com", "github.com#x@evil.example", "github.com?x", "hf.co#"])
urls = st.builds(lambda scheme, host, port, path, punct: f"{scheme}://{host}{port}{path}{punct}",
                 st.sampled_from(["https", "http", "HTTPS", "ftp"]), hosts, st.sampled_from(["", ":443", ":"]),
                 st.sampled_from(["", "/", "/o/r", "/o/r.git", "/o/(r)", "/a" * 1100]),
                 st.sampled_from(["", ".", ").", "\"", "'.", ",;", "]}", "!?"]))
# a link run longer than URL's bound: where the bound cuts it decides whether the GitHub link is found
long_runs = st.builds(lambda k: "see https://example.org/" + "a" * k + "https://github.com/o/r.",
                      st.integers(1960, 2010))
abstract_lines = st.one_of(
    st.text(st.characters(blacklist_characters="\n\r\x00", blacklist_categories=("Cs",)), max_size=80),
    st.builds(lambda a, u, b: f"{a} {u} {b}", st.text(string.ascii_letters, max_size=10), urls,
              st.sampled_from(["", "and https://github.com/x/y.", "\thttps://hf.co/m"])),
    long_runs, st.sampled_from(["y" * 100_010, "é" * 60_000, "é" * 100_005, "$k$ \\% σ δ Ω"]),
    padded_heads, metric_lines)
gaps = st.lists(blanks, max_size=3)
paragraphs = st.lists(st.tuples(st.lists(abstract_lines, min_size=1, max_size=3), gaps), max_size=3)


def entry_lines(head, title, gap1, author, gap2, paras) -> list[str]:
    lines = [head, *title, *gap1, author, *gap2]
    for para, gap in paras:
        lines += [*para, *gap]
    return lines


entries = st.builds(entry_lines, padded_heads, st.lists(abstract_lines, max_size=2), gaps, author_lines, gaps,
                    paragraphs)
dump_texts = st.one_of(
    st.builds(lambda header, gap, blocks, lead, tail: lead + "\n".join(
        [*header, *gap, *[line for block in blocks for line in block]]) + tail,
        st.lists(st.one_of(metric_lines, blanks, abstract_lines), max_size=10), gaps, st.lists(entries, max_size=5),
        st.sampled_from(["", "\n", " \n"]), st.sampled_from(["", "\n", "\n\n", "\n \n"])),
    st.lists(st.one_of(metric_lines, blanks, padded_heads, author_lines, abstract_lines), max_size=30).map("\n".join),
    st.sampled_from(["", "\n", " ", "\n\n \n", "h-index28", "LGAug 23, 2023", "\xa0"]))
capture_dates = st.one_of(st.just(CAPTURED), st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)), st.sampled_from(
    [dt.date(2024, 2, 29), dt.date(2025, 1, 1), dt.date(2024, 12, 31), dt.date(1, 6, 1), dt.date(2023, 2, 28)]))


@settings(HOSTILE_SETTINGS, max_examples=examples(400))
@given(dump_texts, capture_dates)
def test_hostile_dump(text, captured_on):
    assert_same_as_reference(batch([text], [captured_on]))


@settings(HOSTILE_SETTINGS, max_examples=examples(120))
@given(st.lists(st.tuples(dump_texts, capture_dates), min_size=2, max_size=12))
def test_hostile_dumps_in_one_call(dumps):
    """Many dumps through one parse_texts call: no entry, metric or problem leaks into its neighbour."""
    assert_same_as_reference(batch([text for text, _ in dumps], [captured for _, captured in dumps]))


def test_generated_capture_times_stay_in_the_past_however_many_profiles():
    """`make_dumps.py --profiles 5000` once dated profile k at 2026-06-01 + k hours: past 4,500 profiles
    in the future, quarantined by a run (and more of them every hour)."""
    latest = max(dumpgen.capture_time(k, snapshot) for k in range(20_000) for snapshot in (False, True))
    assert latest < dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    assert dumpgen.capture_time(1) - dumpgen.capture_time(0) == dt.timedelta(hours=1)   # the cached corpora's times


def test_a_one_paper_heading_and_no_break_spaces_in_author_lines(sample_text):
    """`1paper` / `1 Paper` are a one-paper profile's metric and heading, not unparsable header lines
    (which also turned off the listing's entry-shape rule); a no-break space after an author's comma
    reads as a space, as in a head: not one merged name."""
    one = sample_text.replace("57papers", "1paper").replace("57 Papers", "1 Paper")
    spaced = sample_text.replace("Ruina Hu, Chen Wang", "Ruina Hu,\u00a0Chen Wang").replace(" et al.", "\u00a0et al.")
    parsed = [parse_dump(text, dt.date(2026, 6, 1)) for text in (one, spaced)]
    assert (parsed[0].metrics["papers_reported"], parsed[0].papers_heading, parsed[0].header_problems) == (1, 1, [])
    [entry] = [e for e in parsed[1].entries if "Ruina Hu" in e.authors]
    assert entry.authors[:2] == ["Ruina Hu", "Chen Wang"] and entry.authors_truncated
    assert sum(e.authors_truncated for e in parsed[1].entries) == 43   # SPEC §2's count, et al. behind a no-break space
    assert_same_as_reference(batch([one, spaced], [dt.date(2026, 6, 1)] * 2))


def test_short_dated_paragraphs_and_leap_days_without_a_year(sample_text):
    """A short paragraph that starts with a month and a digit, not glued to a title line, is abstract text
    (not a garbled head); `Feb 29` without a year, captured in January of 2025, is 2024-02-29."""
    entry = "LGFeb 29\nA Title\n\nA B\n\nWe propose X.\n\nIn March 2024 we won.\n\nDec 2023 preprint."
    text = sample_text.replace("CVMay 29\n", entry + "\n\nCVMay 29\n", 1)
    captured = [dt.date(2025, 1, 15), dt.date(2025, 6, 1)]
    cut, untitled = (sample_text + "\n\nLGAug 23, 20", sample_text + "\n\nLG·Aug 23, 2023\n\nC D\n\nSecond.")
    assert [len(parse_dump(t, CAPTURED).entries) for t in (cut, untitled)] == [51, 51]   # heads without titles
    assert_same_as_reference(batch([cut, untitled]))
    got = assert_same_as_reference(batch([text, text], captured))
    leap = got.entries.filter(pl.col("head") == "LGFeb 29")
    assert leap["published_on"].to_list() == [dt.date(2024, 2, 29), None]
    assert leap["abstract"].to_list() == ["We propose X.\n\nIn March 2024 we won.\n\nDec 2023 preprint."] * 2
    assert got.entries.height == 2 * 51

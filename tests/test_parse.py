"""The parser on small inline texts, one rule of SPEC §2 at a time, and on the real sample."""
from __future__ import annotations

import datetime as dt

import pytest

from core.parse import find_code_link, parse_dump, resolve_date, split_authors
from tests import dumps

CAPTURED = dt.date(2026, 6, 1)
HEADER = "h-index28\n57papers\n1,945citations\nNovelty55%\nAI Score62\n\n57 Papers\n\n"


def one_entry(head: str = "LGAug 23, 2023Code", authors: str = "A B, C D", abstract: str | None = "Text.") -> str:
    return HEADER + "\n".join(dumps.entry(head, "A Title", authors, abstract))


def test_header_metrics_with_thousands_separators():
    parsed = parse_dump(HEADER + "\n".join(dumps.entry("CVMay 29", "T", "X Y", "Z")), CAPTURED)
    assert parsed.metrics == {"h_index": 28, "papers_reported": 57, "citations": 1945, "novelty_pct": 55, "ai_score": 62}
    assert parsed.papers_heading == 57 and parsed.header_problems == []


@pytest.mark.parametrize("head, category, date, inferred, badge", [
    ("LGAug 23, 2023Code", "LG", dt.date(2023, 8, 23), False, True),
    ("CVMay 29", "CV", dt.date(2026, 5, 29), True, False),
    ("ROFeb 12Code", "RO", dt.date(2026, 2, 12), True, True),
    ("IRDec 3", "IR", dt.date(2025, 12, 3), True, False),   # after the capture date: the year before
    ("CLJun 1", "CL", dt.date(2026, 6, 1), True, False),    # the capture day itself stays in the year
    ("CLJun 2", "CL", dt.date(2025, 6, 2), True, False),    # the capture's month, a later day: the year before
    ("ROBOTJun 3, 2024", "ROBOT", dt.date(2024, 6, 3), False, False),   # a category of five capitals
])
def test_entry_heads(head, category, date, inferred, badge):
    entry = parse_dump(one_entry(head), CAPTURED).entries[0]
    assert (entry.category, entry.published_on, entry.year_inferred, entry.has_code_badge) == (category, date, inferred, badge)


def test_impossible_date_has_no_date():
    entry = parse_dump(one_entry("LGFeb 30, 2024"), CAPTURED).entries[0]
    assert entry.category == "LG" and entry.published_on is None


def test_leap_day_without_year_is_in_the_capture_year_or_by_month_and_day_the_year_before():
    assert resolve_date(2, 29, None, dt.date(2025, 6, 1)) is None
    assert resolve_date(2, 29, None, dt.date(2024, 6, 1)) == dt.date(2024, 2, 29)
    assert resolve_date(2, 29, None, dt.date(2025, 1, 15)) == dt.date(2024, 2, 29)
    assert resolve_date(2, 29, None, dt.date(2026, 1, 15)) is None


def test_authors_et_al_and_tag():
    assert split_authors("Jingyi Cui, Weiran Huang, Yifei Wang et al. · mit") == (
        ["Jingyi Cui", "Weiran Huang", "Yifei Wang"], True, "mit")
    assert split_authors("Ann Lee, Bo Chen") == (["Ann Lee", "Bo Chen"], False, None)


@pytest.mark.parametrize("line, expected", [
    ("Lai Wei,,  , Zihao Jiang ·", (["Lai Wei", "Zihao Jiang"], False, None)),   # stray commas, an empty tag
    ("et al.", ([], True, None)),
    ("· mit", ([], False, "mit")),
    ("Ann Lee et al. ·", (["Ann Lee"], True, None)),
])
def test_scraper_glitches_in_author_lines_make_no_odd_names(line, expected):
    assert split_authors(line) == expected


def test_a_comma_without_a_space_is_part_of_a_name():
    assert split_authors("Zhang,Wei, Li Na") == (["Zhang,Wei", "Li Na"], False, None)


def test_an_author_line_naming_no_author_is_a_reject_saying_so(tmp_path):
    from flows.validation import validate_files
    path = tmp_path / "authors.txt"
    path.write_text(HEADER + "\n".join(dumps.entry("LGAug 2, 2023", "One", "et al.", "x.") + [""]
                                       + dumps.entry("LGAug 3, 2023", "Two", "A B", "y.")))
    problems = validate_files([path], 10**6).problems
    assert problems[0] == f"{path}:9: author line names no author (only `et al.` or a tag) (entry 1)"
    assert problems[1].endswith("partial, 1 of 2 entries valid")


def assert_first_two_rejected(path, entries: list[tuple[str, str]], reason: str) -> None:
    """A dump of three entries (title, author line) of which the first two are rejects for reason."""
    from flows.validation import validate_files
    heads = ["LGAug 2, 2023", "LGAug 3, 2023", "LGAug 4, 2023"]
    blocks = [dumps.entry(head, title, authors, "x.") for head, (title, authors) in zip(heads, entries)]
    path.write_text(HEADER + "\n".join(blocks[0] + [""] + blocks[1] + [""] + blocks[2]))
    found = validate_files([path], 10**6)
    problems, invalid = found.problems, found.invalid
    assert [p.split(": ", 1)[0] for p in problems] == [f"{path}:9", f"{path}:16", str(path)]
    assert all(reason in p for p in problems[:2])
    assert problems[2].endswith("partial, 1 of 3 entries valid") and invalid == 1


def test_a_title_without_letters_or_digits_is_a_reject_not_a_shared_paper(tmp_path):
    assert_first_two_rejected(tmp_path / "titles.txt", [("???", "A B"), ("!!!", "C D"), ("Ω-Net", "E F")],
                              "title has no letter or digit")


def test_an_author_name_without_letters_or_digits_is_a_reject_not_a_shared_author(tmp_path):
    """`*` and `\u2020` would both have the empty name's author_id: one author named `†`."""
    assert_first_two_rejected(tmp_path / "authors.txt", [("One", "*, A B"), ("Two", "\u2020, C D"),
                                                         ("Three", "E F\u2020, G H")],
                              "an author name has no letter or digit")


def test_an_author_line_of_more_names_than_a_listing_shows_is_a_reject(tmp_path):
    """A 10 MB line of a million names made a million authors rows."""
    from schemas.raw import MAX_AUTHOR_NAMES
    many = ", ".join(f"Ann {chr(65 + i // 26)}{chr(97 + i % 26)}" for i in range(MAX_AUTHOR_NAMES + 1))
    assert_first_two_rejected(tmp_path / "many.txt", [("One", many), ("Two", many + " et al."),
                                                      ("Three", ", ".join(many.split(", ")[:MAX_AUTHOR_NAMES]))],
                              f"author line names more than {MAX_AUTHOR_NAMES} people")


def test_a_title_of_letters_that_normalise_to_nothing_is_a_reject_too(tmp_path):
    """\ufe70 and \ufe72 are letters (Arabic presentation forms) that NFKC makes a space and a
    combining mark: no letter or digit is left of them, so both would have the empty text's id.
    \u3371 (a squared sign, not a letter) normalises to `hpa`, which identifies a paper."""
    assert_first_two_rejected(tmp_path / "titles.txt", [("\ufe70", "A B"), ("\ufe72", "C D"), ("\u3371", "E F")],
                              "title has no letter or digit")


@pytest.mark.parametrize("text, url, host", [
    ("Code is at https://github.com/owner/repo.", "https://github.com/owner/repo", "github"),
    ("See https://hf.co/AI4Chem, and more.", "https://hf.co/AI4Chem", "huggingface"),
    ("(https://huggingface.co/org/model)", "https://huggingface.co/org/model", "huggingface"),
    ("Project page https://example.org/x. Code: https://gitlab.com/a/b;", "https://gitlab.com/a/b", "gitlab"),
    ("No link, only $k$ and 6\\% and σ.", None, None),
    # a browser goes to the host after the user part: no GitHub link, whatever the part says
    ("At https://github.com:x@evil.example/a/b and https://u@gitlab.com/c.", "https://u@gitlab.com/c", "gitlab"),
    ("At https://evil.example?@github.com/o/r or https://github.com#x@evil.example/o", "https://github.com#x@evil.example/o",
     "github"),
])
def test_code_links_lose_trailing_punctuation(text, url, host):
    assert find_code_link(text) == (url, host)


def test_multi_line_and_missing_abstracts():
    text = HEADER + "\n".join(dumps.entry("LGMar 2, 2023", "First", "A B", "Para one.\n\nPara two.")
                              + [""] + dumps.entry("CVMar 1, 2023", "Second", "C D"))
    first, second = parse_dump(text, CAPTURED).entries
    assert first.abstract == "Para one.\n\nPara two." and second.abstract is None
    assert second.authors == ["C D"] and second.line_no == 18


def test_garbled_head_is_an_entry_without_category():
    text = HEADER + "\n".join(dumps.entry("LGAug 23, 2023", "Good", "A B", "x.") + [""]
                              + dumps.entry("lgAug 2x, 2023", "Bad", "C D", "y."))
    good, bad = parse_dump(text, CAPTURED).entries
    assert good.category == "LG" and bad.category is None and bad.title == "Bad"


@pytest.mark.parametrize("head", ["cs.LGAug 23, 2023Code", "LG2023-08-23Code", "LG\tAug 23, 2023Code",
                                  "LG·Aug 23, 2023Code", "LG Aug 23, 2023Code"])
def test_head_variants_are_garbled_heads_not_abstract_text(head):
    text = HEADER + "\n".join(dumps.entry("LGAug 2, 2023", "Good", "A B", "x.") + [""]
                              + dumps.entry(head, "Second", "C D", "y."))
    good, bad = parse_dump(text, CAPTURED).entries
    assert good.abstract == "x." and bad.category is None and bad.title == "Second"


@pytest.mark.parametrize("head", ["LGAgu 23, 2023Code", "L3Aug 23, 2023", "LG23 Aug 2023", "CV 2023/08/23", "LGJn 5"])
def test_a_head_garbled_past_recognition_starts_an_entry_by_its_shape(head):
    """Not abstract text of the entry before: its title, authors and code link stay its own."""
    text = HEADER + "\n".join(dumps.entry("LGAug 2, 2023", "Good", "A B", "x.") + [""]
                              + dumps.entry(head, "Second", "C D, E F et al. · mit", "See https://github.com/o/r.")
                              + [""] + dumps.entry("CVMar 1, 2023", "Third", "G H", "z."))
    good, bad, third = parse_dump(text, CAPTURED).entries
    assert (good.abstract, good.code_url, third.title) == ("x.", None, "Third")
    assert (bad.head, bad.category, bad.title, bad.authors, bad.code_url) == (
        head, None, "Second", ["C D", "E F"], "https://github.com/o/r")


@pytest.mark.parametrize("abstract", [
    "We study X.\nIn two lines.\n\nA second paragraph.",               # its second paragraph ends a sentence
    "Results:\nX beats Y.\n\nA, B and C, D, E, F\n\nMore.",             # more than three names
    "Short\nLines\n\nNot followed by a blank\nline",
    "TL;DR: faster sampling\nWe propose X.\n\nCode: https://github.com/o/r",   # no digit in the first line
    "Comments 2023:\n12 pages, 5 figures\n\nAccepted to ICCV 2023 (oral)",    # no author line: digits, brackets
    "v2 Highlights\nOur sampler is 2x faster.\n\nAccepted at NeurIPS 2023"])
def test_abstract_paragraphs_without_an_entrys_shape_stay_abstract_text(abstract):
    entry, = parse_dump(one_entry(abstract=abstract), CAPTURED).entries
    assert entry.abstract == abstract


@pytest.mark.parametrize("abstract", ["We propose X.\n\nIn March 2024 we won.", "Dec 2023 preprint.",
                                      "We propose X.\n\nAug 2023: v2 released!\n\nThe end."])
def test_a_short_dated_sentence_without_a_title_line_stays_abstract_text(abstract):
    entry, = parse_dump(one_entry(abstract=abstract), CAPTURED).entries
    assert entry.abstract == abstract


@pytest.mark.parametrize("tail, head", [("\n\nLGAug 23, 20", "LGAug 23, 20"),                # the dump cut off
                                        ("\n\nLG·Aug 23, 2023\n\nC D\n\nSecond.", "LG·Aug 23, 2023")])  # no title
def test_a_garbled_head_without_a_title_line_still_starts_an_entry(tail, head):
    first, second = parse_dump(one_entry(abstract="First.") + tail, CAPTURED).entries
    assert first.abstract == "First." and (second.head, second.category, second.title) == (head, None, None)


def test_an_entrys_shape_above_the_listing_heading_is_header_text():
    text = ("h-index28\n\nAI Score62\n1,945citations\n\n57papers\n\nNovelty55%\n\n57 Papers\n\n"
            + "\n".join(dumps.entry("LGAug 2", "T", "A B")))
    parsed = parse_dump(text, CAPTURED)
    assert len(parsed.entries) == 1 and parsed.header_problems == []   # `Novelty55%` matches NEAR_HEAD too


def test_a_no_break_space_in_a_head_reads_as_a_space():
    entry = parse_dump(one_entry("LGAug\u00a023, 2023Code"), CAPTURED).entries[0]
    assert (entry.category, entry.published_on, entry.has_code_badge) == ("LG", dt.date(2023, 8, 23), True)
    assert entry.head == "LGAug\u00a023, 2023Code" and entry.date_text == "Aug 23, 2023"   # kept as written


def test_a_head_without_a_blank_line_before_it_starts_an_entry():
    text = HEADER + "\n".join(dumps.entry("LGMar 2, 2023", "First", "A B", "Para.")
                              + dumps.entry("CVMar 1, 2023", "Second", "C D", "z."))
    first, second = parse_dump(text, CAPTURED).entries
    assert first.abstract == "Para." and (second.category, second.title, second.abstract) == ("CV", "Second", "z.")


@pytest.mark.parametrize("paragraph", ["Published Dec 2023.", "Submitted Jan 2024; revised.", "e.g. Mar 5 notes",
                                       "Update 2024-03-01: v2"])
def test_a_short_dated_abstract_paragraph_stays_abstract_text(paragraph):
    entry, = parse_dump(one_entry(abstract=f"We study X.\n\n{paragraph}"), CAPTURED).entries
    assert entry.abstract == f"We study X.\n\n{paragraph}"


def test_a_dated_line_inside_an_abstract_paragraph_stays_abstract_text():
    entry, = parse_dump(one_entry(abstract="We study X.\nUpdated Jun 2024, see v2."), CAPTURED).entries
    assert entry.abstract == "We study X.\nUpdated Jun 2024, see v2."


def test_missing_and_unparsable_metrics_are_header_problems():
    parsed = parse_dump("h-index28\n57papers\ncitations: many\nNovelty55%\n\n" + "\n".join(dumps.entry("CVMay 2, 2024", "T", "A B")), CAPTURED)
    reasons = sorted(p.reason for p in parsed.header_problems)
    assert reasons == ["missing metric ai_score", "missing metric citations", "unparsable header line"]
    assert parsed.metrics["h_index"] == 28 and parsed.metrics["citations"] is None


def test_real_sample_parses_to_its_facts(sample_text):
    parsed = parse_dump(sample_text, CAPTURED)
    entries = parsed.entries
    assert len(entries) == 50 and parsed.papers_heading == 57 and parsed.header_problems == []
    assert sum(e.has_code_badge for e in entries) == 18
    assert sum(e.code_url is not None for e in entries) == 17
    assert sum(e.authors_truncated for e in entries) == 43
    assert [e.tag for e in entries if e.tag] == ["mit"]
    assert all(e.code_url is None or not e.code_url.endswith(".") for e in entries)
    assert any("σ" in (e.abstract or "") for e in entries) and any("$" in (e.abstract or "") for e in entries)


def test_split_and_join_round_trip(sample_text):
    header, blocks = dumps.split(sample_text)
    assert len(blocks) == 50 and dumps.join(header, blocks) == sample_text


@pytest.mark.parametrize("text, entries", [
    ("x" * 1_000_000, 0),
    ("\n\n".join(["LGAug 23, 2023Code"] * 100_000), 100_000),
    ("\n\n".join(["LGAug 23, 2023Cod" + "e" * 30 + " " + "Aug 1" * 10] * 50_000), 0),
], ids=["1MB-line", "100k-heads", "near-heads"])
def test_pathological_text_parses(text, entries):
    """Texts that would make a backtracking head pattern take hours: the suite would hang here."""
    assert len(parse_dump(text, CAPTURED).entries) == entries

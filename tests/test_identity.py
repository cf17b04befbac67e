"""Identity rules of SPEC §3."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import identity
from core.identity import SidecarError, key_pattern, normalise_text, parse_sidecar, profile_key_from_name, stable_id


@pytest.mark.parametrize("name, key", [
    ("000_7707062aadfcc580.txt", "7707062aadfcc580"),
    ("12_abc.txt.gz", "abc"),
    ("abc.txt", "abc"),
    ("2024_report_x.txt", "report_x"),
    ("000_.txt", "000_"),
])
def test_profile_key_from_file_name(name, key):
    assert profile_key_from_name(Path(name)) == key


@pytest.mark.parametrize("name, key", [
    ("r1_013_7707062aadfcc580.txt", "7707062aadfcc580"),
    ("r12_7_abc.txt.gz", "abc"),
    ("013_abc.txt", None),          # the rule doesn't match: no key, rather than a guess
    ("r1_013_.txt", None),
])
def test_profile_key_by_a_rule_of_ones_own(name, key):
    assert profile_key_from_name(Path(name), key_pattern(r"r\d+_\d+_(?P<key>.*)")) == key


@pytest.mark.parametrize("rule, says", [("(unclosed", "not a regular expression"),
                                        (r"\d+_(.+)", "no group named key")])
def test_a_rule_without_a_key_group_is_refused_with_the_reason(rule, says):
    with pytest.raises(ValueError, match=says):
        key_pattern(rule)


def test_titles_differing_in_spacing_case_and_width_are_one_paper():
    a = "InstructionGPT-4: A 200-Instruction Paradigm for Fine-Tuning MiniGPT-4"
    b = "  instructiongpt-4 :  a 200-INSTRUCTION paradigm — for fine-tuning   ＭｉｎｉＧＰＴ-4 "
    assert normalise_text(a) == "instructiongpt 4 a 200 instruction paradigm for fine tuning minigpt 4"
    assert stable_id(a) == stable_id(b) and stable_id(a) != stable_id(a + " II")


def _by_the_rule(text: str) -> str:
    """SPEC §3's normalisation spelled out, without the ASCII shortcut normalise_text takes."""
    return re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_ascii_text_normalises_as_the_rule_says(text):
    assert normalise_text(text) == _by_the_rule(text)


@pytest.mark.parametrize("text", ["a_b", "__x__", "Tab\tand\x1fcontrol", "A.B-C", "", "   ", "ÄB_c ﬁ"])
def test_normalisation_edge_cases_follow_the_rule(text):
    assert normalise_text(text) == _by_the_rule(text)


def test_sidecar_fields_and_errors():
    side = parse_sidecar(b'{"profile_key": "k", "captured_at": "2026-01-02T03:04:05Z"}', "x.meta.json")
    assert side.profile_key == "k" and side.captured_at == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    with pytest.raises(SidecarError, match="not valid JSON"):
        parse_sidecar(b"{", "x.meta.json")
    with pytest.raises(SidecarError, match="captured_at 'yesterday' is not an ISO 8601 time"):
        parse_sidecar(b'{"captured_at": "yesterday"}', "x.meta.json")
    with pytest.raises(SidecarError, match="JSON object"):
        parse_sidecar(b"[1]", "x.meta.json")
    with pytest.raises(SidecarError, match="nested too deeply"):
        parse_sidecar(b"[" * 200_000, "x.meta.json")
    with pytest.raises(SidecarError, match="not valid JSON: Exceeds the limit"):
        parse_sidecar(b'{"x": ' + b"9" * 5000 + b"}", "x.meta.json")
    with pytest.raises(SidecarError, match="not valid JSON"):
        parse_sidecar(b"\xff{}", "x.meta.json")
    assert parse_sidecar(b'{"owner_name": "", "profile_key": ""}', "x.meta.json") == parse_sidecar(b"{}", "x.meta.json")
    with pytest.raises(SidecarError, match="profile_key must be a string, not int; fix the sidecar"):
        parse_sidecar(b'{"profile_key": 42}', "x.meta.json")


@pytest.mark.parametrize("key", ["capturedAt", "profilekey", "Owner-Name", "SOURCE_URL"])
def test_a_sidecar_key_misspelt_by_case_or_separators_is_refused_not_ignored(key):
    """Ignored, its field would silently fall back to the file's time or name."""
    with pytest.raises(SidecarError, match=f"key '{key}' is not read; the field is spelt '[a-z_]+'; fix the sidecar"):
        parse_sidecar(b'{"%s": "x"}' % key.encode(), "x.meta.json")


def test_a_sidecar_may_carry_keys_of_its_own_and_a_second_spelling_beside_a_key():
    side = parse_sidecar(b'{"profile_key": "k", "scraper": "v2", "fetched_by": "bot", "profileKey": "k", '
                         b'"capturedAt": ""}', "x.meta.json")
    assert side.profile_key == "k" and side.captured_at is None


@given(st.lists(st.one_of(st.text(alphabet=st.characters(max_codepoint=127), max_size=30),
                          st.text(max_size=12)), max_size=20))
def test_ids_of_a_column_are_the_stable_ids_of_its_texts(texts):
    """normalise.stable_ids folds ASCII texts in polars: the same ids as identity.stable_id."""
    import polars as pl

    from core.normalise import stable_ids
    assert stable_ids(pl.Series(texts, dtype=pl.String)) == [stable_id(t) for t in texts]


@given(st.lists(st.one_of(st.text(alphabet=st.characters(max_codepoint=127), max_size=30),
                          st.text(max_size=12), st.sampled_from(["\ufe70", "\ufe72", "\u3371", "\u0301", "_"])),
                max_size=20))
def test_a_text_is_identifiable_when_its_normalised_form_is_not_empty(texts):
    """normalise.identifiable (titles that may have a paper_id) agrees with the id: a text that
    normalises to nothing would share the empty text's id."""
    import polars as pl

    from core.normalise import identifiable
    expected = [normalise_text(t) != "" for t in texts]
    assert identifiable(pl.Series(texts, dtype=pl.String)).to_list() == expected


@given(st.lists(st.lists(st.one_of(st.text(max_size=6), st.sampled_from(["*", "\u2020", "A B", "\ufe70"])),
                         max_size=4), max_size=12))
def test_a_list_of_names_is_identifiable_when_each_name_is(lists):
    import polars as pl

    from core.normalise import all_identifiable
    expected = [all(normalise_text(name) != "" for name in names) for names in lists]
    assert all_identifiable(pl.Series(lists, dtype=pl.List(pl.String))).to_list() == expected


@pytest.mark.parametrize("key, meant", [("capture_at", "captured_at"), ("owner_nmae", "owner_name"),
                                        ("ProfileKey2", "profile_key"), ("capture_time", None), ("scraper", None),
                                        ("source", None), ("owner", None)])
def test_a_sidecar_key_close_to_one_of_the_four_is_named_as_likely_misspelt(key, meant):
    assert identity.likely_meant(key) == meant

"""core.parse's regexes in Rust's dialect, for polars (core/parse_frame.py), with Python's meaning:
its \\s, \\d and IGNORECASE spelled out as the character sets Python gives them. Pure: no I/O."""
from __future__ import annotations

import re
import string
import unicodedata

import polars as pl

from core.parse import AUTHOR_LINE, DIGIT, ENTRY_HEAD, LISTING_HEADING, METRICS, NEAR_HEAD, NEAR_HEAD_MAX_LEN, SPACES, TAG_SEPARATOR, URL

# Python's character sets, scanned in planes 0-1 only to keep the import cheap: nothing beyond them is
# white space, a decimal digit or an ASCII letter's case twin (tests/test_parse_frame.py checks them all).
_CHARS = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x20000)))
WHITESPACE = "".join(re.findall(r"\s", _CHARS))   # str.strip()'s set: Rust's White_Space and \x1c-\x1f
DIGITS = "".join(re.findall(r"\d", _CHARS))       # every Unicode decimal digit, which int() reads
DIGIT_VALUE = {d: str(unicodedata.decimal(d)) for d in DIGITS if not d.isascii()}
_TWINS = re.findall(r"(?i:[a-z])", _CHARS)
# what a letter matches under IGNORECASE: also the Kelvin sign for k, ſ for s, İ and ı for i
CASELESS = {a: "".join(c for c in _TWINS if re.fullmatch(a, c, re.IGNORECASE)) for a in string.ascii_lowercase}
WS_FIRST_BYTES = sorted({c.encode()[0] for c in WHITESPACE})
WS_LAST_BYTES = sorted({c.encode()[-1] for c in WHITESPACE})
MAX_HEAD_BYTES = 4 * NEAR_HEAD_MAX_LEN    # the most UTF-8 bytes a line short enough for a head can have


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
    so a change in core.parse can't drift silently."""
    if rx.flags & ~(re.IGNORECASE | re.UNICODE):
        raise ValueError(f"flags of {rx.pattern!r} have no translation")
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
            caseless = caseless + [caseless[-1]] if c == "(" else caseless[:-1] if c == ")" else caseless
            out.append(f"[{class_body(CASELESS[c.lower()])}]" if c.isascii() and c.isalpha() and caseless[-1] else c)
        i += step
    return "".join(out)


ENTRY_HEAD_RX = f"^(?:{to_rust(ENTRY_HEAD)})$"    # fullmatch
NEAR_HEAD_RX = f"^(?:{to_rust(NEAR_HEAD)})"       # match: a prefix
METRIC_RX = {name: f"^(?:{to_rust(rx)})$" for name, rx in METRICS.items()}
LISTING_RX = f"^(?:{to_rust(LISTING_HEADING)})$"
AUTHOR_LINE_RX = f"^(?:{to_rust(AUTHOR_LINE)})$"
DIGIT_RX = to_rust(DIGIT)   # searched
SPACES_RX = to_rust(SPACES)
URL_RX = to_rust(URL)
URL_LIMIT = int(re.search(r"\{1,(\d+)\}$", URL.pattern).group(1))
# several times faster unbounded; a match longer than URL_LIMIT is searched again with URL_RX, whose bound
# cuts it and goes on searching behind the cut, as Python does
URL_RUN_RX = URL_RX.removesuffix(f"{{1,{URL_LIMIT}}}") + "+"
BLANK_RUN_RX = f"\n[{_SETS['s']}]*\n"    # the blank lines between two paragraphs, with their newlines
TAG_RX = f"^(?s:(.*)){pl.escape_regex(TAG_SEPARATOR)}(?s:(.*))$"   # greedy: the last separator, as rsplit

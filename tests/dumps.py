"""Helpers that edit dump texts for tests: split into header and entry blocks, and join back; the
sample's capture times and the variants of it that many tests load."""
from __future__ import annotations

import datetime as dt
import re

FIRST = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)   # the sample's capture time in tests
LATER = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
HEAD = re.compile(r"^[A-Z]{2,5}(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2}(, \d{4})?(Code)?$")


def split(text: str) -> tuple[list[str], list[list[str]]]:
    """(header lines, entry blocks); each block starts with its head line, blank lines kept."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if HEAD.match(line) and (i == 0 or not lines[i - 1])]
    blocks = [lines[a:b] for a, b in zip(starts, starts[1:] + [len(lines)])]
    return lines[:starts[0]], [[*b[:-1]] if b and b[-1] == "" else b for b in blocks]


def join(header: list[str], blocks: list[list[str]]) -> str:
    return "\n".join(header + [line for b in blocks for line in [*b, ""]]).rstrip("\n")


def entry(head: str, title: str, authors: str, abstract: str | None = None) -> list[str]:
    block = [head, title, "", authors]
    return block + ["", abstract] if abstract is not None else block


def title_of(block: list[str]) -> str:
    return block[1]


def later_snapshot(sample_text: str) -> str:
    """Metrics changed, two new entries on top, one entry gains `Code`, the last drops off,
    and the entries printed without a year now carry it."""
    header, blocks = split(sample_text)
    header = ["h-index29", "60papers", "2,101citations", "Novelty57%", "AI Score63", "", "60 Papers", ""]
    new = [entry("LGJul 20, 2026Code", "A Brand New Paper on Testing", "Weiran Huang, Ann Other",
                       "We test. Code: https://github.com/example/new-paper."),
           entry("ROJun 30, 2026", "Another New Paper", "Bo Chen, Weiran Huang, Cy Dee et al.", "More.")]
    blocks = [list(b) for b in blocks[:-1]]
    blocks[2][0] += "Code"                          # `LGJun 7, 2023` gains the badge
    for block in blocks:
        if re.fullmatch(r"[A-Z]+[A-Z][a-z]{2} \d{1,2}(Code)?", block[0]):
            block[0] = re.sub(r"^([A-Z]+[A-Z][a-z]{2} \d{1,2})", r"\1, 2026", block[0])
    return join(header, new + blocks)


def other_profile(sample_text: str) -> str:
    """Another profile listing three of the sample's papers, one title with other spacing and case."""
    _, blocks = split(sample_text)
    shared = [list(b) for b in blocks[1:4]]
    shared[0][1] = "  instructiongpt-4 :  A 200-INSTRUCTION paradigm for fine-tuning   MiniGPT-4 "
    own = entry("CVJan 5, 2025", "A Paper Only The Other Profile Lists", "Zed Zee, Yan Why", "Abstract.")
    header = ["h-index3", "4papers", "20citations", "Novelty10%", "AI Score5", "", "4 Papers", ""]
    return join(header, [own] + shared)

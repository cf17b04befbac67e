"""Helpers that edit dump texts for tests: split into header and entry blocks, and join back."""
from __future__ import annotations

import re

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

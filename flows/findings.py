"""What `profile-etl doctor` finds: problems, each with its repair, and the report of them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Problem:
    what: str
    repair: str
    fix: Callable[[], str] | None = None    # a safe repair of its own, returning what it did
    needs_lake_rebuild: bool = False        # repaired by `rebuild --from-raw`
    needs_warehouse_rebuild: bool = False   # repaired by `rebuild`


@dataclass
class Findings:
    problems: list[Problem]
    checked: list[str]            # what was found whole, for the user
    unrecoverable: list[str]      # dump ids whose raw/ copies no inbox file can restore
    notes: list[str] = field(default_factory=list)   # what is so, needs no repair, and may surprise


def report(findings: Findings) -> str:
    lines = [f"ok       {line}" for line in findings.checked] + [f"note     {line}" for line in findings.notes]
    for problem in findings.problems:
        lines += [f"PROBLEM  {problem.what}", f"         repair: {problem.repair}"]
    return "\n".join(lines + [f"{len(findings.problems)} problem{'' if len(findings.problems) == 1 else 's'} found"]) + "\n"

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
    alike: str = ""   # what many problems of one kind are, said once past the first few (all repaired alike)


@dataclass
class Findings:
    problems: list[Problem]
    checked: list[str]            # what was found whole, for the user
    unrecoverable: list[str]      # dump ids whose raw/ copies no inbox file can restore
    notes: list[str] = field(default_factory=list)   # what is so, needs no repair, and may surprise


SHOWN_ALIKE = 5   # problems of one kind listed in full; a restored old raw/ can make hundreds


def report(findings: Findings) -> str:
    lines = [f"ok       {line}" for line in findings.checked] + [f"note     {line}" for line in findings.notes]
    seen: dict[str, int] = {}
    for problem in findings.problems:
        seen[problem.alike] = seen.get(problem.alike, 0) + 1
        if not problem.alike or seen[problem.alike] <= SHOWN_ALIKE:
            lines += [f"PROBLEM  {problem.what}", f"         repair: {problem.repair}"]
    for alike, count in seen.items():
        if alike and count > SHOWN_ALIKE:
            lines += [f"PROBLEM  {count - SHOWN_ALIKE} more {alike}", "         repair: as for those above"]
    return "\n".join(lines + [f"{len(findings.problems)} problem{'' if len(findings.problems) == 1 else 's'} found"]) + "\n"

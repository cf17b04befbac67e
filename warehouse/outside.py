"""Commits another engine made that change a lake table's rows (docs/lake.md, "Other engines writing
to the lake"): a `delete`, `update`, `merge`, `restore` or write that no run of profile-etl made.

Each commit's info names its operation, and every commit profile-etl makes says what made it: a run's,
a rebuild's and a rollback's carry its app transaction (lake.tagged), the others their userMetadata
(lake.noted). Only the commits since a version known good are read, newest first, a few per table.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from deltalake import DeltaTable

from store import storage
from warehouse import lake as lake_mod

# Operations that keep every row as it was (compaction and z-order are OPTIMIZE).
KEEP_ROWS = {"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES", "UNSET TBLPROPERTIES",
             "ADD CONSTRAINT", "DROP CONSTRAINT", "UPGRADE PROTOCOL", "ADD FEATURE"}
RUN_ID = r"\d{8}T\d{6}Z-[0-9a-f]{8}"   # flows/runs.new_run_id
# What lake.noted and lake.tagged write as userMetadata; a match spares reading the commit's file.
NOTED = re.compile(rf"{RUN_ID}|rebuild --from-raw|rollback of .*|undo of unfinished run \d+|maintain --retention-days")
MARK_FAILED = re.compile(r"run_id = '[^']*'")   # lake.mark_failed's update, untagged before 2026-12-06


@dataclass(frozen=True)
class OutsideChange:
    table: str
    version: int
    operation: str
    by: str   # the commit's userMetadata, or the engine that wrote it

    def __str__(self) -> str:
        return f"{self.table} version {self.version}: {self.operation}{f' by {self.by}' if self.by else ''}"


def changes_since(lake: storage.Location, name: str, table: DeltaTable, base: int) -> list[OutsideChange]:
    """The commits after version `base` that change the table's rows and that profile-etl didn't make,
    oldest first. Commits the log no longer holds (cleaned after 30 days) can't be told, and aren't listed."""
    if table.version() <= base:
        return []
    commits = sorted(table.history(limit=table.version() - base), key=lambda commit: commit["version"])
    return [OutsideChange(name, commit["version"], str(commit.get("operation")),
                          str(commit.get("userMetadata") or commit.get("engineInfo") or ""))
            for commit in commits if commit["version"] > base and not keeps_rows(commit)
            and not made_here(lake, name, commit)]


def keeps_rows(commit: dict) -> bool:
    return commit.get("operation") in KEEP_ROWS or "profile-etl" in commit   # the latter: maintain's partition split


def made_here(lake: storage.Location, name: str, commit: dict) -> bool:
    """Did profile-etl make the commit? Its note says so, or (a commit of a version before 2026-12-06,
    which wrote none, or a test's own) its app transaction, read from the commit's file."""
    if NOTED.fullmatch(str(commit.get("userMetadata", ""))):
        return True
    predicate = str(commit.get("operationParameters", {}).get("predicate", ""))
    if name == "runs" and commit.get("operation") == "UPDATE" and MARK_FAILED.fullmatch(predicate) \
            and not commit.get("userMetadata"):
        return True
    return carries_run_tag(lake, name, commit["version"])


def carries_run_tag(lake: storage.Location, name: str, version: int) -> bool:
    try:
        text = storage.read_bytes(lake / name / "_delta_log" / f"{version:020d}.json").decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False   # gone with the log's cleanup: it can't be told ours
    for line in text.splitlines():
        try:
            action = json.loads(line) if line.strip() else {}
        except ValueError:
            return False
        if isinstance(action, dict) and (action.get("txn") or {}).get("appId") == lake_mod.APP_ID:
            return True
    return False


def describe(changes: list[OutsideChange]) -> str:
    shown = "; ".join(str(change) for change in changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5 else "")
    tables = sorted({change.table for change in changes})
    return (f"the lake tables {', '.join(tables)} hold commits that change rows, made by another engine since "
            f"the last run or rebuild ({shown}): what no dump says, and a load would take it as the data")

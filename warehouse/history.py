"""The lake's history and rollback (SPEC §5 `history`, `rollback`; §8).

A rollback is a commit of the lake like a run's: it takes the next sequence number, tags each
table's restore with it, and restores `runs` last. Until that last restore the runs table still
says the rollback didn't happen, so `recovery.recover` undoes a rollback that died half-way, and
`recovery.target_versions` needs no special case: the restored versions carry the newest tag.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from schemas.tables import TABLES
from store import storage
from store.errors import UserError
from store.faults import checkpoint
from warehouse import lake as lake_mod
from warehouse import recovery, retention
from warehouse.lake_files import data_files
from warehouse.lake_health import first_line

REBUILT = "(before a rebuild from raw/)"


def require_lake(lake: storage.Location, home: Path | None = None) -> None:
    """A mistyped --home or --lake must say so, not make an empty lake (recover creates tables)."""
    lake_mod.check_layout(lake, home)
    if lake_mod.open_table(lake, "runs") is None:
        raise UserError(f"no lake at {lake} (no Delta table runs/): check --home and --lake")


def runs_in_order(lake: storage.Location) -> pl.DataFrame:
    """The runs rows, oldest first (in_commit_order)."""
    return in_commit_order(lake_mod.read_table(lake, "runs"))


def recorded_versions(runs: pl.DataFrame, before_run: str | None = None) -> dict[str, int] | None:
    """The table versions the last runs row (before `before_run`) records; {} before the first run,
    None when that row comes from before the lake was rebuilt."""
    runs = in_commit_order(runs)
    if before_run is not None:
        runs = runs.slice(0, runs["run_id"].index_of(before_run))
    if runs.is_empty():
        return {}
    last = runs.row(-1, named=True)["lake_versions"]
    return json.loads(last) if last else None


def in_commit_order(runs: pl.DataFrame) -> pl.DataFrame:
    """The runs rows oldest first: by the lake versions each recorded (a table's version only grows, a
    restore too; rows a rebuild from raw/ emptied come first), then by start. Not by start alone: a
    host clock set back between two runs would put the later first, and a rollback undo it unasked."""
    done = pl.col("lake_versions").map_elements(lambda v: sum(json.loads(v).values()), return_dtype=pl.Int64)
    return runs.sort(done, "started_at", "run_id", nulls_last=False)


# ---- history ------------------------------------------------------------------------------------

def runs_history(lake: storage.Location) -> list[dict]:
    """Every run, oldest first, with the version of each table once it committed; lake_versions is
    None for rows a `rebuild --from-raw` carried over (their versions belonged to the old lake)."""
    rows = runs_in_order(lake).select("run_id", "started_at", "status", "dumps_new", "lake_versions")
    return [row | {"lake_versions": json.loads(row["lake_versions"]) if row["lake_versions"] else None}
            for row in rows.iter_rows(named=True)]


def describe_history(runs: list[dict]) -> str:
    """One line per run, oldest first; the versions as `table=version`, in the order of TABLES."""
    if not runs:
        return "no runs yet"
    lines = [f"{'run_id':<26} {'started_at (UTC)':<19} {'status':<9} {'new':>5}  lake versions"]
    for run in runs:
        versions = run["lake_versions"]
        shown = " ".join(f"{name}={versions[name]}" for name in TABLES if name in versions) if versions else REBUILT
        lines.append(f"{run['run_id']:<26} {run['started_at']:%Y-%m-%d %H:%M:%S} {run['status']:<9} "
                     f"{run['dumps_new']:>5}  {shown}")
    return "\n".join(lines)


# ---- rollback -----------------------------------------------------------------------------------

@dataclass
class RolledBack:
    runs: list[str]             # the runs undone, oldest first: the one named, then any later ones
    versions: dict[str, int]    # the version each table was restored to (or already was at)


def rollback(lake: storage.Location, run_id: str, force: bool = False, guard: Callable | None = None,
             undoing: Callable[[dict[str, str]], None] | None = None, home: Path | None = None) -> RolledBack:
    """Return every table of the lake to its state before run_id (the caller holds the run lock,
    and publishes the warehouse after). Later runs are undone too only with force: undoing them
    silently would lose data the user didn't name. guard: see lake.ensure_tables; undoing is told
    the dumps the rollback removes (dump_id -> run_id) before it does; home: the one a refusal names."""
    require_lake(lake, home)
    seq = recovery.recover(lake, guard, home)
    runs = runs_in_order(lake)
    undone = runs_from(runs, run_id)
    if len(undone) > 1 and not force:
        later = ", ".join(undone[1:])
        raise UserError(f"runs after {run_id} exist ({later}): rolling back {run_id} would undo them too; "
                        "pass --force to roll them all back, or roll back the latest run first")
    try:
        targets = restore_targets(lake, runs, run_id)
    except (DeltaError, OSError, LookupError) as exc:   # its log files cleaned up after their retention
        raise UserError(f"can't find the lake's state before run {run_id} any more ({first_line(exc)}). The lake is "
                        "as it was. Delta keeps a table's log for 30 days (delta.logRetentionDuration) and `maintain` "
                        f"keeps replaced files {kept_for(lake)} (those of the latest run's rollback "
                        "longer), so an older state may be gone") from None
    if undoing is not None:
        undoing(loaded_by(lake, undone))
    restore_all(lake, targets, seq, run_id)
    return RolledBack(undone, targets)


def loaded_by(lake: storage.Location, run_ids: list[str]) -> dict[str, str]:
    """The dumps those runs loaded: dump_id -> run_id."""
    dumps = pl.from_arrow(lake_mod.open_table(lake, "dumps").to_pyarrow_table(columns=["dump_id", "run_id"]))
    dumps = dumps.filter(pl.col("run_id").is_in(run_ids))
    return dict(zip(dumps["dump_id"], dumps["run_id"]))


def runs_from(runs: pl.DataFrame, run_id: str) -> list[str]:
    """run_id and the runs after it, oldest first."""
    ids = runs["run_id"].to_list()
    if run_id not in ids:
        raise UserError(f"no run {run_id!r} in the lake's runs table: `profile-etl history` lists the runs")
    return ids[ids.index(run_id):]


def restore_targets(lake: storage.Location, runs: pl.DataFrame, run_id: str) -> dict[str, int]:
    """The version of each table before run_id: the data tables' last before the run's sequence
    number, `runs` the version before run_id's row was appended."""
    if runs.filter(pl.col("run_id") == run_id)["lake_versions"][0] is None:
        raise UserError(f"run {run_id} comes from before the lake was rebuilt from raw/ (`rebuild --from-raw`): the "
                        "versions it recorded belong to the old lake, so there is no state to return to; roll back "
                        "only runs made since the rebuild")
    appended, seq = appended_at(lake, run_id)
    # Not the versions the run before recorded: a `maintain` since then compacted the tables, and a
    # vacuum may have removed that state's files while it kept the state just before this run.
    data = {name: last_version_before(lake, name, seq) for name in TABLES if name != "runs"}
    return data | {"runs": appended - 1}


def appended_at(lake: storage.Location, run_id: str) -> tuple[int, int]:
    """The runs table's version whose commit appended run_id's row, and that commit's sequence
    number, from the log alone: vacuum may have removed the data files of the versions since. A run
    appends its row alone in a file, whose statistics name it; a restore that brings the file back
    (a recovered rollback's) is no append."""
    table = lake_mod.open_table(lake, "runs", own=True)
    for commit in table.history():   # newest first
        appended = commit.get("operation") == "WRITE" and commit.get("operationParameters", {}).get("mode") == "Append"
        # a commit another run made says so (lake.tagged): only the run's own, or an untagged one of an
        # older lake, is looked into, so a run far back costs no more than the latest
        made_by = commit.get("userMetadata", run_id)
        if appended and made_by == run_id and run_id in added_run_ids(table, commit["version"]):
            return commit["version"], lake_mod.run_of(table)
    raise LookupError(f"the runs table's log no longer holds the commit of run {run_id}")


def added_run_ids(table: DeltaTable, version: int) -> set[str]:
    """The runs whose rows alone fill a file that commit `version` added; leaves the table at it."""
    table.load_as_version(version - 1)
    before = data_files(table)["path"]
    table.load_as_version(version)
    added = data_files(table).filter(~pl.col("path").is_in(before.implode()))
    return set(added.filter(pl.col("min.run_id") == pl.col("max.run_id"))["min.run_id"].to_list())


def last_version_before(lake: storage.Location, name: str, seq: int) -> int:
    """The table's last version that no commit of run `seq` or later wrote. Tags only grow with
    versions (an untagged commit keeps the last one), and version 0, the table's creation, carries
    none: steps back doubling from the latest version, then halves, so that it reads no older log
    than it needs (maintain removes log files past their retention)."""
    table = lake_mod.open_table(lake, name, own=True)
    high, step = table.version(), 1
    if lake_mod.run_of(table) < seq:
        return high
    while True:   # at high, run seq or later had committed
        low = max(high - step, 0)
        if low == 0 or before_run(table, low, seq):
            break
        high, step = low, step * 2
    while high - low > 1:   # before_run at low, not at high
        middle = (low + high) // 2
        low, high = (middle, high) if before_run(table, middle, seq) else (low, middle)
    table.load_as_version(low)   # found only if it loads, and before the run (a failed read is no answer)
    if lake_mod.run_of(table) >= seq:
        raise LookupError(f"the log of {name} no longer holds its version before run {seq}")
    return low


def before_run(table: DeltaTable, version: int, seq: int) -> bool:
    """Is the table's `version` older than run seq's commits? A version the log no longer loads is: the
    step back overshoots the one sought, into versions whose checkpoints `maintain` pruned
    (warehouse/log_checkpoints.py keeps the one the version before the latest run loads from)."""
    try:
        table.load_as_version(version)
    except DeltaError:
        return True
    return lake_mod.run_of(table) < seq


def restore_all(lake: storage.Location, targets: dict[str, int], seq: int, run_id: str) -> None:
    """Each table restored in a commit tagged seq, runs last (the rollback's commit point). A failure
    part-way is undone before it is reported: a rollback happens whole or not at all."""
    try:
        for name in sorted(targets, key=lambda n: n == "runs"):
            table = lake_mod.open_table(lake, name)
            if table.version() != targets[name]:   # untouched since: no commit needed
                kept = retention.value_of(table)
                table.restore(targets[name], commit_properties=lake_mod.tagged(seq, f"rollback of {run_id}"))
                # a restore brings back that version's properties: the retention `maintain` set since holds on
                retention.keep(lake_mod.open_table(lake, name), kept, lake_mod.noted(f"rollback of {run_id}"))
            checkpoint(f"rollback:restored:{name}")
    except Exception as exc:
        recovery.recover(lake)
        if isinstance(exc, (DeltaError, OSError)):   # e.g. a vacuum removed files of the state to return to
            raise UserError(f"can't roll back run {run_id}: {first_line(exc)}. The lake is as it was; the files of its "
                            f"state before the run may have been vacuumed (kept {kept_for(lake)} "
                            "after they were replaced)") from None
        raise


def kept_for(lake: storage.Location) -> str:
    """The lake's retention in words, for a message about files it may have vacuumed."""
    try:
        return retention.longest(lake_mod.open_all(lake))
    except (DeltaError, OSError):
        return "for the lake's retention period"


def describe_rollback(done: RolledBack) -> str:
    later = f" and the {len(done.runs) - 1} runs after it ({', '.join(done.runs[1:])})" if len(done.runs) > 1 else ""
    versions = " ".join(f"{name}={version}" for name, version in done.versions.items())
    return (f"rolled back run {done.runs[0]}{later}: lake tables at their versions before it ({versions}) "
            f"and the warehouse rebuilt. The next run ingests its dumps again if they are still in the inbox; "
            f"dumps a rolled-back `run --reprocess` read again are quarantined again, as before it, until the next "
            f"`run --reprocess`.")

"""`profile-etl doctor`: a home checked against itself. The lake's logs against their files,
raw/ copies against their hashes and what names them, the file index, the warehouse against the
lake; each problem with its repair, and with --repair the safe ones applied. No prefect."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from flows import integrity
from flows.doctor_files import check_file_index, check_raw, held_dumps
from flows.findings import Findings, Problem
from flows.rebuild import side_folder
from schemas.tables import TABLES
from store import storage
from store.advice import command
from store.errors import UserError
from store.settings import Settings
from warehouse import lake as lake_mod
from warehouse import recovery
from warehouse.changes import loaded_versions
from warehouse.lake_health import first_line, lake_problems
from warehouse.outside import describe as outside_changes_said
from warehouse.load import connect


def examine(settings: Settings) -> Findings:
    findings = Findings([], [], [])
    lake_ok = check_lake(settings, findings)
    check_raw(settings, held_dumps(settings) if lake_ok else None, findings)
    check_file_index(settings, findings)
    if lake_ok:
        check_warehouse(settings, findings)
    return findings


def check_lake(settings: Settings, findings: Findings) -> bool:
    """Is the lake readable and whole? (False: a lake rebuild is the repair.)"""
    lake = settings.lake
    if storage.exists(lake / lake_mod.OLD_MANIFEST):
        findings.problems.append(Problem(f"the lake at {lake} is in the format before Delta tables",
                                         command(lake, "rebuild --from-raw", settings.home),
                                         needs_lake_rebuild=True))
        return False
    damage = lake_problems(lake)
    present = {name: table for name in TABLES if (table := safe_open(lake, name)) is not None}
    missing = [name for name in TABLES if name not in present and not any(p.startswith(f"lake table {name}:") for p in damage)]
    if missing and (evidence := integrity.earlier_data(settings, present)):
        damage.append(f"the lake lacks the tables {', '.join(missing)}, though {'; '.join(evidence)}")
    if not damage and (lost := integrity.lost_commits(settings, present)):
        damage.append(f"the lake is behind the warehouse it published ({'; '.join(lost)}): commits were lost")
    if not damage and (changes := integrity.outside_changes(settings, present)):
        damage.append(f"{outside_changes_said(changes)}: runs, `maintain`, `rollback` and `rebuild` refuse it")
    if not storage.is_url(lake) and not Path(lake).exists() and side_folder(Path(lake), "old").is_dir():
        damage.append(f"{lake.name}.old holds the lake, left by a rebuild from raw/ that was interrupted")
    elif not storage.is_url(lake) and side_folder(Path(lake), "old").is_dir():
        findings.notes.append(f"{lake.name}.old beside the lake: the lake a rebuild from raw/ replaced, left by one "
                              "killed at its very end, or a folder of yours. A rebuild that replaces the lake refuses "
                              "while it is there: look into it, then move or remove it")
    if drift := lake_mod.other_columns(lake, present):
        damage.append(f"{drift}: runs refuse it until it is written again with them")
    for problem in damage:
        repair = f"{command(lake, 'rebuild --from-raw', settings.home)} (raw/ is the source of truth)"
        findings.problems.append(Problem(problem, repair, needs_lake_rebuild=True))
    if not damage and (unfinished := unfinished_problem(settings, present)):
        findings.problems.append(unfinished)
    if not damage:
        findings.checked.append(f"lake: {len(present)} Delta tables, every listed file readable"
                                if present else "lake: none yet (a new home)")
    return not damage


def unfinished_problem(settings: Settings, present: dict) -> Problem | None:
    """A dead run's commits: undone as the next run would, unless the versions before them lost their files."""
    if not (restores := unfinished_commits(settings.lake, present)):
        return None
    if why := recovery.unrestorable(settings.lake, restores):
        repair = f"{command(settings.lake, 'rebuild --from-raw', settings.home)} (raw/ is the source of truth)"
        return Problem(why, repair, needs_lake_rebuild=True)
    return Problem(f"the lake tables {', '.join(restores)} hold commits of a run or rollback that didn't finish: Delta "
                   "readers see them until the next run", "undo them (as the next run would)",
                   fix=undo_unfinished(settings))


def unfinished_commits(lake: storage.Location, present: dict) -> dict[str, int]:
    """Tables with commits of a run after the last that reached its commit point (runs' row), and the
    versions recovery.recover would return them to."""
    return recovery.undos(lake, present) if "runs" in present else {}


def undo_unfinished(settings: Settings) -> Callable[[], str]:
    def undo() -> str:
        left = unfinished_commits(settings.lake, lake_mod.open_all(settings.lake))
        recovery.recover(settings.lake, integrity.lake_guard(settings), settings.home)
        return f"undid the unfinished commits of {', '.join(left)}"
    return undo


def safe_open(lake: storage.Location, name: str):
    try:
        return lake_mod.open_table(lake, name)
    except Exception:
        return None


def check_warehouse(settings: Settings, findings: Findings) -> None:
    rebuild = Problem("", f"{command(settings.lake, 'rebuild', settings.home)} (the warehouse from the lake)",
                      needs_warehouse_rebuild=True)
    try:
        with connect(settings.warehouse, read_only=True) as con:
            loaded = loaded_versions(con)
            for name in TABLES:   # every column of every row read back
                con.execute(f"SELECT sum(hash(t)) FROM {name} AS t").fetchone()
    except duckdb.Error as exc:
        if not Path(settings.warehouse).exists():
            runs_table = lake_mod.open_table(settings.lake, "runs")
            if runs_table is not None and lake_mod.run_of(runs_table):
                rebuild.what = f"the warehouse {settings.warehouse} is missing"
                findings.problems.append(rebuild)
            elif runs_table is not None:
                findings.notes.append(f"no warehouse yet at {settings.warehouse}: no run has completed in this home "
                                      "(the first was stopped or failed); the next run makes it")
            return
        rebuild.what = f"the warehouse {settings.warehouse} can't be read ({first_line(exc)})"
        findings.problems.append(rebuild)
        return
    behind, unknown = stale_tables(settings, loaded)
    if unknown:
        findings.notes.append(
            f"the warehouse holds {', '.join(unknown)}; the lake's log no longer shows the commits after those "
            "versions (cleaned after 30 days): if they were maintenance only, as when no run came since, the "
            f"warehouse is current; {command(settings.lake, 'rebuild', settings.home)} makes sure, and so does the next run")
    if behind:
        rebuild.what = f"the warehouse is behind the lake ({'; '.join(behind)})"
        findings.problems.append(rebuild)
    else:
        findings.checked.append("warehouse: at the lake's versions (or behind by maintenance commits only)")


def stale_tables(settings: Settings, loaded: dict[str, tuple[str, int]]) -> tuple[list[str], list[str]]:
    """The tables the warehouse holds at other versions than the lake's committed ones: behind, or
    loaded from a lake since rebuilt (another table id), and those whose log no longer tells whether
    the commits since the version it holds changed rows. Ahead of the lake is check_lake's."""
    tables = lake_mod.open_all(settings.lake)
    stale, unknown = [], []
    for name, version in recovery.target_versions(settings.lake, tables).items():
        table_id, held = loaded.get(name, (None, None))
        if held is None:
            stale.append(f"{name} not loaded")
        elif table_id != tables[name].metadata().id:
            stale.append(f"{name} loaded from a lake since rebuilt")
        elif held < version and recovery.latest_with_rows_of(tables[name], held) < version:   # else: the same rows
            log_shows = {c["version"] for c in tables[name].history(limit=version - held)}
            (stale if held + 1 in log_shows else unknown).append(f"{name} at version {held} of {version}")
    return stale, unknown


def rebuild_warehouse(settings: Settings) -> str:
    from warehouse.publish import rebuild
    rebuild(settings.warehouse, settings.lake)
    return f"rebuilt {settings.warehouse} from the lake"


def repair(settings: Settings, findings: Findings) -> list[str]:
    """Apply the safe repairs: copies again from inbox files, the file index moved aside; then the
    lake rebuilt from raw/ if it is damaged and the warehouse with it, or else the warehouse alone
    if it needs it. A lake rebuild that would drop dumps whose copies nothing can restore is not
    safe: it is left to the user, who names them (`rebuild --from-raw --drop`)."""
    from flows.rebuild import Drop, lake_from_raw
    done, failed = [], []
    for problem in findings.problems:
        try:
            done += [problem.fix()] if problem.fix is not None else []
        except Exception as exc:   # one repair failing must not hide the others, nor end in a traceback
            failed.append(f"NOT REPAIRED: {problem.what}. The repair, {problem.repair}, failed: {first_line(exc)}")
    needs = {kind for problem in findings.problems for kind in ("lake", "warehouse")
             if getattr(problem, f"needs_{kind}_rebuild")}
    if "lake" in needs and findings.unrecoverable:
        return [f"repaired: {line}" for line in done] + failed + [refused_lake_rebuild(settings, findings.unrecoverable)]
    if "lake" in needs:
        try:
            done += lake_from_raw(settings, Drop(()))
        except UserError as exc:   # refused before it wrote anything: the repairs before it stand
            return [f"repaired: {line}" for line in done] + failed + [f"NOT REPAIRED: the lake: {exc}"]
    return [f"repaired: {line}" for line in done] + failed + ([repair_warehouse(settings, "lake" in needs)] if needs else [])


def repair_warehouse(settings: Settings, lake_rebuilt: bool) -> str:
    """The warehouse rebuilt; one that fails its data tests is reported as a run reports it, and the
    repairs before it stand."""
    from flows.rebuild import checks_failed
    from warehouse.checks import DataCheckBroken, DataCheckFailed
    lake = "the lake from raw/ and " if lake_rebuilt else ""
    try:
        return f"repaired: rebuilt {lake}{rebuild_warehouse(settings).removeprefix('rebuilt ')}"
    except DataCheckBroken as exc:
        return f"NOT REPAIRED: the warehouse ({exc}): fix the file, then {command(settings.lake, 'rebuild', settings.home)}"
    except DataCheckFailed as exc:
        return f"NOT REPAIRED: the warehouse {checks_failed(exc, lake_rebuilt, settings)}"


def refused_lake_rebuild(settings: Settings, unrecoverable: list[str]) -> str:
    drops = " ".join(f"--drop {did[:16]}" for did in unrecoverable)
    return (f"NOT REPAIRED: the lake. A rebuild from raw/ would drop {len(unrecoverable)} dumps whose raw/ copies "
            "are gone, though the lake and the warehouse still hold their rows. Put their files back in the inbox "
            f"and repair again, or drop them knowingly: "
            f"{command(settings.lake, f'rebuild --from-raw {drops}', settings.home)}")



"""The commands that look after a home (SPEC §5): `rebuild`, `doctor`, `history`, `rollback`,
`maintain`: the lake and the warehouse made again, checked, undone and kept up."""
from __future__ import annotations

import sys
from contextlib import ExitStack
from functools import partial

from flows import json_out
from store import storage
from store.advice import command, doctor_repair
from store.errors import RunFailed, UserError
from store.settings import Settings

LAKE_COMMANDS = {"history", "rollback", "maintain", "doctor"}   # a damaged lake explains their failures


def add_parsers(commands, lake_help: str) -> None:
    """The home commands' arguments, on the `profile-etl` parser's subcommands."""
    rebuild = commands.add_parser("rebuild", help="rebuild the warehouse from the lake")
    rebuild.add_argument("--from-raw", action="store_true", help="rebuild the lake from raw/ first")
    rebuild.add_argument("--lake", help=lake_help)
    rebuild.add_argument("--drop", action="append", default=[], metavar="DUMP_ID",
                         help="with --from-raw: leave out this dump, whose raw/ copy is missing or corrupt (repeatable)")
    rebuild.add_argument("--drop-damaged", action="store_true",
                         help="with --from-raw: leave out every dump whose raw/ copy is missing or corrupt")
    rebuild.add_argument("--wait", type=float, dest="lock_wait_seconds",
                         help="if a run holds the home, wait up to this many seconds (default: exit at once)")
    doctor = commands.add_parser("doctor", help="check the home: lake, raw/ copies, file index, warehouse")
    doctor.add_argument("--repair", action="store_true", help="apply the safe repairs it lists")
    doctor.add_argument("--lake", help=lake_help)
    doctor.add_argument("--inbox", help="where --repair looks for files that hold lost raw/ copies' bytes, wherever "
                                        "they lie in it (default: HOME/inbox)")
    doctor.add_argument("--wait", type=float, dest="lock_wait_seconds",
                        help="if a run holds the home, wait up to this many seconds (default: exit at once)")
    history = commands.add_parser("history", help="the runs, oldest first, with each lake table's version")
    history.add_argument("--lake", help=lake_help)
    history.add_argument("--json", action="store_true")
    rollback = commands.add_parser("rollback", help="return the lake and the warehouse to their state before a run")
    rollback.add_argument("run_id", help="a run id, as `profile-etl history` lists it")
    rollback.add_argument("--force", action="store_true", help="also roll back the runs after it")
    rollback.add_argument("--lake", help=lake_help)
    rollback.add_argument("--wait", type=float, dest="lock_wait_seconds",
                          help="if a run holds the home, wait up to this many seconds (default: exit at once)")
    maintain = commands.add_parser("maintain", help="compact small files, checkpoint, vacuum past a retention")
    maintain.add_argument("--retention-days", type=int, default=None,
                          help="keep replaced files this many days from now on (1 or more; a new lake keeps them 7)")
    maintain.add_argument("--lake", help=lake_help)
    maintain.add_argument("--wait", type=float, dest="lock_wait_seconds",
                          help="if a run holds the home, wait up to this many seconds (default: exit at once)")


def put_back_interrupted_rebuild(settings: Settings, command: str) -> None:
    """A rebuild from raw/ killed between its renames left the lake in `<lake>.old`: put back, under
    the run lock, as a run and `doctor --repair` put it back, before the command looks for the lake."""
    from flows.rebuild import is_empty_folder, side_folder
    from store.lock import run_lock
    if storage.is_url(settings.lake) or (settings.lake.exists() and not is_empty_folder(settings.lake)) \
            or not side_folder(settings.lake, "old").is_dir():
        return
    with run_lock(settings.home, settings.lock_wait_seconds, command):
        put_back_under_lock(settings)


def put_back_under_lock(settings: Settings) -> None:
    """The same, once the command holds the lock: a rebuild it waited for may have died between its
    renames after the command looked (--wait)."""
    from flows.rebuild import restore_interrupted_rebuild
    if not storage.is_url(settings.lake) and (note := restore_interrupted_rebuild(settings.lake)):
        print(f"profile-etl: {note}", file=sys.stderr)


def cmd_rebuild(settings: Settings, args) -> int:
    from flows.rebuild import Drop, lake_from_raw
    from store.lock import run_lock
    ready_to_rebuild(settings, args)
    with run_lock(settings.home, settings.lock_wait_seconds, "rebuild"):
        put_back_under_lock(settings)
        if not args.from_raw:   # under the lock: a run it waited for may have committed meanwhile
            from flows.integrity import refuse_lost_commits, refuse_outside_changes
            from warehouse.lake import open_all
            from warehouse import recovery
            tables = open_all(settings.lake)
            refuse_lost_commits(settings, tables, "the rebuild")   # its warehouse would lose their rows
            refuse_outside_changes(settings, tables, "the rebuild")   # it would publish them
            # it would load the versions before a dead run, which may have lost their files
            recovery.refuse_unrestorable(settings.lake, recovery.undos(settings.lake, tables), settings.home)
        notes = lake_from_raw(settings, Drop(tuple(args.drop), args.drop_damaged)) if args.from_raw else []
        warehouse_rebuilt(settings, args.from_raw)
    print(f"rebuilt {settings.warehouse}" + (" and the lake from raw/" if args.from_raw else ""))
    for note in notes:
        print(f"profile-etl: {note}", file=sys.stderr)
    return 0


def ready_to_rebuild(settings: Settings, args) -> None:
    """Refuse, before the lock, a rebuild that can't be done: flags that don't go together, nothing
    to rebuild from, or (from the lake) a lake whose logs or columns are damaged."""
    from flows.rebuild import refuse_without_sources
    storage.reachable(settings.lake)   # an unreachable S3 lake says so, not "no lake"
    put_back_interrupted_rebuild(settings, "rebuild")
    refuse_without_sources(settings, args.from_raw)   # before the lock, which makes the home
    if (args.drop or args.drop_damaged) and not args.from_raw:
        raise UserError("--drop and --drop-damaged go with --from-raw")
    if not args.from_raw:
        from warehouse import lake
        from warehouse.lake_health import refuse_damaged, refuse_damaged_logs
        refuse_damaged_logs(settings.lake, "the rebuild", settings.home)
        try:
            tables = lake.open_all(settings.lake)
        except Exception:   # a log delta-rs can't read (a damaged checkpoint): said with its repair
            refuse_damaged(settings.lake, "the rebuild", settings.home)
            raise
        lake.refuse_other_columns(settings.lake, tables, settings.home)
    if args.from_raw:
        from flows.progress import show_progress
        show_progress()   # raw/ read again: as long as a run's reading


def warehouse_rebuilt(settings: Settings, from_raw: bool) -> None:
    """The warehouse loaded anew from the lake; a failure said as a run says it."""
    from flows.rebuild import checks_failed
    from warehouse.checks import DataCheckBroken, DataCheckFailed
    from warehouse.publish import rebuild
    from warehouse.views import MartError
    try:
        rebuild(settings.warehouse, settings.lake)
    except DataCheckBroken as exc:
        raise UserError(f"{exc}. The last published warehouse stays: fix the file, then rebuild again") from None
    except MartError as exc:
        raise UserError(f"{exc}. The last published warehouse stays: fix or remove your mart, then rebuild "
                        "again") from None
    except DataCheckFailed as exc:   # said as a run says it, without a traceback
        raise RunFailed(f"the rebuild failed {checks_failed(exc, from_raw, settings)}") from None
    except Exception:
        from warehouse.lake_health import refuse_damaged
        refuse_damaged(settings.lake, "the rebuild", settings.home)
        raise


def not_a_home(settings: Settings) -> bool:
    """An inbox, say: a folder of dump files without a home's parts (an empty folder is a new home)."""
    from flows.discover import is_dump_name
    parts = (settings.raw, settings.state, settings.warehouse, settings.home / "inbox")
    return (not any(path.exists() for path in parts) and not storage.exists(settings.lake)
            and any(is_dump_name(path.name) for path in settings.home.rglob("*")))


def cmd_doctor(settings: Settings, args) -> int:
    from flows import doctor
    from flows.findings import report
    if not settings.home.is_dir():
        raise UserError(f"no home at {settings.home}: nothing to check (check --home or PROFILE_ETL_HOME)")
    storage.reachable(settings.lake)
    if not_a_home(settings):   # an inbox given as --home, say: left untouched
        raise UserError(f"{settings.home} holds dump files but no home (no lake/, raw/, state/ or warehouse.duckdb): "
                        "nothing to check (check --home or PROFILE_ETL_HOME)")
    with doctor_lock(settings, args.repair):
        findings = doctor.examine(settings)
        sys.stdout.write(report(findings))
        if not args.repair or not findings.problems:
            if findings.problems:
                print(f"{doctor_repair(settings)} makes the repairs it can "
                      "(those that lose nothing), and checks again")
            return 1 if findings.problems else 0
        for done in doctor.repair(settings, findings):
            print(done)
        after = doctor.examine(settings)
    sys.stdout.write("after the repairs:\n" + report(after))
    return 1 if after.problems else 0


def doctor_lock(settings: Settings, repair: bool) -> ExitStack:
    """The run lock, held while checking too: a run between its lake commit and its publish would
    look like damage. A user who may only read the home checks without it."""
    from store.lock import HomeNotWritable, run_lock
    held = ExitStack()
    try:
        held.enter_context(run_lock(settings.home, settings.lock_wait_seconds, "doctor --repair" if repair else "doctor"))
    except HomeNotWritable:
        if repair:
            raise
        print("profile-etl: note: no permission to take the home's run lock; a run working on it now may show "
              "as a problem", file=sys.stderr)
    return held


def cmd_history(settings: Settings, args) -> int:
    from warehouse import history
    storage.reachable(settings.lake)   # an unreachable S3 lake says so, not "no lake"
    put_back_interrupted_rebuild(settings, "history")
    history.require_lake(settings.lake, settings.home)
    from warehouse.lake_health import refuse_damaged_logs
    refuse_damaged_logs(settings.lake, "`history`", settings.home)
    runs = history.runs_history(settings.lake)
    print(json_out.dumps(runs) if args.json else history.describe_history(runs))
    return 0


def cmd_rollback(settings: Settings, args) -> int:
    from flows.integrity import lake_guard
    from store import raw_store
    from store.lock import run_lock
    from warehouse import history
    from warehouse.lake_health import refuse_damaged_logs
    from warehouse.publish import rebuild
    storage.reachable(settings.lake)
    put_back_interrupted_rebuild(settings, "rollback")
    history.require_lake(settings.lake, settings.home)   # before the lock, which makes the home
    refuse_damaged_logs(settings.lake, "`rollback`", settings.home)
    with run_lock(settings.home, settings.lock_wait_seconds, "rollback"):
        put_back_under_lock(settings)
        done = None if rolled_back_in_lake_only(settings, args.run_id) else history.rollback(
            settings.lake, args.run_id, args.force, lake_guard(settings),
            partial(raw_store.record_rolled_back, settings.raw), settings.home)
        try:
            rebuild(settings.warehouse, settings.lake)
        except Exception as exc:
            raise UserError(f"the lake is rolled back, but the warehouse could not be rebuilt ({type(exc).__name__}: "
                            f"{exc}); fix the cause and run {command(settings.lake, 'rebuild', settings.home)}") from None
    print(history.describe_rollback(done) if done else f"run {args.run_id} was rolled back in the lake already, by a "
          "rollback interrupted before it rebuilt the warehouse: the warehouse is rebuilt now")
    return 0


def rolled_back_in_lake_only(settings: Settings, run_id: str) -> bool:
    """Did a rollback of run_id die after its lake commit (the runs restore), before it rebuilt the
    warehouse? The lake's runs lack the run, the published warehouse still holds it, and the lake
    lost no commits the warehouse loaded (the guard: recovery refuses such a lake)."""
    from flows.integrity import lake_guard, warehouse_run_ids
    from warehouse import history, recovery
    recovery.recover(settings.lake, lake_guard(settings), settings.home)
    return run_id not in history.runs_in_order(settings.lake)["run_id"] and run_id in warehouse_run_ids(settings)


def cmd_maintain(settings: Settings, args) -> int:
    from flows.integrity import lake_guard
    from store.lock import run_lock
    from warehouse import history, maintenance, retention
    from warehouse.lake_health import refuse_damaged_logs
    storage.reachable(settings.lake)
    put_back_interrupted_rebuild(settings, "maintain")
    history.require_lake(settings.lake, settings.home)
    refuse_damaged_logs(settings.lake, "`maintain`", settings.home)   # a vacuum would delete the files a damaged commit hides
    with run_lock(settings.home, settings.lock_wait_seconds, "maintain"):
        put_back_under_lock(settings)
        kept = history.kept_for(settings.lake)
        done = maintenance.maintain(settings.lake, args.retention_days, lake_guard(settings), settings.home)
    if args.retention_days is not None and (now := retention.shown(max(m.retention for m in done))) != kept:
        print(f"the lake keeps replaced files {now} from now on (it kept them {kept})")
    print(maintenance.describe_maintenance(done))
    return 0


HANDLERS = {"rebuild": cmd_rebuild, "doctor": cmd_doctor, "history": cmd_history, "rollback": cmd_rollback,
            "maintain": cmd_maintain}

"""`profile-etl` command line (SPEC §5)."""
from __future__ import annotations

import gc
import json
import os
import sys
import time

from flows import cancel_watch, guard, home_commands, json_out, limits, read_commands, run_failure, streams
from flows.arguments import parser
from flows.prefect_env import (api_url, broken_logging_settings, run_tags, unwritable_database,
                               unwritable_prefect_home, use_prefect_env, without_heartbeats)
from store import advice, lock, storage
from store.errors import RunFailed, UserError
from store.settings import Settings

READERS = set(read_commands.HANDLERS) - {"validate"}   # commands that only read the warehouse
STARTED = time.monotonic()   # a run's summary gives the wall time the user waited, Prefect's start included
# guarded: set by `entry` (in-process callers of main start no watchdog); api_gone: Prefect's API stopped answering;
# server: the temporary server's start, until the flow may use it
COMMAND = {"watchdog": None, "guarded": False, "api_gone": False, "server": None}


def main(argv: list[str] | None = None) -> int:
    # pandera imports numpy, whose OpenBLAS threads would spin at start-up; nothing here uses BLAS.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = parser().parse_args(argv)
    handler = {"run": cmd_run, "serve": cmd_serve, "server": cmd_server, "watch": cmd_watch,
               **read_commands.HANDLERS, **home_commands.HANDLERS}[args.command]
    try:
        settings = settings_of(args)
        try:
            return handler(settings, args)
        except (UserError, OSError):
            raise
        except Exception as exc:
            explain(exc, args.command, settings)
            raise
    except KeyboardInterrupt:   # before the run began (Prefect starting) too, a script gets its object
        print_failure(args, "interrupted", 130)
        raise
    except UserError as exc:
        print(f"profile-etl: {exc}", file=sys.stderr)
        print_failure(args, "failed" if isinstance(exc, RunFailed) else "refused", exc.exit_code, str(exc),
                      getattr(exc, "run_id", None))
        return exc.exit_code
    except OSError as exc:   # a path the command can't read or write: the OS says why
        return os_error(args, exc)


def settings_of(args) -> Settings:
    """The settings object from the command's flags (those it has), then PROFILE_ETL_*, then defaults."""
    try:
        os.getcwd()
    except FileNotFoundError:   # else a relative path, an import (Prefect's server, pandera) fails unnamed
        raise UserError("the current folder no longer exists (it was deleted or moved after this shell "
                        "entered it): cd to a folder that exists, and run the command again") from None
    return Settings.load(home=args.home, inbox=getattr(args, "inbox", None), lake=getattr(args, "lake", None),
                         batch_size=getattr(args, "batch_size", None),
                         settle_seconds=getattr(args, "settle_seconds", None),
                         lock_wait_seconds=getattr(args, "lock_wait_seconds", None),
                         dask_address=getattr(args, "dask_address", None))


def os_error(args, exc: OSError) -> int:
    """A path the command can't read or write, said as the OS says it (a broken pipe is re-raised)."""
    if isinstance(exc, BrokenPipeError):
        raise exc
    from warehouse.lake_health import first_line   # delta-rs' I/O errors carry a backtrace and colours
    message = f"{args.command}: {exc.strerror or first_line(exc)}" + (f": {exc.filename}" if exc.filename else "")
    print(f"profile-etl: {message}", file=sys.stderr)
    print_failure(args, "refused", 2, message)
    return 2


def print_failure(args, status: str, exit_code: int, error: str | None = None, run_id: str | None = None) -> None:
    """`run --json` that ends without a summary still prints one JSON object, for the script reading
    it: run_id names the run's `failed` row in `runs`, when the run got that far."""
    if args.command == "run" and args.json:
        print(json.dumps({"status": status, "exit_code": exit_code, "error": error, "run_id": run_id}), flush=True)


def explain(exc: Exception, command: str, settings: Settings) -> None:
    """A failure that a damaged warehouse file or lake explains becomes a UserError saying so."""
    if command in READERS and type(exc).__module__.split(".")[0] in ("duckdb", "_duckdb"):
        if type(exc).__name__ == "IOException" and ".duckdb" not in str(exc):   # an output file: export's, report's
            raise UserError(f"`{command}`: {exc}")
        if "Conflicting lock" in str(exc):
            raise UserError(f"another process holds the warehouse {settings.warehouse} open for writing "
                            f"({str(exc).split('Conflicting lock is held in ')[-1].splitlines()[0]}): close it; "
                            "readers open it read-only (duckdb.connect(path, read_only=True))")
        from warehouse.catalog import QUERY_ERRORS, mart_hint
        if isinstance(exc, QUERY_ERRORS):   # a query that fails on the data (a mart's), not a damaged file
            raise UserError(f"`{command}`: a query failed: {str(exc).split(chr(10))[0]} "
                            f"({mart_hint(settings.home / 'marts')}, then "
                            f"{advice.command(settings.lake, 'rebuild', settings.home)})")
        raise UserError(f"can't read the warehouse {settings.warehouse} ({exc}). If the file is damaged, "
                        f"{advice.command(settings.lake, 'rebuild', settings.home)} makes it again from the lake "
                        f"({advice.command(settings.lake, 'doctor', settings.home)} checks the home)")
    if command in home_commands.LAKE_COMMANDS:
        from warehouse.lake_health import refuse_damaged
        refuse_damaged(settings.lake, f"`{command}`", settings.home)


def entry() -> int:
    """The `profile-etl` command: main, then an exit that skips collecting the objects of Prefect's
    modules, a noticeable share of every command (in-process callers of main keep collecting)."""
    COMMAND["guarded"] = True
    streams.prepare()
    try:
        code = main()
        sys.stdout.flush()   # here, not at the exit, which would say only "Exception ignored" (exit 120)
    except UnicodeEncodeError as exc:   # output to a file or pipe is data: refused whole, not altered
        if exc.encoding.replace("-", "").lower() != (sys.stdout.encoding or "").replace("-", "").lower():
            raise
        print(f"profile-etl: the output holds {exc.object[exc.start:exc.end]!r}, which {exc.encoding} can't "
              "write: set PYTHONIOENCODING=utf-8 (or a UTF-8 locale)", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print("\nprofile-etl: interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:   # the reader left (`sql ... | head -1`): what it wanted was written
        streams.discard(sys.stdout)
        code = 0
    except OSError as exc:   # the output itself can't be written (a full disk): what the command did stays done
        streams.discard(sys.stdout)
        print(f"profile-etl: can't write the output ({exc.strerror}); `profile-etl status` shows what a run did",
              file=sys.stderr)
        code = 2
    gc.freeze()
    # Prefect's exit hooks would retry each queued event for seconds, minutes in all; and the interpreter's
    # exit aborted (SIGABRT) under a thread still starting the temporary server, which the watchdog stops.
    if COMMAND["api_gone"] or (COMMAND["server"] is not None and not COMMAND["server"].done()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def prepare_prefect(settings: Settings, verbose: bool = False) -> None:
    if COMMAND["guarded"]:   # from here, before Prefect's import (seconds), which a SIGTERM would end unsaid
        guard.terminate_as_interrupt()
    if verbose:
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "INFO"
    limits.refuse_low_limits()   # before Prefect starts: too few open files hang it, too little address space aborts
    use_prefect_env()
    if why := broken_logging_settings():
        raise UserError(f"Prefect's logging settings file (PREFECT_LOGGING_SETTINGS_PATH) isn't YAML it can read ({why}): "
                        "correct it, or unset PREFECT_LOGGING_SETTINGS_PATH for Prefect's own")
    lasting = api_url()   # from the environment or a Prefect profile
    if not lasting and (why := unwritable_prefect_home()):
        raise UserError(f"Prefect's temporary server keeps its database in PREFECT_HOME, which can't be written "
                        f"({why}): set PREFECT_HOME to a writable folder, or PREFECT_API_URL to a lasting server")
    if not lasting and (why := unwritable_database()):
        raise UserError(f"Prefect's temporary server keeps its database where PREFECT_SERVER_DATABASE_CONNECTION_URL "
                        f"says, which can't be written ({why}): correct it, or unset it to keep it in PREFECT_HOME")
    if COMMAND["guarded"]:   # the processes Prefect starts for this command end with it
        if lasting:   # a lasting server's UI may cancel this command's runs
            cancel_watch.ENABLED.append(True)
        if not lasting:   # a lasting server is no child of the run
            COMMAND["watchdog"] = guard.watch_children()
    if not storage.reachable(settings.inbox):
        raise UserError(f"inbox {settings.inbox} is not a folder (or its bucket doesn't exist): "
                        "create it or pass --inbox DIR")
    if storage.is_url(settings.lake) and not storage.reachable(settings.lake):
        raise UserError(f"the bucket of lake {settings.lake} doesn't exist: create it or pass --lake")
    if COMMAND["guarded"] and not lasting:
        COMMAND["server"] = guard.start_temporary_server()


def server_ready() -> None:
    """The temporary server this command started has answered (or its start failed, raised here):
    the flow must not find it half started, which Prefect would take for started."""
    starting, COMMAND["server"] = COMMAND["server"], None
    if starting is not None:
        starting.result()


def cmd_serve(settings: Settings, args) -> int:
    prepare_prefect(settings)
    if not api_url():
        raise UserError("schedules need a Prefect server: start one with `profile-etl server` and set "
                        "PREFECT_API_URL=http://127.0.0.1:4200/api (the temporary server doesn't schedule)")
    import httpx

    from flows.schedule import serve
    from flows.served import server_answers
    from store.lock import serve_lock
    with serve_lock(settings.home):
        try:
            serve(settings, args.cron, args.interval)
        except Exception as exc:   # the runner's poll gives up on a server gone a few minutes in a task group
            if not isinstance(exc, httpx.TransportError) and server_answers(api_url() or ""):
                raise
            raise UserError(f"can't reach the Prefect API at {api_url()}: start the server (`profile-etl "
                            "server`) or correct PREFECT_API_URL, then serve again") from None
    return 0


def cmd_server(settings: Settings, args) -> int:
    from flows.schedule import run_server
    return run_server(args.host, args.port)


def cmd_watch(settings: Settings, args) -> int:
    prepare_prefect(settings, args.verbose)
    from flows.pipeline import ingest_flow
    from flows.schedule import watch
    ingest = ingest_flow(settings.dask_address)
    quiet = settings.settle_seconds if args.quiet_seconds is None else args.quiet_seconds
    print(f"profile-etl: watching {settings.inbox}: a run starts once new dumps have been quiet for {quiet:g} s "
          "(Ctrl-C stops)", flush=True)
    try:
        server_ready()
        watch(settings, lambda: watched_run(settings, args, ingest), quiet, args.poll_seconds)
    except KeyboardInterrupt:
        pass
    return 0


def watched_run(settings: Settings, args, ingest) -> dict:
    """One run of `watch`: its summary; a run that completed but couldn't tell Prefect is a warning."""
    from prefect import tags

    from flows.pipeline import COMPLETED_HERE
    from flows.schedule import SCHEDULED_LOCK_WAIT
    COMPLETED_HERE.clear()
    try:
        with (without_heartbeats(), tags(*run_tags(settings.home)),
              guard.ended_at_once_if_server_stops(lambda: stopped_with_server(args))):
            summary = ingest(home=settings.home, inbox=settings.inbox, lake=str(settings.lake),
                             settle_seconds=settings.settle_seconds,
                             batch_size=settings.batch_size, max_dump_bytes=settings.max_dump_bytes,
                             lock_wait_seconds=max(settings.lock_wait_seconds, SCHEDULED_LOCK_WAIT))
    except KeyboardInterrupt:   # stops the watch (exit 0), unless Prefect cancelled the run; say what became of it
        if not COMPLETED_HERE and cancel_watch.settle():
            raise cancel_watch.RunCancelled(cancel_watch.CANCELLED) from None
        if COMPLETED_HERE and cancel_watch.asked() is not None:   # completed as the cancel came: the watch goes on
            print(f"\nwatch: warning: {run_failure.INTERRUPTED_AT_ITS_END}", file=sys.stderr, flush=True)
            return COMPLETED_HERE[0]
        run_failure.say_watch_stopped(bool(COMPLETED_HERE))
        raise
    except Exception as exc:
        COMMAND["api_gone"] = run_failure.api_unreachable(exc)   # as the last run found it
        if not COMPLETED_HERE:
            raise
        print(f"\nwatch: warning: {run_failure.unrecorded_end(exc)}", file=sys.stderr, flush=True)
        return COMPLETED_HERE[0]
    COMMAND["api_gone"] = False
    return summary


def cmd_run(settings: Settings, args) -> int:
    if not settings.lock_wait_seconds and (holder := lock.current_holder(settings.home)):
        raise lock.locked(settings.home, holder)   # at once, not once Prefect has started
    prepare_prefect(settings, args.verbose)
    return run_ingest(settings, args)


def run_ingest(settings: Settings, args) -> int:
    from prefect import tags

    from flows.pipeline import COMPLETED_HERE, ingest_flow
    from flows.progress import show_progress
    show_progress()
    COMPLETED_HERE.clear()
    try:
        server_ready()
        ingest = ingest_flow(settings.dask_address)   # refused here, a run makes no home (run_tags would)
        with (without_heartbeats(), tags(*run_tags(settings.home)),
              guard.ended_at_once_if_server_stops(lambda: stopped_with_server(args))):
            summary = ingest(
                home=settings.home, inbox=settings.inbox, lake=str(settings.lake), batch_size=settings.batch_size,
                settle_seconds=settings.settle_seconds, max_dump_bytes=settings.max_dump_bytes,
                lock_wait_seconds=settings.lock_wait_seconds, reprocess=args.reprocess)
    except UserError:
        raise
    except KeyboardInterrupt:
        if not COMPLETED_HERE:
            cancelled = cancel_watch.settle()
            print(f"\nprofile-etl: {cancel_watch.CANCELLED if cancelled else run_failure.INTERRUPTED}", file=sys.stderr)
            print_failure(args, "cancelled" if cancelled else "interrupted", 130)
            return 130
        summary = run_failure.with_warning(COMPLETED_HERE[0], run_failure.INTERRUPTED_AT_ITS_END)
    except Exception as exc:
        COMMAND["api_gone"] = run_failure.api_unreachable(exc)
        if not COMPLETED_HERE:
            raise run_failure.run_failed(settings, exc) from None
        summary = run_failure.with_warning(COMPLETED_HERE[0], run_failure.unrecorded_end(exc))
    print_summary(args, summary)
    return 0


def print_summary(args, summary: dict) -> None:
    from flows.runs import describe
    seconds = round(time.monotonic() - STARTED, 3)
    print(json_out.dumps(summary | {"wall_seconds": seconds}) if args.json else describe(summary, seconds))


def stopped_with_server(args) -> int:
    """A run that a SIGTERM ended together with its temporary server (sent to the process group) says
    what an interrupted run says, without telling Prefect, which it can't reach; the exit code (a watch
    ends as a Ctrl-C during its run ends it)."""
    from flows.pipeline import COMPLETED_HERE
    if args.command == "watch":
        run_failure.say_watch_stopped(bool(COMPLETED_HERE))
        return 0
    if COMPLETED_HERE:
        print_summary(args, run_failure.with_warning(COMPLETED_HERE[0], run_failure.INTERRUPTED_AT_ITS_END))
        return 0
    print(f"\nprofile-etl: {run_failure.INTERRUPTED}", file=sys.stderr)
    print_failure(args, "interrupted", 130)
    return 130


if __name__ == "__main__":
    sys.exit(entry())

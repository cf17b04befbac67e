"""`profile-etl` command line (SPEC §5)."""
from __future__ import annotations

import gc
import os
import sys

from flows import home_commands, read_commands, run_commands, streams
from flows.arguments import parser
from flows.command import COMMAND, print_failure
from store import advice
from store.errors import RunFailed, UserError
from store.settings import Settings

READERS = set(read_commands.HANDLERS) - {"validate"}   # commands that only read the warehouse


def main(argv: list[str] | None = None) -> int:
    # pandera imports numpy, whose OpenBLAS threads would spin at start-up; nothing here uses BLAS.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = parser().parse_args(argv)
    handler = {**run_commands.HANDLERS, **read_commands.HANDLERS, **home_commands.HANDLERS}[args.command]
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


if __name__ == "__main__":
    sys.exit(entry())

"""The `profile-etl` command line's grammar: its commands, their flags, and the argparse types that
check a flag's value before anything runs."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from flows import home_commands

# Inbox and lake are kept as text (not Path) so that the `//` of a URL survives.
LAKE_HELP = "the Delta Lake tables: a folder, or an fsspec URL such as s3://bucket/lake (default: HOME/lake)"
DASK_HELP = "run extraction on this Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: $PROFILE_ETL_DASK_ADDRESS)"


def seconds(above: float | None = None):
    """An argparse type: a finite number of seconds, at least 0 (or more than `above`)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (above is not None and value <= above):
            raise argparse.ArgumentTypeError(f"{text}: give a number of seconds" + (f" above {above:g}" if above is not None
                                                                                      else ", 0 or more"))
        return value
    return parse


def cron(text: str) -> str:
    """An argparse type: a cron schedule as Prefect reads it."""
    from prefect.client.schemas.schedules import CronSchedule
    try:
        CronSchedule(cron=text)
    except ValueError:   # pydantic's ValidationError is one
        raise argparse.ArgumentTypeError(f"{text!r} is not a cron schedule (minute hour day month weekday); "
                                         'e.g. "0 * * * *" for hourly') from None
    return text


def count(text: str) -> int:
    """An argparse type: a whole number, 1 or more."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text}: give a whole number, 1 or more")
    return int(text)


def installed_version() -> str:
    """The installed distribution's version (a bug report or an upgrade names it)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("profile-etl")
    except PackageNotFoundError:   # the modules on a path without `pip install`
        return "unknown (not installed with pip)"


class PrintVersion(argparse.Action):
    """`--version`, looked up only when asked (the lookup takes tens of milliseconds)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the installed version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog} {installed_version()}")
        parser.exit()


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="profile-etl", description="Profile dumps in, DuckDB warehouse out.")
    root.add_argument("--version", action=PrintVersion)
    root.add_argument("--home", type=Path, help="folder of inbox/, raw/, lake/, warehouse.duckdb "
                                                "(default: $PROFILE_ETL_HOME or ./data)")
    commands = root.add_subparsers(dest="command", required=True)
    add_run_parser(commands)
    add_reading_parsers(commands)
    add_schedule_parsers(commands)
    home_commands.add_parsers(commands, LAKE_HELP)
    return root


def add_run_parser(commands) -> None:
    run = commands.add_parser("run", help="one ingestion run (a Prefect flow run)")
    run.add_argument("--inbox", help="folder of dumps, or an fsspec URL such as s3://bucket/inbox (default: HOME/inbox)")
    run.add_argument("--lake", help=LAKE_HELP)
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--batch-size", type=int, help="dump files per task")
    run.add_argument("--settle-seconds", type=float, help="files modified more recently wait for the next run")
    run.add_argument("--dask-address", help=DASK_HELP)
    run.add_argument("--reprocess", action="store_true",
                     help="also read quarantined dumps again (after a parser fix, a fixed sidecar, a higher limit), "
                          "except those a later dump of the same capture replaced")
    run.add_argument("--wait", type=float, dest="lock_wait_seconds",
                     help="if another run holds the home, wait up to this many seconds (default: exit at once)")
    run.add_argument("--verbose", action="store_true", help="also print Prefect's log (tasks, tracebacks) here")


def add_reading_parsers(commands) -> None:
    """The commands that read the warehouse or files, and write nothing to the home."""
    status = commands.add_parser("status", help="what is loaded, the last runs, problems")
    status.add_argument("--json", action="store_true")
    sql = commands.add_parser("sql", help="read-only SQL on the warehouse")
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    commands.add_parser("tables", help="the warehouse's tables and marts, with row counts and descriptions")
    describe = commands.add_parser("describe", help="a table's or mart's columns, with types and descriptions")
    describe.add_argument("name")
    commands.add_parser("check", help="run the data tests on the warehouse; exit 1 if one fails")
    validate = commands.add_parser("validate", help="parse and validate files without loading them")
    validate.add_argument("files", nargs="+")   # Path would make s3://b/k s3:/b/k
    export = commands.add_parser("export", help="every table and mart as Parquet or CSV files")
    export.add_argument("dir", type=Path)
    export.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    report = commands.add_parser("report", help="a self-contained HTML report of the warehouse")
    report.add_argument("out", type=Path)
    report.add_argument("--limit", type=count, default=20, help="profiles shown, by citations (default 20)")


def add_schedule_parsers(commands) -> None:
    serve = commands.add_parser("serve", help="serve the ingestion flow as a scheduled Prefect deployment")
    when = serve.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", type=cron, help='cron schedule, e.g. "0 * * * *"')
    when.add_argument("--interval", type=seconds(above=0), help="seconds between runs")
    serve.add_argument("--inbox")
    serve.add_argument("--lake", help=LAKE_HELP)
    serve.add_argument("--dask-address", help=DASK_HELP)
    server = commands.add_parser("server", help="start a Prefect server on loopback (schedules need one)")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=4200)
    watch = commands.add_parser("watch", help="run whenever new dumps have settled in the inbox")
    watch.add_argument("--inbox")
    watch.add_argument("--lake", help=LAKE_HELP)
    watch.add_argument("--dask-address", help=DASK_HELP)
    watch.add_argument("--quiet-seconds", type=seconds(), default=None,
                       help="run once the new files have not changed for this long (default: settle seconds)")
    watch.add_argument("--poll-seconds", type=seconds(above=0), default=1.0)
    watch.add_argument("--settle-seconds", type=float)
    watch.add_argument("--verbose", action="store_true", help="also print Prefect's log (tasks, tracebacks) here")

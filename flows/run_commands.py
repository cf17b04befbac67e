"""The commands that run the flow: `run`, `watch`, `serve` (and `server`, which `serve` needs)."""
from __future__ import annotations

import sys
import time

from flows import cancel_watch, guard, json_out, run_failure
from flows.command import COMMAND, STARTED, prepare_prefect, print_failure, server_ready
from flows.prefect_env import api_url, run_tags, without_heartbeats
from store import lock
from store.errors import UserError
from store.settings import Settings


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


HANDLERS = {"run": cmd_run, "serve": cmd_serve, "server": cmd_server, "watch": cmd_watch}

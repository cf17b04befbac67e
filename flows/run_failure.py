"""What `run` says when its flow call fails: the failure, what became of the data, and whether
Prefect's API was the cause (then a completed run is still reported as completed)."""
from __future__ import annotations

import sys
from urllib.parse import urlsplit

from flows.limits import limit_hint
from flows.prefect_env import api_url
from store.errors import RunFailed, UserError
from store.settings import Settings


def with_warning(summary: dict, warning: str) -> dict:
    """A completed run's summary, with what went wrong after it completed (also said on stderr)."""
    print(f"\nprofile-etl: warning: {warning}", file=sys.stderr, flush=True)   # Prefect's error lines end unended
    return summary | {"warning": warning}


def unrecorded_end(exc: Exception) -> str:
    """What to say of a run that completed (its data in, published) whose end Prefect then failed to record."""
    from prefect.exceptions import ObjectNotFound
    what = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ObjectNotFound):
        return (f"the run completed, but {api_name()} no longer has its flow run (the server's database was reset, "
                "or another server answers there): Prefect won't show this run; `profile-etl history` does")
    if not api_unreachable(exc):
        return f"the run completed, but Prefect failed to record its end ({what})"
    return (f"the run completed, but {api_name()} stopped answering ({what}): Prefect may show its flow run as "
            "still running, and its last logs and events are lost"
            + (". Check the server (`profile-etl server`)" if api_url() else ""))


INTERRUPTED = ("the run was interrupted. The published warehouse is as it was; the next run finishes or "
               "redoes this one's work.")
INTERRUPTED_AT_ITS_END = ("the run completed, and was interrupted while Prefect recorded its end: Prefect may "
                          "show its flow run as still running")


def say_watch_stopped(completed: bool) -> None:
    """What `watch` says when stopped during a run (it exits 0: stopping is how a watch ends)."""
    done = INTERRUPTED_AT_ITS_END if completed else INTERRUPTED
    print(f"\nwatch: stopped during a run: {done}", file=sys.stderr, flush=True)


def api_name() -> str:
    url = api_url()
    return f"Prefect's API at {url}" if url else "Prefect's temporary server"


def api_unreachable(exc: BaseException | None) -> bool:
    """A failure to connect to Prefect's API (or one that such a failure caused); a slow answer is not one."""
    import httpx
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def unreachable_hint(exc: Exception) -> str:
    hint, url = "", api_url()
    if url and "Failed to reach API" in str(exc) and "/api" not in urlsplit(url).path:
        hint = f" A Prefect server's API is at its address + /api (PREFECT_API_URL={url.rstrip('/')}/api?)."
    if not api_unreachable(exc):
        return hint
    if not url:
        return f" {api_name()} stopped answering."
    return hint + f" {api_name()} didn't answer: start the server (`profile-etl server`) or correct PREFECT_API_URL."


def run_failed(settings: Settings, exc: Exception) -> UserError:
    """What a failed run tells the user: the lake's damage when that is the cause, else the failure,
    with the run's id either way."""
    from warehouse.lake_health import refuse_damaged
    run_id = getattr(exc, "run_id", None)   # its failed runs row's, when one was written
    listed = "; `profile-etl history` lists the runs, this one too" if run_id else ""
    try:
        refuse_damaged(settings.lake, "the run", settings.home)
        failed = RunFailed(f"the run failed ({type(exc).__name__}: {exc}).{unreachable_hint(exc)}{limit_hint(exc)} "
                           f"The published warehouse is as it was; "
                           f"if the failure came after the lake commit, the next run publishes that data. "
                           f"Fix the cause and run again{listed}.")
    except UserError as damaged:
        failed = damaged
    failed.run_id = run_id
    return failed

"""A run's head start. `profile-etl run` starts Prefect's temporary server for every run: 5-9 s in
which the run's process mostly waits and one core idles. Before that, the command takes the run
lock, plans the run as the flow would and hands its batches to the local workers; the flow then
takes over the lock, the plan and the run id, and its batch tasks collect those batches' results.

No prefect here: importing it is part of what the head start overlaps.
"""
from __future__ import annotations

import datetime as dt
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace

from flows import batch, discover, stages, workers
from flows.lock import RunLocked, run_lock
from flows.settings import Settings, UserError


@dataclass
class HeadStart:
    settings: Settings
    run_id: str
    started_at: dt.datetime
    plan: discover.Plan
    jobs: list[batch.BatchJob]


_current: HeadStart | None = None


@contextmanager
def begin(settings: Settings):
    """Hold the home's run lock and start the run's batches while the body starts the flow. When
    another run holds the home, do nothing: the flow then waits for it or refuses, as without."""
    global _current
    with ExitStack() as stack:
        ahead = _planned(settings) if _lock_at_once(stack, settings) else None
        if ahead is None:
            stack.close()   # the flow takes the lock itself
            yield None
            return
        stack.callback(workers.shutdown)   # registered before the batches: no batch outlives the lock
        for job in ahead.jobs:
            workers.submit_ahead(batch.process_batch, job)
        _current = ahead
        try:
            yield ahead
        finally:
            _current = None


def _planned(settings: Settings) -> HeadStart | None:
    """The run's plan; None when planning fails (an I/O error, say): the flow's own planning task
    then tries again, with its retries, and records the failure. A UserError (a lake of an older
    layout, say) is the user's to fix, so it stops the command at once."""
    started_at = dt.datetime.now(dt.timezone.utc)
    run_id = stages.new_run_id(started_at)
    try:
        plan = discover.plan_run(settings.inbox, settings.lake, settings.state, settings.settle_seconds)
    except UserError:
        raise
    except Exception:
        return None
    return HeadStart(settings, run_id, started_at, plan, batch.plan_jobs(plan.todo, plan.known, settings, run_id,
                                                                         started_at))


def _lock_at_once(stack: ExitStack, settings: Settings) -> bool:
    try:
        stack.enter_context(run_lock(settings.home, 0.0))
        return True
    except RunLocked:
        return False


def take(settings: Settings) -> HeadStart | None:
    """The head start of the run the flow is about to make, if `profile-etl run` began one."""
    global _current
    ahead, _current = _current, None
    if ahead is not None and _comparable(ahead.settings) != _comparable(settings):
        raise RuntimeError(f"the run's head start was planned for {ahead.settings}, not {settings}")
    return ahead


def _comparable(settings: Settings) -> Settings:
    return replace(settings, lock_wait_seconds=0.0, dask_address=None)

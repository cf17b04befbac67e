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
# Batches run ahead on the core Prefect's start leaves idle; niced, they don't slow that start,
# which the run waits on (measured: about 1 s slower without).
NICENESS = 10


@contextmanager
def begin(settings: Settings):
    """Hold the home's run lock and start the run's batches while the body starts the flow. When
    another run holds the home, do nothing: the flow then waits for it or refuses, as without."""
    global _current
    with ExitStack() as stack:
        ahead = _started(settings, stack)
        if ahead is None:
            stack.close()   # the flow takes the lock, plans and reads itself
            yield None
            return
        _current = ahead
        try:
            yield ahead
        finally:
            _current = None


def _started(settings: Settings, stack: ExitStack) -> HeadStart | None:
    """The lock taken, the run planned and its batches handed to the workers; None when another
    run holds the home, or when a step fails (an I/O error, say): the flow then does it all
    itself, with its retries, and reports a failure as for any run. A UserError (a lake of an
    older layout, say) is the user's to fix, so it stops the command at once."""
    try:
        stack.enter_context(run_lock(settings.home, 0.0))
        ahead = _planned(settings)
        stack.callback(workers.shutdown)   # before the lock's release: no batch outlives the lock
        if ahead.jobs:
            workers.start(NICENESS)   # every core's worker, for the merges too (the pool spawns lazily)
        for job in ahead.jobs:
            workers.submit_ahead(batch.process_batch, job)
        return ahead
    except RunLocked:
        return None
    except UserError:
        raise
    except Exception:
        return None


def _planned(settings: Settings) -> HeadStart:
    started_at = dt.datetime.now(dt.timezone.utc)
    run_id = stages.new_run_id(started_at)
    plan = discover.plan_run(settings.inbox, settings.lake, settings.state, settings.settle_seconds)
    return HeadStart(settings, run_id, started_at, plan, batch.plan_jobs(plan.todo, plan.known, settings, run_id,
                                                                         started_at))


def take(settings: Settings, reprocess: bool) -> HeadStart | None:
    """The head start of the run the flow is about to make, if `profile-etl run` began one."""
    global _current
    ahead, _current = _current, None
    if ahead is not None and (reprocess or _comparable(ahead.settings) != _comparable(settings)):
        # its plan would miss the quarantined dumps to retry, or read another inbox into another lake
        raise RuntimeError(f"the run's head start was planned for {ahead.settings} without reprocessing, "
                           f"not for {settings}{' with reprocessing' if reprocess else ''}")
    return ahead


def _comparable(settings: Settings) -> Settings:
    return replace(settings, lock_wait_seconds=0.0, dask_address=None)

"""A run's head start. `profile-etl run` starts Prefect's temporary server for every run: 5-9 s in
which the run's process mostly waits and one core idles. Before that, the command takes the run
lock, plans the run as the flow would and hands its batches to the local workers; once they are
done, the merges follow them (a thread waits for the batches), and the warehouse load of the
run's files begins alongside (in a transaction the flow finishes after the lake commit, see
warehouse/pending.py). The flow then takes over the lock, the plan and the run id, and its batch,
merge and publish tasks collect the results of what began ahead.

No prefect here: importing it is part of what the head start overlaps.
"""
from __future__ import annotations

import datetime as dt
import os
import sys
import threading
from concurrent.futures import Future, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace

from flows import batch, discover, merge, stages, workers
from flows.lock import RunLocked, run_lock
from flows.settings import Settings, UserError


class MergesAhead:
    """The run's merges, begun in the workers as soon as its batches are done, unless the flow
    must decide something first: a batch failed (its task fails the run, or retries an I/O
    error), or two batches read the same dump (the flow reads the later one again without it).
    The warehouse load of the run's files begins with the merges (`_load_ahead`)."""

    def __init__(self, settings: Settings, run_id: str, batches: list[Future]):
        self.plan: merge.MergePlan | None = None
        self.load = None   # a warehouse.pending.PendingLoad, until the flow takes it
        self._results: list[batch.BatchResult] = []
        self._begun: list[Future] = []
        self._batches = batches
        self._nothing_to_merge = False
        self._loader: threading.Thread | None = None
        self._thread = threading.Thread(target=self._begin, args=(settings, run_id), daemon=True,
                                        name="merges-ahead")
        self._thread.start()

    def _begin(self, settings: Settings, run_id: str) -> None:
        lake_dir = settings.lake
        try:
            results = [future.result() for future in self._batches]
            # The batches' files (raw/ copies: most of a run's bytes) go to disk while the merges
            # run, so the commit's own sync has less left to wait for
            threading.Thread(target=os.sync, daemon=True, name="sync-ahead").start()
            if not any(r.dumps.height for r in results):
                self._nothing_to_merge = True
                return
            if batch.repeated_dumps(results):
                return
            plan = merge.MergePlan(lake_dir, run_id, batch.observations(results))
            jobs = [(merge.merge_profile_table, plan.profiles)] if plan.profiles else []
            for fn, job in jobs + [(merge.merge_group, group) for group in plan.groups]:
                if (future := workers.submit_ahead(fn, job)) is None:
                    return   # the run is over
                self._begun.append(future)
        except BaseException:   # the flow meets the same failure in its own tasks (a broken pool,
            return              # say), and reports it
        self._results, self.plan = results, plan
        self._loader = threading.Thread(target=self._load_ahead, args=(settings, run_id), daemon=True,
                                        name="load-ahead")
        self._loader.start()

    def _load_ahead(self, settings: Settings, run_id: str) -> None:
        """Load the run's files into the warehouse as they are written (warehouse/pending.py): the
        batches' at once, each merge task's bucket files as it finishes. Niced by as much as the
        workers: Prefect's server may still be starting."""
        from warehouse import pending   # here: DuckDB's import is no part of the run's start
        try:
            if sys.platform == "linux":   # where nice() is the calling thread's (DuckDB runs this load in it)
                os.nice(NICENESS)
            self.load = pending.begin(settings.warehouse, settings.lake, run_id)
            if self.load is None:
                return
            self.load.add(stages.lake_changes(self._results, merge.Merged())[1])
            for future in self._begun[1 if self.plan.profiles else 0:]:   # the bucket groups, in commit order
                merged = merge.combine(future.result(), None)
                self.load.add(merged.staged, merged.replaced)
            self.load.all_added()
        except BaseException:   # a failed merge (the flow's task reports it), or a failed load (the
            if self.load is not None:   # flow's own load meets it again)
                self.load.discard()
                self.load = None

    def take_load(self):
        """The warehouse load begun ahead, if any, for the flow to finish (or discard)."""
        self._thread.join()   # it starts the loader: after it, no load can begin unseen
        if self._loader is not None:
            self._loader.join()
        load, self.load = self.load, None
        return load

    def discard_load(self) -> None:
        if (load := self.take_load()) is not None:
            load.discard()

    def plan_for(self, results: list[batch.BatchResult]) -> merge.MergePlan | None:
        """The merges begun for these very batch results, or None (after any begun for others have
        finished: they write the files the flow's own merges will write). A batch read again
        writes its files under the same names, so the results are compared, not the files."""
        self._thread.join()
        same = len(results) == len(self._results) and all(a is b for a, b in zip(results, self._results))
        if self.plan is not None and same:
            return self.plan
        wait(self._begun)
        self.discard_load()   # it read the files the flow's own merges are about to write again
        return None

    def join(self) -> None:
        """Wait for the threads, and roll back a load the flow didn't take."""
        self._thread.join()
        self.discard_load()

    def needs_workers(self) -> bool:
        """Is work left that pays for another worker's start (about 0.5 CPU-s and 0.7 s): batches
        still running or queued, or the merges the flow makes itself when none began? Merges
        begun ahead are not: on the bench's 2,000 dumps, those left when the flow took over ended
        sooner with no new worker (paired runs). Merges submitted after this answer still spawn
        the missing worker (see workers.widen)."""
        batches_left = not all(future.done() for future in self._batches)
        return batches_left or (not self._thread.is_alive() and self.plan is None and not self._nothing_to_merge)


@dataclass
class HeadStart:
    settings: Settings
    run_id: str
    started_at: dt.datetime
    plan: discover.Plan
    jobs: list[batch.BatchJob]
    merges: MergesAhead | None = field(default=None, repr=False)

    def merges_for(self, results: list[batch.BatchResult]) -> merge.MergePlan | None:
        return self.merges.plan_for(results) if self.merges else None

    def join_merges(self) -> None:
        if self.merges:
            self.merges.join()

    def needs_workers(self) -> bool:
        return self.merges is not None and self.merges.needs_workers()

    def warehouse_load(self):
        """The warehouse load begun ahead (warehouse/pending.py), or None: the flow loads as usual."""
        return self.merges.take_load() if self.merges else None

    def discard_load(self) -> None:
        if self.merges:
            self.merges.discard_load()


_current: HeadStart | None = None
# Batches run ahead on the core Prefect's start leaves idle; niced, they don't slow that start,
# which the run waits on (measured: about 1 s slower without).
NICENESS = 10


def ahead_workers() -> int:
    """Workers for the head start: Prefect's start keeps one core busy (its client, then its server:
    bench/timeline.py), so on two cores a second worker would only share the first one's core, and
    cost its own start (0.5 CPU-s). The flow lets the pool grow to every core (`take`)."""
    return max(1, workers.cores() - 1)


@contextmanager
def begin(settings: Settings):
    """Hold the home's run lock and start the run's batches, then its merges, while the body starts
    the flow. When another run holds the home, do nothing: the flow then waits for it or refuses,
    as without."""
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
        stack.callback(ahead.join_merges)   # after the shutdown below, which cancels what it waits for
        stack.callback(workers.shutdown)   # before the lock's release: no batch outlives the lock
        if ahead.jobs:
            workers.start(NICENESS, ahead_workers())
            batches = [workers.submit_ahead(batch.process_batch, job) for job in ahead.jobs]
            ahead.merges = MergesAhead(settings, ahead.run_id, batches)
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


def take(settings: Settings, reprocess: bool, local: bool) -> HeadStart | None:
    """The head start of the run the flow is about to make, if `profile-etl run` began one."""
    global _current
    ahead, _current = _current, None
    if ahead is not None and not local:
        # its batches and merges run in this machine's workers: Dask tasks would write the same files
        raise RuntimeError("a head start runs in this machine's workers, not for a flow on a Dask cluster")
    if ahead is not None and (reprocess or _comparable(ahead.settings) != _comparable(settings)):
        # its plan would miss the quarantined dumps to retry, or read another inbox into another lake
        raise RuntimeError(f"the run's head start was planned for {ahead.settings} without reprocessing, "
                           f"not for {settings}{' with reprocessing' if reprocess else ''}")
    # Prefect is up: its core is free for the work left to the workers, if there is any
    workers.widen(spawn=ahead is not None and ahead.needs_workers())
    return ahead


def _comparable(settings: Settings) -> Settings:
    return replace(settings, lock_wait_seconds=0.0, dask_address=None)

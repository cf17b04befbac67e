"""Waiting on task runs that run on a Dask cluster (`--dask-address`). A cluster that has lost every
worker keeps them queued for ever while the run holds the home's lock, so every later run would
wait too: a run fails instead once the cluster has had no running worker for a while
(PROFILE_ETL_DASK_NO_WORKERS_SECONDS). A failed or interrupted run, local or on a cluster, cancels
the task runs that haven't started, so that none starts writing after it.
"""
from __future__ import annotations

import sys
import time

from prefect import get_run_logger
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture, PrefectWrappedFuture, wait

POLL_SECONDS = 5.0
STOP_POLL_SECONDS = 0.2   # how often a stopped run asks whether its cancelled tasks still run
STOP_TELL_SECONDS = 30.0  # how often it says which ones it waits for


class NoWorkers(RuntimeError):
    """The cluster has had no running worker for too long while the run waited on it."""


class ClusterWatch:
    """Waits on the flow run's task runs, watching the workers of its Dask cluster if it runs on one
    (they are asked only once a wait outlasts a poll)."""

    def __init__(self, no_workers_seconds: float):
        self.runner, self.no_workers_seconds, self.idle_since = dask_runner(), no_workers_seconds, None

    def wait(self, futures: list[PrefectFuture]) -> None:
        """Until all have finished, failing with NoWorkers when the cluster has had no worker for too long.
        On a cluster, each Dask future is asked in turn: Prefect's wait with a timeout learns of a task's
        end from a callback Dask runs later on its loop, and one that came after the timeout was lost,
        each poll anew (a run waited for ever on merges its cluster had finished, on a loaded machine)."""
        if self.runner is None:
            wait(futures)
            return
        for future in futures:
            self.finished(future)

    def result(self, future: PrefectFuture):
        """The future's result; on a cluster, once finished() says it can be fetched."""
        if self.runner is None:
            return future.result()
        self.finished(future)
        return future.result()

    def finished(self, future: PrefectFuture) -> None:
        """Waits a poll at a time, checking the workers between polls, until the task on the cluster has
        finished and its result (unless it failed) can be fetched: when the worker holding a finished
        task's result has died, Dask computes it again, which needs a worker."""
        while True:
            try:   # Future.exception waits; a task's own error is returned, only the wait's timeout raised
                if future.wrapped_future.exception(timeout=POLL_SECONDS) is None:
                    future.wrapped_future.result(timeout=POLL_SECONDS)
                return
            except TimeoutError:   # distributed's, the built-in one since Python 3.11
                self.check()

    def stop(self, futures: list[PrefectFuture]) -> None:
        """After a failure or an interrupt (a cancel from Prefect's UI is a SIGTERM): cancel the task
        runs that haven't started, then wait for the others, so that none is still writing when the
        failure is recorded."""
        if self.runner is None:
            wait(self.cancel_unstarted(futures))
            return
        self.runner.client.cancel([future.wrapped_future for future in futures], force=True)
        self.await_executing({future.wrapped_future.key for future in futures})

    def cancel_unstarted(self, futures: list[PrefectFuture]) -> list[PrefectFuture]:
        """Cancels the local task runs still queued; returns the others, to wait for (Prefect's wait
        would raise a cancelled local future's CancelledError)."""
        return [future for future in futures
                if not (isinstance(future, PrefectWrappedFuture) and future.wrapped_future.cancel())]

    def await_executing(self, keys: set) -> None:
        """Waits while a worker still executes one of the tasks: Dask drops a cancelled task that is
        queued, but one already running runs to its end. Asked of every worker (a cancelled task's key
        is no longer the scheduler's); a cluster that can't be asked is reported, not waited on."""
        told_at = None
        while True:
            try:
                stacks = self.runner.client.call_stack()
            except Exception as exc:   # the scheduler or a worker is gone: nothing to wait on
                get_run_logger().warning("can't tell whether task runs of this run still run on the Dask "
                                         "cluster (%s)", exc)
                return
            running = {worker: sorted(keys & set(tasks)) for worker, tasks in stacks.items() if keys & set(tasks)}
            if not running:
                return
            if told_at is None or time.monotonic() - told_at >= STOP_TELL_SECONDS:
                get_run_logger().warning(
                    "waiting for task runs still running on the Dask cluster to end (%s): stopping a worker "
                    "ends its tasks", "; ".join(f"{worker}: {', '.join(map(str, names))}" for worker, names in running.items()))
                told_at = time.monotonic()
            time.sleep(STOP_POLL_SECONDS)

    def check(self) -> None:
        if self.running_workers():
            self.idle_since = None
            return
        now = time.monotonic()
        self.idle_since = now if self.idle_since is None else self.idle_since
        if now - self.idle_since >= self.no_workers_seconds:
            raise NoWorkers(f"the Dask cluster at {self.runner.client.scheduler.address} has had no running worker "
                            f"for {now - self.idle_since:.0f} s, so this run's tasks can't run: start its workers "
                            "(`dask worker ADDRESS`, in a Python environment where profile-etl is installed: Dask "
                            "closes a worker that can't import it, whose log says `No module named 'flows'`), then "
                            "run again (PROFILE_ETL_DASK_NO_WORKERS_SECONDS sets how long a run waits for one)")

    def running_workers(self) -> int:
        """Workers that take tasks: paused (out of memory) and retiring ones don't. Asked of the scheduler
        itself: Client.scheduler_info returns the client's cached identity, which its periodic update
        (asking for no workers) may have replaced meanwhile."""
        client = self.runner.client
        workers = client.sync(client.scheduler.identity, n_workers=-1)["workers"].values()
        return sum(worker.get("status") == "running" for worker in workers)


def dask_runner():
    """The flow run's DaskTaskRunner, or None (prefect_dask not imported: the run's runner isn't one)."""
    module = sys.modules.get("prefect_dask")
    context = FlowRunContext.get()
    if module is None or context is None:
        return None
    return context.task_runner if isinstance(context.task_runner, module.DaskTaskRunner) else None

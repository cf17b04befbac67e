"""Waiting on task runs that run on a Dask cluster (`--dask-address`). A cluster that has lost every
worker keeps them queued for ever while the run holds the home's lock, so every later run would
wait too: a run fails instead once the cluster has had no running worker for a while
(PROFILE_ETL_DASK_NO_WORKERS_SECONDS). A failed or interrupted run, local or on a cluster, cancels
the task runs that haven't started, so that none starts writing after it.
"""
from __future__ import annotations

import sys
import time

from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture, PrefectWrappedFuture, wait

POLL_SECONDS = 5.0


class NoWorkers(RuntimeError):
    """The cluster has had no running worker for too long while the run waited on it."""


class ClusterWatch:
    """Waits on the flow run's task runs, watching the workers of its Dask cluster if it runs on one
    (they are asked only once a wait outlasts a poll)."""

    def __init__(self, no_workers_seconds: float):
        self.runner, self.no_workers_seconds, self.idle_since = dask_runner(), no_workers_seconds, None

    def wait(self, futures: list[PrefectFuture]) -> None:
        """prefect.futures.wait, failing with NoWorkers when the cluster has had no worker for too long."""
        if self.runner is None:
            wait(futures)
            return
        pending = list(futures)
        while pending := list(wait(pending, timeout=POLL_SECONDS).not_done):
            self.check()

    def finished(self, future: PrefectFuture) -> PrefectFuture:
        self.wait([future])
        return future

    def stop(self, futures: list[PrefectFuture]) -> None:
        """After a failure or an interrupt (a cancel from Prefect's UI is a SIGTERM): cancel the task
        runs that haven't started, then wait for the others, so that none is still writing when the
        failure is recorded."""
        wait(self.cancel_unstarted(futures))

    def cancel_unstarted(self, futures: list[PrefectFuture]) -> list[PrefectFuture]:
        """Cancels the task runs still queued (on the cluster, or for the local threads); returns those
        to wait for: on a cluster all of them, locally the others (Prefect's wait would raise a
        cancelled local future's CancelledError)."""
        if self.runner is not None:
            self.runner.client.cancel([future.wrapped_future for future in futures], force=True)
            return futures
        return [future for future in futures
                if not (isinstance(future, PrefectWrappedFuture) and future.wrapped_future.cancel())]

    def check(self) -> None:
        if self.running_workers():
            self.idle_since = None
            return
        now = time.monotonic()
        self.idle_since = now if self.idle_since is None else self.idle_since
        if now - self.idle_since >= self.no_workers_seconds:
            raise NoWorkers(f"the Dask cluster at {self.runner.client.scheduler.address} has had no running worker "
                            f"for {now - self.idle_since:.0f} s, so this run's tasks can't run: start its workers "
                            "(`dask worker ADDRESS`), then run again (PROFILE_ETL_DASK_NO_WORKERS_SECONDS sets "
                            "how long a run waits for one)")

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

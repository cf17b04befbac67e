"""Waiting on task runs that run on a Dask cluster (`--dask-address`). A cluster that has lost every
worker keeps them queued for ever while the run holds the home's lock, so every later run would
wait too: a run fails instead once the cluster has had no worker for NO_WORKERS_SECONDS.
"""
from __future__ import annotations

import sys
import time

from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture, wait

NO_WORKERS_SECONDS = 120.0
POLL_SECONDS = 5.0


class NoWorkers(RuntimeError):
    """The cluster has had no worker for NO_WORKERS_SECONDS while the run waited on it."""


class ClusterWatch:
    """Waits on the flow run's task runs, watching the workers of its Dask cluster if it runs on one
    (they are asked only once a wait outlasts a poll)."""

    def __init__(self):
        self.runner, self.idle_since = dask_runner(), None

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

    def check(self) -> None:
        if self.runner.client.scheduler_info(n_workers=1)["n_workers"]:
            self.idle_since = None
            return
        now = time.monotonic()
        self.idle_since = now if self.idle_since is None else self.idle_since
        if now - self.idle_since >= NO_WORKERS_SECONDS:
            raise NoWorkers(f"the Dask cluster at {self.runner.client.scheduler.address} has had no worker for "
                            f"{now - self.idle_since:.0f} s, so this run's tasks can't run: start its workers "
                            "(`dask worker ADDRESS`) and run again")


def dask_runner():
    """The flow run's DaskTaskRunner, or None (prefect_dask not imported: the run's runner isn't one)."""
    module = sys.modules.get("prefect_dask")
    context = FlowRunContext.get()
    if module is None or context is None:
        return None
    return context.task_runner if isinstance(context.task_runner, module.DaskTaskRunner) else None

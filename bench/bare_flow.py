"""A bare flow of the stack: `python -m bench.bare_flow` imports what a run imports (prefect, polars,
duckdb, deltalake, pandera) and runs a flow of 6 tasks that do nothing, as many as an empty run has,
set up as the command line sets Prefect up (flows/prefect_env.py: its environment, no heartbeats,
an exit without a last garbage collection). Timed like a run, it is what an empty run costs before
any of its work: the reference for the served empty-run target.
"""
from __future__ import annotations

import gc
import importlib

from flows.prefect_env import use_prefect_env, without_heartbeats

use_prefect_env()   # before prefect is imported, as flows/command.py does

from prefect import flow, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402

STACK = ("polars", "pandera.polars", "deltalake", "duckdb")   # what a run imports beside prefect
TASKS = 6


@task(cache_policy=NO_CACHE, persist_result=False)   # as the pipeline's tasks (flows/pipeline.py)
def step(index: int) -> int:
    return index


@flow(name="bench-bare-flow", task_runner=ThreadPoolTaskRunner(max_workers=2))
def bare_flow(home: str = "unused", tasks: int = TASKS) -> int:
    return sum(step(i) for i in range(tasks))


if __name__ == "__main__":
    for module in STACK:
        importlib.import_module(module)
    with without_heartbeats():
        bare_flow()
    gc.freeze()

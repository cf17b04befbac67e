"""The runs a killed `serve` left Running in Prefect: crashed at the next serve's start (cancelled, those
it was cancelling), which gives their deployment concurrency slot back at once instead of when its
lease runs out (5 minutes by default), during which the new serve's scheduled runs would only queue.
And the flow run of a run killed holding the home's lock: crashed by the next run of the home."""
from __future__ import annotations

import os
from pathlib import Path

from store.errors import UserError
from store.lock import run_lock
from store.settings import Settings

FLOW_NAME = "profile-etl-ingest"
# Set in a serve's environment, so the process of every run it starts (a spawned child) carries it too.
SERVING_VARIABLE = "PROFILE_ETL_SERVING"
PROC = Path("/proc")


def mark_serving(deployment: str) -> None:
    """This process serves the deployment, and so will the runs it starts."""
    os.environ[SERVING_VARIABLE] = deployment


def crash_runs_left_running(settings: Settings, deployment: str) -> list[str]:
    """Crash the deployment's Running or Pending flow runs (cancel its Cancelling ones) when their
    serve is gone: no process of this machine that a serve of the deployment started lives (a run
    that outlived its serve finishes by itself), and none holds the home's run lock (a second serve
    is refused already). Where processes can't be told (no /proc), none is ended. Returns their names."""
    if not settings.home.is_dir() or (started := serving_processes(deployment)) is None or started:
        return []
    try:
        with run_lock(settings.home, 0.0, "serve"):
            return _crash(deployment)
    except UserError:   # held: a run works on the home, perhaps the one left behind
        return []


def serving_processes(deployment: str) -> set[int] | None:
    """Processes of this machine (Linux's /proc) that a serve of the deployment started (its runs,
    multiprocessing's resource tracker): /proc shows the environment a process started with, which
    a serve's own lacks. None where it can't be told."""
    if not PROC.is_dir():
        return None
    marker = f"{SERVING_VARIABLE}={deployment}".encode()
    found = set()
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.add(int(entry.name))
        except OSError:   # gone meanwhile, or another user's
            continue
    return found


def _crash(deployment: str) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (FlowRunFilter, FlowRunFilterDeploymentId, FlowRunFilterState,
                                                FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound
    with get_client(sync_client=True) as client:
        try:
            found = client.read_deployment_by_name(f"{FLOW_NAME}/{deployment}")
        except ObjectNotFound:   # the home's first serve
            return []
        left = [flow_run for flow_run in client.read_flow_runs(flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[found.id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(
                any_=[StateType.RUNNING, StateType.PENDING, StateType.CANCELLING]))))]
        for flow_run in left:
            client.set_flow_run_state(flow_run.id, ended_state(
                flow_run, "its `serve` was killed", "the next serve of the home"), force=True)
        return [flow_run.name for flow_run in left]


def ended_state(flow_run, killed: str, by: str):
    """A killed run's final state: cancelled if it was being cancelled (it ends as the user asked), else crashed."""
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled, Crashed
    if flow_run.state_type == StateType.CANCELLING:
        return Cancelled(message=f"{killed} while the run was being cancelled: cancelled by {by}")
    return Crashed(message=f"{killed}: crashed by {by}")


def crash_run_that_died_holding(flow_run_id: str | None) -> str | None:
    """Crash (cancel, if it was being cancelled) the flow run of a run killed while it held the home's
    run lock, which the next holder found named in the lock's record, when Prefect still shows it
    unfinished. Returns its name, or None when there was nothing to do or Prefect can't be asked."""
    if flow_run_id is None:
        return None
    from prefect.client.orchestration import get_client
    try:
        with get_client(sync_client=True) as client:
            flow_run = client.read_flow_run(flow_run_id)
            if flow_run.state is None or flow_run.state.is_final():
                return None
            client.set_flow_run_state(flow_run.id, ended_state(
                flow_run, "the run's process was killed", "the next run of its home"), force=True)
            return flow_run.name
    except Exception:   # another server's run, or one Prefect deleted: nothing of it to put right
        return None

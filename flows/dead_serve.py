"""The runs a killed `serve` left Running in Prefect: crashed at the next serve's start, which gives
their deployment concurrency slot back at once instead of when its lease runs out (5 minutes by
default), during which the new serve's scheduled runs would only queue."""
from __future__ import annotations

from store.errors import UserError
from store.lock import run_lock
from store.settings import Settings

FLOW_NAME = "profile-etl-ingest"


def crash_runs_left_running(settings: Settings, deployment: str) -> list[str]:
    """Crash the deployment's Running (or Pending) flow runs, unless a process still holds the home's
    run lock (an orphaned run that outlived its serve finishes by itself). Returns their names."""
    if not settings.home.is_dir():   # no run has worked on it
        return []
    try:
        with run_lock(settings.home, 0.0, "serve"):
            return _crash(deployment)
    except UserError:   # held: a run works on the home, perhaps the one left behind
        return []


def _crash(deployment: str) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (FlowRunFilter, FlowRunFilterDeploymentId, FlowRunFilterState,
                                                FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed
    with get_client(sync_client=True) as client:
        try:
            found = client.read_deployment_by_name(f"{FLOW_NAME}/{deployment}")
        except ObjectNotFound:   # the home's first serve
            return []
        left = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[found.id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING]))))
        for flow_run in left:
            client.set_flow_run_state(flow_run.id, Crashed(message="its `serve` was killed: crashed by the next "
                                                                   "serve of the home"), force=True)
        return [flow_run.name for flow_run in left]

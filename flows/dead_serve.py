"""The runs a killed `serve` left Running in Prefect: crashed at the next serve's start, which gives
their deployment concurrency slot back at once instead of when its lease runs out (5 minutes by
default), during which the new serve's scheduled runs would only queue."""
from __future__ import annotations

from pathlib import Path

from store.errors import UserError
from store.lock import run_lock
from store.settings import Settings

FLOW_NAME = "profile-etl-ingest"
RUN_ID_VARIABLE = b"PREFECT__FLOW_RUN_ID="   # set by Prefect's runner in each flow run's process
PROC = Path("/proc")


def crash_runs_left_running(settings: Settings, deployment: str) -> list[str]:
    """Crash the deployment's Running (or Pending) flow runs whose process is gone: none holds the
    home's run lock, and none of this machine's processes runs them (a run that outlived its serve
    finishes by itself). Where processes can't be told (no /proc), none is crashed. Returns their names."""
    if not settings.home.is_dir() or (alive := live_flow_runs()) is None:
        return []
    try:
        with run_lock(settings.home, 0.0, "serve"):
            return _crash(deployment, alive)
    except UserError:   # held: a run works on the home, perhaps the one left behind
        return []


def live_flow_runs() -> set[str] | None:
    """The flow run ids of this machine's processes (Linux's /proc), None where it can't be told."""
    if not PROC.is_dir():
        return None
    alive = set()
    for entry in PROC.iterdir():
        try:
            variables = (entry / "environ").read_bytes().split(b"\0") if entry.name.isdigit() else []
        except OSError:   # gone meanwhile, or another user's
            continue
        alive.update(v.removeprefix(RUN_ID_VARIABLE).decode() for v in variables if v.startswith(RUN_ID_VARIABLE))
    return alive


def _crash(deployment: str, alive: set[str]) -> list[str]:
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
        left = [flow_run for flow_run in client.read_flow_runs(flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[found.id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING]))))
            if str(flow_run.id) not in alive]
        for flow_run in left:
            client.set_flow_run_state(flow_run.id, Crashed(message="its `serve` was killed: crashed by the next "
                                                                   "serve of the home"), force=True)
        return [flow_run.name for flow_run in left]

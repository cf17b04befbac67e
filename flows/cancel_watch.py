"""A cancel from Prefect's UI or API reaching a run that `run` or `watch` started. A deployment's run
gets it from its runner or worker, which stops the run's process; these runs have neither, so a
thread polls the flow run's state and, once Prefect asks, stops the run as `kill -TERM` would (the
command turns SIGTERM into an interrupt: the run unwinds, and the next run finishes its work)."""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from uuid import UUID

POLL_SECONDS = 2.0


class RunCancelled(Exception):
    """A run that Prefect asked to cancel, stopped (`watch` goes on with the next)."""


ENABLED: list[bool] = []   # set by the command line, whose SIGTERM interrupts rather than kills
ASKED: list[UUID] = []     # the flow runs Prefect asked to cancel, stopped here


@contextmanager
def cancellable():
    """While the flow run's body works: a cancel of it stops this process's run."""
    from prefect.context import FlowRunContext
    context = FlowRunContext.get()
    flow_run = context.flow_run if context is not None else None
    if not ENABLED or flow_run is None or flow_run.deployment_id is not None:
        yield
        return
    ASKED.clear()   # a cancel asked of an earlier run of this process (`watch`) is not this one's
    done, gate = threading.Event(), threading.Lock()
    watcher = threading.Thread(target=_watch, args=(flow_run.id, done, gate), name="profile-etl-cancel-watch",
                               daemon=True)
    watcher.start()
    try:
        yield
    finally:
        with gate:   # a stop sent before this lands here, inside the run; none is sent after it
            done.set()
        watcher.join(POLL_SECONDS)   # a request under way may outlast it: the thread ends by itself


def _watch(flow_run_id: UUID, done: threading.Event, gate: threading.Lock) -> None:
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        while not done.wait(POLL_SECONDS):
            try:
                state = client.read_flow_run(flow_run_id).state
            except Exception:   # an API that doesn't answer now may later; the run goes on meanwhile
                continue
            if state is not None and (state.is_cancelling() or state.is_cancelled()):
                with gate:
                    if not done.is_set():
                        ASKED.append(flow_run_id)
                        os.kill(os.getpid(), signal.SIGTERM)
                return


def asked() -> UUID | None:
    """The flow run Prefect asked to cancel, which this process stopped (once: taken)."""
    return ASKED.pop() if ASKED else None


def settle() -> bool:
    """Whether Prefect's cancel stopped this process's unfinished run; if so its flow run is marked
    Cancelled, as a runner marks the runs it stops (Prefect's engine recorded the interrupt as a crash)."""
    if (flow_run_id := asked()) is None:
        return False
    _mark_cancelled(flow_run_id)
    return True


def _mark_cancelled(flow_run_id: UUID) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled
    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run_id, Cancelled(message=CANCELLED), force=True)
    except Exception:   # the run stopped either way; the user is told so on the command line
        pass


CANCELLED = ("the run was cancelled from Prefect and stopped. The published warehouse is as it was; the next "
             "run finishes or redoes this one's work.")

"""Scale-out: extraction on a real Dask cluster (2 workers on loopback) gives the same warehouse
as a local run."""
from __future__ import annotations

import os
import threading

import distributed   # a dev dependency (prefect-dask's): missing, the install is broken, not the test skipped
import pytest

from examples import dumpgen
from flows import cluster
from flows.pipeline import ingest_flow
from tests.warehouse_state import DATA_TABLES, lake_leftovers, run_statuses, same_tables, warehouse_tables

pytestmark = pytest.mark.e2e   # a Dask cluster on loopback


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask") / "inbox"
    folder.mkdir()
    generator = dumpgen
    for index, (name, text) in enumerate(generator.make_corpus(300, seed=3)):
        path = folder / name
        path.write_text(text, encoding="utf-8")
        stamp = generator.capture_time(index).timestamp()
        os.utime(path, (stamp, stamp))
    return folder


def spy(monkeypatch, name: str) -> list:
    """The calls of ClusterWatch.<name>, each as (the watch, its arguments), recorded as they return."""
    calls, original = [], getattr(cluster.ClusterWatch, name)

    def recorded(watch, *args):
        result = original(watch, *args)
        calls.append((watch, args))
        return result
    monkeypatch.setattr(cluster.ClusterWatch, name, recorded)
    return calls


def test_run_on_a_dask_cluster_equals_a_local_run(prefect_harness, inbox, tmp_path, monkeypatch):
    """Also: the workers are asked for while the run waits on them (a poll of 10 ms), and a cluster that
    has them doesn't fail the run (a patience of 30 s: with no patience, one check found no running worker
    once, on a machine running two test suites)."""
    monkeypatch.setattr(cluster, "POLL_SECONDS", 0.01)
    monkeypatch.setenv("PROFILE_ETL_DASK_NO_WORKERS_SECONDS", "30")
    checks = spy(monkeypatch, "check")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as dask, distributed.Client(dask) as client:
        with distributed.get_task_stream(client) as stream:
            summary = ingest_flow(dask.scheduler_address)(home=tmp_path / "dask", inbox=inbox, settle_seconds=0,
                                                          batch_size=50)
        workers_used = {task["worker"] for task in stream.data}
    local = ingest_flow(None)(home=tmp_path / "local", inbox=inbox, settle_seconds=0, batch_size=50)
    assert summary["dumps_loaded"] == local["dumps_loaded"] == 300
    assert checks   # the workers were asked for, and found
    assert len(stream.data) >= 300 // 50 and len(workers_used) == 2
    assert same_tables(warehouse_tables(tmp_path / "dask"), warehouse_tables(tmp_path / "local"))
    assert all(warehouse_tables(tmp_path / "dask")[t].height for t in DATA_TABLES if t != "rejects")


def test_a_cluster_without_workers_fails_the_run_and_frees_the_home(prefect_harness, inbox, tmp_path, monkeypatch):
    """A run whose tasks wait on a cluster that has no worker fails, instead of holding the home's lock
    for ever; its batches are cancelled before the failure is recorded (none may start later, when a
    worker comes), the home is left as it was, and the next run loads everything."""
    monkeypatch.setattr(cluster, "POLL_SECONDS", 0.2)
    monkeypatch.setenv("PROFILE_ETL_DASK_NO_WORKERS_SECONDS", "0")
    stops = spy(monkeypatch, "stop")
    home = tmp_path / "home"
    with distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=None) as empty:
        with pytest.raises(cluster.NoWorkers, match=f"the Dask cluster at {empty.scheduler_address} has had no"):
            ingest_flow(empty.scheduler_address)(home=home, inbox=inbox, settle_seconds=0, batch_size=50)
    [(_, (futures,))] = stops
    assert len(futures) == 300 // 50 and {f.wrapped_future.status for f in futures} == {"cancelled"}
    assert run_statuses(home) == ["failed"] and lake_leftovers(home) == []
    assert not list((home / "raw").glob("*/*.txt"))
    summary = ingest_flow(None)(home=home, inbox=inbox, settle_seconds=0, batch_size=50, lock_wait_seconds=0)
    assert summary["dumps_loaded"] == 300
    assert run_statuses(home) == ["failed", "completed"]


def test_a_served_deployment_runs_its_batches_on_the_dask_cluster(inbox, tmp_path, monkeypatch):
    """`serve --dask-address` (or PROFILE_ETL_DASK_ADDRESS) deploys the flow with the Dask task runner:
    the scheduled run's batches run on the cluster's workers, which report to the lasting server."""
    import signal
    import subprocess

    from tests.servers import BIN, dump_count, free_port, healthy, stop, until
    port, home = free_port(), tmp_path / "home"
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api, "DO_NOT_TRACK": "1"}
    for name, value in env.items():   # the cluster's worker processes inherit the API they report to
        monkeypatch.setenv(name, value)
    server = subprocess.Popen([str(BIN / "profile-etl"), "server", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    served = None
    try:
        until(lambda: healthy(api), 120, "the Prefect server")
        with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
                                      dashboard_address=None) as dask, distributed.Client(dask) as client:
            with distributed.get_task_stream(client) as stream:
                served = subprocess.Popen(
                    [str(BIN / "profile-etl"), "--home", str(home), "serve", "--interval", "5", "--inbox",
                     str(inbox), "--dask-address", dask.scheduler_address],
                    env=env | {"PROFILE_ETL_SETTLE_SECONDS": "0", "PROFILE_ETL_BATCH_SIZE": "100"},
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
                until(lambda: dump_count(home) == 300, 300, "the scheduled run to load the inbox")
            ran = [task["key"] for task in stream.data]
    finally:
        if served is not None:
            stop(served)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert len(ran) >= 300 // 100 and set(run_statuses(home)) == {"completed"}


def watching(client, no_workers_seconds: float = 0) -> cluster.ClusterWatch:
    """A ClusterWatch on the client's cluster, as a flow run on a DaskTaskRunner has it."""
    from types import SimpleNamespace
    watch = cluster.ClusterWatch(no_workers_seconds)
    watch.runner = SimpleNamespace(client=client)
    return watch


def timed_out():
    raise TimeoutError("the object store didn't answer")


def test_a_result_lost_with_its_worker_fails_the_run_when_no_worker_is_left(monkeypatch):
    """A batch finished, then every worker died before the run fetched its result: Dask computes it again,
    which needs a worker, so the wait fails as one on a cluster without workers does (not for ever)."""
    import uuid

    from prefect_dask.task_runners import PrefectDaskFuture

    from tests.servers import until
    monkeypatch.setattr(cluster, "POLL_SECONDS", 0.2)
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as dask, \
            distributed.Client(dask) as client:
        future = PrefectDaskFuture(uuid.uuid4(), client.submit(lambda: 42, pure=False))
        watch = watching(client)
        assert watch.result(future) == 42
        with pytest.raises(TimeoutError):   # a task's own TimeoutError is its error, not the poll's
            watch.result(PrefectDaskFuture(uuid.uuid4(), client.submit(timed_out, pure=False)))
        dask.scale(0)
        until(lambda: watch.running_workers() == 0, 60, "the worker to leave")
        with pytest.raises(cluster.NoWorkers, match="has had no running worker"):
            watch.result(future)


def test_a_wait_on_the_cluster_sees_its_finished_tasks_without_dasks_done_callbacks(monkeypatch):
    """Prefect's wait with a timeout learned of a Dask task's end only from a done callback, which Dask runs
    later, on its loop and a callback thread: one that came after a poll's timeout was lost, and on a loaded
    machine a run waited for ever on merges its cluster had finished. Callbacks that never come, here."""
    import uuid

    from prefect_dask.task_runners import PrefectDaskFuture
    monkeypatch.setattr(cluster, "POLL_SECONDS", 0.2)
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as dask, \
            distributed.Client(dask) as client:
        futures = [PrefectDaskFuture(uuid.uuid4(), client.submit(lambda i=i: i, pure=False)) for i in range(3)]
        client.gather([future.wrapped_future for future in futures])
        monkeypatch.setattr(distributed.Future, "add_done_callback", lambda future, fn: None)
        waited = threading.Thread(target=watching(client).wait, args=(futures,), daemon=True)
        waited.start()
        waited.join(timeout=60)
        assert not waited.is_alive(), "the wait didn't see the finished tasks"


TASK_EVENTS = {"started": threading.Event(), "release": threading.Event(), "order": []}   # in-process workers


def running_task():
    TASK_EVENTS["started"].set()
    TASK_EVENTS["release"].wait(60)
    TASK_EVENTS["order"].append("task ended")


def queued_task():
    TASK_EVENTS["order"].append("queued ran")


def test_a_stopped_run_waits_for_its_tasks_still_running_on_the_cluster(prefect_harness, monkeypatch):
    """Dask can't stop a task that runs: a stopped run cancels the queued ones and waits for the running
    ones to end, so that none writes after the failure is recorded."""
    import uuid

    from prefect import flow
    from prefect_dask.task_runners import PrefectDaskFuture
    order, release = TASK_EVENTS["order"], TASK_EVENTS["release"]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as dask, \
            distributed.Client(dask) as client:
        running = PrefectDaskFuture(uuid.uuid4(), client.submit(running_task, pure=False))
        queued = PrefectDaskFuture(uuid.uuid4(), client.submit(queued_task, pure=False))
        watch, call_stack = watching(client), client.call_stack

        def asked_then_released():   # the task ends only once the stopped run has seen it running
            stacks = call_stack()
            release.set()
            return stacks
        monkeypatch.setattr(client, "call_stack", asked_then_released)
        TASK_EVENTS["started"].wait(60)
        try:
            flow(lambda: watch.stop([running, queued]))()
            order.append("stopped")
        finally:
            release.set()
    assert order == ["task ended", "stopped"]

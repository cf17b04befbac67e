"""A lasting Prefect server that stops, or loses its database, under a `serve` (flows/served.py) or a `run`."""
from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from flows.schedule import deployment_name
from tests.conftest import SAMPLE_NAME, write_dump
from tests.test_pipeline import FIRST, LATER, later_snapshot
from tests.test_schedule import (BIN, deployment_paused, dump_count, free_port, healthy, prefect_client, prefect_env,
                                 stop, until)



def test_a_serve_pauses_its_schedule_however_it_stops(monkeypatch):
    """A second Ctrl-C while the runner stops ends it with sys.exit, and the runner may fail: the schedule
    was left on then, its late runs all starting at the next serve of the home."""
    from types import SimpleNamespace

    from flows import served
    paused = []
    monkeypatch.setattr(served.Kept, "__init__", lambda kept, *args: setattr(kept, "id", None))
    monkeypatch.setattr(served, "pause_schedule", paused.append)
    for ending in (SystemExit(0), RuntimeError("Service exceeded error threshold.")):
        async def stopped(runner, kept, ending=ending):
            raise ending
        monkeypatch.setattr(served, "served", stopped)
        with pytest.raises(type(ending)):
            served.serve_flow(SimpleNamespace(name="profile-etl-ingest"), "scheduled", interval=60)
    assert paused == ["profile-etl-ingest/scheduled"] * 2


@pytest.mark.e2e   # a lasting Prefect server
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_a_serve_whose_server_is_gone_stops_at_once_and_says_so(tmp_path, how):
    """Prefect's runner retried the gone server for 1-2.5 minutes to pause the schedule, printing a traceback
    for each log it couldn't upload; Ctrl-C signals the whole group, a service manager the serve alone."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_env(tmp_path, api)
    (tmp_path / "home" / "inbox").mkdir(parents=True)
    server = subprocess.Popen([str(BIN / "profile-etl"), "server", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    output, served = tmp_path / "serve.out", None
    try:
        until(lambda: healthy(api), 120, "the Prefect server")
        with output.open("w") as out:
            served = subprocess.Popen([str(BIN / "profile-etl"), "--home", str(tmp_path / "home"), "serve",
                                       "--interval", "10"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        until(lambda: "profile-etl: deployment run" in output.read_text(), 120, "a scheduled run")
        stop(server)
        assert not healthy(api)
        if how == "ctrl-c":
            os.killpg(served.pid, signal.SIGINT)
        else:
            served.send_signal(signal.SIGTERM)
        code = served.wait(timeout=60)
    finally:
        for process in (served, server):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    lines = output.read_text()
    assert code == 1 and "serve stopped without pausing its schedule: the Prefect server at" in lines, lines
    assert "Traceback" not in lines, lines   # Prefect's "Error logging to API" lines while the server was down may precede


@pytest.mark.e2e
def test_a_serve_makes_its_deployment_again_on_a_server_whose_database_was_reset(tmp_path, sample_text):
    """A reset server (or a new one at the same address) has no deployment, so it scheduled nothing and
    the serve polled on for good, printing nothing. It is made again: runs go on, and Ctrl-C pauses it."""
    port, inbox, home = free_port(), tmp_path / "inbox", tmp_path / "home"
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_env(tmp_path, api) | {"PROFILE_ETL_SETTLE_SECONDS": "0", "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    command = [str(BIN / "profile-etl"), "server", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    output, served = tmp_path / "serve.out", None
    try:
        until(lambda: healthy(api), 120, "the Prefect server")
        with output.open("w") as out:
            served = subprocess.Popen([str(BIN / "profile-etl"), "--home", str(home), "serve", "--interval", "5",
                                       "--inbox", str(inbox)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        until(lambda: dump_count(home) == 1, 180, "the first scheduled run to load the sample")
        stop(server)
        subprocess.run([str(BIN / "prefect"), "server", "database", "reset", "-y"], env=env, check=True,
                       capture_output=True, timeout=300)
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        until(lambda: healthy(api), 120, "the Prefect server started again")
        write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
        until(lambda: dump_count(home) == 2, 180, "a scheduled run of the reset server to load the new dump")
        assert "no longer had the deployment" in output.read_text()
        assert not deployment_paused(api, deployment_name(home))
        os.killpg(served.pid, signal.SIGINT)
        assert served.wait(timeout=60) == 0, output.read_text()
        assert deployment_paused(api, deployment_name(home))
    finally:
        for process in (served, server):
            if process is not None and process.poll() is None:
                stop(process)


@pytest.mark.e2e
def test_a_run_whose_flow_run_a_reset_server_lost_completes_and_says_so(tmp_path, sample_text):
    """The server's database is reset while the run waits for the home: its data goes in and is published,
    and the warning says why Prefect can't record its end (it said `ObjectNotFound: None`)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    from store.lock import run_lock
    port, inbox, home = free_port(), tmp_path / "inbox", tmp_path / "home"
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_env(tmp_path, api) | {"PROFILE_ETL_SETTLE_SECONDS": "0"}
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    command = [str(BIN / "profile-etl"), "server", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    running = None
    running_filter = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])))
    try:
        until(lambda: healthy(api), 120, "the Prefect server")
        with run_lock(home, 0.0, "test"):
            running = subprocess.Popen([str(BIN / "profile-etl"), "--home", str(home), "run", "--inbox", str(inbox),
                                        "--wait", "600", "--json"], env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, start_new_session=True)
            with prefect_client(api) as client:
                until(lambda: client.read_flow_runs(flow_run_filter=running_filter), 120, "the run's flow run")
            stop(server)
            subprocess.run([str(BIN / "prefect"), "server", "database", "reset", "-y"], env=env, check=True,
                           capture_output=True, timeout=300)
            server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
            until(lambda: healthy(api), 120, "the Prefect server started again")
        out, err = running.communicate(timeout=300)
    finally:
        for process in (running, server):
            if process is not None and process.poll() is None:
                stop(process)
    assert running.returncode == 0, err[-3000:]
    summary = json.loads(out)
    assert summary["status"] == "completed" and summary["dumps_loaded"] == 1
    assert f"Prefect's API at {api} no longer has its flow run (the server's database was reset" in summary["warning"]
    assert dump_count(home) == 1


@pytest.mark.e2e
def test_a_serve_whose_server_stays_gone_ends_saying_so(tmp_path):
    """Prefect's runner gives up on a server gone for a few minutes (its poll's error threshold, here
    reached in seconds): serve ended in a 60-line ExceptionGroup traceback, exit 1."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_env(tmp_path, api) | {"PREFECT_RUNNER_POLL_FREQUENCY": "1", "PREFECT_CLIENT_MAX_RETRIES": "0"}
    (tmp_path / "home" / "inbox").mkdir(parents=True)
    server = subprocess.Popen([str(BIN / "profile-etl"), "server", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    output, served = tmp_path / "serve.out", None
    try:
        until(lambda: healthy(api), 120, "the Prefect server")
        with output.open("w") as out:
            served = subprocess.Popen([str(BIN / "profile-etl"), "--home", str(tmp_path / "home"), "serve",
                                       "--interval", "3600"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        until(lambda: "profile-etl: serving the deployment" in output.read_text(), 120, "the serve")
        stop(server)
        code = served.wait(timeout=300)
    finally:
        for process in (served, server):
            if process is not None and process.poll() is None:
                stop(process)
    lines = output.read_text()
    assert code == 2 and f"can't reach the Prefect API at {api}: start the server" in lines, lines
    assert "serve stopped without pausing its schedule" in lines and "ExceptionGroup" not in lines, lines

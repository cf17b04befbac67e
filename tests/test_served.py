"""A lasting Prefect server that stops, or loses its database, under a `serve` (flows/served.py) or a `run`."""
from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from flows.schedule import deployment_name
from tests.conftest import SAMPLE_NAME, write_dump
from tests.dumps import FIRST, LATER, later_snapshot
from tests.servers import (BIN, deployment_paused, dump_count, free_port, healthy, prefect_client, prefect_env, stop,
                           until)



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


class Served:
    """A lasting Prefect server of the test's own on a free port (started again, or reset, as a test
    needs) and the processes a test starts against it, each stopped at the end (`with Served(...)`)."""

    def __init__(self, tmp_path, **env):
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.env = prefect_env(tmp_path, self.api) | env
        self.output, self.processes = tmp_path / "serve.out", []
        self.server = self.start_server()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        for process in [self.server, *self.processes]:
            if process.poll() is None:
                stop(process)

    def start_server(self) -> subprocess.Popen:
        self.server = subprocess.Popen([str(BIN / "profile-etl"), "server", "--port", str(self.port)],
                                       env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
        try:
            until(lambda: healthy(self.api), 120, "the Prefect server")
        except BaseException:
            stop(self.server)
            raise
        return self.server

    def reset_server(self) -> None:
        """Stopped, its database reset (as `prefect server database reset -y`), and started again."""
        stop(self.server)
        subprocess.run([str(BIN / "prefect"), "server", "database", "reset", "-y"], env=self.env, check=True,
                       capture_output=True, timeout=300)
        self.start_server()

    def serve(self, home, *args: str) -> subprocess.Popen:
        """`profile-etl --home HOME serve ARGS`, its output in self.output."""
        with self.output.open("w") as out:
            self.processes.append(subprocess.Popen([str(BIN / "profile-etl"), "--home", str(home), "serve", *args],
                                                   env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                                   start_new_session=True))
        return self.processes[-1]

    def said(self) -> str:
        return self.output.read_text()


@pytest.mark.e2e   # a lasting Prefect server
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_a_serve_whose_server_is_gone_stops_at_once_and_says_so(tmp_path, how):
    """Prefect's runner retried the gone server for 1-2.5 minutes to pause the schedule, printing a traceback
    for each log it couldn't upload; Ctrl-C signals the whole group, a service manager the serve alone."""
    (tmp_path / "home" / "inbox").mkdir(parents=True)
    with Served(tmp_path) as served:
        serving = served.serve(tmp_path / "home", "--interval", "10")
        until(lambda: "profile-etl: deployment run" in served.said(), 120, "a scheduled run")
        stop(served.server)
        assert not healthy(served.api)
        if how == "ctrl-c":
            os.killpg(serving.pid, signal.SIGINT)
        else:
            serving.send_signal(signal.SIGTERM)
        code = serving.wait(timeout=60)
    lines = served.said()
    assert code == 1 and "serve stopped without pausing its schedule: the Prefect server at" in lines, lines
    assert "Traceback" not in lines, lines   # Prefect's "Error logging to API" lines while the server was down may precede


@pytest.mark.e2e
def test_a_serve_whose_server_stays_gone_ends_saying_so(tmp_path):
    """Prefect's runner gives up on a server gone for a few minutes (its poll's error threshold, here
    reached in seconds): serve ended in a 60-line ExceptionGroup traceback, exit 1."""
    (tmp_path / "home" / "inbox").mkdir(parents=True)
    with Served(tmp_path, PREFECT_RUNNER_POLL_FREQUENCY="1", PREFECT_CLIENT_MAX_RETRIES="0") as served:
        serving = served.serve(tmp_path / "home", "--interval", "3600")
        until(lambda: "profile-etl: serving the deployment" in served.said(), 120, "the serve")
        stop(served.server)
        code = serving.wait(timeout=300)
    lines = served.said()
    assert code == 2 and f"can't reach the Prefect API at {served.api}: start the server" in lines, lines
    assert "serve stopped without pausing its schedule" in lines and "ExceptionGroup" not in lines, lines


@pytest.mark.e2e
def test_a_serve_makes_its_deployment_again_on_a_server_whose_database_was_reset(tmp_path, sample_text):
    """A reset server (or a new one at the same address) has no deployment, so it scheduled nothing and
    the serve polled on for good, printing nothing. It is made again: runs go on, and Ctrl-C pauses it."""
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    with Served(tmp_path, PROFILE_ETL_SETTLE_SECONDS="0", PREFECT_RUNNER_POLL_FREQUENCY="2") as served:
        serving = served.serve(home, "--interval", "5", "--inbox", str(inbox))
        until(lambda: dump_count(home) == 1, 180, "the first scheduled run to load the sample")
        served.reset_server()
        write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
        until(lambda: dump_count(home) == 2, 180, "a scheduled run of the reset server to load the new dump")
        assert "no longer had the deployment" in served.said()
        assert not deployment_paused(served.api, deployment_name(home))
        os.killpg(serving.pid, signal.SIGINT)
        assert serving.wait(timeout=60) == 0, served.said()
        assert deployment_paused(served.api, deployment_name(home))


@pytest.mark.e2e
def test_a_run_whose_flow_run_a_reset_server_lost_completes_and_says_so(tmp_path, sample_text):
    """The server's database is reset while the run waits for the home: its data goes in and is published,
    and the warning says why Prefect can't record its end (it said `ObjectNotFound: None`)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    from store.lock import run_lock
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    running_filter = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])))
    with Served(tmp_path, PROFILE_ETL_SETTLE_SECONDS="0") as served:
        with run_lock(home, 0.0, "test"):
            running = subprocess.Popen([str(BIN / "profile-etl"), "--home", str(home), "run", "--inbox",
                                        str(inbox), "--wait", "600", "--json"], env=served.env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
            served.processes.append(running)
            with prefect_client(served.api) as client:
                until(lambda: client.read_flow_runs(flow_run_filter=running_filter), 120, "the run's flow run")
            served.reset_server()
        out, err = running.communicate(timeout=300)
    assert running.returncode == 0, err[-3000:]
    summary = json.loads(out)
    assert summary["status"] == "completed" and summary["dumps_loaded"] == 1
    assert f"Prefect's API at {served.api} no longer has its flow run (the server's database was reset" \
        in summary["warning"]
    assert dump_count(home) == 1

"""Helpers for tests that start processes and Prefect servers: waiting on them with a deadline,
a free port, a lasting server of the test's own, and reading back what Prefect recorded."""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

BIN = Path(sys.executable).parent


def until(condition, timeout: float, what: str):
    """Wait for an outside process (a scheduler, a server) to bring something about."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.25)
    return result


def dump_count(home: Path) -> int:
    try:
        with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
            return con.execute("SELECT count(*) FROM dumps").fetchone()[0]
    except duckdb.IOException:
        return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        return urllib.request.urlopen(f"{url}/health", timeout=2).status == 200
    except OSError:
        return False


def deployment_paused(api: str, name: str) -> bool:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        return client.read_deployment_by_name(f"profile-etl-ingest/{name}").paused


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def latest_flow_run_tasks_and_logs() -> tuple[str, set[str], list[str]]:
    """The latest flow run's state, its task runs' names (whole) and its log lines, from Prefect's API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.logging.handlers import APILogHandler
    APILogHandler().flush()   # send the logs still queued in this process

    async def read():
        async with get_client() as client:
            [run] = await client.read_flow_runs(sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=1)
            tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
            return run.state.type.value, {t.name for t in tasks}, [log.message for log in logs]
    return asyncio.run(read())


def prefect_env(tmp_path: Path, api: str) -> dict:
    """The caller's environment with a Prefect of the test's own, at api."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return env | {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api, "DO_NOT_TRACK": "1"}


@contextlib.contextmanager
def lasting_server(tmp_path: Path):
    """A lasting Prefect server of the test's own: (api, the environment of a run against it)."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_env(tmp_path, api) | {"PROFILE_ETL_SETTLE_SECONDS": "0"}
    server = subprocess.Popen([str(BIN / "profile-etl"), "server", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        until(lambda: healthy(api), 120, "the Prefect server")
        yield api, env
    finally:
        stop(server)


def prefect_client(api: str):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    with temporary_settings({PREFECT_API_URL: api}):
        return get_client(sync_client=True)

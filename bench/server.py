"""The lasting Prefect server of the served mode: `python -m prefect server start` on loopback (what
`profile-etl server` runs) in a child process with its own PREFECT_HOME, ready once /api/health
answers, stopped at the end. Started directly, not through `profile-etl server`: that wrapper's
subprocess.call kills the server straight after a Ctrl-C, before it has written its last records.

Its CPU is read from /proc (psutil) over its process tree, so a run's share of it can be reported
apart from the run's own CPU; between runs it keeps running its services, as a lasting server does."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from bench.corpus import REPO
from bench.rss import MB
from flows.schedule import SERVER_DEFAULTS, server_command

HOST = "127.0.0.1"
READY_TIMEOUT = 300.0     # a new PREFECT_HOME's database migrations come first
STOP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def tree_of(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process tree so far; a reaped child's moves into its parent's
    children_* fields, so it is counted once either way."""
    total = 0.0
    for proc in tree_of(pid):
        try:
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            continue
    return total


class LastingServer:
    """`with LastingServer(home, env, log) as server:` a Prefect server up for the block."""

    def __init__(self, prefect_home: Path, env: dict[str, str], log: Path, port: int = 0):
        self.port = port or free_port()
        self.cmd = server_command(HOST, self.port)   # and the environment `profile-etl server` gives it
        self.env = (SERVER_DEFAULTS | {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
                    | {"PREFECT_HOME": str(prefect_home)})
        self.prefect_home, self.log = prefect_home, log
        self.proc: subprocess.Popen | None = None
        self.ready_seconds = self.started_cpu = self.started_at = 0.0
        self.run_seconds = self.run_cpu = 0.0

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}/api"

    def client_env(self, env: dict[str, str]) -> dict[str, str]:
        return env | {"PREFECT_API_URL": self.api_url}

    def __enter__(self) -> "LastingServer":
        self.prefect_home.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        with open(self.log, "wb") as log:   # its own session: stopped as a group, with any child
            self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        try:
            self.wait_ready(start)
        except BaseException:
            self.stop()
            raise
        self.ready_seconds = time.perf_counter() - start
        self.started_at, self.started_cpu = time.perf_counter(), self.cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_ready(self, start: float) -> None:
        while time.perf_counter() - start < READY_TIMEOUT:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Prefect server exited {self.proc.returncode}:\n{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.2)
        raise RuntimeError(f"the Prefect server did not answer {self.api_url}/health in {READY_TIMEOUT:.0f} s:\n"
                           f"{self.log_tail()}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.proc.pid) if self.proc else 0.0

    def rss_mb(self) -> float:
        total = 0
        for proc in tree_of(self.proc.pid):
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        return total / MB

    def count_run(self, seconds: float, cpu: float) -> None:
        """A run's wall time and the server's CPU meanwhile: the rest is the server's idle cost."""
        self.run_seconds += seconds
        self.run_cpu += cpu

    def figures(self) -> dict:
        """Before stop(): start-up, idle CPU rate between runs, memory."""
        total_s, total_cpu = time.perf_counter() - self.started_at, self.cpu_seconds() - self.started_cpu
        idle_s = total_s - self.run_seconds
        return {"api_url": self.api_url, "ready_seconds": self.ready_seconds, "up_seconds": total_s,
                "cpu_seconds": total_cpu, "cpu_seconds_in_runs": self.run_cpu,
                "idle_cpu_per_second": (total_cpu - self.run_cpu) / idle_s if idle_s > 1 else None,
                "rss_mb_at_end": self.rss_mb(), "prefect_home": str(self.prefect_home)}

    def stop(self) -> None:
        """SIGINT to its process group (a Ctrl-C: uvicorn shuts down and Prefect flushes), then
        SIGTERM, then SIGKILL, each after STOP_TIMEOUT."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(STOP_TIMEOUT)
                return
            except subprocess.TimeoutExpired:
                continue

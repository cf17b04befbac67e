"""One timed process, a `profile-etl run` in either mode or `python -c "import prefect"`: its wall
time, its CPU from the kernel (rusage of the process and its reaped children), the lasting
server's CPU meanwhile, its peak memory, and the run's JSON summary."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from bench.corpus import REPO
from bench.rss import MB, TreeMonitor
from bench.server import LastingServer

DEFAULT_WORKDIR = Path("/tmp/profile-etl-bench")   # dumps, cached homes, scratch homes
PREFECT_QUIET = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                 "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING"}
# Set by the mode, never inherited: a run with either of these talks to some other server.
PREFECT_SERVER_VARS = ("PREFECT_API_URL", "PREFECT_API_KEY")


@dataclass
class Run:
    """What one process took and reported."""
    seconds: float
    cpu_user: float                          # rusage of the process and its reaped children
    cpu_system: float
    tree_rss_mb: float                       # largest sum of RSS over the process tree, sampled
    main_rss_mb: float                       # the process's own high-water mark
    server_cpu_seconds: float | None = None  # served mode: the lasting server's CPU during the run
    machine_busy: float | None = None        # share of all cores busy meanwhile (any process), 0..1
    summary: dict = field(default_factory=dict)

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_user + self.cpu_system

    @property
    def all_cpu_seconds(self) -> float:
        """The run's CPU and, in served mode, the server's share of it."""
        return self.cpu_seconds + (self.server_cpu_seconds or 0.0)

    def to_json(self) -> dict:
        return asdict(self) | {"cpu_seconds": self.cpu_seconds, "all_cpu_seconds": self.all_cpu_seconds}


@dataclass
class Mode:
    """How runs reach Prefect: `served` (a lasting server; PREFECT_API_URL set) or `temporary`
    (none set: each run starts Prefect's temporary server). `prefect_home` holds its run records."""
    name: str
    env: dict[str, str]
    prefect_home: Path
    server: LastingServer | None = None


def bench_env(prefect_home: Path) -> dict[str, str]:
    """This environment, quiet and offline, with its own Prefect home and no API URL."""
    env = {k: v for k, v in os.environ.items() if k not in PREFECT_SERVER_VARS}
    env["PREFECT_HOME"] = str(prefect_home)
    for key, value in PREFECT_QUIET.items():
        env.setdefault(key, value)
    return env


def etl_command() -> list[str]:
    """The venv's `profile-etl` beside this interpreter (not resolved: the venv's bin is the point)."""
    script = Path(sys.executable).parent / "profile-etl"
    if script.exists():
        return [str(script)]
    found = shutil.which("profile-etl")
    if not found:
        raise SystemExit("bench: no profile-etl script; install the package: pip install -e '.[dev,bench]'")
    return [found]


def timed(cmd: list[str], env: dict[str, str], server: LastingServer | None = None) -> tuple[Run, str]:
    """Run cmd to completion (stdout and stderr to files, so no pipe can fill); the Run and stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        server_cpu0 = server.cpu_seconds() if server else 0.0
        busy0 = psutil.cpu_times()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, cwd=REPO)
        with TreeMonitor(proc.pid) as monitor:
            _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        server_cpu = server.cpu_seconds() - server_cpu0 if server else None
        if server:
            server.count_run(seconds, server_cpu)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{err.read()[-4000:]}")
        out.seek(0)
        run = Run(seconds, usage.ru_utime, usage.ru_stime, monitor.tree_peak / MB, monitor.main_hwm / MB,
                  server_cpu, busy_share(busy0, psutil.cpu_times()))
        return run, out.read()


def busy_share(before, after) -> float | None:
    total = sum(after) - sum(before)
    idle = (after.idle + getattr(after, "iowait", 0)) - (before.idle + getattr(before, "iowait", 0))
    return 1 - idle / total if total > 0 else None


def parse_summary(out: str) -> dict:
    """The JSON object the run printed (the first `{` on stdout onwards)."""
    start = out.find("{")
    if start < 0:
        raise RuntimeError(f"no JSON summary in the run's output:\n{out[-2000:]}")
    summary, _ = json.JSONDecoder().raw_decode(out[start:])
    return summary


def run_etl(home: Path, inbox: Path, mode: Mode) -> Run:
    """`profile-etl --home H run --inbox I --settle-seconds 0 --json` in the mode, timed end to end."""
    cmd = [*etl_command(), "--home", str(home), "run", "--inbox", str(inbox), "--settle-seconds", "0", "--json"]
    run, out = timed(cmd, mode.env, mode.server)
    run.summary = parse_summary(out)
    return run


def run_import_prefect(env: dict[str, str]) -> Run:
    """`python -c "import prefect"`: the part of any run's start that the pipeline can't remove."""
    return timed([sys.executable, "-c", "import prefect"], env)[0]


def run_bare_flow(mode: Mode) -> Run:
    """`python -m bench.bare_flow` in the mode: the stack's imports and an empty run's number of tasks."""
    return timed([sys.executable, "-m", "bench.bare_flow"], mode.env, mode.server)[0]

"""One timed `profile-etl run` process: wall time, its JSON summary, its peak memory."""
from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from bench.corpus import REPO
from bench.rss import MB, TreeMonitor

PREFECT_QUIET = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                 "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING"}


@dataclass
class Run:
    """What one process took and reported."""
    seconds: float
    tree_rss_mb: float
    main_rss_mb: float
    to_commit_seconds: float | None = None   # the summary's finished_at - started_at: inside the flow, up to the commit
    cpu_seconds: float | None = None         # user + system CPU of the process and its reaped children
    machine_busy: float | None = None        # share of all cores busy meanwhile (any process), 0..1
    summary: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def etl_command() -> list[str]:
    """The venv's `profile-etl` beside this interpreter (not resolved: the venv's bin is the point)."""
    script = Path(sys.executable).parent / "profile-etl"
    if script.exists():
        return [str(script)]
    found = shutil.which("profile-etl")
    if not found:
        raise SystemExit("bench: no profile-etl script; install the package: pip install -e '.[dev,bench]'")
    return [found]


DEFAULT_WORKDIR = Path("/tmp/profile-etl-bench")   # dumps, cached homes, scratch homes, Prefect's home


def prefect_home(workdir: Path) -> Path:
    """The bench's own Prefect home (a run history of its own) under its work folder."""
    return workdir / "prefect-home"


def bench_env(prefect_home: Path) -> dict[str, str]:
    """This environment with Prefect's home set to the bench's own (a run history of its own)."""
    env = dict(os.environ)
    env["PREFECT_HOME"] = str(prefect_home)
    for key, value in PREFECT_QUIET.items():
        env.setdefault(key, value)
    return env


@dataclass
class Timing:
    seconds: float
    out: str
    monitor: TreeMonitor
    cpu_seconds: float
    machine_busy: float | None


def timed(cmd: list[str], env: dict[str, str]) -> Timing:
    """Run cmd to completion; wall seconds (perf_counter around start to exit), stdout, memory, CPU."""
    cpu0, busy0 = children_cpu(), psutil.cpu_times()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=REPO)
    with TreeMonitor(proc.pid) as monitor:
        out, err = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{err[-4000:]}")
    return Timing(seconds, out, monitor, children_cpu() - cpu0, busy_share(busy0, psutil.cpu_times()))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def busy_share(before, after) -> float | None:
    total = sum(after) - sum(before)
    idle = (after.idle + getattr(after, "iowait", 0)) - (before.idle + getattr(before, "iowait", 0))
    return 1 - idle / total if total > 0 else None


def as_run(t: Timing, summary: dict | None = None) -> Run:
    return Run(t.seconds, t.monitor.tree_peak / MB, t.monitor.main_hwm / MB,
               summary_seconds(summary) if summary else None, t.cpu_seconds, t.machine_busy, summary or {})


def parse_summary(out: str) -> dict:
    """The JSON object the run printed (the first `{` on stdout onwards)."""
    start = out.find("{")
    if start < 0:
        raise RuntimeError(f"no JSON summary in the run's output:\n{out[-2000:]}")
    summary, _ = json.JSONDecoder().raw_decode(out[start:])
    return summary


def summary_seconds(summary: dict) -> float | None:
    try:
        started = dt.datetime.fromisoformat(summary["started_at"])
        return (dt.datetime.fromisoformat(summary["finished_at"]) - started).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


def run_etl(home: Path, inbox: Path, env: dict[str, str]) -> Run:
    """`profile-etl --home H run --inbox I --settle-seconds 0 --json`, timed end to end."""
    cmd = [*etl_command(), "--home", str(home), "run", "--inbox", str(inbox), "--settle-seconds", "0", "--json"]
    t = timed(cmd, env)
    return as_run(t, parse_summary(t.out))


def run_prefect_probe(env: dict[str, str]) -> Run:
    """A process that imports Prefect and runs an empty flow: Prefect's own start and stop."""
    return as_run(timed([sys.executable, "-m", "bench.prefect_probe"], env))


def run_python_start(env: dict[str, str]) -> Run:
    """A bare interpreter start, for scale."""
    return as_run(timed([sys.executable, "-c", "pass"], env))

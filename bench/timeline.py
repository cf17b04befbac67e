"""`python -m bench.timeline INBOX HOME`: one `profile-etl run`, with the CPU its processes use,
sampled every 0.1 s and printed per half second: the run's own process (Prefect's client, the
flow and its task threads), Prefect's temporary server, and any other child. It shows which core idles when. The
home is used as it is (remove it first for a full ingest). With PREFECT_API_URL set in the
environment the run uses that server instead (served mode; the server's CPU is not sampled).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bench.runner import DEFAULT_WORKDIR, bench_env, etl_command

KINDS = ("run", "server", "other")
INTERVAL = 0.1
REPORT_EVERY = 0.5


def kind(proc: psutil.Process, run_pid: int) -> str:
    if proc.pid == run_pid:
        return "run"
    line = " ".join(proc.cmdline())
    return "server" if "uvicorn" in line else "other"


def cpu_by_kind(root: psutil.Process) -> dict[str, float]:
    """CPU seconds used so far by the run's processes still alive, by kind."""
    totals = dict.fromkeys(KINDS, 0.0)
    for proc in [root, *root.children(recursive=True)]:
        try:
            times, name = proc.cpu_times(), kind(proc, root.pid)
            totals[name] = totals.get(name, 0.0) + times.user + times.system
        except psutil.Error:
            continue
    return totals


def sample(cmd: list[str], env: dict[str, str]) -> tuple[list[tuple[float, dict[str, float]]], float]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root, samples = psutil.Process(proc.pid), []
    while proc.poll() is None:
        try:
            samples.append((time.perf_counter() - start, cpu_by_kind(root)))
        except psutil.Error:
            break
        time.sleep(INTERVAL)
    return samples, time.perf_counter() - start


def report(samples: list[tuple[float, dict[str, float]]], seconds: float) -> None:
    """Cores in use per kind over each half second (a process that exits takes its CPU with it, so
    its last interval is left out rather than shown negative)."""
    print(f"run took {seconds:.2f} s; cores in use, per half second:")
    last_t, last = 0.0, dict.fromkeys(KINDS, 0.0)
    for t, totals in samples:
        if t - last_t < REPORT_EVERY:
            continue
        used = {k: max(totals.get(k, 0.0) - last.get(k, 0.0), 0.0) / (t - last_t) for k in KINDS}
        print(f"{t:5.1f} s  " + "  ".join(f"{k} {used[k]:4.2f}" for k in KINDS) + f"  all {sum(used.values()):4.2f}")
        last_t, last = t, totals


def main() -> None:
    inbox, home = Path(sys.argv[1]), Path(sys.argv[2])
    cmd = [*etl_command(), "--home", str(home), "run", "--inbox", str(inbox), "--settle-seconds", "0"]
    env = bench_env(DEFAULT_WORKDIR / "prefect-timeline")
    if os.environ.get("PREFECT_API_URL"):
        env["PREFECT_API_URL"] = os.environ["PREFECT_API_URL"]
    report(*sample(cmd, env))


if __name__ == "__main__":
    main()

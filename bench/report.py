"""The printed table, the target lines, the other figures, and the JSON record."""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from bench.corpus import REPO
from bench.figures import MODES, rate

PACKAGES = ["profile-etl", "prefect", "polars", "pandera", "duckdb", "pyarrow", "dlt", "psutil"]


def fmt(value, spec: str = ".2f", none: str = "-") -> str:
    return none if value is None else format(value, spec)


COLUMNS = [("measurement", "<40"), ("runs", ">4"), ("median s", ">9"), ("CPU s", ">6"), ("+server", ">7"),
           ("busy", ">5"), ("MB/s", ">6"), ("dumps/s", ">8"), ("RSS tree", ">9"), ("RSS run", ">8")]
HEADER = " ".join(format(name, spec) for name, spec in COLUMNS)


def row(name: str, repeats: int, seconds: float, nbytes: int, dumps: int, cpu=None, server_cpu=None, busy=None,
        tree=None, main=None) -> str:
    per_s = dumps / seconds if dumps and seconds > 0 else None
    cells = [name, str(repeats), fmt(seconds), fmt(cpu), fmt(server_cpu), fmt(busy and busy * 100, ".0f"),
             fmt(rate(nbytes, seconds), ".1f"), fmt(per_s, ".0f"), fmt(tree, ".0f"), fmt(main, ".0f")]
    return " ".join(format(cell, spec) for cell, (_, spec) in zip(cells, COLUMNS))


def table(measurements: list, references: list) -> list[str]:
    """Medians per measurement; CPU s is the run's (with its children), +server the lasting
    server's during the run (served mode); RSS in MiB."""
    lines = [HEADER, "-" * len(HEADER)]
    for m in measurements:
        lines.append(row(m.name, len(m.runs), m.seconds, m.nbytes, m.dumps, m.median("cpu_seconds"),
                         m.median("server_cpu_seconds"), m.median("machine_busy"), m.tree_rss_mb, m.main_rss_mb))
    for r in references:
        lines.append(row(r.name, len(r.seconds), r.median, r.nbytes, r.dumps, r.median_cpu, tree=r.rss_mb))
    return lines


def target_lines(results: list[dict]) -> list[str]:
    lines = []
    for t in results:
        verdict = {True: "met", False: "NOT met", None: "n/a"}[t["met"]]
        lines.append(f"  {t['label']:<52} {fmt(t['value']):>8} {t['unit']:<3} (target {t['comparison']} "
                     f"{t['limit']:g}) {verdict}")
    return lines


def git_state() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "HEAD"), "dirty": git("status", "--porcelain").splitlines()}


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def start_state() -> dict:
    """Taken when the bench starts: others may commit to the work tree while it runs."""
    return {"load": os.getloadavg(), "git": git_state()}


def machine(start: dict) -> dict:
    import psutil
    return {"cpu_count": os.cpu_count(), "cpu_affinity": len(os.sched_getaffinity(0)), "cpu_model": cpu_model(),
            "memory_gb": round(psutil.virtual_memory().total / 1e9, 1), "platform": platform.platform(),
            "python": sys.version.split()[0], "packages": versions(), "git_at_start": start["git"],
            "git_at_end": git_state(), "load_average_before": start["load"], "load_average_after": os.getloadavg(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]])}


def write_json(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def time_lines(breakdowns: dict) -> list[str]:
    """One line per measurement: start-up and exit outside the flow, then the flow's tasks."""
    lines = []
    for name, b in breakdowns.items():
        if not b:
            continue
        tasks = sorted(b["tasks"].items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{task} {sec:.2f}" for task, sec in tasks if sec >= 0.05)
        lines.append(f"  {name:<30} wall {b['wall']:.2f} = outside flow {b['outside_flow']:.2f} "
                     f"+ flow {b['flow']:.2f} (task spans: {shown or '-'})")
    return lines


def other_lines(d: dict, server: dict | None, build: dict | None) -> list[str]:
    """Figures beside the targets: rates, what the temporary server costs, CPU, the server, memory."""
    return mode_lines(d) + reference_lines(d) + setting_lines(server, build)


def mode_lines(d: dict) -> list[str]:
    """Each mode's rates and CPU, and what the flow and the temporary server add."""
    lines = []
    for mode, label in (("served", "served"), ("temporary", "temporary server")):
        if f"{mode}_full_minus_empty_seconds" not in d:
            continue
        lines += [f"  {label}: full ingest {fmt(d[f'{mode}_full_end_to_end_mb_s'], '.1f')} MB/s end to end, "
                  f"{fmt(d[f'{mode}_full_minus_empty_mb_s'], '.1f')} MB/s beyond an empty run; "
                  f"no-op rerun - empty run {fmt(d[f'{mode}_noop_minus_empty_seconds'])} s",
                  f"  {label}: CPU-s empty run {fmt(d[f'{mode}_empty_cpu_seconds'])} "
                  f"(+server {fmt(d[f'{mode}_empty_server_cpu_seconds'])}), full ingest "
                  f"{fmt(d[f'{mode}_full_cpu_seconds'])} (+server {fmt(d[f'{mode}_full_server_cpu_seconds'])}); "
                  f"data work {fmt(d[f'{mode}_data_work_cpu_seconds'])} "
                  f"(run alone {fmt(d[f'{mode}_data_work_run_only_cpu_seconds'])}) = "
                  f"{fmt(d[f'{mode}_data_work_over_floor_cpu'])}x the floor's {fmt(d['floor_cpu_seconds'])}"]
    if d.get("bare_flow_minus_import_prefect_seconds") is not None:
        lines.append(f"  served: bare flow of the stack (bench/bare_flow.py) - import prefect "
                     f"{fmt(d['bare_flow_minus_import_prefect_seconds'])} s; empty run - bare flow "
                     f"{fmt(d['served_empty_minus_bare_flow_seconds'])} s")
    if d.get("temporary_empty_minus_served_empty_seconds") is not None:
        lines.append(f"  temporary server's cost to users: its empty run - served empty run "
                     f"{fmt(d['temporary_empty_minus_served_empty_seconds'])} s")
    if d.get("new_small_minus_empty_seconds") is not None:
        lines.append(f"  served: 1 new dump - empty run: small home {fmt(d['new_small_minus_empty_seconds'])} s, "
                     f"big home {fmt(d.get('new_big_minus_empty_seconds'))} s; the flows alone (Prefect's "
                     f"records), big / small beyond the empty run's flow: "
                     f"{fmt(d.get('new_big_over_new_small_beyond_empty_flow'))}x")
    return lines


def reference_lines(d: dict) -> list[str]:
    """The floor, the dlt peer, the parts and the memory figures."""
    lines = []
    lines.append(f"  floor {fmt(d['floor_seconds'])} s ({fmt(d['floor_mb_s'], '.1f')} MB/s); dlt peer "
                 f"{fmt(d['peer_seconds'])} s, {fmt(d['peer_cpu_seconds'])} CPU-s ({fmt(d['peer_mb_s'], '.1f')} MB/s): "
                 f"{fmt(d['peer_over_served_full_minus_empty'], '.1f')}x served full - empty, "
                 f"{fmt(d['peer_over_served_full'], '.1f')}x served full end to end, "
                 f"{fmt(d['peer_cpu_over_served_data_work_cpu'], '.1f')}x its data-work CPU")
    lines.append(f"  the parts bare (bench/parts.py): {fmt(d['parts_cpu_seconds'])} CPU-s = "
                 f"{fmt(d['parts_over_floor_cpu'])}x the floor; data work / the parts: "
                 + ", ".join(f"{mode} {fmt(d.get(f'{mode}_data_work_over_parts_cpu'))}x" for mode in MODES))
    lines.append("  memory: full ingest peaks at " + ", ".join(
        f"{fmt(d.get(f'{mode}_full_peak_tree_rss_mb'), '.0f')} MiB {mode}" for mode in ("served", "temporary"))
        + (f"; {d['many_dumps']} dumps in one run (served) at {fmt(d['many_peak_tree_rss_mb'], '.0f')} MiB"
           if "many_dumps" in d else "; the memory run was skipped (--memory-dumps 0)"))
    return lines


def setting_lines(server: dict | None, build: dict | None) -> list[str]:
    """The lasting server's and the big home's build figures, when the run had them."""
    lines = []
    if server:
        lines.append(f"  lasting server: ready {fmt(server['ready_seconds'])} s after its start (in no run's time), "
                     f"{fmt(server['idle_cpu_per_second'], '.3f')} CPU-s per second between runs, "
                     f"{fmt(server['rss_mb_at_end'], '.0f')} MiB RSS at the end")
    if build and build.get("steps"):
        rss, wall = [s["tree_rss_mb"] for s in build["steps"]], [s["seconds"] for s in build["steps"]]
        lines.append(f"  big-home build ({build.get('mode', 'temporary')}), one run per +{build['dumps'] // len(rss)} "
                     f"dumps as the home grows: {wall[0]:.1f} -> {wall[-1]:.1f} s, peak RSS {rss[0]:.0f} -> "
                     f"{rss[-1]:.0f} MiB")
    return lines

"""The printed table, the ratios against the issue's targets, and the JSON record."""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from bench.corpus import REPO

PACKAGES = ["profile-etl", "prefect", "polars", "pandera", "duckdb", "pyarrow", "dlt", "psutil"]
MB = 1e6   # throughput in decimal MB/s; memory in MiB (see rss.MB)


def rate(nbytes: int, seconds: float | None) -> float | None:
    return nbytes / MB / seconds if nbytes and seconds and seconds > 0 else None


def fmt(value, spec: str = ".2f", none: str = "-") -> str:
    return none if value is None else format(value, spec)


COLUMNS = [("measurement", "<36"), ("runs", ">4"), ("median s", ">9"), ("to-commit", ">9"), ("CPU s", ">7"),
           ("busy", ">5"), ("MB/s", ">7"), ("dumps/s", ">8"), ("RSS tree", ">9"), ("RSS run", ">8")]
HEADER = " ".join(format(name, spec) for name, spec in COLUMNS)


def row(name: str, repeats: int, seconds: float, nbytes: int, dumps: int, flow=None, cpu=None, busy=None,
        tree=None, main=None) -> str:
    per_s = dumps / seconds if dumps and seconds > 0 else None
    cells = [name, str(repeats), fmt(seconds), fmt(flow), fmt(cpu, ".1f"), fmt(busy and busy * 100, ".0f"),
             fmt(rate(nbytes, seconds), ".1f"), fmt(per_s, ".1f"), fmt(tree, ".0f"), fmt(main, ".0f")]
    return " ".join(format(cell, spec) for cell, (_, spec) in zip(cells, COLUMNS))


def table(measurements: list, references: list) -> list[str]:
    lines = [HEADER, "-" * len(HEADER)]
    for m in measurements:
        lines.append(row(m.name, len(m.runs), m.seconds, m.nbytes, m.dumps, m.to_commit_seconds, m.cpu_seconds,
                         m.machine_busy, m.tree_rss_mb, m.main_rss_mb))
    for r in references:
        lines.append(row(r.name, len(r.seconds), r.median, r.nbytes, r.dumps, tree=r.rss_mb))
    return lines


def target(label: str, value: float | None, limit: float, unit: str, at_least: bool) -> dict:
    met = None if value is None else (value >= limit if at_least else value <= limit)
    return {"label": label, "value": value, "limit": limit, "unit": unit,
            "comparison": ">=" if at_least else "<=", "met": met}


def ratios(m: dict, floor, peer, load_alone) -> tuple[dict, list[dict]]:
    """Derived numbers and the issue's targets; `m` maps a short key to a Measurement (or None)."""
    full, fixed = m["full"], m["fixed"]
    marginal_s = full.seconds - fixed.seconds
    marginal = rate(full.nbytes, marginal_s)
    floor_rate, peer_rate = rate(floor.nbytes, floor.median), rate(peer.nbytes, peer.median) if peer else None
    derived = {
        "marginal_full_ingest_seconds": marginal_s, "marginal_full_ingest_mb_s": marginal,
        "full_ingest_end_to_end_mb_s": rate(full.nbytes, full.seconds),
        "floor_mb_s": floor_rate, "peer_mb_s": peer_rate,
        "floor_over_marginal": floor_rate / marginal if marginal else None,
        "marginal_over_peer": marginal / peer_rate if marginal and peer_rate else None,
        "end_to_end_over_peer": rate(full.nbytes, full.seconds) / peer_rate if peer_rate else None,
        "noop_minus_fixed_seconds": m["noop"].seconds - fixed.seconds,
        "new_small_minus_fixed_seconds": m["new_small"].seconds - fixed.seconds,
        "fixed_minus_prefect_start_seconds": fixed.seconds - m["prefect"].seconds,
        "full_ingest_peak_tree_rss_mb": full.tree_rss_mb,
    }
    if "many" in m:
        derived["many_dumps"] = m["many"].dumps
        derived["many_peak_tree_rss_mb"] = m["many"].tree_rss_mb
        derived["many_end_to_end_mb_s"] = rate(m["many"].nbytes, m["many"].seconds)
    derived |= paired(m) | to_commit(m) | budgets(floor, peer, load_alone)
    big = m.get("new_big")
    if big:
        derived["new_big_over_new_small"] = big.seconds / m["new_small"].seconds
        derived["new_big_minus_fixed_seconds"] = big.seconds - fixed.seconds
        extra = m["new_small"].seconds - fixed.seconds
        derived["new_big_over_new_small_beyond_fixed"] = (big.seconds - fixed.seconds) / extra if extra > 0 else None
    return derived, targets(derived)


def paired(m: dict) -> dict:
    """Medians over rounds of within-round differences: less sensitive to a slow spell."""
    def diff(a: str, b: str) -> float | None:
        if a not in m or b not in m:
            return None
        return statistics.median(x.seconds - y.seconds for x, y in zip(m[a].runs, m[b].runs))
    return {"paired_full_minus_fixed_seconds": diff("full", "fixed"),
            "paired_noop_minus_fixed_seconds": diff("noop", "fixed"),
            "paired_new_small_minus_fixed_seconds": diff("new_small", "fixed"),
            "paired_new_big_minus_fixed_seconds": diff("new_big", "fixed"),
            "paired_fixed_minus_prefect_start_seconds": diff("fixed", "prefect")}


def budgets(floor, peer, load_alone) -> dict:
    """What the floor and peer targets allow a full ingest beyond the fixed cost, and what of it the
    warehouse load alone takes: the rest is every other stage, parsing included."""
    allowed = {"two_x_floor": 2 * floor.median, "tenth_of_peer": peer.median / 10 if peer else None}
    out = {"load_alone_seconds": load_alone.median, "load_alone_over_floor": load_alone.median / floor.median}
    for name, seconds in allowed.items():
        out[f"{name}_allows_seconds"] = seconds
        out[f"{name}_left_after_load_alone_seconds"] = seconds - load_alone.median if seconds else None
    return out


def to_commit(m: dict) -> dict:
    """The same on the runs' started_at..finished_at: scan, extract, transform (no start-up, commit, publish)."""
    flow = {k: v.to_commit_seconds for k, v in m.items() if v.to_commit_seconds is not None}
    out = {f"to_commit_{k}_seconds": v for k, v in flow.items()}
    if "full" in flow and "fixed" in flow and flow["full"] > flow["fixed"]:
        out["to_commit_marginal_full_ingest_mb_s"] = rate(m["full"].nbytes, flow["full"] - flow["fixed"])
    if "new_big" in flow and flow.get("new_small"):
        out["to_commit_new_big_over_new_small"] = flow["new_big"] / flow["new_small"]
    return out


def targets(d: dict) -> list[dict]:
    out = [target("marginal full-ingest throughput", d["marginal_full_ingest_mb_s"], 40, "MB/s", True),
           target("floor / marginal full-ingest throughput", d["floor_over_marginal"], 2, "x", False),
           target("marginal full-ingest / dlt peer", d["marginal_over_peer"], 10, "x", True),
           target("no-op rerun beyond fixed cost", d["noop_minus_fixed_seconds"], 1, "s", False),
           target("fixed cost beyond Prefect start", d["fixed_minus_prefect_start_seconds"], 1, "s", False)]
    if "new_big_over_new_small" in d:
        out.insert(4, target("1 new dump: big home / small home", d["new_big_over_new_small"], 2, "x", False))
    if "many_peak_tree_rss_mb" in d:
        out.append(target(f"peak tree RSS, {d['many_dumps']} dumps in one run", d["many_peak_tree_rss_mb"], 1536,
                          "MB", False))
    return out


def target_lines(results: list[dict]) -> list[str]:
    lines = []
    for t in results:
        verdict = {True: "met", False: "NOT met", None: "n/a"}[t["met"]]
        lines.append(f"  {t['label']:<42} {fmt(t['value']):>9} {t['unit']:<4} (target {t['comparison']} "
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


def other_lines(d: dict, build: dict | None) -> list[str]:
    """Figures beside the targets: end to end, paired within rounds, memory as the home grows."""
    lines = [f"  full ingest end to end {fmt(d['full_ingest_end_to_end_mb_s'], '.1f')} MB/s = "
             f"{fmt(d['end_to_end_over_peer'])}x the dlt peer; floor {fmt(d['floor_mb_s'], '.1f')} MB/s, "
             f"peer {fmt(d['peer_mb_s'], '.1f')} MB/s",
             f"  budgets beyond the fixed cost: 2x the floor allows {fmt(d['two_x_floor_allows_seconds'])} s, "
             f"10x the peer {fmt(d['tenth_of_peer_allows_seconds'])} s; the warehouse load alone takes "
             f"{fmt(d['load_alone_seconds'])} s ({fmt(d['load_alone_over_floor'])}x the floor), leaving "
             f"{fmt(d['two_x_floor_left_after_load_alone_seconds'])} s and "
             f"{fmt(d['tenth_of_peer_left_after_load_alone_seconds'])} s for everything else, parsing included",
             f"  paired within rounds (median of differences): full - fixed "
             f"{fmt(d['paired_full_minus_fixed_seconds'])} s, no-op - fixed {fmt(d['paired_noop_minus_fixed_seconds'])} s, "
             f"1 new dump - fixed: small {fmt(d['paired_new_small_minus_fixed_seconds'])} s, "
             f"big {fmt(d['paired_new_big_minus_fixed_seconds'])} s",
             f"  memory: full ingest of the corpus peaks at {fmt(d['full_ingest_peak_tree_rss_mb'], '.0f')} MB "
             "(run, workers, Prefect server)" + (f"; {d['many_dumps']} dumps in one run at "
                                                  f"{fmt(d['many_peak_tree_rss_mb'], '.0f')} MB" if "many_dumps" in d
                                                  else "; the 10,000-dump run was skipped (--memory-dumps 0)")]
    if build and build.get("steps"):
        rss = [step["tree_rss_mb"] for step in build["steps"]]
        wall = [step["seconds"] for step in build["steps"]]
        lines.append(f"  big-home build, one run per +{build['dumps'] // len(rss)} dumps as the home grows: "
                     f"{wall[0]:.0f} -> {wall[-1]:.0f} s, peak RSS {rss[0]:.0f} -> {rss[-1]:.0f} MB "
                     f"(max {max(rss):.0f})")
    return lines

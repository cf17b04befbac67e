"""The figures derived from the measurements and the floor and peer references, and the issue's
targets with pass/fail. A difference between two kinds is the median over rounds of the
within-round differences (a slow spell hits both runs of a round alike); both runs are in the
same mode, so no start-up is subtracted from work it overlapped with."""
from __future__ import annotations

import statistics

MB = 1e6   # throughput in decimal MB/s; memory in MiB (see rss.MB)
MODES = ("served", "temporary")

# (figure, label, limit, unit): each target is `figure <= limit`; the seconds are for the default
# corpus of 2,000 dumps (132 MB: 1.55 s is about 80 MiB/s).
TARGETS = [
    ("served_full_minus_empty_seconds", "served: full ingest - empty run", 1.55, "s"),
    ("served_empty_minus_import_prefect_seconds", "served: empty run - import prefect", 1.0, "s"),
    ("temporary_full_minus_empty_seconds", "temporary server: full ingest - empty run", 2.0, "s"),
    ("served_data_work_over_floor_cpu", "served: data-work CPU / floor CPU", 2.5, "x"),
    ("temporary_data_work_over_floor_cpu", "temporary server: data-work CPU / floor CPU", 2.5, "x"),
    ("new_big_over_new_small_beyond_empty", "served: 1 new dump, big / small home (beyond empty)", 2.0, "x"),
    ("many_peak_tree_rss_mb", "served: peak RSS of the run tree, memory run", 1536, "MiB"),
]


def rate(nbytes: int, seconds: float | None) -> float | None:
    return nbytes / MB / seconds if nbytes and seconds and seconds > 0 else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def paired(m: dict, a: str, b: str, attr: str = "seconds") -> float | None:
    """Median over rounds of (a's run - b's run) in the same round."""
    if a not in m or b not in m or not m[a].runs or not m[b].runs:
        return None
    return statistics.median(getattr(x, attr) - getattr(y, attr) for x, y in zip(m[a].runs, m[b].runs))


def mode_figures(m: dict, mode: str, floor) -> dict:
    """Wall time beyond an empty run, and the data work's CPU (the run's, and in served mode the
    server's share) against the floor's."""
    full, empty = f"{mode}.full", f"{mode}.empty"
    if full not in m:
        return {}
    beyond = paired(m, full, empty)
    work = paired(m, full, empty, "all_cpu_seconds")
    return {f"{mode}_full_minus_empty_seconds": beyond,
            f"{mode}_full_minus_empty_mb_s": rate(m[full].nbytes, beyond),
            f"{mode}_full_end_to_end_mb_s": rate(m[full].nbytes, m[full].seconds),
            f"{mode}_noop_minus_empty_seconds": paired(m, f"{mode}.noop", empty),
            f"{mode}_empty_cpu_seconds": m[empty].median("cpu_seconds"),
            f"{mode}_empty_server_cpu_seconds": m[empty].median("server_cpu_seconds"),
            f"{mode}_full_cpu_seconds": m[full].median("cpu_seconds"),
            f"{mode}_full_server_cpu_seconds": m[full].median("server_cpu_seconds"),
            f"{mode}_data_work_cpu_seconds": work,
            f"{mode}_data_work_run_only_cpu_seconds": paired(m, full, empty, "cpu_seconds"),
            f"{mode}_data_work_over_floor_cpu": ratio(work, floor.median_cpu),
            f"{mode}_full_peak_tree_rss_mb": m[full].tree_rss_mb}


def served_figures(m: dict) -> dict:
    small = paired(m, "served.new_small", "served.empty")
    big = paired(m, "served.new_big", "served.empty")
    out = {"served_empty_minus_import_prefect_seconds": paired(m, "served.empty", "import_prefect"),
           "bare_flow_minus_import_prefect_seconds": paired(m, "served.bare_flow", "import_prefect"),
           "served_empty_minus_bare_flow_seconds": paired(m, "served.empty", "served.bare_flow"),
           "temporary_empty_minus_served_empty_seconds": paired(m, "temporary.empty", "served.empty"),
           "new_small_minus_empty_seconds": small, "new_big_minus_empty_seconds": big,
           "new_big_over_new_small_beyond_empty": ratio(big, small) if small and small > 0 else None}
    if "served.many" in m:
        out |= {"many_dumps": m["served.many"].dumps, "many_peak_tree_rss_mb": m["served.many"].tree_rss_mb,
                "many_end_to_end_mb_s": rate(m["served.many"].nbytes, m["served.many"].seconds)}
    return out


def reference_figures(m: dict, floor, peer, parts_cpu: float) -> dict:
    """The floor, the bare parts and the peer: how many times the served full ingest the peer took."""
    beyond = paired(m, "served.full", "served.empty")
    work = paired(m, "served.full", "served.empty", "all_cpu_seconds")
    full = m.get("served.full")
    return {"floor_seconds": floor.median, "floor_cpu_seconds": floor.median_cpu,
            "floor_mb_s": rate(floor.nbytes, floor.median),
            "peer_seconds": peer.median, "peer_cpu_seconds": peer.median_cpu,
            "peer_mb_s": rate(peer.nbytes, peer.median),
            "peer_over_served_full_minus_empty": ratio(peer.median, beyond),
            "peer_over_served_full": ratio(peer.median, full.seconds if full else None),
            "peer_cpu_over_served_data_work_cpu": ratio(peer.median_cpu, work),
            "parts_cpu_seconds": parts_cpu, "parts_over_floor_cpu": ratio(parts_cpu, floor.median_cpu)}


def new_dump_flow_ratio(times: dict) -> float | None:
    """The new dump's flow beyond the empty run's flow (Prefect's records, medians), big home over
    small: the 2x target without the process start-up and exit, whose wall time varies most."""
    empty, small, big = (times.get(f"served: {kind}") for kind in
                         ("empty run", "1 new dump, small home", "1 new dump, big home"))
    if not (empty and small and big) or small["flow"] <= empty["flow"]:
        return None
    return ratio(big["flow"] - empty["flow"], small["flow"] - empty["flow"])


def derive(m: dict, floor, peer, parts_cpu: float) -> tuple[dict, list[dict]]:
    d: dict = {}
    for mode in MODES:
        d |= mode_figures(m, mode, floor)
    d |= served_figures(m) | reference_figures(m, floor, peer, parts_cpu)
    d |= {f"{mode}_data_work_over_parts_cpu": ratio(d.get(f"{mode}_data_work_cpu_seconds"), parts_cpu) for mode in MODES}
    return d, targets(d)


def targets(d: dict) -> list[dict]:
    out = []
    for key, label, limit, unit in TARGETS:
        value = d.get(key)
        if key == "many_peak_tree_rss_mb" and "many_dumps" in d:
            label = f"served: peak RSS of the run tree, {d['many_dumps']} dumps"
        out.append({"figure": key, "label": label, "value": value, "limit": limit, "unit": unit,
                    "comparison": "<=", "met": None if value is None else value <= limit})
    return out

"""A run's identity, its row of the `runs` table, and the one line that sums it up."""
from __future__ import annotations

import datetime as dt
import uuid

import polars as pl


def new_run_id(started_at: dt.datetime) -> str:
    return f"{started_at:%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex[:8]}"


def run_row(run_id: str, started_at: dt.datetime, status: str, dumps_seen: int, new_dumps: pl.DataFrame) -> dict:
    statuses = new_dumps["status"].value_counts() if not new_dumps.is_empty() else None
    counts = dict(statuses.iter_rows()) if statuses is not None else {}
    return {"run_id": run_id, "started_at": started_at, "finished_at": dt.datetime.now(dt.timezone.utc),
            "status": status, "dumps_seen": dumps_seen, "dumps_new": new_dumps.height,
            "dumps_loaded": counts.get("loaded", 0), "dumps_partial": counts.get("partial", 0),
            "dumps_quarantined": counts.get("quarantined", 0)}


def describe(summary: dict, seconds: float | None = None) -> str:
    """One human line for a run summary; seconds: the run's wall time as its caller waited for it,
    said to be end to end (default: the flow's own, from its start to its runs row)."""
    took = f"{seconds:.1f} s end to end" if seconds is not None else None
    if seconds is None:
        seconds = (summary["finished_at"] - summary["started_at"]).total_seconds()
        took = f"{seconds:.1f} s"
    ignored = f", {summary['ignored']} other files ignored (not dumps)" if summary.get("ignored") else ""
    if summary.get("unreadable"):
        ignored += f", {summary['unreadable']} unreadable (tried again next run)"
    if summary.get("unlisted_folders"):
        ignored += f", {summary['unlisted_folders']} folders that can't be listed (tried again next run)"
    if summary.get("quarantined_as_before"):
        ignored += f", {summary['quarantined_as_before']} quarantined dumps read again and quarantined as before"
    return "".join(f"{note}\n" for note in summary.get("notes", [])) + _describe(summary, seconds, took, ignored)


def _describe(summary: dict, seconds: float, took: str, ignored: str) -> str:
    if not summary["dumps_new"]:
        read_before = max(summary["dumps_seen"] - summary.get("unreadable", 0), 0)   # a reprocess's raw/ copies aren't seen
        resolved = summary.get("reprocessed", 0)   # quarantined dumps read again whose text is a dump loaded already
        gave_way = (f"{resolved} quarantined dump{'' if resolved == 1 else 's'} read again held a dump loaded already "
                    "and gave way to it, and a runs row added") if resolved else "only a runs row added"
        return (f"nothing new: {read_before} dump files read before (loaded or quarantined), "
                f"{summary['waiting']} still being written{ignored}; {gave_way} ({took})")
    mb = summary["bytes_new"] / 1e6
    profiles = summary.get("rows_added", {}).get("profiles", 0)
    again = f", {summary['reprocessed']} of them quarantined before and read again" if summary.get("reprocessed") else ""
    why = " (`profile-etl status` says why)" if summary["dumps_partial"] or summary["dumps_quarantined"] else ""
    return (f"{summary['dumps_new']} new dump{'' if summary['dumps_new'] == 1 else 's'}{again} ({amount(mb)} MB): "
            f"{summary['dumps_loaded']} loaded, {summary['dumps_partial']} partial, "
            f"{summary['dumps_quarantined']} quarantined{why}, {profiles} new profile{'' if profiles == 1 else 's'}; "
            f"{summary['dumps_seen']} seen, {summary['waiting']} still being written{ignored} "
            f"({took}, {amount(mb / max(seconds, 1e-9))} MB/s)")


def amount(value: float) -> str:
    """One decimal, two below 1 (a few dumps over a run's start read 0.04 MB/s, not 0.0), `<0.01` below that."""
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}" if value >= 0.01 else "<0.01"

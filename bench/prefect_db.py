"""Where a run's time goes, from Prefect's own records (the database in the mode's PREFECT_HOME,
read after the lasting server has stopped): the flow run's duration and, per task name, the span
from its first start to its last end. Outside the flow: the process's start, Prefect's (and the
temporary server's), and its exit."""
from __future__ import annotations

import datetime as dt
import sqlite3
import statistics
from pathlib import Path

EPOCH = dt.datetime(1970, 1, 1)


def seconds_of(interval: str | None) -> float:
    """Prefect stores durations in SQLite as a datetime after the epoch."""
    if not interval:
        return 0.0
    return (dt.datetime.fromisoformat(interval) - EPOCH).total_seconds()


def connect(prefect_home: Path) -> sqlite3.Connection | None:
    db = prefect_home / "prefect.db"
    if not db.exists():
        return None
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)


def utc_naive(text: str) -> str:
    """A summary time as Prefect's SQLite stores times: naive UTC, `YYYY-MM-DD HH:MM:SS.ffffff`."""
    stamp = dt.datetime.fromisoformat(str(text)).astimezone(dt.timezone.utc).replace(tzinfo=None)
    return stamp.isoformat(sep=" ", timespec="microseconds")


def flow_run_of(con: sqlite3.Connection, summary: dict) -> tuple | None:
    """The flow run that enclosed the summary's finished_at (the bench runs one at a time)."""
    if not summary.get("finished_at"):
        return None
    finished = utc_naive(summary["finished_at"])
    return con.execute("SELECT id, total_run_time FROM flow_run WHERE start_time <= ? AND end_time >= ? "
                       "ORDER BY start_time DESC LIMIT 1", (finished, finished)).fetchone()


def breakdown(con: sqlite3.Connection, summary: dict) -> dict | None:
    """{"flow": seconds, "tasks": {task name: seconds from its first start to its last end}} of one run.
    Spans, not sums: the extract tasks of a run overlap (threads), and a sum would count them twice."""
    row = flow_run_of(con, summary)
    if row is None:
        return None
    spans: dict[str, list[str]] = {}
    query = "SELECT name, start_time, end_time FROM task_run WHERE flow_run_id = ? AND end_time IS NOT NULL"
    for name, start, end in con.execute(query, (row[0],)):
        first, last = spans.setdefault(name.rsplit("-", 1)[0], [start, end])
        spans[name.rsplit("-", 1)[0]] = [min(first, start), max(last, end)]
    tasks = {name: (dt.datetime.fromisoformat(b) - dt.datetime.fromisoformat(a)).total_seconds()
             for name, (a, b) in spans.items()}
    return {"flow": seconds_of(row[1]), "tasks": tasks}


def median_breakdown(prefect_home: Path, measurement) -> dict | None:
    """Medians over a measurement's runs of: wall, flow, start-up and exit (wall - flow), each task."""
    con = connect(prefect_home)
    if con is None:
        return None
    with con:
        parts = [(run.seconds, breakdown(con, run.summary)) for run in measurement.runs]
    parts = [(wall, b) for wall, b in parts if b]
    if not parts:
        return None
    names = sorted({name for _, b in parts for name in b["tasks"]})
    out = {"wall": statistics.median(w for w, _ in parts), "flow": statistics.median(b["flow"] for _, b in parts),
           "outside_flow": statistics.median(w - b["flow"] for w, b in parts)}
    out["tasks"] = {n: statistics.median(b["tasks"].get(n, 0.0) for _, b in parts) for n in names}
    return out

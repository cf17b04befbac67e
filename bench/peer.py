"""The peer: dlt loading the same parsed records into DuckDB (parquet loader, merge disposition).

Three tables, each merged on its key: `snapshots` (one row per dump, keyed by dump_id), `papers`
(keyed by paper_id = core.identity.stable_id(title), deduplicated by the merge) and `listings`
(keyed by dump_id, rank). Timed end to end: reading, parsing, building rows, dlt's extract,
normalise and load. dlt is imported before the clock starts. It does less than the pipeline
(no validation, no authors, no rejects, no raw/ copies), which makes the comparison a lenient one.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from bench import measure
from bench.floor import InProcess, captured_on, read_and_parse
from bench.offline import no_network
from bench.rss import MB, hwm_bytes, reset_own_hwm
from core.identity import dump_id, profile_key_from_name, stable_id

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
PAPER_FIELDS = ["category", "published_on", "year_inferred", "has_code_badge", "code_url", "code_host",
                "abstract", "authors_text", "authors_truncated", "tag"]


def rows_of(path: Path, tables: dict[str, list]) -> None:
    """Append the snapshot, paper and listing rows of one dump."""
    raw, parsed = read_and_parse(path)
    did, when = dump_id(raw), captured_on(path)
    key = profile_key_from_name(path)
    tables["snapshots"].append({"dump_id": did, "profile_key": key, "captured_on": when, "byte_size": len(raw),
                                "source_path": str(path), **parsed.metrics, "papers_listed": len(parsed.entries)})
    for entry in parsed.entries:
        if not entry.title:
            continue
        pid = stable_id(entry.title)
        tables["papers"].append({"paper_id": pid, "title": entry.title, "last_seen_on": when,
                                 **{f: getattr(entry, f) for f in PAPER_FIELDS}})
        tables["listings"].append({"dump_id": did, "rank": entry.entry_index, "profile_key": key,
                                   "paper_id": pid, "captured_on": when})


def resources(tables: dict[str, list]) -> list:
    import dlt
    keys = {"snapshots": "dump_id", "papers": "paper_id", "listings": ("dump_id", "rank")}
    return [dlt.resource(rows, name=name, primary_key=keys[name], write_disposition="merge")
            for name, rows in tables.items()]


def load_once(files: list[Path], workdir: Path) -> tuple[float, float, dict]:
    """One end-to-end peer load into a new DuckDB file; wall seconds, CPU-seconds (this process's
    threads; dlt runs its stages in this process) and the loaded row counts."""
    import dlt
    fresh = measure.fresh(workdir / "peer")
    start, cpu = time.perf_counter(), time.process_time()
    tables: dict[str, list] = {"snapshots": [], "papers": [], "listings": []}
    for path in files:
        rows_of(path, tables)
    pipeline = dlt.pipeline(pipeline_name="bench_peer", pipelines_dir=str(fresh / "pipelines"),
                            destination=dlt.destinations.duckdb(str(fresh / "peer_warehouse.duckdb")), dataset_name="bench")
    pipeline.run(resources(tables), loader_file_format="parquet")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return seconds, cpu, counts(fresh / "peer_warehouse.duckdb")


def counts(db: Path) -> dict:
    import duckdb
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM bench.{t}").fetchone()[0]
                for t in ("snapshots", "papers", "listings")}


def peer(files: list[Path], workdir: Path, repeat: int) -> InProcess:
    import dlt
    attempts: list[str] = []
    own_hwm = reset_own_hwm()
    with no_network(attempts):
        results = [load_once(files, workdir) for _ in range(repeat)]
    rss = hwm_bytes(os.getpid()) / MB if own_hwm else None
    return InProcess(f"peer: dlt {dlt.__version__} -> duckdb", [r[0] for r in results], [r[1] for r in results],
                     len(files),
                     sum(p.stat().st_size for p in files), rss,
                     note="in this process; parquet loader, merge on primary keys",
                     extra={"rows": results[-1][2], "network_attempts": attempts,
                            "telemetry_env": os.environ.get("RUNTIME__DLTHUB_TELEMETRY")})

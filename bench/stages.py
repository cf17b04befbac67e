"""One run's stages, timed one by one in this process without Prefect (docs/lake.md): a no-op run,
then, with NEW_DUMP, a run that ingests it (linked into the inbox's `new-dumps/`, removed after).
`python -m bench.stages HOME INBOX [NEW_DUMP] [--copy SOURCE_HOME]` (--copy: HOME becomes a fresh
working copy of SOURCE_HOME first, as the bench's big home is copied)."""
from __future__ import annotations

import datetime as dt
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

from bench.bighome import copy_home
from bench.measure import NEW_FOLDER
from flows import appends, batch, discover, file_index, merge, runs
from schemas.tables import OBSERVED_TABLES, TABLES, empty_frame
from store import storage
from store.scratch import WORK
from store.settings import Settings
from warehouse import lake, publish, recovery
from warehouse.opened import reusing_tables


class Stages:
    """Times the stages of one run, printing each, and keeps {label: (wall, CPU-s)}."""

    def __init__(self):
        self.times: dict[str, tuple[float, float]] = {}

    def timed(self, label: str, fn, *args):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn(*args)
        self.times[label] = (time.perf_counter() - wall, time.process_time() - cpu)
        print(f"  {label:12s} wall {self.times[label][0]:6.3f} s  cpu {self.times[label][1]:6.3f} s", flush=True)
        return result


def merge_all(lake_dir: Path, scratch: dict, seq: int, run_id: str) -> list:
    jobs = [merge.TableMerge(lake_dir, name, scratch[name], seq, run_id) for name in OBSERVED_TABLES if scratch[name]]
    with ThreadPoolExecutor(2) as pool:   # as the flow's two task threads
        return list(pool.map(merge.merge_table, jobs))


def run(home: Path, inbox: Path, batch_threads: int = 1) -> dict[str, tuple[float, float]]:
    """One run's stages; batch_threads=2 runs the batches in two threads, as the flow does."""
    s = Settings.load(home=home, inbox=inbox, settle_seconds=0)
    with reusing_tables(s.lake):   # as the flow's run does
        return run_stages(s, batch_threads)


def run_stages(s: Settings, batch_threads: int = 1) -> dict[str, tuple[float, float]]:
    stages = Stages()
    timed = stages.timed
    wall, cpu = time.perf_counter(), time.process_time()
    seq = timed("prepare", recovery.recover, s.lake)
    plan = timed("plan", discover.plan_run, s.inbox, s.lake, s.state, 0)
    started = dt.datetime.now(dt.timezone.utc)
    run_id = runs.new_run_id(started)
    jobs = batch.plan_jobs(plan.todo, plan.known, s, run_id, started)
    with ThreadPoolExecutor(batch_threads) as pool:
        results = timed("batches", lambda: list(pool.map(batch.process_batch, jobs)))
    new = pl.concat([r.dumps for r in results]) if results else empty_frame(TABLES["dumps"])
    scratch = batch.scratch_files(results)
    if results:
        timed("appends", appends.commit_appends, s.lake, seq, run_id, scratch, set())
        timed("merges", merge_all, s.lake, scratch, seq, run_id)
    timed("flush", storage.flush_to_disk, s.raw, s.lake)
    timed("commit_run", lake.commit_run, s.lake, runs.run_row(run_id, started, "completed", len(plan.found.found), new), seq)
    storage.remove_tree(s.lake / WORK)
    timed("file_index", file_index.add_to_file_index, s.state, [r.files for r in results])
    timed("publish", publish.publish, s.warehouse, s.lake)
    stages.times["total"] = (time.perf_counter() - wall, time.process_time() - cpu)
    print(f"  total        wall {stages.times['total'][0]:6.3f} s  cpu {stages.times['total'][1]:6.3f} s"
          f"  ({new.height} new dumps)")
    return stages.times


def main(argv: list[str]) -> None:
    home, inbox = Path(argv[0]), Path(argv[1])
    new_dump = Path(argv[2]) if len(argv) > 2 and not argv[2].startswith("--") else None
    if "--copy" in argv:
        copy_home(Path(argv[argv.index("--copy") + 1]), home)
    print("no-op run")
    run(home, inbox)
    if new_dump is not None:
        folder = inbox / NEW_FOLDER
        folder.mkdir(exist_ok=True)
        (folder / new_dump.name).hardlink_to(new_dump)
        try:
            print("new dump")
            run(home, inbox)
        finally:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main(sys.argv[1:])

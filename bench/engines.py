"""polars' streaming engine against its in-memory one as the process's default (schemas/__init__.py
sets in-memory): a full ingest's stages in this process, batches in two threads as a run's, the
affinity alternating pair by pair, each run into a new home under WORKDIR (left there: deleting
thousands of files slows the next creations, docs/benchmarks.md).

    python -m bench.engines INBOX WORKDIR [PAIRS]
"""
from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

from bench import stages
from flows import appends, batch, discover, runs
from store import storage
from store.scratch import WORK
from store.settings import Settings
from warehouse import lake, publish, recovery
from warehouse.opened import reusing_tables


def one(home: Path, inbox: Path) -> dict[str, tuple[float, float]]:
    """Wall and CPU-s of each stage of a full ingest of inbox into a new home."""
    s = Settings.load(home=home, inbox=inbox, settle_seconds=0)
    out = {}

    def t(label, fn, *args):
        w, c = time.perf_counter(), time.process_time()
        result = fn(*args)
        out[label] = (time.perf_counter() - w, time.process_time() - c)
        return result
    with reusing_tables(s.lake):
        w0, c0 = time.perf_counter(), time.process_time()
        seq = recovery.recover(s.lake)
        plan = discover.plan_run(s.inbox, s.lake, s.state, 0)
        started = dt.datetime.now(dt.timezone.utc)
        run_id = runs.new_run_id(started)
        jobs = batch.plan_jobs(plan.todo, plan.known, s, run_id, started)
        with ThreadPoolExecutor(2) as pool:
            results = t("batches", lambda: list(pool.map(batch.process_batch, jobs)))
        new = pl.concat([r.dumps for r in results])
        scratch = batch.scratch_files(results)
        t("appends", appends.commit_appends, s.lake, seq, scratch, set())
        t("merges", stages.merge_all, s.lake, scratch, seq)
        lake.commit_run(s.lake, runs.run_row(run_id, started, "completed", len(plan.found.found), new), seq)
        storage.remove_tree(s.lake / WORK)
        t("publish", publish.publish, s.warehouse, s.lake)
        out["total"] = (time.perf_counter() - w0, time.process_time() - c0)
    return out


def main(argv: list[str]) -> None:
    inbox, base, pairs = Path(argv[0]), Path(argv[1]), int(argv[2]) if len(argv) > 2 else 4
    res = {"streaming": [], "in-memory": []}
    for i in range(pairs):
        for eng in (("streaming", "in-memory") if i % 2 == 0 else ("in-memory", "streaming")):
            pl.Config.set_engine_affinity(eng)
            r = one(base / f"{eng}-{i}", inbox)
            res[eng].append(r)
            print(eng, i, " ".join(f"{k} {w:.2f}/{c:.2f}" for k, (w, c) in r.items()), flush=True)
    print("stage wall/CPU-s, medians:")
    for eng, rs in res.items():
        medians = {k: [statistics.median(r[k][i] for r in rs) for i in (0, 1)] for k in rs[0]}
        print(eng, " ".join(f"{k} {wall:.2f}/{cpu:.2f}" for k, (wall, cpu) in medians.items()))


if __name__ == "__main__":
    main(sys.argv[1:])

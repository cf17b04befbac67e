"""polars' streaming engine against its in-memory one as the process's default (schemas/__init__.py
sets in-memory): a full ingest's stages in this process (bench/stages.py), batches in two threads as
a run's, the affinity alternating pair by pair, each run into a new home under WORKDIR (left there:
deleting thousands of files slows the next creations, docs/benchmarks.md).

    python -m bench.engines INBOX WORKDIR [PAIRS]
"""
from __future__ import annotations

import statistics
import sys
from pathlib import Path

import polars as pl

from bench import stages


def main(argv: list[str]) -> None:
    inbox, base, pairs = Path(argv[0]), Path(argv[1]), int(argv[2]) if len(argv) > 2 else 4
    res = {"streaming": [], "in-memory": []}
    for i in range(pairs):
        for eng in (("streaming", "in-memory") if i % 2 == 0 else ("in-memory", "streaming")):
            pl.Config.set_engine_affinity(eng)
            print(eng, i, flush=True)
            r = stages.run(base / f"{eng}-{i}", inbox, batch_threads=2)
            res[eng].append(r)
    print("stage wall/CPU-s, medians:")
    for eng, rs in res.items():
        medians = {k: [statistics.median(r[k][i] for r in rs) for i in (0, 1)] for k in rs[0]}
        print(eng, " ".join(f"{k} {wall:.2f}/{cpu:.2f}" for k, (wall, cpu) in medians.items()))


if __name__ == "__main__":
    main(sys.argv[1:])

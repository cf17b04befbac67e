"""A third reference, DuckDB's part alone: the lake a full ingest committed, loaded into a new
warehouse file by warehouse/load.py (tables, keys, views, data tests, commit), in this process.
Whatever comes before it, a run that ends in these tables pays this once its last dump is parsed."""
from __future__ import annotations

import time
from pathlib import Path

from bench.floor import InProcess
from warehouse import files, load


def timed_load(lake: Path, scratch: Path) -> float:
    target = scratch / "load-alone.duckdb"
    files.remove(target)
    start = time.perf_counter()
    load.load(target, lake)
    seconds = time.perf_counter() - start
    files.remove(target)
    return seconds


def reference(seconds: list[float], dumps: int, nbytes: int) -> InProcess:
    return InProcess("warehouse load alone (full lake)", seconds, dumps, nbytes, None,
                     note="in this process, after each round's full ingest: its lake into a new DuckDB file")

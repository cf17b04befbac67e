"""A third reference, DuckDB's part alone: the lake a full ingest committed, loaded into a new
warehouse file by warehouse/load.py (tables, keys, views, data tests, commit). Whatever comes
before it, a run that ends in these tables pays this once its last dump is parsed.

Timed in a child process (`python -m bench.loadref LAKE SCRATCH` prints the seconds), so DuckDB's
memory stays out of the bench process, whose peak the floor and peer references report."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.corpus import REPO
from bench.floor import InProcess


def timed_load(lake: Path, scratch: Path) -> float:
    out = subprocess.run([sys.executable, "-m", "bench.loadref", str(lake), str(scratch)], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    return float(out.split()[-1])


def load_once(lake: Path, scratch: Path) -> float:
    from warehouse import files, load
    target = scratch / "load-alone.duckdb"
    files.remove(target)
    start = time.perf_counter()
    load.load(target, lake)
    seconds = time.perf_counter() - start
    files.remove(target)
    return seconds


def reference(seconds: list[float], dumps: int, nbytes: int) -> InProcess:
    return InProcess("warehouse load alone (full lake)", seconds, dumps, nbytes, None,
                     note="in a child process, after each round's full ingest: its lake into a new DuckDB file")


if __name__ == "__main__":
    print(f"{load_once(Path(sys.argv[1]), Path(sys.argv[2])):.6f}")

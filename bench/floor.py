"""The floor: one bare pass that reads every file and parses it with the project's parser, in
this process, on one core; its CPU-seconds are what the pipeline's data work is compared with."""
from __future__ import annotations

import datetime as dt
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from bench.rss import MB, hwm_bytes, reset_own_hwm
from core.parse import parse_dump


@dataclass
class InProcess:
    """A reference timed inside this process: wall seconds and CPU-seconds (process_time) of each pass."""
    name: str
    seconds: list[float]
    cpu_seconds: list[float]
    dumps: int
    nbytes: int
    rss_mb: float | None
    note: str = ""
    extra: dict | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu_seconds)

    def to_json(self) -> dict:
        return {"name": self.name, "repeats": len(self.seconds), "median_seconds": self.median,
                "median_cpu_seconds": self.median_cpu, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds,
                "dumps": self.dumps, "bytes": self.nbytes,
                "peak_rss_mb": self.rss_mb, "note": self.note, "extra": self.extra or {}}


def captured_on(path: Path) -> dt.date:
    """The capture date the pipeline gives a dump without sidecar: its mtime, in UTC."""
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).date()


def read_and_parse(path: Path):
    raw = path.read_bytes()
    return raw, parse_dump(raw.decode("utf-8"), captured_on(path))


def one_pass(files: list[Path]) -> tuple[float, float, int]:
    """Wall seconds and CPU-seconds of one pass over files, and the entries parsed (so none is skipped)."""
    start, cpu = time.perf_counter(), time.process_time()
    entries = sum(len(read_and_parse(path)[1].entries) for path in files)
    return time.perf_counter() - start, time.process_time() - cpu, entries


def floor(files: list[Path], repeat: int) -> InProcess:
    own_hwm = reset_own_hwm()
    passes = [one_pass(files) for _ in range(repeat)]
    rss = hwm_bytes(os.getpid()) / MB if own_hwm else None
    return InProcess("floor: read + parse_dump", [p[0] for p in passes], [p[1] for p in passes], len(files),
                     sum(p.stat().st_size for p in files), rss,
                     note="in this process, one core, files in the OS cache",
                     extra={"entries": passes[0][2]})

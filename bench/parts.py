"""The parts: what the standard parts cost on their own for a full ingest, each called bare on the
rows a home holds after ingesting the corpus, in this process (docs/benchmarks.md):
- batch parser: read the files and parse them as a run's batches do (core/parse_frame.py);
- raw copies: read, SHA-256 and write each file content-addressed into a new folder (SPEC §5);
- pandera: validate each lake table's rows once with its model;
- delta-rs: write each table into a new lake, partitioned as the project does (and unpartitioned,
  printed beside it);
- duckdb: load each table of that lake from its file list into a new database file, zstd as
  warehouse/load.py sets it (and into memory, printed beside it: the difference is the file's writing).
Their sum (the first five) is about the least a pipeline built of these parts pays for the
ingest, whatever it does between them (less the little an empty run pays too: creating the
tables and the database file, about 0.1 CPU-s).
`python -m bench.parts HOME INBOX [--repeat N]` prints them against the floor.
"""
from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl
from deltalake import write_deltalake

from bench.floor import InProcess, captured_on, floor
from core import parse_frame
from schemas.tables import TABLES
from warehouse import lake, partitions

SUMMED = ("batch parser", "raw copies", "pandera", "delta-rs", "duckdb load")


def batch_parse(files: list[Path], scratch: Path, size: int = 500) -> None:
    for start in range(0, len(files), size):
        chunk = files[start:start + size]
        parse_frame.parse_texts(pl.DataFrame(
            {"dump_id": [str(p) for p in chunk], "text": [p.read_bytes().decode() for p in chunk],
             "captured_on": [captured_on(p) for p in chunk]},
            schema={"dump_id": pl.String, "text": pl.String, "captured_on": pl.Date}))


def raw_copies(files: list[Path], scratch: Path) -> None:
    for path in files:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        folder = scratch / digest[:2]
        folder.mkdir(exist_ok=True)
        (folder / f"{digest}.txt").write_bytes(data)


def validate_all(tables: dict[str, pl.DataFrame]) -> None:
    for name, frame in tables.items():
        TABLES[name].validate(frame, lazy=True)


def write_lake(tables: dict[str, pl.DataFrame], scratch: Path, partitioned: bool = True) -> None:
    """Each table as a new Delta table with the lake's table settings (warehouse/lake.py)."""
    for name, frame in tables.items():
        by = [partitions.BUCKET] if partitioned and name in partitions.PARTITIONED else None
        rows = partitions.with_bucket(name, frame) if by else frame
        write_deltalake(str(scratch / name), rows.to_arrow(), partition_by=by, configuration=lake.configuration(name))


def load_duckdb(tables: dict[str, pl.DataFrame], source: Path, scratch: Path | None) -> None:
    """Each table into a database file (None: into memory, so no checkpoint writes it)."""
    con = duckdb.connect(str(scratch / "warehouse.duckdb") if scratch else ":memory:")
    con.execute("SET force_compression = 'zstd'")
    for name in tables:
        files = lake.open_table(source, name).file_uris()
        if files:
            columns = ", ".join(f'"{c}"' for c in tables[name].columns)
            con.execute(f"CREATE TABLE {name} AS SELECT {columns} FROM read_parquet($files)", {"files": files})
    con.close()


def timed(name: str, fn, repeat: int, scratch: Path, files: list[Path]) -> InProcess:
    """`repeat` calls of fn(a new folder). The folders stay until the caller removes scratch: on this
    machine's journal-less ext4 a new file skips each inode freed in the last minutes."""
    walls, cpus = [], []
    for _ in range(repeat):
        folder = Path(tempfile.mkdtemp(dir=scratch))
        wall, cpu = time.perf_counter(), time.process_time()
        fn(folder)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return InProcess(f"part: {name}", walls, cpus, len(files), sum(p.stat().st_size for p in files), None,
                     note="bare, in this process (CPU-s: all its threads)")


def parts(files: list[Path], lake_dir: Path, scratch: Path, repeat: int) -> dict[str, InProcess]:
    """Each part's wall and CPU-seconds over the corpus files and the rows of the lake at lake_dir."""
    tables = {name: lake.read_table(lake_dir, name) for name in TABLES}
    source = Path(tempfile.mkdtemp(dir=scratch))
    write_lake(tables, source)
    steps = {"batch parser": lambda s: batch_parse(files, s),
             "raw copies": lambda s: raw_copies(files, s),
             "pandera": lambda s: validate_all(tables),
             "delta-rs": lambda s: write_lake(tables, s),
             "delta-rs unpartitioned": lambda s: write_lake(tables, s, partitioned=False),
             "duckdb load": lambda s: load_duckdb(tables, source, s),
             "duckdb load in memory": lambda s: load_duckdb(tables, source, None)}
    return {name: timed(name, step, repeat, scratch, files) for name, step in steps.items()}


def summed_cpu(measured: dict[str, InProcess]) -> float:
    return sum(measured[name].median_cpu for name in SUMMED)


def main(argv: list[str]) -> None:
    home, inbox = Path(argv[0]), Path(argv[1])
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 3
    files = sorted(inbox.rglob("*.txt"))
    fl = floor(files, repeat)
    with tempfile.TemporaryDirectory(dir="/tmp") as scratch:
        measured = parts(files, home / "lake", Path(scratch), repeat)
    print(f"{len(files)} files; floor (read + parse_dump) {fl.median_cpu:.2f} CPU-s")
    for name, part in measured.items():
        print(f"  {name:24s} cpu {part.median_cpu:5.2f} s  wall {part.median:5.2f} s  "
              f"{part.median_cpu / fl.median_cpu:5.2f}x the floor")
    print(f"  sum of {', '.join(SUMMED)}: {summed_cpu(measured):.2f} CPU-s, "
          f"{summed_cpu(measured) / fl.median_cpu:.2f}x the floor")


if __name__ == "__main__":
    main(sys.argv[1:])

"""What a Delta merge of 50 changed rows costs against the table's size, with and without the
`key_bucket` partitions of warehouse/lake.py, and what finer buckets cost a first write and a
whole read (docs/lake.md): `python -m bench.partitions [ROWS ...]`.
Synthetic papers-like rows (a 16-hex key, a 1 kB text, a number) in a scratch folder."""
from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from deltalake import DeltaTable, write_deltalake


def rows(n: int, start: int = 0, chars: int = 2) -> pl.DataFrame:
    keys = [hashlib.sha256(str(i).encode()).hexdigest()[:16] for i in range(start, start + n)]
    return pl.DataFrame({"paper_id": keys, "abstract": [f"lorem ipsum {i} " * 60 for i in range(start, start + n)],
                         "seen": pl.Series(range(n), dtype=pl.Int64)}).with_columns(
        key_bucket=pl.col("paper_id").str.slice(0, chars))


def merge_cost(path: Path, n: int, chars: int, name_partitions: bool) -> tuple[float, float]:
    write_deltalake(path, rows(n, chars=chars).to_arrow(), partition_by="key_bucket" if chars else None)
    source = pl.concat([rows(40, 0, chars).with_columns(seen=pl.lit(-1, pl.Int64)), rows(10, 10**7, chars)])
    predicate = "t.paper_id = s.paper_id" + (" AND t.key_bucket = s.key_bucket" if chars else "")
    if name_partitions:
        predicate += f" AND t.key_bucket IN ({', '.join(repr(b) for b in sorted(set(source['key_bucket'])))})"
    wall, cpu = time.perf_counter(), time.process_time()
    (DeltaTable(path).merge(source.to_arrow(), predicate, source_alias="s", target_alias="t")
     .when_matched_update_all().when_not_matched_insert_all().execute())
    return time.perf_counter() - wall, time.process_time() - cpu


def write_and_read(path: Path, n: int, chars: int) -> tuple[float, float]:
    """Seconds to write n rows as a new table in 16**chars partitions, and to read it whole."""
    wall = time.perf_counter()
    write_deltalake(path, rows(n, chars=chars).to_arrow(), partition_by="key_bucket")
    written = time.perf_counter() - wall
    DeltaTable(path).to_pyarrow_table()
    return written, time.perf_counter() - wall - written


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [81_000, 577_000]
    with tempfile.TemporaryDirectory() as scratch:
        for n in sizes:
            for label, chars, named in [("none", 0, False), ("16", 1, False), ("256", 2, False), ("256 named", 2, True),
                                        ("4096 named", 3, True)]:
                wall, cpu = merge_cost(Path(scratch) / f"{n}-{label}", n, chars, named)
                print(f"{n:>8} rows, partitions {label:<10}: merge of 50 rows {wall:.2f} s wall, {cpu:.2f} CPU-s", flush=True)
            for chars in (2, 3):
                written, read = write_and_read(Path(scratch) / f"{n}-whole-{chars}", n, chars)
                print(f"{n:>8} rows, {16 ** chars} partitions: first write {written:.2f} s, whole read {read:.2f} s", flush=True)


if __name__ == "__main__":
    main()

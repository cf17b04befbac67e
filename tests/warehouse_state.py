"""Reading a home's lake and warehouse in a canonical form, to compare two homes."""
from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from store.scratch import WORK
from warehouse import lake

DATA_TABLES = ["dumps", "profile_snapshots", "profiles", "papers", "authors", "paper_authors", "listings", "rejects"]
RUN_COLUMNS = {"run_id", "ingested_at"}  # differ between two runs of the same data


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.drop([c for c in frame.columns if c in RUN_COLUMNS])
    return frame.sort(frame.columns, nulls_last=True)


def warehouse_tables(home: Path) -> dict[str, pl.DataFrame]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return {t: canonical(con.sql(f"SELECT * FROM {t}").pl()) for t in DATA_TABLES}


def lake_tables(home: Path) -> dict[str, pl.DataFrame]:
    return {t: canonical(lake.read_table(home / "lake", t)) for t in DATA_TABLES}


def run_statuses(home: Path) -> list[str]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return [s for (s,) in con.execute("SELECT status FROM runs ORDER BY started_at").fetchall()]


def lake_leftovers(home: Path) -> list[str]:
    """What a run left that it shouldn't have: scratch, or a table holding a run that never reached
    its commit point."""
    left = [str(p) for p in (home / "lake" / WORK).rglob("*")] if (home / "lake" / WORK).exists() else []
    committed = lake.run_of(lake.open_table(home / "lake", "runs"))
    return left + [name for name in lake.versions(home / "lake")
                   if lake.run_of(lake.open_table(home / "lake", name)) > committed]


def differences(home: Path, expected: Path) -> list[str]:
    """Tables (warehouse and lake) of home that differ from those of expected."""
    want = warehouse_tables(expected)
    got_wh, got_lake = warehouse_tables(home), lake_tables(home)
    return ([f"warehouse.{t}" for t in DATA_TABLES if not got_wh[t].equals(want[t])]
            + [f"lake.{t}" for t in DATA_TABLES if not got_lake[t].equals(want[t])])


def same_tables(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> bool:
    return a.keys() == b.keys() and all(a[t].equals(b[t]) for t in a)

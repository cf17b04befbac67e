"""Seeded random sequences of the user's operations on one home (add, copy, delete and touch dump
files; run, run --reprocess, rollback, rebuild, maintain), with the home's invariants checked after
each command: doctor finds nothing, the warehouse holds the lake's rows, no inbox file is lost, and
the lake holds what a one-shot ingest of its dumps into a fresh home gives (SPEC §6, §8)."""
from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import io
import random
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest

from flows import file_index
from flows.cli import main
from flows.pipeline import ingest
from tests import dumps
from tests.conftest import KEY, OTHER, UTC, write_dump
from warehouse import history, lake

TABLES = ["dumps", "profile_snapshots", "profiles", "papers", "authors", "paper_authors", "listings", "rejects"]
RUN_STAMPS = {"run_id", "ingested_at", "source_path"}   # a one-shot ingest stamps them otherwise
CAPTURES = [dt.datetime(2026, 3, 1, tzinfo=UTC) + dt.timedelta(days=d) for d in (0, 40, 40, 90)]   # ties too


@dataclass(frozen=True)
class DumpFile:
    name: str
    data: bytes
    captured: dt.datetime


def canonical(frame: pl.DataFrame, drop: set[str] = frozenset()) -> pl.DataFrame:
    frame = frame.drop([c for c in frame.columns if c in drop or c == "key_bucket"])
    frame = frame.select(sorted(frame.columns))
    return frame.sort(frame.columns, nulls_last=True)


def lake_rows(home: Path, drop: set[str] = frozenset(), names=TABLES) -> dict[str, pl.DataFrame]:
    return {name: canonical(lake.read_table(home / "lake", name), drop) for name in names}


def warehouse_rows(home: Path) -> dict[str, pl.DataFrame]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return {name: canonical(con.sql(f"SELECT * FROM {name}").pl()) for name in [*TABLES, "runs"]}


def differing(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> list[str]:
    return [name for name in a if not a[name].equals(b[name])]


class Sequence:
    """One home driven by a seeded sequence; `read` says which file (bytes, name, time) each dump
    the lake holds was read from, as it was then, for the one-shot ingest to read the same."""

    def __init__(self, base: Path, sample_text: str, seed: int):
        self.base, self.rng = base, random.Random(seed)
        self.home, self.inbox = base / "home", base / "home" / "inbox"
        self.header, self.blocks = dumps.split(sample_text)
        self.files: dict[str, DumpFile] = {}
        self.read: dict[str, DumpFile] = {}
        self.read_after: dict[str, dict[str, DumpFile]] = {}
        self.count = 0

    def put(self, key: str, data: bytes, gz: bool = False) -> str:
        self.count += 1
        name = f"{self.count:03d}_{key}.txt" + (".gz" if gz else "")
        self.files[name] = DumpFile(name, gzip.compress(data, mtime=0) if gz else data, self.rng.choice(CAPTURES))
        write_dump(self.inbox, name, self.files[name].data, self.files[name].captured)
        return f"add {name}"

    def add_snapshot(self) -> str:
        blocks = self.rng.sample(self.blocks, self.rng.randint(3, 8))
        if self.rng.random() < 0.3:   # a retitled paper: the same paper_id, the title as printed changes
            blocks[0] = [blocks[0][0], blocks[0][1].upper(), *blocks[0][2:]]
        if self.rng.random() < 0.2:   # an entry that is rejected: the dump is partial
            blocks.append(dumps.entry("LGFeb 30, 2024", "An Impossible Date", "Ann Other", "x."))
        return self.put(self.rng.choice([KEY, OTHER]), dumps.join(self.header, blocks).encode())

    def add_copy(self) -> str:
        source = self.files[self.rng.choice(sorted(self.files))] if self.files else None
        if source is None:
            return self.add_snapshot()
        data = gzip.decompress(source.data) if source.name.endswith(".gz") else source.data
        return self.put(self.rng.choice([KEY, OTHER]), data, gz=self.rng.random() < 0.5)

    def add_empty(self) -> str:
        return self.put(KEY, b"")   # quarantined: bytes kept, a rejects row

    def delete(self) -> str:
        if not self.files:
            return "delete: nothing"
        name = self.rng.choice(sorted(self.files))
        (self.inbox / self.files.pop(name).name).unlink()
        return f"delete {name}"

    def touch(self) -> str:
        if not self.files:
            return "touch: nothing"
        name = self.rng.choice(sorted(self.files))
        self.files[name] = DumpFile(name, self.files[name].data, self.rng.choice(CAPTURES))
        write_dump(self.inbox, name, self.files[name].data, self.files[name].captured)
        return f"touch {name}"

    def run(self, reprocess: bool = False) -> str:
        summary = ingest(home=self.home, inbox=self.inbox, settle_seconds=0, reprocess=reprocess,
                         batch_size=self.rng.choice([1, 500]))
        self.remember_reads(summary["run_id"])
        assert not self.lost(), f"inbox files whose dump the lake doesn't hold: {self.lost()}"
        return f"run{' --reprocess' * reprocess}: {summary['dumps_new']} new"

    def remember_reads(self, run_id: str) -> None:
        for dump_id, path, by in lake.read_table(self.home / "lake", "dumps").select(
                "dump_id", "source_path", "run_id").iter_rows():
            held = self.files.get(Path(path).name)
            if (dump_id not in self.read or by == run_id) and held is not None:
                self.read[dump_id] = held
        self.read_after[run_id] = dict(self.read)

    def lost(self) -> list[str]:
        known = set(lake.read_table(self.home / "lake", "dumps")["dump_id"])
        index = dict(file_index.read_file_index(self.home / "state").select("path", "dump_id").iter_rows())
        return [name for name in self.files if index.get(str(self.inbox / name)) not in known]

    def command(self, *args: str) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main(["--home", str(self.home), *args])
        return code, out.getvalue()

    def rollback(self) -> str:
        runs = history.runs_in_order(self.home / "lake")["run_id"].to_list()
        if not runs:
            return "rollback: no run"
        code, said = self.command("rollback", runs[-1])
        if code == 2 and "rebuilt from raw/" in said:   # no state before a rebuild from raw/ to return to
            return "rollback: refused after a rebuild from raw/"
        assert code == 0, said
        self.read = dict(self.read_after[runs[-2]]) if len(runs) > 1 else {}
        return f"rollback {runs[-1]}"

    def rebuild(self) -> str:
        from_raw = self.rng.random() < 0.5
        code, said = self.command("rebuild", *["--from-raw"] * from_raw)
        assert code == 0, said
        return f"rebuild{' --from-raw' * from_raw}"

    def maintain(self) -> str:
        code, said = self.command("maintain")
        assert code == 0, said
        return "maintain"

    def check(self) -> None:
        code, said = self.command("doctor")
        assert code == 0, said
        wrong = differing(warehouse_rows(self.home), lake_rows(self.home, names=[*TABLES, "runs"]))
        assert not wrong, f"warehouse tables that differ from the lake's: {wrong}"

    def check_against_one_shot(self) -> None:
        fresh = self.base / f"one-shot-{self.count}"
        for i, dump_id in enumerate(sorted(lake.read_table(self.home / "lake", "dumps")["dump_id"])):
            held = self.read[dump_id]
            write_dump(fresh / "inbox" / f"{i:03d}", held.name, held.data, held.captured)
        if not (fresh / "inbox").exists():
            assert all(frame.is_empty() for frame in lake_rows(self.home).values())
            return
        ingest(home=fresh / "home", inbox=fresh / "inbox", settle_seconds=0)
        wrong = differing(lake_rows(self.home, RUN_STAMPS), lake_rows(fresh / "home", RUN_STAMPS))
        assert not wrong, f"tables that differ from a one-shot ingest of the same dumps: {wrong}"


FILE_STEPS = ["add_snapshot", "add_snapshot", "add_copy", "add_empty", "delete", "touch"]
COMMANDS = ["run", "run", "run", "reprocess", "rollback", "rollback", "rebuild", "maintain"]


@pytest.mark.parametrize("seed", [3, 4])
def test_a_random_sequence_of_operations_keeps_the_homes_invariants(prefect_harness, tmp_path, sample_text, seed):
    sequence = Sequence(tmp_path, sample_text, seed)
    done = [sequence.add_snapshot(), sequence.run()]
    for _ in range(7):
        done += [getattr(sequence, step)() for step in sequence.rng.sample(FILE_STEPS, 2)]
        name = sequence.rng.choice(COMMANDS)
        done.append(sequence.run(reprocess=True) if name == "reprocess" else getattr(sequence, name)())
        try:
            sequence.check()
            if name in ("run", "rollback"):
                sequence.check_against_one_shot()
        except AssertionError as exc:
            raise AssertionError(f"after {done}: {exc}") from None

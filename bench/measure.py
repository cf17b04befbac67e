"""The pipeline measurements: each a series of real `profile-etl run` processes, run in rounds
(each round runs every kind once) so that a slow spell of a shared machine hits all kinds alike."""
from __future__ import annotations

import shutil
import statistics
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench import loadref
from bench.corpus import link_tree
from bench.runner import Run, run_etl, run_prefect_probe, run_python_start

NEW_FOLDER = "new-dumps"      # where add_new_dump links a new dump, inside an inbox
TRASH = ".trash"              # old folders wait here, in the scratch folder, until it is deleted at the end


@dataclass
class Measurement:
    """Runs of one kind; `dumps` and `nbytes` are the new data one run ingests."""
    name: str
    runs: list[Run] = field(default_factory=list)
    dumps: int = 0
    nbytes: int = 0
    note: str = ""

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def to_commit_seconds(self) -> float | None:
        values = [r.to_commit_seconds for r in self.runs if r.to_commit_seconds is not None]
        return statistics.median(values) if values else None

    @property
    def cpu_seconds(self) -> float | None:
        values = [r.cpu_seconds for r in self.runs if r.cpu_seconds is not None]
        return statistics.median(values) if values else None

    @property
    def machine_busy(self) -> float | None:
        values = [r.machine_busy for r in self.runs if r.machine_busy is not None]
        return statistics.median(values) if values else None

    @property
    def tree_rss_mb(self) -> float:
        return max(r.tree_rss_mb for r in self.runs)

    @property
    def main_rss_mb(self) -> float:
        return max(r.main_rss_mb for r in self.runs)

    def to_json(self) -> dict:
        return {"name": self.name, "repeats": len(self.runs), "median_seconds": self.seconds,
                "median_to_commit_seconds": self.to_commit_seconds, "median_cpu_seconds": self.cpu_seconds,
                "median_machine_busy": self.machine_busy, "dumps": self.dumps, "bytes": self.nbytes,
                "peak_tree_rss_mb": self.tree_rss_mb, "peak_main_rss_mb": self.main_rss_mb,
                "note": self.note, "runs": [r.to_json() for r in self.runs]}


def fresh(path: Path) -> Path:
    """An empty folder, in the scratch folder; an old one is set aside (see set_aside)."""
    set_aside(path, path.parent)
    path.mkdir(parents=True)
    return path


def set_aside(path: Path, scratch: Path) -> None:
    """Move a folder into scratch/.trash, deleted with the scratch folder at the end of the bench.
    Deleting it now would slow the next run: on an ext4 file system without a journal (this
    machine's), a new file skips every inode freed in the last 60 s (360 s while its inode table
    block is unwritten), looking each one up, so a run just after the harness deleted a home's
    thousands of files paid for that cleanup (perf: ext4 find_inode_bit -> recently_deleted, 5 % of
    the machine's samples). Scheduled runs don't follow the deletion of thousands of files."""
    if path.exists():
        trash = scratch / TRASH
        trash.mkdir(parents=True, exist_ok=True)
        path.rename(trash / uuid.uuid4().hex)


def expect_new(run: Run, dumps: int, what: str) -> Run:
    """The run ingested exactly the dumps it was given, or the numbers mean nothing."""
    got = run.summary.get("dumps_new")
    if got != dumps:
        raise RuntimeError(f"{what}: expected {dumps} new dumps, the run reported {got}: {run.summary}")
    return run


def warm_up(scratch: Path, env: dict) -> None:
    """Not measured: Prefect's database set-up on a new PREFECT_HOME, the OS file cache."""
    run_prefect_probe(env)
    run_etl(fresh(scratch / "warm-home"), fresh(scratch / "empty-inbox"), env)


def add_new_dump(inbox: Path, path: Path) -> None:
    """Link one new dump into inbox/NEW_FOLDER/ (a hard link: same bytes, same mtime)."""
    target = inbox / NEW_FOLDER
    target.mkdir(exist_ok=True)
    (target / path.name).hardlink_to(path)


def new_series(n: int, big: int | None, corpus_bytes: int, new_bytes: int, scale: int) -> dict[str, Measurement]:
    """The empty series, in the order they are printed."""
    m = {"full": Measurement("full ingest (empty home)", dumps=n, nbytes=corpus_bytes),
         "noop": Measurement("no-op rerun", note=f"{n} dumps seen"),
         "new_small": Measurement("1 new dump (small home)", dumps=1, nbytes=new_bytes)}
    if big is not None:
        m["new_big"] = Measurement(f"1 new dump ({scale}x home)", dumps=1, nbytes=new_bytes,
                                   note=f"home holds {big} dumps")
    m["fixed"] = Measurement("fixed cost (empty inbox)")
    m["prefect"] = Measurement("Prefect start (empty flow)",
                               note="python -m bench.prefect_probe: import prefect, temporary server, one empty flow")
    m["python"] = Measurement("python start")
    return m


def one_round(i: int, m: dict[str, Measurement], scratch: Path, main: Path, new: Path, env: dict,
              big: tuple[Path, Path] | None, load_alone: list[float]) -> None:
    """Round i runs each kind once, so a slow spell of the machine hits all kinds alike; after the
    full ingest, its lake is loaded alone into a new warehouse file (a reference)."""
    m["python"].runs.append(run_python_start(env))
    m["prefect"].runs.append(run_prefect_probe(env))
    empty = fresh(scratch / "empty-inbox")
    m["fixed"].runs.append(expect_new(run_etl(fresh(scratch / "fixed-home"), empty, env), 0, "fixed cost"))
    inbox, home = fresh(scratch / "inbox"), fresh(scratch / "home")
    link_tree(main, inbox)
    m["full"].runs.append(expect_new(run_etl(home, inbox, env), m["full"].dumps, "full ingest"))
    load_alone.append(loadref.timed_load(home / "lake", scratch))
    m["noop"].runs.append(expect_new(run_etl(home, inbox, env), 0, "no-op rerun"))
    add_new_dump(inbox, new)
    m["new_small"].runs.append(expect_new(run_etl(home, inbox, env), 1, "1 new dump, small home"))
    if big is not None:
        big_home, big_inbox = big
        add_new_dump(big_inbox, new)
        m["new_big"].runs.append(expect_new(run_etl(big_home, big_inbox, env), 1, "1 new dump, big home"))

"""The pipeline measurements: each a series of real processes, run in rounds (each round runs
every kind once, the modes in turn first) so that a slow spell of a shared machine hits all alike."""
from __future__ import annotations

import statistics
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.corpus import dump_files, link_tree
from bench.runner import Mode, Run, run_bare_flow, run_etl, run_import_prefect

NEW_FOLDER = "new-dumps"      # where add_new_dump links a new dump, inside an inbox
TRASH = ".trash"              # old folders wait here, in the scratch folder, until it is deleted at the end
IMPORT_PREFECT = "import_prefect"
BARE_FLOW = "served.bare_flow"
LABELS = {"served": "served", "temporary": "temporary server"}


@dataclass
class Measurement:
    """Runs of one kind; `dumps` and `nbytes` are the new data one run ingests."""
    name: str
    mode: str | None = None
    runs: list[Run] = field(default_factory=list)
    dumps: int = 0
    nbytes: int = 0
    note: str = ""

    def median(self, attr: str) -> float | None:
        values = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
        return statistics.median(values) if values else None

    @property
    def seconds(self) -> float:
        return self.median("seconds")

    @property
    def tree_rss_mb(self) -> float:
        return max(r.tree_rss_mb for r in self.runs)

    @property
    def main_rss_mb(self) -> float:
        return max(r.main_rss_mb for r in self.runs)

    def to_json(self) -> dict:
        medians = {f"median_{a}": self.median(a) for a in
                   ("seconds", "cpu_seconds", "server_cpu_seconds", "all_cpu_seconds", "machine_busy")}
        return {"name": self.name, "mode": self.mode, "repeats": len(self.runs), **medians, "dumps": self.dumps,
                "bytes": self.nbytes, "peak_tree_rss_mb": self.tree_rss_mb, "peak_main_rss_mb": self.main_rss_mb,
                "note": self.note, "runs": [r.to_json() for r in self.runs]}


def fresh(path: Path) -> Path:
    """An empty folder, in the scratch folder; an old one is set aside (see set_aside)."""
    set_aside(path, path.parent)
    path.mkdir(parents=True)
    return path


def set_aside(path: Path, scratch: Path) -> None:
    """Move a folder into scratch/.trash, deleted at the end: on this machine's journal-less ext4 a
    new file skips each inode freed in the last minutes, so deleting a home would slow the next run."""
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


def warm_up(scratch: Path, modes: list[Mode], main: Path) -> None:
    """Not measured: the corpus into the OS file cache, each mode's first run (a new Prefect
    database, the flow's registration), the interpreter's imports."""
    for path in dump_files(main):
        path.read_bytes()
    run_import_prefect(modes[0].env)
    for mode in modes:
        run_etl(fresh(scratch / "warm-home"), fresh(scratch / "empty-inbox"), mode)


def add_new_dump(inbox: Path, path: Path) -> None:
    """Link one new dump into inbox/NEW_FOLDER/ (a hard link: same bytes, same mtime)."""
    target = inbox / NEW_FOLDER
    target.mkdir(exist_ok=True)
    (target / path.name).hardlink_to(path)


def new_series(modes: list[str], n: int, corpus_bytes: int, new_bytes: int, big: int | None) -> dict[str, Measurement]:
    """The empty series, keyed `MODE.KIND`, in the order they are printed."""
    m: dict[str, Measurement] = {}
    for mode in modes:
        label = LABELS[mode]
        m[f"{mode}.empty"] = Measurement(f"{label}: empty run", mode, note="empty inbox, empty home")
        m[f"{mode}.full"] = Measurement(f"{label}: full ingest", mode, dumps=n, nbytes=corpus_bytes,
                                        note=f"{n} dumps into an empty home")
        m[f"{mode}.noop"] = Measurement(f"{label}: no-op rerun", mode, note=f"{n} dumps seen")
        if mode == "served":
            m["served.new_small"] = Measurement("served: 1 new dump, small home", mode, dumps=1, nbytes=new_bytes,
                                                note=f"home holds {n} dumps")
        if mode == "served" and big is not None:
            m["served.new_big"] = Measurement("served: 1 new dump, big home", mode, dumps=1, nbytes=new_bytes,
                                              note=f"home holds {big} dumps")
    m[IMPORT_PREFECT] = Measurement('python -c "import prefect"')
    if "served" in modes:
        m[BARE_FLOW] = Measurement("served: bare flow of the stack", "served", note="bench/bare_flow.py")
    return m


def one_round(i: int, m: dict[str, Measurement], scratch: Path, main: Path, new: Path, modes: list[Mode],
              big: tuple[Path, Path] | None) -> None:
    """Round i: `import prefect` and the bare flow, then each mode's runs, the modes in turn first."""
    m[IMPORT_PREFECT].runs.append(run_import_prefect(modes[0].env))
    if BARE_FLOW in m:
        m[BARE_FLOW].runs.append(run_bare_flow(next(mode for mode in modes if mode.name == "served")))
    for mode in modes[i % len(modes):] + modes[:i % len(modes)]:
        mode_round(m, mode, scratch, main, new, big)


def mode_round(m: dict[str, Measurement], mode: Mode, scratch: Path, main: Path, new: Path,
               big: tuple[Path, Path] | None) -> None:
    """An empty run, a full ingest into an empty home, a no-op rerun; and (if measured) 1 new dump
    into that home and into the big home."""
    def measure(kind: str, home: Path, inbox: Path, dumps: int) -> None:
        key = f"{mode.name}.{kind}"
        m[key].runs.append(expect_new(run_etl(home, inbox, mode), dumps, m[key].name))

    measure("empty", fresh(scratch / f"{mode.name}-empty-home"), fresh(scratch / "empty-inbox"), 0)
    inbox, home = fresh(scratch / f"{mode.name}-inbox"), fresh(scratch / f"{mode.name}-home")
    link_tree(main, inbox)
    measure("full", home, inbox, m[f"{mode.name}.full"].dumps)
    measure("noop", home, inbox, 0)
    if f"{mode.name}.new_small" in m:
        add_new_dump(inbox, new)
        measure("new_small", home, inbox, 1)
    if f"{mode.name}.new_big" in m and big is not None:
        big_home, big_inbox = big
        add_new_dump(big_inbox, new)
        measure("new_big", big_home, big_inbox, 1)

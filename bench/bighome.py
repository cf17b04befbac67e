"""The big home: the corpus plus (scale - 1) more corpora of N dumps, built once and cached.

It is built the way a home grows, one run per N dumps (chunk00 is the main corpus) in the mode
given (the bench uses the served one), and each build run is kept in build.json: it shows how a
full ingest of N dumps costs as the home grows.
A measurement works on a copy of the home (raw/ hard-linked: its files are written once) and
with the new dumps in a folder of the cached inbox that is removed afterwards, so the file index
keeps matching the inbox's paths.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path

from bench import corpus
from bench.measure import NEW_FOLDER, expect_new, set_aside
from bench.report import git_state
from bench.runner import Mode, run_etl

BUILD = "build.json"


def big_dir(workdir: Path, n: int, seed: int, scale: int) -> Path:
    return workdir / f"big-n{n}-s{seed}-x{scale}"


def chunk_source(workdir: Path, main: Path, n: int, seed: int, k: int) -> Path:
    return main if k == 0 else corpus.extra_chunk(workdir, n, seed, k)


def build(workdir: Path, main: Path, n: int, seed: int, scale: int, mode: Mode, log, rebuild: bool = False) -> dict:
    """Build (or find) the big home; returns the build record."""
    root = big_dir(workdir, n, seed, scale)
    if (root / BUILD).exists() and not rebuild:
        record = json.loads((root / BUILD).read_text())
        if record.get("git", {}).get("commit") != git_state()["commit"]:
            log(f"  note: the cached big home was built at commit {record.get('git', {}).get('commit')}; "
                "--rebuild-big-home builds it with this code")
        return record
    set_aside(root, workdir / "scratch")
    root.mkdir(parents=True)
    inbox, home, steps = root / "inbox", root / "home", []
    for k in range(scale):
        corpus.link_tree(chunk_source(workdir, main, n, seed, k), inbox / f"chunk{k:02d}")
        run = expect_new(run_etl(home, inbox, mode), n, f"big home build step {k}")
        steps.append(run.to_json())
        log(f"  big home: +{n} dumps into a home of {k * n}: {run.seconds:.1f} s ({mode.name}), "
            f"peak RSS {run.tree_rss_mb:.0f} MiB")
    # as the small home is measured: no-op runs after its build, so that the run before the measured
    # one was a no-op; two, as a build step's maintenance may have split a table's partitions, which
    # each warehouse file then catches up on once (the first reads the table whole, the second copies)
    settle = [expect_new(run_etl(home, inbox, mode), 0, "big home settling run") for _ in range(2)]
    log(f"  big home: no-op runs after the build: {', '.join(f'{r.seconds:.1f} s' for r in settle)} "
        "(catching the warehouse files up)")
    record = {"dumps": n * scale, "mode": mode.name, "bytes": corpus.size_of(corpus.dump_files(inbox)),
              "steps": steps, "settling_runs": [r.to_json() for r in settle],
              "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git": git_state()}
    (root / BUILD).write_text(json.dumps(record, default=str, indent=1))
    return record


def copy_home(source: Path, target: Path) -> Path:
    """A working copy: raw/ hard-linked (write-once files), everything else copied (the warehouse
    link as a link, so a run finds its idle file as it would in the home)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns("raw"))
    shutil.copytree(source / "raw", target / "raw", copy_function=_link)
    os.sync()  # the copy's own writes are flushed now, not by the measured run's commit (which syncs)
    return target


def _link(src: str, dst: str) -> None:
    Path(dst).hardlink_to(src)


@contextlib.contextmanager
def working_copy(workdir: Path, scratch: Path, n: int, seed: int, scale: int):
    """(home, inbox) to add new dumps to: a copy of the cached home, and the cached inbox whose
    NEW_FOLDER is removed afterwards (and before, if an interrupted bench left one)."""
    root = big_dir(workdir, n, seed, scale)
    inbox = root / "inbox"
    shutil.rmtree(inbox / NEW_FOLDER, ignore_errors=True)
    home = copy_home(root / "home", scratch / "big-home")
    try:
        yield home, inbox
    finally:
        shutil.rmtree(inbox / NEW_FOLDER, ignore_errors=True)   # hard links: no inode freed
        set_aside(home, scratch)

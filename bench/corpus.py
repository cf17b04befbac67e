"""Synthetic dumps for the benchmark, made with examples/dumpgen and cached on disk.

Layout under the work dir (all deterministic from N and the seed):

    corpus-n{N}-s{S}/inbox/        the N dumps of make_corpus(N, S)
    corpus-n{N}-s{S}/new/          later snapshots of some of those profiles: the "1 new dump" files
    corpus-n{N}-s{S}/chunkKK/      K-th extra corpus of N dumps (another seed), for the big home

A folder is complete when its `.done.json` exists; an incomplete one is written again.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path

from examples import dumpgen

REPO = Path(__file__).resolve().parent.parent
DONE = ".done.json"
NEW_DUMPS = 12          # snapshots kept in new/: enough for 6 repeats in each of two homes
PAST_MARGIN = dt.timedelta(days=1)


def corpus_dir(workdir: Path, n: int, seed: int) -> Path:
    return workdir / f"corpus-n{n}-s{seed}"


def past(when: dt.datetime) -> dt.datetime:
    """The capture time, or a day ago if it would be in the future (the settle rule would wait)."""
    latest = dt.datetime.now(dt.timezone.utc) - PAST_MARGIN
    return min(when, latest)


def write_files(folder: Path, files: list[tuple[str, str, dt.datetime]]) -> dict:
    """Write (name, text, capture time) files with their mtime set to the capture time."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    total = 0
    for name, text, when in files:
        path = folder / name
        data = text.encode("utf-8")
        path.write_bytes(data)
        stamp = int(past(when).timestamp()) * 1_000_000_000
        os.utime(path, ns=(stamp, stamp))
        total += len(data)
    info = {"files": len(files), "bytes": total}
    (folder / DONE).write_text(json.dumps(info))
    return info


def cached(folder: Path, build) -> dict:
    """The `.done.json` info of folder, building it first when missing."""
    done = folder / DONE
    if done.exists():
        return json.loads(done.read_text())
    return build()


def main_corpus(workdir: Path, n: int, seed: int) -> Path:
    """N dumps of make_corpus(N, seed), captured at capture_time(index)."""
    folder = corpus_dir(workdir, n, seed) / "inbox"

    def build() -> dict:
        pairs = dumpgen.make_corpus(n, seed)
        return write_files(folder, [(name, text, dumpgen.capture_time(i)) for i, (name, text) in enumerate(pairs)])

    cached(folder, build)
    return folder


def new_dumps(workdir: Path, n: int, seed: int) -> list[Path]:
    """Later snapshots of NEW_DUMPS profiles of the corpus: a known profile, 2 new papers on top."""
    folder = corpus_dir(workdir, n, seed) / "new"

    def build() -> dict:  # captured "a day ago": later than every corpus dump, never in the future
        when = dt.datetime.now(dt.timezone.utc)
        return write_files(folder, [(name, text, when) for name, text in dumpgen.make_snapshots(n, seed, count=NEW_DUMPS)])

    cached(folder, build)
    return sorted(folder.glob("*.txt"))


def extra_chunk(workdir: Path, n: int, seed: int, k: int) -> Path:
    """The k-th extra corpus of N dumps (k >= 1) for the big home, from its own seed."""
    folder = corpus_dir(workdir, n, seed) / f"chunk{k:02d}"

    def build() -> dict:
        pairs = dumpgen.make_corpus(n, f"bench {seed} chunk {k}")
        return write_files(folder, [(name, text, dumpgen.capture_time(i)) for i, (name, text) in enumerate(pairs)])

    cached(folder, build)
    return folder


def dump_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.txt"))


def size_of(files: list[Path]) -> int:
    return sum(p.stat().st_size for p in files)


def link_tree(source: Path, target: Path) -> None:
    """target/ gets hard links to the dump files of source/ (same inode, same mtime)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in dump_files(source):
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            os.link(path, dest)


def generate(workdir: Path, n: int, seed: int, chunks: int) -> None:
    """Everything the benchmark reads: the corpus, the new dumps, `chunks` extra corpora."""
    main_corpus(workdir, n, seed)
    new_dumps(workdir, n, seed)
    for k in range(1, chunks + 1):
        extra_chunk(workdir, n, seed, k)


if __name__ == "__main__":  # run by the bench in a child process, so its memory is not the bench's
    _, _workdir, _n, _seed, _chunks = sys.argv
    generate(Path(_workdir), int(_n), int(_seed), int(_chunks))

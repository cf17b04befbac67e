"""Write synthetic profile dumps (SPEC §2) to a folder: the generator is the `dumpgen` package beside
this script (its docstring says what a corpus holds).

    python examples/make_dumps.py OUT_DIR [--profiles N] [--seed S] [--entries E] [--snapshots [K]] [--sidecars]

The repository's example inbox is made with:

    python examples/make_dumps.py examples/inbox --profiles 6 --seed 7 --sidecars --snapshots
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

from dumpgen import SNAPSHOT_DEFAULT_COUNT, capture_time, make_corpus, render_dump
from dumpgen.corpus import file_name, public, snapshot_profiles


def _write(out_dir: Path, name: str, text: str, when: dt.datetime, sidecar: bool = False) -> Path:
    path = out_dir / name
    path.write_bytes(text.encode("utf-8"))
    stamp = int(when.timestamp()) * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))
    if sidecar:  # git doesn't keep mtimes: a sidecar keeps the capture time in a clone
        meta = {"captured_at": when.isoformat().replace("+00:00", "Z")}
        (out_dir / (name.removesuffix(".txt") + ".meta.json")).write_text(json.dumps(meta) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write synthetic profile dumps (SPEC §2) to OUT_DIR.")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    parser.add_argument("--profiles", type=int, default=6, help="number of profiles (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--entries", type=int, default=50, help="entries listed per profile (default 50)")
    parser.add_argument("--snapshots", type=int, nargs="?", const=SNAPSHOT_DEFAULT_COUNT, default=0, metavar="K",
                        help=f"also write a later snapshot of K profiles (K defaults to {SNAPSHOT_DEFAULT_COUNT})")
    parser.add_argument("--sidecars", action="store_true", help="write <stem>.meta.json with each capture time")
    args = parser.parse_args(argv)
    if args.profiles < 0 or args.entries < 1 or args.snapshots < 0:
        parser.error("--profiles and --snapshots must be >= 0, --entries >= 1")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index, (name, text) in enumerate(make_corpus(args.profiles, args.seed, args.entries)):
        written.append(_write(args.out_dir, name, text, capture_time(index), args.sidecars))
    if args.snapshots:
        snaps = snapshot_profiles(args.profiles, args.seed, args.entries, args.snapshots)
        for snap in snaps:
            written.append(_write(args.out_dir, file_name(snap["ordinal"], snap["key"]),
                                  render_dump(public(snap)), snap["captured_at"], args.sidecars))
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} files ({total:,} bytes) to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

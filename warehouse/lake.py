"""The Parquet lake: one folder per table under `<home>/lake/`, committed by a manifest.

A run writes its new files first, then replaces `_manifest.json` atomically: that replace is the
commit. Files the manifest doesn't name (superseded versions, leftovers of a crashed run) are
deleted after the commit and before the next run, so readers of the manifest never see them.

The lake may be an fsspec URL (`s3://bucket/lake`, see flows/storage.py). An object store has no
atomic rename, but a PUT is atomic: there the commit is the single PUT of `_manifest.json`, with the
same order (data files before it, unlisted files removed after it) and nothing to fsync.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl

from flows import storage
from flows.faults import checkpoint
from schemas.tables import TABLES, empty_frame

MANIFEST = "_manifest.json"
APPEND_TABLES = ("dumps", "profile_snapshots", "listings", "rejects")
REPLACE_TABLES = ("papers", "authors", "paper_authors", "profiles", "runs")


def read_manifest(lake: storage.Location) -> dict:
    path = lake / MANIFEST
    if not storage.exists(path):
        return {"version": 0, "tables": {name: [] for name in TABLES}}
    return json.loads(storage.read_bytes(path))


def table_files(lake: storage.Location, name: str, manifest: dict | None = None) -> list[storage.Location]:
    manifest = manifest or read_manifest(lake)
    return [lake / rel for rel in manifest["tables"].get(name, [])]


def read_table(lake: storage.Location, name: str, manifest: dict | None = None) -> pl.DataFrame:
    files = table_files(lake, name, manifest)
    if not files:
        return empty_frame(TABLES[name])
    return _read_parquet(files).select(empty_frame(TABLES[name]).columns)


def known_dump_ids(lake: storage.Location) -> set[str]:
    files = table_files(lake, "dumps")
    if files and storage.is_url(lake):
        return set(_read_parquet(files, ["dump_id"])["dump_id"])
    return set(pl.scan_parquet(files).select("dump_id").collect()["dump_id"]) if files else set()


def _read_parquet(files: list[storage.Location], columns: list[str] | None = None) -> pl.DataFrame:
    """Remote files are read through fsspec, so polars uses the same credentials as everything else."""
    if not files or not storage.is_url(files[0]):
        return pl.read_parquet(files, columns=columns)
    handles = [storage.open_read(f) for f in files]
    try:
        return pl.read_parquet(handles, columns=columns)
    finally:
        for handle in handles:
            handle.close()


def _write_parquet(frame: pl.DataFrame, target: storage.Location) -> None:
    if storage.is_url(target):  # the object appears when the handle closes; a failed write leaves
        # at most an object the manifest doesn't name, removed like any crashed run's leftovers
        with storage.filesystem(target).open(target, "wb") as handle:
            frame.write_parquet(handle, compression="zstd", statistics=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(target, compression="zstd", statistics=True)
    with open(target, "rb") as handle:
        os.fsync(handle.fileno())


def _write_manifest(lake: storage.Location, manifest: dict) -> None:
    if storage.is_url(lake):  # one PUT, atomic: the commit
        checkpoint("lake:manifest-written")
        storage.write_bytes(lake / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
        return
    tmp = lake / f".{MANIFEST}.tmp"
    with open(tmp, "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    checkpoint("lake:manifest-written")
    os.replace(tmp, lake / MANIFEST)
    fsync_dir(lake)


def fsync_dir(folder: Path) -> None:
    """Make a rename in folder durable before anything it supersedes is deleted."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(lake: Path, run_id: str, tables: dict[str, pl.DataFrame], rewrite: frozenset[str] = frozenset()) -> dict:
    """Write the run's files and commit them: append tables gain a file, replace tables (and the
    append tables named in `rewrite`, given whole) get a new one. If anything fails before the
    manifest is replaced, the files written so far are removed."""
    storage.makedirs(lake)
    manifest = read_manifest(lake)
    if manifest.get("run_id") == run_id:  # a retry after the commit went through
        remove_unlisted(lake, manifest)
        return manifest
    try:
        manifest = _write_version(lake, manifest, run_id, tables, rewrite)
    except Exception:
        remove_unlisted(lake)
        raise
    checkpoint("lake:committed")
    remove_unlisted(lake, manifest)
    checkpoint("lake:stale-removed")
    return manifest


def _write_version(lake: Path, manifest: dict, run_id: str, tables: dict[str, pl.DataFrame],
                   rewrite: frozenset[str]) -> dict:
    os.sync()  # what the run wrote before (the raw/ copies) is on disk before the lake names it
    files = {name: list(manifest["tables"].get(name, [])) for name in TABLES}
    for name, frame in tables.items():
        appended = name in APPEND_TABLES and name not in rewrite
        if appended and frame.is_empty():
            continue
        rel = f"{name}/{run_id}.parquet"
        _write_parquet(frame.select(empty_frame(TABLES[name]).columns), lake / rel)
        checkpoint(f"lake:file-written:{name}")
        files[name] = files[name] + [rel] if appended else [rel]
    manifest = {"version": manifest["version"] + 1, "run_id": run_id, "tables": files}
    _write_manifest(lake, manifest)
    return manifest


def remove_unlisted(lake: storage.Location, manifest: dict | None = None) -> list[storage.Location]:
    """Delete data files the manifest doesn't name: leftovers of superseded versions or crashed runs."""
    manifest = manifest or read_manifest(lake)
    listed = {lake / rel for rels in manifest["tables"].values() for rel in rels}
    stale = [p for p in _data_files(lake) if p not in listed]
    stale += [] if storage.is_url(lake) else list(lake.glob(f".{MANIFEST}.tmp"))
    for path in stale:
        storage.remove(path)
    return stale


def _data_files(lake: storage.Location) -> list[storage.Location]:
    """The `<table>/<file>.parquet` files of the lake, listed or not."""
    if not storage.is_url(lake):
        return list(lake.glob("*/*.parquet"))
    prefix = lake.rstrip("/") + "/"
    return [url for url, _, _ in storage.list_files(lake)
            if url.endswith(".parquet") and url.removeprefix(prefix).count("/") == 1]

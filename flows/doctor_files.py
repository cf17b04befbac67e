"""The files a home keeps beside the lake, checked for `profile-etl doctor`: raw/ copies against
their hashes and what names them, and the file index. No prefect."""
from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from pathlib import Path

import polars as pl

from core import identity
from core.validate import FILE_SCHEMA
from flows import discover, file_index
from flows.findings import Findings, Problem
from flows.rebuild import copied_dump_ids
from store import dump_file, raw_store, storage
from store.advice import command, doctor_repair
from store.errors import UserError
from store.settings import Settings
from warehouse import lake as lake_mod
from warehouse.lake_health import first_line


NO_DUMPS = pl.DataFrame(schema={"dump_id": pl.String, "source_path": pl.String, "reason": pl.String,
                                "byte_size": pl.Int64})


def held_dumps(settings: Settings) -> pl.DataFrame:
    return lake_mod.read_table(settings.lake, "dumps").select("dump_id", "source_path", "reason", "byte_size")


def check_raw(settings: Settings, held: pl.DataFrame | None, findings: Findings) -> None:
    """raw/ against the lake's dumps (`held`; None: the lake can't be read, which check_lake reports)."""
    dumps = NO_DUMPS if held is None else held
    metas = raw_store.raw_metas(settings.raw)
    check = raw_store.check_copies(settings.raw, copied_dump_ids(dumps), metas)
    damaged_copies(settings, check, copy_sources(settings, check, dumps, metas), findings)
    unheld = sorted(set(metas) - set(dumps["dump_id"]) - raw_store.dropped(settings.raw)
                    - set(check.why))
    read_whole = read_whole_since(settings.raw, unheld, set(dumps["dump_id"])) if held is not None else []
    if read_whole:
        findings.checked.append(f"raw/: {len(read_whole)} copies of .gz files refused unread ({some(read_whole)}) "
                                "whose text a later run loaded, as the lake shows: kept, as raw/ keeps every copy")
        unheld = [did for did in unheld if did not in read_whole]
    if unheld and held is not None:
        findings.notes.append(
            f"raw/ holds {len(unheld)} dumps the lake doesn't ({some(unheld)}), from a run that failed or died "
            "after copying them, or one rolled back: the next run loads those whose inbox files are still there, "
            f"{command(settings.lake, 'rebuild --from-raw', settings.home)} all but a rolled-back run's")
    unnamed = unnamed_copies(settings, set(dumps["dump_id"]), set(metas), findings)
    if not check.why and not unnamed:
        findings.checked.append(f"raw/: {check.copies} copies, each matching its hash, none missing")


def read_whole_since(raw_dir: Path, unheld: list[str], held: set[str]) -> list[str]:
    """The copies among `unheld` of .gz files refused unread (a .txt.gz copy) whose decompressed
    text is a dump the lake holds: a `run --reprocess` under a raised limit read them whole."""
    found = []
    for did in unheld:
        path = raw_store.raw_copy_path(raw_dir, did)
        if path is None or not path.name.endswith(".txt.gz"):
            continue
        try:
            with gzip.open(path, "rb") as text:
                text_id, _ = identity.stored_hashes(iter(lambda: text.read(1 << 20), b""), gz=False)
        except (OSError, EOFError, zlib.error):   # not a gzip stream: not accounted for so
            continue
        if text_id in held:
            found.append(did)
    return found


def copy_sources(settings: Settings, check: raw_store.RawCheck, dumps: pl.DataFrame,
                 metas: dict[str, dict]) -> dict[str, storage.Location]:
    """A file holding the bytes of each missing or corrupt copy: where the dump was read, else any
    file of the inbox (moved or renamed since)."""
    sources = inbox_sources(settings, dumps, metas)
    found = {did: path for did in check.why
             if (path := matching_file(sources.get(did, []), did, settings.max_dump_bytes)) is not None}
    lost = {did: size for did, size in dumps.select("dump_id", "byte_size").iter_rows()
            if did in check.why and did not in found}
    return found | found_in_inbox(settings, lost)


def damaged_copies(settings: Settings, check: raw_store.RawCheck, sources: dict[str, storage.Location],
                   findings: Findings) -> None:
    """Each missing or corrupt copy: copied again from an inbox file that holds its bytes, else unrecoverable."""
    for did, why in check.damaged().items():
        source = sources.get(did)
        if source is not None:
            findings.problems.append(Problem(why, f"copy it again from {identity.shown(str(source))}",
                                             fix=recopy(settings.raw, did, source, check.corrupt.get(did)),
                                             alike="raw/ copies missing or damaged, each found in an inbox file"))
        else:
            findings.unrecoverable.append(did)
            findings.problems.append(Problem(
                why + f" and no file in the inbox ({settings.inbox}) holds its bytes",
                f"the lake still holds its rows: put a file with its bytes back anywhere in the inbox (any name) and "
                f"run {doctor_repair(settings)}; without it, a lake rebuild needs "
                f"{command(settings.lake, f'rebuild --from-raw --drop {did[:16]}', settings.home)} "
                "(its dump leaves the lake)"))


def unnamed_copies(settings: Settings, held: set[str], named: set[str], findings: Findings) -> list[str]:
    """raw/ copies no meta file names: those the lake holds, and those nothing does; returns them all."""
    copies = set(raw_store.copies_in(settings.raw))
    if held_unnamed := sorted(copies & held - named):
        findings.problems.append(Problem(
            f"no raw/meta/ file names {len(held_unnamed)} raw/ copies the lake holds ({some(held_unnamed)}): a "
            "rebuild from raw/ would refuse to lose them",
            "restore raw/meta/ from a backup; the warehouse can still be rebuilt from the lake "
            f"({command(settings.lake, 'rebuild', settings.home)})"))
    unnamed = sorted(copies - named - held)
    if unnamed:
        findings.problems.append(Problem(
            f"raw/ holds {len(unnamed)} copies nothing names ({some(unnamed)}): a run died before writing their "
            "batch's meta file",
            "the next run that reads their inbox files names them; a rebuild from raw/ leaves them out"))
    return held_unnamed + unnamed


def some(dump_ids: list[str]) -> str:
    """The first few dump ids, shortened, for a message."""
    return ", ".join(d[:16] for d in dump_ids[:3]) + (" …" if len(dump_ids) > 3 else "")


def inbox_sources(settings: Settings, dumps: pl.DataFrame, metas: dict[str, dict]) -> dict[str, list[storage.Location]]:
    """Files that may hold each dump: where it was read (the lake, raw/meta/), where the file index saw
    it; local paths or object-store URLs."""
    index = file_index.read_file_index(settings.state)
    read_from = [(did, meta["source_path"]) for did, meta in metas.items()]
    rows = [*dumps.select("dump_id", "source_path").iter_rows(), *read_from, *index.select("dump_id", "path").iter_rows()]
    found: dict[str, list[storage.Location]] = {}
    for did, path in rows:
        if did and path and (loc := storage.location(path)) not in found.setdefault(did, []):
            found[did].append(loc)
    return found


def found_in_inbox(settings: Settings, lost: dict[str, int]) -> dict[str, Path]:
    """Local inbox files holding the bytes of lost copies (dump id -> its size), wherever they now
    lie: only files of a lost copy's size (or gzipped) are read."""
    if not lost or storage.is_url(settings.inbox) or not settings.inbox.is_dir():
        return {}
    sizes, found = set(lost.values()), {}
    try:
        listed = discover.scan_inbox(settings.inbox, 0, home_folders=settings.home_folders).found
    except UserError:   # an inbox that can't be listed restores nothing; doctor names the copies lost
        return {}
    for path, size, _ in listed:
        if size in sizes or path.endswith(".gz"):
            try:
                did = dump_file.read_dump(Path(path), settings.max_dump_bytes).dump_id
            except (dump_file.Unreadable, OSError):
                continue
            if did in lost:
                found.setdefault(did, Path(path))
    return found


def matching_file(paths: list[storage.Location], did: str, max_bytes: int) -> storage.Location | None:
    for path in paths:
        try:
            present = storage.exists(path) if storage.is_url(path) else path.is_file()
            if present and dump_file.read_dump(path, max_bytes).dump_id == did:
                return path
        except (dump_file.Unreadable, OSError):   # a store that can't be reached: no source there
            continue
    return None


def recopy(raw_dir: Path, did: str, source: Path, corrupt: Path | None) -> Callable[[], str]:
    def fix() -> str:
        if corrupt is not None:
            raw_store.set_aside(raw_dir, corrupt)
        raw_store.store_raw(raw_dir, source, dump_file.read_dump(source, 1 << 62))
        return f"copied {did[:16]} again from {source}" + (" (the corrupt copy is in raw/damaged/)" if corrupt else "")
    return fix


def check_file_index(settings: Settings, findings: Findings) -> None:
    path = settings.state / file_index.FILE_INDEX
    if not path.exists():
        return
    try:
        rows = pl.read_parquet(path).height
    except (pl.exceptions.PolarsError, OSError) as exc:
        findings.problems.append(Problem(f"the file index {path} can't be read ({first_line(exc)})",
                                         "make it again from the lake and raw/ (the damaged one is kept aside)",
                                         fix=lambda: rebuild_file_index(settings)))
        return
    findings.checked.append(f"file index: {rows} files")


def rebuild_file_index(settings: Settings) -> str:
    """Move the damaged index aside, and index again each file still holding the bytes of a dump
    the lake holds (where it was read from, by the lake and raw/meta/): read, not trusted."""
    file_index.index_for_run(settings.state)
    try:
        dumps = held_dumps(settings)
    except Exception:
        dumps = NO_DUMPS
    held, rows = set(dumps["dump_id"]), []
    for did, paths in inbox_sources(settings, dumps, raw_store.raw_metas(settings.raw)).items():
        if did in held and (path := matching_file(paths, did, settings.max_dump_bytes)) is not None:
            size, mtime_ns = storage.stat(path)   # as a listing gives them: an object's time in whole seconds
            rows.append({"path": identity.printable(str(path)), "size": size, "mtime_ns": mtime_ns, "dump_id": did})
    file_index.add_to_file_index(settings.state, [pl.DataFrame(rows, schema=FILE_SCHEMA)])
    return (f"made the file index again from the lake and raw/ ({len(rows)} files, each read to check its bytes); "
            "the damaged one is state/files.parquet.damaged-*")

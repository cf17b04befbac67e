"""`profile-etl validate FILE…`: files judged as a run would judge them, without loading them."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from core import identity
from core.records import Batch, SourceFile
from core.validate import to_frames
from flows.batch import transform
from flows.discover import is_dump_name
from schemas.tables import MERGED_TABLES, TABLES, empty_frame
from store import extract, storage


@dataclass
class Verdicts:
    problems: list[str] = field(default_factory=list)   # line-numbered, and a status line per dump file
    invalid: int = 0
    skipped: int = 0                                     # files a run wouldn't read as dumps
    not_files: int = 0                                   # folders and paths that don't exist


def validate_files(paths: list[Path], max_bytes: int, key_pattern: re.Pattern = identity.DEFAULT_KEY,
                   held: frozenset[str] = frozenset()) -> Verdicts:
    """Line-numbered problems of each file, as a run would judge it, and how many files are invalid.
    A dump the home holds already (held: its dump ids) is said so: a run would skip it."""
    found = Verdicts()
    for path in paths:
        if not path.is_file():
            found.problems.append(f"{path}: " + ("a folder: pass its files (e.g. FOLDER/*.txt)" if path.is_dir()
                                                 else "no such file"))
            found.not_files += 1
        elif not is_dump_name(path.name):
            found.problems.append(f"{path}: skipped, not a dump (a run reads *.txt and *.txt.gz files; a sidecar is "
                                  "read with its dump)")
            found.skipped += 1
        else:
            found.invalid += not judge_dump(path, max_bytes, key_pattern, held, found.problems)
    return found


def judge_dump(path: Path, max_bytes: int, key_pattern: re.Pattern, held: frozenset[str], problems: list[str]) -> bool:
    """Whether the dump file loads whole; its problems, and then its status line, go to problems."""
    batch = Batch()
    stamp = {"run_id": "validate", "ingested_at": dt.datetime.now(dt.timezone.utc)}
    extract.extract_one(batch, SourceFile(path, *storage.stat(path)), set(), None, max_bytes, stamp,
                        key_pattern=key_pattern)
    if batch.unread:
        problems.append(f"can't read {batch.unread[0]}")
        return False
    tables = transform([to_frames(batch)], {name: empty_frame(TABLES[name]) for name in MERGED_TABLES})
    dump = tables["dumps"].row(0, named=True)
    for reject in tables["rejects"].iter_rows(named=True):
        where = f"{path}:{reject['line_no']}" if reject["line_no"] else f"{path}"
        entry = f" (entry {reject['entry_index']})" if reject["entry_index"] else ""
        problems.append(f"{where}: {reject['reason']}{entry}")
    problems.extend(identity.unread_keys_note(side, keys) for side, keys in batch.unread_keys)
    problems.append(f"{path}: {dump['status']}, {dump['entries_loaded']} of {dump['entries_found']} entries valid"
                    + ("; the home holds this dump already, so a run skips it" if dump["dump_id"] in held else ""))
    return dump["status"] == "loaded"


def held_dump_ids(lake_dir: storage.Location) -> frozenset[str]:
    """The dump ids of the home's lake as its last run committed it (a run that died between its
    commits left dumps the next run's recovery removes); none where there is no lake, or none
    readable (validate needs no home)."""
    from warehouse import lake, recovery
    try:   # a lake missing a table (or none at all) fails here too: it holds no committed dump
        return frozenset(lake.known_dump_ids(lake_dir, recovery.target_versions(lake_dir)["dumps"]))
    except Exception:
        return frozenset()

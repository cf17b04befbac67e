"""Is the lake whole? Each table's log must open, and every data file it lists must be there with a
readable Parquet footer. A run, a rebuild or `doctor` that meets a damaged lake names the damage
and the repair (`rebuild --from-raw`: raw/ is the source of truth) instead of a traceback."""
from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from schemas.tables import TABLES
from store import storage
from store.advice import command
from store.errors import UserError
from warehouse import lake as lake_mod
from warehouse import lake_files


def first_line(exc: Exception) -> str:
    """delta-rs errors carry a native backtrace after their first line, and object_store's terminal
    colours within it."""
    return re.sub(r"\x1b\[[0-9;]*m", "", (str(exc).strip().splitlines() or [type(exc).__name__])[0])


ACTIONS = {"commitInfo", "add", "remove", "metaData", "protocol", "txn", "cdc", "domainMetadata",
           "checkpointMetadata", "sidecar"}   # a Delta log line is an object with one of these keys


def log_problems(lake: storage.Location, name: str) -> list[str]:
    """Commits since the last checkpoint that aren't Delta actions (say `{}`, or a file cut short):
    delta-rs reads `{}` as a commit that did nothing, and the rows of that commit silently vanish."""
    log = lake / name / "_delta_log"
    names = log_names(log)
    since = checkpointed_version(log) if "_last_checkpoint" in names else -1
    commits = sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit() and int(n[:-5]) > since)
    files = [log / f"{version:020d}.json" for version in commits]
    bad = [path.name for path, whole in zip(files, commits_whole(log, files)) if not whole]
    first = since + 1 if since >= 0 else commits[0] if commits else 0   # no checkpoint: from the oldest kept
    gaps = sorted(set(range(first, commits[-1])) - set(commits)) if commits else []
    return ([f"lake table {name}: its log (_delta_log/{file}) isn't a Delta commit" for file in bad]
            + [f"lake table {name}: its log lacks commit {version} (_delta_log/{version:020d}.json)" for version in gaps])


def commits_whole(log: storage.Location, files: list) -> list[bool]:
    if not storage.is_url(log):
        return [is_commit(path) for path in files]
    with ThreadPoolExecutor(8) as pool:   # each a GET
        return list(pool.map(is_commit, files))


def log_names(log: storage.Location) -> set[str]:
    """The file names of a table's log folder (none if there is no log)."""
    if storage.is_url(log):
        return {name for name in object_names(log) if "/" not in name}
    return {path.name for path in log.iterdir()} if log.is_dir() else set()


def object_names(folder: storage.Url) -> set[str]:
    """The names of the objects under a prefix, relative to it (whatever the scheme names the store:
    s3fs lists an s3a:// lake as s3://)."""
    prefix = without_scheme(folder).rstrip("/") + "/"
    return {without_scheme(url)[len(prefix):] for url, _, _ in storage.list_files(folder)}


def without_scheme(url: str) -> str:
    return url.split("://", 1)[1]


def checkpointed_version(log: storage.Location) -> int:
    try:
        return int(json.loads(storage.read_bytes(log / "_last_checkpoint"))["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1


def is_commit(path: storage.Location) -> bool:
    try:
        text = storage.read_bytes(path).decode("utf-8")
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (OSError, ValueError):
        return False
    return bool(lines) and all(isinstance(line, dict) and len(line) == 1 and next(iter(line)) in ACTIONS
                               for line in lines)


def table_problems(lake: storage.Location, name: str) -> list[str]:
    """What is wrong with one table (a missing table is ensure_tables' business, not damage)."""
    if problems := log_problems(lake, name):
        return problems
    try:
        table = DeltaTable(lake_mod.table_uri(lake, name), storage_options=storage.object_store_options(lake))
    except TableNotFoundError:
        return []
    except Exception as exc:
        refuse_unreachable(lake, exc)
        return [f"lake table {name}: its log ({name}/_delta_log) can't be read: {first_line(exc)}"]
    if storage.is_url(lake):
        return missing_objects(lake, name, table)
    import pyarrow.parquet as pq   # here: a run that finds no damage never needs it, nor pyarrow's filesystems

    problems = []
    for uri in lake_files.local_files(table):
        relative = Path(uri).relative_to(Path(lake).resolve()) if Path(uri).is_absolute() else uri
        try:
            pq.read_metadata(uri)
        except FileNotFoundError:
            problems.append(f"lake table {name}: {relative} is in its log but missing")
        except Exception as exc:
            problems.append(f"lake table {name}: {relative} can't be read: {first_line(exc)}")
    return problems


def refuse_unreachable(lake: storage.Location, exc: Exception) -> None:
    """A lake on object storage that s3fs reads and delta-rs can't reach (plain http not allowed, keys
    it doesn't find) is no damaged lake: a rebuild from raw/ would fail the same way."""
    if storage.is_url(lake) and "Generic S3 error" in str(exc):
        cause = re.sub(r"\x1b\[[0-9;]*m|↳", "", str(exc)).strip().splitlines()[-1].strip()   # delta-rs's innermost
        raise UserError(f"delta-rs can't reach the lake at {lake} ({first_line(exc)}: {cause}): check the AWS_* "
                        "variables (the keys; AWS_ALLOW_HTTP for an http:// endpoint). Nothing was changed") from None


def missing_objects(lake: storage.Url, name: str, table: DeltaTable) -> list[str]:
    """On an object store, the data files the log lists that the table's prefix lacks (one listing;
    their footers are read when a load reads them)."""
    return [f"lake table {name}: {name}/{relative} is in its log but missing"
            for relative in absent_objects(lake, name, table)]


def absent_objects(lake: storage.Url, name: str, table: DeltaTable) -> list[str]:
    """The table's data files (relative to its prefix) that its log lists and the object store lacks."""
    present, prefix = object_names(lake / name), without_scheme(lake / name) + "/"
    return [relative for relative in (without_scheme(uri)[len(prefix):] for uri in table.file_uris())
            if relative not in present]


def missing_files(lake: storage.Location, name: str, version: int) -> list[str]:
    """The names of the data files version `version` of a table lists that are gone (vacuumed since)."""
    table = lake_mod.open_table(lake, name, version, own=True)
    if storage.is_url(lake):
        return [relative.rsplit("/", 1)[-1] for relative in absent_objects(lake, name, table)]
    return [Path(path).name for path in lake_files.local_files(table) if not Path(path).exists()]


def lake_problems(lake: storage.Location) -> list[str]:
    return [problem for name in TABLES for problem in table_problems(lake, name)]


def repair(lake: storage.Location, home: Path | None = None) -> str:
    return (f"raw/ holds every dump: {command(lake, 'rebuild --from-raw', home)} makes the lake and the warehouse "
            f"again from it ({command(lake, 'doctor', home)} checks the whole home first)")


def refuse_damaged_logs(lake: storage.Location, doing: str = "the run", home: Path | None = None) -> None:
    """Before a run or a rebuild reads the lake: a commit that isn't one would hide rows (log_problems)."""
    if problems := [problem for name in TABLES for problem in log_problems(lake, name)]:
        raise UserError(f"{doing} stopped: the lake at {lake} is damaged ({'; '.join(problems[:3])}). Nothing was "
                        f"changed. {repair(lake, home)}")


def refuse_damaged(lake: storage.Location, doing: str, home: Path | None = None) -> None:
    """After a failure: if the lake is damaged, say so (a UserError) instead of the failure's own text."""
    try:
        problems = lake_problems(lake)
    except UserError:
        raise
    except Exception:
        return   # the lake can't even be listed: the original failure says more
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise UserError(f"{doing} stopped: the lake at {lake} is damaged ({shown}). Nothing was published. "
                        f"{repair(lake, home)}")

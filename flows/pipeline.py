"""The ingestion flow: wires tasks, each a thin wrapper named after the function it calls.

Tasks take batches of files (a task costs ~10 ms); only tasks that do I/O retry.
"""

import datetime as dt
import uuid
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows import artifact, discover, extract, stages
from flows.artifact import ARTIFACT_KEY
from flows.faults import checkpoint
from flows.lock import run_lock
from flows.progress import Progress
from flows.validate import RawFrames
from flows.normalise import MUTABLE_TABLES
from flows.settings import Settings, UserError
from warehouse import lake, load

def is_io_error(task, task_run, state) -> bool:
    """Retry only failures that a second try may fix: I/O errors, not bugs or bad data."""
    return isinstance(state.data, OSError)


IO_TASK = {"retries": 2, "retry_delay_seconds": [1, 5], "retry_condition_fn": is_io_error, "cache_policy": NO_CACHE,
           "persist_result": False}
CPU_TASK = {"cache_policy": NO_CACHE, "persist_result": False}
DEFAULTS = Settings()


class KnownDumps:
    """The dump ids already loaded, wrapped so Prefect passes the set without walking it."""

    def __init__(self, ids: set[str]):
        self.ids = ids


@task(**IO_TASK)
def scan_inbox(inbox: Path, settle_seconds: float) -> discover.Inbox:
    return discover.scan_inbox(inbox, settle_seconds)


@task(**IO_TASK)
def read_lake_state(settings: Settings) -> tuple[set[str], dict]:
    lake.remove_unlisted(settings.lake)
    return lake.known_dump_ids(settings.lake), discover.read_file_index(settings.state)


@task(**IO_TASK)
def extract_frames(sources: list[extract.SourceFile], known: KnownDumps, settings: Settings, stamp: dict) -> RawFrames:
    return stages.extract_frames(sources, known.ids, settings.raw, settings.max_dump_bytes, stamp)


@task(**IO_TASK)
def read_current_tables(lake_dir: Path, new_data: bool, reprocess: bool) -> dict[str, pl.DataFrame]:
    """The tables this run merges into: runs always, the mutable ones only when there is new data."""
    names = ("runs", *(MUTABLE_TABLES if new_data else ()), *(stages.REPROCESSED_TABLES if reprocess else ()))
    return {name: lake.read_table(lake_dir, name) for name in names}


@task(**IO_TASK)
def quarantined_sources(lake_dir: Path, raw_dir: Path, max_bytes: int) -> dict[str, extract.SourceFile]:
    return discover.quarantined_sources(lake.read_table(lake_dir, "dumps"), raw_dir, max_bytes)


@task(**CPU_TASK)
def transform(parts: list[RawFrames], current: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return stages.transform(parts, current)


@task(**IO_TASK)
def commit_lake(lake_dir: Path, run_id: str, tables: dict[str, pl.DataFrame], rewrite: frozenset[str]) -> dict:
    return lake.commit(lake_dir, run_id, tables, rewrite)


@task(**IO_TASK)
def write_file_index(state: Path, index: dict) -> None:
    discover.write_file_index(state, index)


@task(**IO_TASK)
def publish_warehouse(warehouse: Path, lake_dir: Path) -> int:
    return load.publish(warehouse, lake_dir)


def new_run_id(started_at: dt.datetime) -> str:
    return f"{started_at:%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex[:8]}"


@flow(name="profile-etl-ingest", log_prints=False)
def ingest(home: Path = DEFAULTS.home, inbox: Path | str | None = None, batch_size: int = DEFAULTS.batch_size,
           settle_seconds: float = DEFAULTS.settle_seconds, max_dump_bytes: int = DEFAULTS.max_dump_bytes,
           lock_wait_seconds: float = DEFAULTS.lock_wait_seconds, reprocess: bool = False,
           lake: str | None = None) -> dict:
    """One ingestion run: new dumps of the inbox into the lake and the warehouse; with reprocess,
    quarantined dumps are read again (after a parser fix, a fixed sidecar, a higher size limit).
    inbox and lake may be fsspec URLs (s3://bucket/inbox); `str` keeps a URL's `//` intact."""
    settings = Settings.load(home=home, inbox=inbox, batch_size=batch_size, settle_seconds=settle_seconds,
                             max_dump_bytes=max_dump_bytes, lock_wait_seconds=lock_wait_seconds, lake=lake)
    with run_lock(settings.home, settings.lock_wait_seconds):
        started_at = dt.datetime.now(dt.timezone.utc)
        run_id = new_run_id(started_at)
        try:
            return ingest_new_dumps(settings, run_id, started_at, reprocess)
        except Exception:
            record_failed_run(settings, run_id, started_at)
            raise


def ingest_new_dumps(settings: Settings, run_id: str, started_at: dt.datetime, reprocess: bool) -> dict:
    found = scan_inbox(settings.inbox, settings.settle_seconds)
    known, index = read_lake_state(settings)
    checkpoint("scan:done")
    todo = discover.unrecognised(found.ready, index, known)
    retry = quarantined_sources(settings.lake, settings.raw, settings.max_dump_bytes) if reprocess else {}
    log_plan(run_id, found, todo, retry, settings.settle_seconds)
    parts = extract_all(todo + list(retry.values()), known - set(retry), settings,
                        {"run_id": run_id, "ingested_at": started_at})
    new_data = any(p.dumps.height for p in parts)
    current = read_current_tables(settings.lake, new_data, bool(retry))
    tables = transform(parts, current) if new_data else {}
    new_dumps = tables.get("dumps", pl.DataFrame(schema={"status": pl.String}))
    tables = stages.replace_reprocessed(current, tables, set(retry)) if retry else tables
    row = stages.run_row(run_id, started_at, "completed", len(found.ready), new_dumps)
    tables["runs"] = stages.append_run(current["runs"], row)
    commit_lake(settings.lake, run_id, tables, stages.REPROCESSED_TABLES if retry else frozenset())
    index.update({(path, size, mtime): did for p in parts for path, size, mtime, did in p.files.iter_rows()})
    write_file_index(settings.state, index)
    checkpoint("index:written")
    publish_warehouse(settings.warehouse, settings.lake)
    summary = row | {"waiting": len(found.waiting), "files_read": len(todo) + len(retry), "reprocessed": len(retry),
                     "bytes_new": sum(p.dumps["byte_size"].sum() for p in parts),
                     "rows_added": stages.rows_added(current, tables)}
    get_run_logger().info("run %s: %s", run_id, stages.describe(summary))
    publish_summary(summary, new_dumps)
    return summary


def log_plan(run_id: str, found: discover.Inbox, todo: list, retry: dict, settle_seconds: float) -> None:
    logger = get_run_logger()
    logger.info("run %s: %d dump files ready, %d to read, %d quarantined dumps to retry, %d still being written",
                run_id, len(found.ready), len(todo), len(retry), len(found.waiting))
    for path in found.waiting:
        logger.debug("skipped %s: still being written (a temporary name, or modified in the last %g s)",
                     path, settle_seconds)
    logger.debug("skipped %d files recognised by (path, size, mtime) as already ingested", len(found.ready) - len(todo))


def extract_all(sources: list[extract.SourceFile], known: set[str], settings: Settings, stamp: dict) -> list[RawFrames]:
    """Extract tasks over batches of files, with progress as they finish."""
    progress = Progress(len(sources), sum(f.size for f in sources))
    futures = [extract_frames.submit(batch, KnownDumps(known), settings, stamp)
               for batch in stages.chunks(sources, settings.batch_size)]
    parts = [progress.advance(future.result()) for future in futures]
    checkpoint("extract:all-done")
    return parts


def publish_summary(summary: dict, new_dumps: pl.DataFrame) -> None:
    create_markdown_artifact(key=ARTIFACT_KEY, markdown=artifact.summary_markdown(summary, new_dumps),
                             description=stages.describe(summary))


def record_failed_run(settings: Settings, run_id: str, started_at: dt.datetime) -> None:
    """A failed run leaves the data as it was and a `failed` runs row, unless its data had committed."""
    if lake.read_manifest(settings.lake).get("run_id") == run_id:
        return
    try:
        runs = lake.read_table(settings.lake, "runs")
        row = stages.run_row(run_id, started_at, "failed", 0, pl.DataFrame(schema={"status": pl.String}))
        lake.commit(settings.lake, run_id, {"runs": stages.append_run(runs, row)})
        load.publish(settings.warehouse, settings.lake)
    except Exception as exc:  # the original failure is what the caller must see
        get_run_logger().error("could not record failed run %s: %s", run_id, exc)


def ingest_flow(dask_address: str | None = None):
    """The ingest flow for one run: extract tasks on the Dask cluster at dask_address, or in
    local threads. Only `.submit`ted tasks (extract) go to the runner; the rest run in the flow."""
    if not dask_address:
        return ingest
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise UserError("--dask-address needs prefect-dask: pip install 'profile-etl[dask]'") from None
    return ingest.with_options(task_runner=DaskTaskRunner(address=dask_address))

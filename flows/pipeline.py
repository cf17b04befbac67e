"""The ingestion flow: wires tasks, each a thin wrapper named after the function it calls.

Tasks take batches of files, since each task run has a fixed cost; only tasks that do I/O retry.
"""

import contextlib
import datetime as dt
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import polars as pl
from deltalake.exceptions import CommitFailedError
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.exceptions import ExternalSignal
from prefect.settings import get_current_settings
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from core.records import SourceFile
from flows import (appends, batch, cancel_watch, dead_serve, discover, file_index, integrity, merge, reprocess,
                   run_report, runs)
from flows.cluster import ClusterWatch
from flows.progress import Progress
from flows.rebuild import restore_interrupted_rebuild
from flows.reprocess import read_as_other
from schemas.tables import APPEND_TABLES, OBSERVED_TABLES, TABLES, empty_frame
from store import storage
from store.errors import UserError
from store.faults import checkpoint
from store.home_id import home_id
from store.scratch import WORK
from store.lock import flow_run_of, run_lock
from store.settings import Settings
from warehouse import lake, lake_health, maintenance, publish, recovery
from warehouse.opened import reusing_tables


def is_io_error(task, task_run, state) -> bool:
    """Retry only failures that a second try may fix: I/O errors, and a commit that another engine's
    (a compaction, say) came between its read and its write, which a retry reads again; not bugs or bad data."""
    return isinstance(state.data, (OSError, CommitFailedError))


# The summary of the last run this process completed (published): a caller whose flow call then failed
# in Prefect's own bookkeeping (its API gone at the run's end) still learns the run completed.
COMPLETED_HERE: deque[dict] = deque(maxlen=1)

IO_TASK = {"retries": 2, "retry_delay_seconds": [1, 5], "retry_condition_fn": is_io_error, "cache_policy": NO_CACHE,
           "persist_result": False}


@task(**IO_TASK)
def plan_run(inbox: Path, lake_dir: Path, state: Path, settle_seconds: float,
             listed: discover.Inbox | None = None, home_folders: tuple[Path, ...] = ()) -> discover.Plan:
    return discover.plan_run(inbox, lake_dir, state, settle_seconds, listed, home_folders)


# Named for what each reads and merges: a run's task runs otherwise differ only by a random suffix in Prefect's UI.
@task(**IO_TASK, task_run_name="process_batch-{job.label}")
def process_batch(job: batch.BatchJob) -> batch.BatchResult:
    result = batch.process_batch(job)
    get_run_logger().info("batch %d: %d files read, %s", job.index, result.files.height, batch.describe(result))
    return result


@task(**IO_TASK)
def prepare_lake(settings: Settings) -> tuple[int, discover.Inbox | None]:
    """The lake recovered, and the inbox listed meanwhile (a thread: mostly stat calls) for plan_run;
    a listing that failed is left to plan_run, which lists again and reports it."""
    with ThreadPoolExecutor(1) as pool:
        listing = pool.submit(discover.scan_inbox, settings.inbox, settings.settle_seconds, None, settings.home_folders)
        restore_interrupted_rebuild(settings.lake)
        lake_health.refuse_damaged_logs(settings.lake, home=settings.home)
        seq = recovery.recover(settings.lake, integrity.lake_guard(settings), settings.home)
        return seq, None if listing.exception() else listing.result()


@task(**IO_TASK)
def quarantined_sources(lake_dir: Path, raw_dir: Path, max_bytes: int, state: Path) -> dict[str, SourceFile]:
    return reprocess.quarantined_sources(lake.read_table(lake_dir, "dumps"), raw_dir, max_bytes,
                                        file_index.read_file_index(state))


@task(**IO_TASK)
def commit_appends(lake_dir: Path, seq: int, run_id: str, scratch: dict[str, list[Path]], retried: set[str],
                   read_as_other: set[str] = frozenset()) -> appends.Committed:
    return appends.commit_appends(lake_dir, seq, run_id, scratch, retried, read_as_other)


@task(**IO_TASK, task_run_name="merge_table-{job.table}")
def merge_table(job: merge.TableMerge) -> dict[str, int]:
    return merge.merge_table(job)


@task(**IO_TASK)
def commit_run(settings: Settings, row: dict, seq: int) -> dict[str, int]:
    storage.flush_to_disk(settings.raw, settings.lake)   # what the runs row names is on disk first
    return lake.commit_run(settings.lake, row, seq)


@task(**IO_TASK)
def add_to_file_index(state: Path, files: list[pl.DataFrame], listed: tuple[storage.Location, pl.DataFrame],
                      raw: storage.Location) -> None:
    file_index.add_to_file_index(state, files, listed, raw)


@task(**IO_TASK)
def maintain_lake(lake_dir: Path, max_files: int, progress: Progress | None = None) -> None:
    if max_files and maintenance.maintenance_due(lake_dir, max_files):
        if progress:
            progress.stage("published; compacting the lake (its tables are due, docs/lake.md)")
        get_run_logger().info("compacting the lake: %s", maintenance.describe_maintenance(maintenance.maintain(lake_dir)))


@task(**IO_TASK)
def publish_warehouse(warehouse: Path, lake_dir: Path) -> int:
    return publish.publish(warehouse, lake_dir)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# A thread per core for batches and merges: their heavy parts (polars, I/O) release the GIL, and a
# worker process would first pay to import polars and pandera (docs/benchmarks.md).
# retries=0: a Prefect profile's PREFECT_FLOWS_DEFAULT_RETRIES would run the flow again after a failure, each
# try a failed run of its own (README: other failures than I/O fail the run at once)
@flow(name="profile-etl-ingest", log_prints=False, retries=0, task_runner=ThreadPoolTaskRunner(max_workers=cores()),
      on_completion=[run_report.print_deployment_result], on_failure=[run_report.print_deployment_result],
      on_crashed=[run_report.print_deployment_result], on_cancellation=[run_report.print_deployment_result])
def ingest(home: Path | None = None, inbox: Path | str | None = None, batch_size: int | None = None,
           settle_seconds: float | None = None, max_dump_bytes: int | None = None,
           lock_wait_seconds: float | None = None, reprocess: bool = False, lake: str | None = None) -> dict:
    """One ingestion run: new dumps of the inbox into the lake and the warehouse; with reprocess,
    quarantined dumps are read again (after a parser fix, a fixed sidecar, a higher size limit).
    inbox and lake may be fsspec URLs (s3://bucket/inbox); `str` keeps a URL's `//` intact.
    A parameter left None comes from PROFILE_ETL_* in the run's environment, then the default."""
    settings = Settings.load(home=home, inbox=inbox, batch_size=batch_size, settle_seconds=settle_seconds,
                             max_dump_bytes=max_dump_bytes, lock_wait_seconds=lock_wait_seconds, lake=lake)
    if unattended := FlowRunContext.get().flow_run.deployment_id is not None:   # a home moved away isn't made anew
        settings.refuse_gone_home("deployment")
        home_id(settings.home)   # a new home's, before the run writes what makes a home look made before ids
    if not storage.reachable(settings.inbox):   # an unmounted share must not look like an empty inbox
        raise UserError(f"inbox {settings.inbox} is not a folder (or its bucket doesn't exist)")
    lock = run_lock(settings.home, settings.lock_wait_seconds, waiting=run_report.told_waiting,
                    to_queue="pass --wait SECONDS (a deployment: its lock_wait_seconds parameter)",
                    flow_run_id=(own := str(FlowRunContext.get().flow_run.id)))
    discover.refuse_unlistable(settings.inbox)
    with (cancel_watch.cancellable(), lock as died_holding, reusing_tables(settings.lake),
          scratch_removed_if_stopped(settings.lake)):
        if unattended:
            settings.refuse_gone_home("deployment")   # moved while the run waited for the lock
        left = flow_run_of(died_holding)   # not this flow run's own, run again by infrastructure after a kill
        if left != own and (crashed := dead_serve.crash_run_that_died_holding(left)):
            get_run_logger().info("flow run %s was killed holding the home: marked crashed (this run recovers it)", crashed)
        started_at = dt.datetime.now(dt.timezone.utc)
        run_id = runs.new_run_id(started_at)
        seq, listed = prepare_lake(settings)
        try:
            return ingest_new_dumps(settings, run_id, started_at, reprocess, seq, listed)
        except Exception as exc:
            if interrupted_query(exc):   # stopped (Ctrl-C, SIGTERM, a runner's cancel), not failed
                raise KeyboardInterrupt from exc
            with contextlib.suppress(Exception):   # the original failure is what the caller must see
                if fate := record_failed_run(settings, run_id, started_at, seq):
                    exc.run_id = run_id   # the failed row's, for `run --json`
                run_report.report_failure(run_id, exc, fate, settings.home)
            raise


@contextlib.contextmanager
def scratch_removed_if_stopped(lake_dir: Path):
    """A stopped run (Ctrl-C, SIGTERM, a cancel) removes its scratch on its way out, its batches and merges
    stopped by then: no run reads it again, and it stayed until the next run (0.5 GB after 40,000 dumps)."""
    try:
        yield
    except (KeyboardInterrupt, ExternalSignal):
        with contextlib.suppress(OSError):
            storage.remove_tree(lake_dir / WORK)
        raise


def interrupted_query(exc: Exception) -> bool:
    """DuckDB ends a query that a signal interrupted with this, and swallows the signal handler's own
    exception (the KeyboardInterrupt of Ctrl-C or the command's SIGTERM, Prefect's TerminationSignal)."""
    return isinstance(exc, duckdb.InterruptException) or (type(exc) is RuntimeError and str(exc) == "Query interrupted")


def ingest_new_dumps(settings: Settings, run_id: str, started_at: dt.datetime, reprocess: bool, seq: int,
                     listed: discover.Inbox | None = None) -> dict:
    plan, retry, jobs = planned(settings, run_id, started_at, reprocess, listed)
    cluster = ClusterWatch(settings.dask_no_workers_seconds)
    progress = Progress(sum(len(j.sources) for j in jobs), sum(f.size for j in jobs for f in j.sources), started_at)
    results = process_all(jobs, progress, cluster)
    progress.stage(f"read {progress.done} files; committing their rows and merging them into the lake")
    new_dumps = pl.concat([r.dumps for r in results]) if results else empty_frame(TABLES["dumps"])
    scratch = batch.scratch_files(results)
    resolved = read_as_other(retry, [r.files for r in results])   # a refused .gz now read as a dump held
    appended = (commit_appends(settings.lake, seq, run_id, scratch, set(retry), resolved) if new_dumps.height or resolved
                else appends.Committed(dict.fromkeys(APPEND_TABLES, 0)))
    new_dumps = new_dumps.filter(~pl.col("dump_id").is_in(list(appended.unchanged)))
    gained = merge_run(settings.lake, seq, run_id, scratch, cluster)
    checkpoint("normalise:merged")
    row = runs.run_row(run_id, started_at, "completed", len(plan.found.found), new_dumps)
    commit_run(settings, row, seq)
    storage.remove_tree(settings.lake / WORK)
    add_to_file_index(settings.state, [r.files for r in results],   # frames: Prefect doesn't walk them
                      (settings.inbox, file_index.listed_keys(plan.found.found)), settings.raw)
    checkpoint("index:written")
    progress.stage("committed; publishing the warehouse")
    publish_warehouse(settings.warehouse, settings.lake)
    maintain_lake(settings.lake, settings.maintain_files, quote(progress))
    summary = run_report.run_summary(row, plan, retry, appended, gained, results, new_dumps)
    COMPLETED_HERE.append(summary)   # published: what follows only tells Prefect, which may retry for minutes
    get_run_logger().info("run %s: %s", run_id, runs.describe(summary))
    run_report.publish_summary(summary, new_dumps, settings.home)
    return summary


def planned(settings: Settings, run_id: str, started_at: dt.datetime, reprocess: bool,
            listed: discover.Inbox | None) -> tuple[discover.Plan, dict, list[batch.BatchJob]]:
    """The run's plan, the quarantined dumps it reads again (--reprocess), and its batch jobs."""
    plan = plan_run(settings.inbox, settings.lake, settings.state, settings.settle_seconds,
                    quote(listed), settings.home_folders)   # quoted: Prefect would walk a big inbox's listing
    checkpoint("scan:done")
    retry = (quarantined_sources(settings.lake, settings.raw, settings.max_dump_bytes, settings.state)
             if reprocess else {})
    run_report.log_plan(run_id, plan.found, plan.todo, retry, settings.settle_seconds)
    # retried sources first: a dump's first reading wins, and a new copy must not win over the dump's own file
    jobs = batch.plan_jobs(list(retry.values()) + plan.todo, plan.known - set(retry), settings, run_id, started_at)
    return plan, retry, jobs


def process_all(jobs: list[batch.BatchJob], progress: Progress, cluster: ClusterWatch) -> list[batch.BatchResult]:
    """Batch tasks, with progress as they finish. A dump that two batches read (the same bytes under
    two names) keeps its first reading: the later batch runs again without it."""
    futures = [process_batch.submit(job) for job in jobs]
    try:
        results = [progress.advance(cluster.result(future)) for future in futures]
    except BaseException:
        cluster.stop(futures)   # no batch may still be writing while the failure is recorded
        raise
    for i, repeated in batch.repeated_dumps(results).items():
        results[i] = process_batch(jobs[i].without(repeated))
    checkpoint("extract:all-done")
    return results


def merge_run(lake_dir: Path, seq: int, run_id: str, scratch: dict[str, list[Path]], cluster: ClusterWatch) -> dict[str, int]:
    """The mutable tables merge in parallel tasks (papers bring paper_authors along); returns the
    rows each gained."""
    futures = [merge_table.submit(merge.TableMerge(lake_dir, name, scratch[name], seq, run_id))
               for name in OBSERVED_TABLES if scratch[name]]
    try:
        cluster.wait(futures)
        gained = [cluster.result(future) for future in futures]
    except BaseException:
        cluster.stop(futures)   # none still writing when the failure is recorded
        raise
    return {name: rows for rows_of in gained for name, rows in rows_of.items()}


@task(cache_policy=NO_CACHE, persist_result=False)
def record_failed_run(settings: Settings, run_id: str, started_at: dt.datetime, seq: int) -> str | None:
    """A failed run leaves the data as it was (the tables it committed to restored) and a `failed`
    runs row; one that failed after its commit point keeps its data, which the next run publishes,
    and its row is marked `failed`. Returns what became of the data; None if the row could not be written."""
    try:
        if lake.run_of(lake.open_table(settings.lake, "runs")) >= seq:
            storage.remove_tree(settings.lake / WORK)   # the next run publishes the committed data
            lake.mark_failed(settings.lake, run_id)
            return run_report.KEPT
        recovery.recover(settings.lake)
        row = runs.run_row(run_id, started_at, "failed", 0, pl.DataFrame(schema={"status": pl.String}))
        lake.commit_run(settings.lake, row, seq)
    except Exception as exc:  # the original failure is what the caller must see
        get_run_logger().error("could not record failed run %s: %s", run_id, exc)
        return None
    try:
        publish.publish(settings.warehouse, settings.lake)
    except Exception as exc:  # the row is in the lake; the next run publishes it
        get_run_logger().error("could not publish failed run %s: %s", run_id, exc)
    return run_report.RESTORED


def ingest_flow(dask_address: str | None = None):
    """The ingest flow for one run: extract tasks on the Dask cluster at dask_address, or in
    local threads. Only `.submit`ted tasks (extract) go to the runner; the rest run in the flow."""
    if not dask_address:
        return ingest
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise UserError("--dask-address needs prefect-dask: pip install 'profile-etl[dask]'") from None
    # the workers report their task runs to the flow's API: a temporary server is the run process's
    # own, so each worker would start one of its own (and leave it running)
    if not get_current_settings().api.url:
        raise UserError("--dask-address needs a lasting Prefect server that the workers report to: start one "
                        "(`profile-etl server`) and set PREFECT_API_URL to its API (README: scheduled runs)")
    return ingest.with_options(task_runner=DaskTaskRunner(address=dask_address))

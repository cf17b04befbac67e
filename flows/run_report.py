"""What a run tells its user through Prefect: its plan and the files it couldn't read, in its logs;
its summary (the runs row and what it found, read and added), as a log line and an artifact. And on
its process's output: a wait for the home, and a deployment's run's result line."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import polars as pl
from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from core import identity
from flows import appends, artifact, batch, discover, runs
from flows.run_failure import api_unreachable
from schemas.tables import MERGED_TABLES
from warehouse.lake_health import first_line


def run_summary(row: dict, plan: discover.Plan, retry: dict, appended: appends.Committed, gained: dict,
                results: list[batch.BatchResult], new_dumps: pl.DataFrame) -> dict:
    """The runs row with what the run found, read and added (logs the files it couldn't read)."""
    added = (appended.added | dict.fromkeys(MERGED_TABLES, 0) | gained if results else {}) | {"runs": 1}
    unread = [why for r in results for why in r.unread]
    log_unread(unread)
    log_unlisted(plan.found.unlisted)
    log_unread_keys([keys for r in results for keys in r.unread_keys])
    log_repeats(repeated_files(results))
    log_quarantined(new_dumps)
    return row | {"waiting": len(plan.found.waiting), "ignored": len(plan.found.ignored), "unreadable": len(unread),
                  "unlisted_folders": len(plan.found.unlisted),
                  "notes": [plan.note] if plan.note else [],
                  "files_read": len(plan.todo) + len(retry), "reprocessed": len(retry) - len(appended.unchanged),
                  "quarantined_as_before": len(appended.unchanged),
                  "bytes_new": int(new_dumps["byte_size"].sum()), "rows_added": added}


def log_plan(run_id: str, found: discover.Inbox, todo: list, retry: dict, settle_seconds: float) -> None:
    logger = get_run_logger()
    logger.info("run %s: %d dump files ready, %d to read, %d quarantined dumps to retry, %d still being written",
                run_id, len(found.found), len(todo), len(retry), len(found.waiting))
    for path in found.waiting:
        logger.debug("skipped %s: still being written (a temporary name, or modified in the last %g s)",
                     path, settle_seconds)
    logger.debug("skipped %d files recognised by (path, size, mtime) as already ingested", len(found.found) - len(todo))
    if found.ignored:   # the summary line counts them; a warning would repeat every run for a lasting README
        shown = ", ".join(str(path) for path in found.ignored[:5]) + (", ..." if len(found.ignored) > 5 else "")
        logger.info("ignored %d files of the inbox that are not dumps (dumps are regular files named *.txt or "
                    "*.txt.gz; FIFOs, devices, dangling links and links to folders are not read): %s",
                    len(found.ignored), shown)


def log_unread(unread: list[str]) -> None:
    if unread:
        get_run_logger().warning("%d dump files couldn't be read (not indexed: the next run tries them again): %s",
                                 len(unread), "; ".join(map(identity.shown, unread[:5])) + ("; ..." if len(unread) > 5 else ""))


def log_unlisted(unlisted: list[str]) -> None:
    if unlisted:
        get_run_logger().warning("%d folders of the inbox can't be listed, so their dumps were not read (the next "
                                 "run tries again): %s", len(unlisted), "; ".join(unlisted[:5]) + ("; ..." if len(unlisted) > 5 else ""))


def log_unread_keys(unread_keys: list[tuple]) -> None:
    if unread_keys:   # a scraper's own keys are allowed: said, and warned of only when one looks misspelt
        # the sidecars with a key that looks misspelt first: they make the line a warning
        unread_keys = sorted(unread_keys, key=lambda sidecar: not any(map(identity.likely_meant, sidecar[1])))
        notes = [identity.unread_keys_note(side, keys, explained=False) for side, keys in unread_keys[:5]]
        whose = "1 new dump's sidecar has" if len(unread_keys) == 1 else f"{len(unread_keys)} new dumps' sidecars have"
        misspelt = any(map(identity.likely_meant, unread_keys[0][1]))
        get_run_logger().log(logging.WARNING if misspelt else logging.INFO, "%s keys that nothing reads (%s): %s",
                             whose, identity.KEYS_READ, "; ".join(notes) + ("; ..." if len(unread_keys) > 5 else ""))


def repeated_files(results: list[batch.BatchResult]) -> list[str]:
    """Files the run read whose bytes are a dump it didn't load from them (SPEC §6 skips a dump
    already held, whatever its name): a dump the lake held, or one another file of the run gave."""
    files = pl.concat([r.files.select("path", "dump_id") for r in results]) if results else None
    if files is None or files.is_empty():
        return []
    read = pl.concat([r.dumps.select("dump_id") for r in results])["dump_id"].implode()
    loader = pl.col("path").first().over("dump_id")   # in batch order: the reading that loaded
    repeats = files.filter(~pl.col("dump_id").is_in(read) | (pl.col("path") != loader))
    return repeats["path"].unique(maintain_order=True).to_list()   # a file read twice (--reprocess) once


def log_quarantined(new_dumps: pl.DataFrame) -> None:
    """New dumps that couldn't be read at all, and those that lost entries, each with its reason: a warning
    in the run's log, where an operator watching Prefect's UI sees it (their bytes are kept in raw/, the
    reasons in `status`, a partial dump's rejected entries in `rejects`)."""
    if "reason" not in new_dumps.columns:
        return
    for status, kept in (("quarantined", "bytes kept in raw/; `profile-etl status` lists them"),
                         ("partial", "the rest loaded; the `rejects` table holds the entries")):
        dumps = new_dumps.filter(pl.col("status") == status)
        if dumps.height:
            named = [f"{identity.shown(path)}: {identity.shown(reason)}"
                     for path, reason in dumps.select("source_path", "reason").head(5).iter_rows()]
            which = "1 new dump was" if dumps.height == 1 else f"{dumps.height} new dumps were"
            get_run_logger().warning("%s %s (%s): %s", which, "loaded partly" if status == "partial" else status, kept,
                                     "; ".join(named) + ("; ..." if dumps.height > 5 else ""))


def log_repeats(paths: list[str]) -> None:
    if paths:
        which = "1 file holds" if len(paths) == 1 else f"{len(paths)} files hold"
        get_run_logger().info("%s the bytes of a dump already loaded: nothing to add (a copy, a new name, or a new "
                              "modification time): %s", which, ", ".join(map(identity.shown, paths[:5])) + (", ..." if len(paths) > 5 else ""))


def publish_summary(summary: dict, new_dumps: pl.DataFrame, home: Path) -> None:
    """The run's summary as a Prefect artifact; past the commit point, a Prefect API that fails here
    leaves the run completed."""
    markdown, description = artifact.summary_markdown(summary, new_dumps, home), runs.describe(summary)
    try:
        create_markdown_artifact(key=artifact.artifact_key(home), markdown=markdown, description=description)
    except Exception as exc:
        get_run_logger().warning("the run's summary artifact could not be written: %s", exc)


# What a failed run did to the data, from record_failed_run: said in Prefect, where the terminal's message isn't.
KEPT = ("its dumps were committed to the lake before it failed and stay there; those the warehouse doesn't "
        "show yet, the next run that completes publishes")
RESTORED = ("the lake was restored to before the run and the published warehouse is as it was; the next run "
            "reads its dumps again")


def report_failure(run_id: str, exc: Exception, fate: str | None, home: Path) -> None:
    """A failed run's reason and what became of its data, as a log line and as the home's latest summary
    artifact: else that artifact would still show the last completed run as the home's latest."""
    fate = fate or "its `failed` row could not be written to `runs` (the error above says why)"
    why = f"{type(exc).__name__}: {first_line(exc)}"
    get_run_logger().error("run %s failed (%s): %s. Fix the cause and run again; `profile-etl history` lists "
                           "the runs", run_id, why, fate)
    if api_unreachable(exc):   # Prefect's client would retry the artifact for minutes before the failure is said
        return
    try:
        create_markdown_artifact(key=artifact.artifact_key(home), markdown=artifact.failure_markdown(
            run_id, home, f"{type(exc).__name__}: {exc}", fate), description=f"failed: {why}"[:500])
    except Exception as err:   # the run's failure is what the caller must see
        get_run_logger().warning("the failed run's summary artifact could not be written: %s", err)


def print_deployment_result(flow, flow_run, state) -> None:
    """A deployment's run (`serve`, a worker) prints its result line where its process's output goes,
    as `run` and `watch` print theirs."""
    if flow_run.deployment_id is None:
        return
    if not state.is_completed():
        ended = "cancelled" if state.is_cancelling() else state.type.value.lower()   # the hook runs while cancelling
        print(f"profile-etl: deployment run {flow_run.name} {ended}: {state.message}", flush=True)
        return
    summary = state.result(raise_on_failure=False)
    if isinstance(summary, dict) and "dumps_new" in summary:
        print(f"profile-etl: deployment run {flow_run.name}: {runs.describe(summary)}", flush=True)


def told_waiting(line: str) -> None:
    """A run queued behind another says so on the command's output too, not in Prefect's log alone: a
    `watch` started during a backlog's first run queued its run for up to 10 minutes without a word."""
    get_run_logger().info(line)
    print(f"profile-etl: {line}", file=sys.stderr, flush=True)

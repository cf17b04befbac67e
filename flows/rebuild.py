"""Rebuild the lake from the content-addressed copies in raw/ (after a parser change, say)."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from core import identity
from core.records import SourceFile
from flows import batch, integrity, merge
from flows.runs import run_row
from flows.progress import Progress
from schemas.tables import APPEND_TABLES, MERGED_TABLES, OBSERVED_TABLES, TABLES, empty_frame, polars_schema
from store import extract, raw_store, scratch, storage
from store.advice import command, doctor_repair
from store.errors import UserError
from store.faults import checkpoint
from store.settings import Settings
from warehouse import lake, recovery, retention
from warehouse.lake_health import first_line
from warehouse.load import connect

REBUILT_BY = "rebuild --from-raw"   # the userMetadata of its lake commits, where a run's carry its id
REBUILD_SCRATCH = "rebuild"   # <home>/state/rebuild/: a rebuild's batches (a run's are under <lake>/_work/)


def refuse_without_sources(settings: Settings, from_raw: bool) -> None:
    """A mistyped --home or --lake must not publish an empty warehouse, or an empty lake, over good ones."""
    has_lake = storage.exists(settings.lake / "dumps" / "_delta_log") or storage.exists(settings.lake / lake.OLD_MANIFEST)
    if not from_raw and not has_lake:
        raise UserError(f"no lake at {settings.lake} (no Delta table dumps/): nothing to rebuild the warehouse from; "
                        f"check --home and --lake, or run {command(settings.lake, 'rebuild --from-raw', settings.home)} "
                        "to make the lake from raw/")
    if not from_raw:
        lake.check_layout(settings.lake, settings.home)
        if missing := [name for name in TABLES if not storage.exists(settings.lake / name / "_delta_log")]:
            raise UserError(f"the lake at {settings.lake} lacks the Delta tables {', '.join(missing)}: the warehouse "
                            f"can't be rebuilt from it. {command(settings.lake, 'rebuild --from-raw', settings.home)} "
                            "makes the lake again from raw/")
    if from_raw and not settings.raw.is_dir() and not (has_lake and remembered_tables(settings)[0].is_empty()):
        raise UserError(f"no raw/ folder at {settings.raw}: nothing to rebuild the lake from"
                        + ("; the lake's dumps would be lost" if has_lake else "; check --home"))


def refuse_to_lose(settings: Settings, held: list[Path]) -> None:
    """Copies the lake holds but no raw/ meta names (the meta files were lost) would be left out."""
    if held:
        names = ", ".join(path.name for path in held[:3]) + (" …" if len(held) > 3 else "")
        raise UserError(f"no raw/{raw_store.RAW_META_DIR}/ file names {len(held)} raw/ copies the lake holds ({names}), "
                        "so a lake rebuilt from raw/ would lose them: restore raw/meta/, or rebuild the warehouse "
                        f"from the lake alone with {command(settings.lake, 'rebuild', settings.home)}")


def remembered_tables(settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame, str | None]:
    """The dumps and runs the lake and the warehouse remember, together (the lake's rows first): a
    lake that lost tables or commits doesn't take the runs history, or each dump's first run, with
    it. And a note when the warehouse supplied rows the lake lacks."""
    try:
        lake_dumps, lake_runs = held_tables(settings.lake)
        problem = None
    except Exception as exc:
        lake_dumps, lake_runs, problem = empty_frame(TABLES["dumps"]), empty_frame(TABLES["runs"]), first_line(exc)
    try:
        with connect(settings.warehouse, read_only=True) as con:
            kept_dumps, kept_runs = (conform(name, con.sql(f"SELECT * FROM {name}").pl()) for name in ("dumps", "runs"))
    except duckdb.Error:
        kept_dumps, kept_runs = empty_frame(TABLES["dumps"]), empty_frame(TABLES["runs"])
    dumps = pl.concat([lake_dumps, kept_dumps]).unique("dump_id", keep="first", maintain_order=True)
    runs = pl.concat([lake_runs, kept_runs]).unique("run_id", keep="first", maintain_order=True)
    extra_runs, extra_dumps = runs.height - lake_runs.height, dumps.height - lake_dumps.height
    if problem is None and not extra_runs and not extra_dumps:
        return dumps, runs, None
    where = f"the lake can't be read ({problem})" if problem else "the lake lacks them"
    return dumps, runs, (f"{extra_runs} runs and the first runs of {extra_dumps} dumps come from the warehouse as "
                         f"last published: {where}")


def side_folder(lake_dir: Path, what: str) -> Path:
    """`<lake>.rebuild` (the new lake being written) or `<lake>.old` (the one it replaces)."""
    return lake_dir.with_name(f"{lake_dir.name}.{what}")


def restore_interrupted_rebuild(lake_dir: storage.Location) -> str | None:
    """A rebuild from raw/ that died between its two renames left no lake but `<lake>.old`: the lake
    as it was (the warehouse wasn't rebuilt yet either). Put it back; returns a note when it did."""
    if storage.is_url(lake_dir) or (lake_dir.exists() and not is_empty_folder(lake_dir)) \
            or not side_folder(lake_dir, "old").is_dir() \
            or not side_folder(lake_dir, "rebuild").is_dir():   # both are left only between the renames
        return None
    if lake_dir.exists():   # an empty folder a command that found no lake made meanwhile (lake.ensure_tables)
        lake_dir.rmdir()
    side_folder(lake_dir, "old").rename(lake_dir)
    return f"put back {lake_dir} from {lake_dir.name}.old, left by a rebuild from raw/ that was interrupted"


def is_empty_folder(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def conform(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Rows of a warehouse table in the lake table's schema (DuckDB names UTC `Etc/UTC`)."""
    return frame.select([pl.col(column).cast(dtype) if column in frame.columns else pl.lit(None, dtype).alias(column)
                         for column, dtype in polars_schema(TABLES[name]).items()])


def held_tables(lake_dir: storage.Location) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The lake's dumps and runs, from Delta tables or from the manifest format before them."""
    if not storage.exists(lake_dir / lake.OLD_MANIFEST):
        return lake.read_table(lake_dir, "dumps"), lake.read_table(lake_dir, "runs")
    manifest = json.loads(storage.read_bytes(lake_dir / lake.OLD_MANIFEST))
    frames = []
    for name in ("dumps", "runs"):
        files = [lake_dir / rel for rel in manifest["tables"].get(name, [])]
        old = pl.read_parquet(files) if files else empty_frame(TABLES[name])
        frames.append(pl.concat([empty_frame(TABLES[name]), old], how="diagonal_relaxed"))
    return frames[0], frames[1]


@dataclass(frozen=True)
class Drop:
    """The dumps a rebuild from raw/ may leave out when their copies are missing or corrupt."""
    ids: tuple[str, ...] = ()    # dump ids, or unique prefixes of them
    damaged: bool = False        # every one found

    def choose(self, damaged: dict[str, str]) -> set[str]:
        chosen = set(damaged) if self.damaged else set()
        for prefix in self.ids:
            matches = [did for did in damaged if did.startswith(prefix.lower())]
            if len(matches) != 1:
                raise UserError(f"--drop {prefix} names {'no' if not matches else 'more than one'} missing or corrupt "
                                "raw/ copy" + (f" (those are: {', '.join(d[:16] for d in damaged)})" if damaged else ""))
            chosen.add(matches[0])
        return chosen


def copied_dump_ids(dumps: pl.DataFrame) -> set[str]:
    """The dumps (rows of the dumps table) that have a raw/ copy: all but the unopenable files that
    runs before issue 21 quarantined without one."""
    return set(dumps.filter(~pl.col("reason").fill_null("").str.contains("raw/ has no copy"))["dump_id"])


def verify_raw(settings: Settings, dumps: pl.DataFrame, drop: Drop) -> list[str]:
    """Every copy's hash, and a copy for every dump named: refused unless the damaged ones are
    dropped (corrupt ones set aside in raw/damaged/). Returns what was dropped, for the user."""
    check = raw_store.check_copies(settings.raw, copied_dump_ids(dumps))
    damaged = check.damaged()
    chosen = drop.choose(damaged)
    if left := {did: why for did, why in damaged.items() if did not in chosen}:
        shown = "; ".join(f"{did[:16]}: {why}" for did, why in list(left.items())[:5])
        raise UserError(f"{len(left)} of the dumps raw/ should hold can't be read back: {shown}"
                        f"{' …' if len(left) > 5 else ''}. Nothing was changed. If their inbox files are still "
                        f"there, {doctor_repair(settings)} copies them again; otherwise "
                        "rebuild without them "
                        "with --drop ID for each (or --drop-damaged): they leave the lake, and a run reads them "
                        "again if their files come back")
    for did in sorted(chosen):
        if did in check.corrupt:
            raw_store.set_aside(settings.raw, check.corrupt[did])
    raw_store.record_dropped(settings.raw, {did: damaged[did] for did in chosen})
    return [f"dropped {did[:16]}: {damaged[did]}" for did in sorted(chosen)]


def rolled_back(settings: Settings, loaded_by: dict[str, str], runs: set[str]) -> frozenset[str]:
    """The dumps a rollback removed, which a rebuild leaves out as well: those the lake and the
    warehouse don't hold, whose run is gone from the runs history, and whose reading in raw/ is
    still that run's (a later run that read their files again loaded them anew)."""
    metas = raw_store.raw_metas(settings.raw, loaded_by)
    return frozenset(did for did, run_id in raw_store.rolled_back(settings.raw)
                     if did not in loaded_by and run_id not in runs and metas.get(did, {}).get("run_id") == run_id)


def checks_failed(exc: Exception, lake_rebuilt: bool, settings: Settings) -> str:
    """Why a warehouse rebuild that failed its data tests wasn't published, and what is so now."""
    then = ("the lake was rebuilt from raw/ first" if lake_rebuilt else "the rows named are in the lake: "
            f"{command(settings.lake, 'rebuild --from-raw', settings.home)} makes it again from raw/")
    return f"({exc}). The published warehouse is as it was; {then}"


def dead_runs(history: pl.DataFrame, dumps: pl.DataFrame) -> pl.DataFrame:
    """A failed runs row for each run the history lacks whose copies the rebuild loads (each dump
    keeps its first run): one killed before its commit point, or lost with the history, so that
    every dump names a run."""
    dead = dumps.filter(~pl.col("run_id").is_in(history["run_id"].implode()))
    rows = [run_row(run_id, group["ingested_at"].min(), "failed", 0, group)
            for (run_id,), group in dead.group_by("run_id", maintain_order=True)]
    return conform("runs", pl.DataFrame(rows)) if rows else history.clear()


def lake_from_raw(settings: Settings, drop: Drop = Drop()) -> list[str]:
    """Re-parse every raw/ copy into a new lake, keep the runs history, and put it in the old one's
    place, once every copy is verified (verify_raw). Returns notes for the user: the dumps dropped,
    the copies left out (no meta file names them: a run died before its batch wrote one), and
    where the runs history came from when the old lake couldn't be read (remembered_tables)."""
    restored = restore_interrupted_rebuild(settings.lake)
    in_place = storage.is_url(settings.lake) or integrity.rewritable_in_place(settings)
    if not in_place:
        integrity.refuse_to_replace(settings, side_folder(settings.lake, "old"))
    dumps, runs, note = remembered_tables(settings)
    notes = [*verify_raw(settings, dumps, drop), *([restored] if restored else []), *([note] if note else [])]
    copies, left_out = copies_to_load(settings, dict(zip(dumps["dump_id"], dumps["run_id"])), set(runs["run_id"]))
    # the versions old runs recorded belong to the lake before the rebuild: nothing rolls back to them
    history = runs.with_columns(lake_versions=pl.lit(None, pl.String))
    if in_place:
        if not storage.is_url(settings.lake):   # a dead swap's, made from raw/
            shutil.rmtree(side_folder(settings.lake, "rebuild"), ignore_errors=True)
        return notes + left_out + dead_runs_note(load_copies(settings, settings.lake, copies, history))
    return notes + left_out + lake_swapped_in(settings, copies, history)


def copies_to_load(settings: Settings, loaded_by: dict[str, str], run_ids: set[str]) -> tuple[list, list[str]]:
    """The raw/ copies a rebuild loads, and notes on those it leaves out: the dumps of rolled-back
    runs, and copies no meta file names (refused when the lake held them: their identity is lost)."""
    undone = rolled_back(settings, loaded_by, run_ids)
    copies, unnamed = extract.raw_copies(settings.raw, loaded_by, undone)
    shown = ", ".join(sorted(did[:16] for did in undone)[:5]) + (" …" if len(undone) > 5 else "")
    notes = [f"left out the {len(undone)} dumps of rolled-back runs ({shown}): a run that reads their inbox files "
             "loads them again"] if undone else []
    refuse_to_lose(settings, [path for path in unnamed if identity.dump_stem(path) in loaded_by])
    if unnamed:
        notes.append(f"left out {len(unnamed)} raw/ copies that no raw/{raw_store.RAW_META_DIR}/ file names (a run "
                     "died before writing its batch's; no lake held them, and the next run that reads their inbox "
                     f"files names them): {', '.join(p.name for p in unnamed[:5])}{' …' if len(unnamed) > 5 else ''}")
    return copies, notes


def lake_swapped_in(settings: Settings, copies: list, history: pl.DataFrame) -> list[str]:
    """Load the copies into a side folder, then put it in the place of the lake it can't rewrite,
    which is kept beside it (interrupted between the two renames, the old lake waits at `<lake>.old`
    for restore_interrupted_rebuild to put it back)."""
    fresh, old = side_folder(settings.lake, "rebuild"), side_folder(settings.lake, "old")
    shutil.rmtree(fresh, ignore_errors=True)   # a dead rebuild's: made from raw/, made again now
    kept = retention.of_lake(settings.lake)   # the retention `maintain` set holds on, as in a rebuild in place
    try:
        notes = dead_runs_note(load_copies(settings, fresh, copies, history))
        for table in lake.open_all(fresh).values():
            retention.keep(table, kept, lake.noted(REBUILT_BY))
    except Exception:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    storage.flush_to_disk(fresh)   # the new lake is on disk before the old one is moved aside
    if not settings.lake.exists():
        fresh.rename(settings.lake)
        return notes
    settings.lake.rename(old)
    checkpoint("rebuild:lake-moved-aside")
    fresh.rename(settings.lake)
    kept = side_folder(settings.lake, "replaced-" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ"))
    old.rename(kept)
    return notes + [f"the lake it replaced is kept at {kept}: remove it once you no longer need it"]


def dead_runs_note(run_ids: list[str]) -> list[str]:
    if not run_ids:
        return []
    shown = ", ".join(run_ids[:3]) + (" …" if len(run_ids) > 3 else "")
    return [f"gave {len(run_ids)} run{'' if len(run_ids) == 1 else 's'} that the runs history lacks a failed row "
            f"({shown}): each was killed before its commit point, or lost with the history; its dumps load under it"]


def load_copies(settings: Settings, lake_dir: storage.Location, copies: list[tuple[SourceFile, dict]],
                history: pl.DataFrame) -> list[str]:
    """The raw/ copies into the lake as a run loads its files: batch by batch to scratch, then each
    append table in one commit and each mutable table merged in parts, so memory follows a batch,
    a part and the append tables' rows (docs/lake.md), not all of raw/. Every table is rewritten, the
    runs history last: its commit is the rebuild's commit point (one that dies before it is undone
    as a dead run is). Returns the runs given a failed row (dead_runs)."""
    seq, work = recovery.begin_rewrite(lake_dir), settings.state / REBUILD_SCRATCH
    shutil.rmtree(work, ignore_errors=True)   # a dead rebuild's
    try:
        return write_tables(lake_dir, read_copies(settings, copies, work), history, seq)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def read_copies(settings: Settings, copies: list[tuple[SourceFile, dict]], work: Path) -> dict[str, list[Path]]:
    """Each table's scratch files of the copies read again, in batches; local even for a lake on
    object storage, so that a merge part reads only its row groups there too."""
    seen, key_pattern = set(), identity.key_pattern(settings.profile_key_pattern)
    progress = Progress(len(copies), sum(source.size for source, _ in copies), dt.datetime.now(dt.timezone.utc))
    results = [progress.advance(batch.process_copies(i, chunk, seen, work, settings.max_dump_bytes, key_pattern))
               for i, chunk in enumerate(batch.chunks(copies, settings.batch_size))]
    if unread := [why for result in results for why in result.unread]:   # checked by verify_raw, then gone
        raise UserError(f"{len(unread)} raw/ copies couldn't be read again ({unread[0]}), so the lake was not "
                        "rebuilt and nothing was changed: fix the cause (permissions, the disk) and rebuild again")
    return batch.scratch_files(results)


def write_tables(lake_dir: storage.Location, files: dict[str, list[Path]], history: pl.DataFrame, seq: int) -> list[str]:
    dead = history.clear()
    for name in APPEND_TABLES:
        rows = scratch.read_scratch(files[name]) if files[name] else empty_frame(TABLES[name])
        lake.overwrite(lake_dir, name, rows, seq, REBUILT_BY)
        if name == "dumps":
            dead = dead_runs(history, rows)
    for name in MERGED_TABLES:   # emptied, then merged into as a run merges
        lake.overwrite(lake_dir, name, empty_frame(TABLES[name]), seq, REBUILT_BY)
    for name in OBSERVED_TABLES:
        if files[name]:
            merge.merge_table(merge.TableMerge(lake_dir, name, files[name], seq, REBUILT_BY, emptied=True))
    storage.flush_to_disk(lake_dir)   # what the runs commit, the commit point, names is on disk first
    lake.overwrite(lake_dir, "runs", pl.concat([history, dead]).sort("started_at") if dead.height else history, seq, REBUILT_BY)
    return dead["run_id"].to_list()

"""Rebuild the lake from the content-addressed copies in raw/ (after a parser change, say)."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from flows import extract, identity, raw_store, stages, storage
from flows.normalise import MUTABLE_TABLES
from flows.settings import Settings, UserError
from flows.validate import to_frames
from schemas.tables import TABLES, empty_frame, polars_schema
from warehouse import lake
from warehouse.lake_health import first_line


def refuse_without_sources(settings: Settings, from_raw: bool) -> None:
    """A mistyped --home or --lake must not publish an empty warehouse, or an empty lake, over good ones."""
    has_lake = storage.exists(settings.lake / "dumps" / "_delta_log") or storage.exists(settings.lake / lake.OLD_MANIFEST)
    if not from_raw and not has_lake:
        raise UserError(f"no lake at {settings.lake} (no Delta table dumps/): nothing to rebuild the warehouse from; "
                        "check --home and --lake, or run `profile-etl rebuild --from-raw` to make the lake from raw/")
    if not from_raw:
        lake.check_layout(settings.lake)
    if from_raw and not settings.raw.is_dir() and not (has_lake and remembered_tables(settings)[0].is_empty()):
        raise UserError(f"no raw/ folder at {settings.raw}: nothing to rebuild the lake from"
                        + ("; the lake's dumps would be lost" if has_lake else "; check --home"))


def refuse_to_lose(held: list[Path]) -> None:
    """Copies the lake holds but no raw/ meta names (the meta files were lost) would be left out."""
    if held:
        names = ", ".join(path.name for path in held[:3]) + (" …" if len(held) > 3 else "")
        raise UserError(f"no raw/{raw_store.RAW_META_DIR}/ file names {len(held)} raw/ copies the lake holds ({names}), "
                        "so a lake rebuilt from raw/ would lose them: restore raw/meta/, or rebuild the warehouse "
                        "from the lake alone with `profile-etl rebuild`")


def remembered_tables(settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame, str | None]:
    """held_tables, or when the lake can't be read, the same rows as the warehouse last published
    them; and a note saying which (None: from the lake)."""
    try:
        return (*held_tables(settings.lake), None)
    except Exception as exc:
        problem = first_line(exc)
    try:
        with duckdb.connect(str(settings.warehouse), read_only=True) as con:
            dumps, runs = (con.sql(f"SELECT * FROM {name}").pl() for name in ("dumps", "runs"))
        return (conform("dumps", dumps), conform("runs", runs),
                f"the lake can't be read ({problem}), so the runs history and each dump's first run "
                "come from the warehouse as last published")
    except duckdb.Error:
        return (empty_frame(TABLES["dumps"]), empty_frame(TABLES["runs"]),
                f"neither the lake ({problem}) nor the warehouse can be read: the runs history starts over, "
                "and each dump keeps the run of its latest reading in raw/meta/")


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


def verify_raw(settings: Settings, dumps: pl.DataFrame, drop: Drop) -> list[str]:
    """Every copy's hash, and a copy for every dump named: refused unless the damaged ones are
    dropped (corrupt ones set aside in raw/damaged/). Returns what was dropped, for the user."""
    no_copy = pl.col("reason").fill_null("").str.contains("raw/ has no copy")   # unopenable, before case 3's fix
    check = raw_store.check_copies(settings.raw, set(dumps.filter(~no_copy)["dump_id"]))
    damaged = check.damaged()
    chosen = drop.choose(damaged)
    if left := {did: why for did, why in damaged.items() if did not in chosen}:
        shown = "; ".join(f"{did[:16]}: {why}" for did, why in list(left.items())[:5])
        raise UserError(f"{len(left)} of the dumps raw/ should hold can't be read back: {shown}"
                        f"{' …' if len(left) > 5 else ''}. Nothing was changed. If their inbox files are still "
                        "there, `profile-etl doctor --repair` copies them again; otherwise rebuild without them "
                        "with --drop ID for each (or --drop-damaged): they leave the lake, and a run reads them "
                        "again if their files come back")
    for did in sorted(chosen):
        if did in check.corrupt:
            raw_store.set_aside(settings.raw, check.corrupt[did])
    raw_store.record_dropped(settings.raw, {did: damaged[did] for did in chosen})
    return [f"dropped {did[:16]}: {damaged[did]}" for did in sorted(chosen)]


def lake_from_raw(settings: Settings, drop: Drop = Drop()) -> list[str]:
    """Re-parse every raw/ copy into a new lake, keep the runs history, and put it in the old one's
    place, once every copy is verified (verify_raw). Returns notes for the user: the dumps dropped,
    the copies left out (no meta file names them: a run died before its batch wrote one), and
    where the runs history came from when the old lake couldn't be read (remembered_tables)."""
    dumps, runs, note = remembered_tables(settings)
    notes = [*verify_raw(settings, dumps, drop), *([note] if note else [])]
    loaded_by = dict(zip(dumps["dump_id"], dumps["run_id"]))
    batch, unnamed = extract.extract_raw_store(settings.raw, settings.max_dump_bytes, loaded_by,
                                               identity.key_pattern(settings.profile_key_pattern))
    refuse_to_lose([path for path in unnamed if identity.dump_stem(path) in loaded_by])
    if unnamed:
        notes.append(f"left out {len(unnamed)} raw/ copies that no raw/{raw_store.RAW_META_DIR}/ file names (a run "
                     "died before writing its batch's; no lake held them, and the next run that reads their inbox "
                     f"files names them): {', '.join(p.name for p in unnamed[:5])}{' …' if len(unnamed) > 5 else ''}")
    current = {name: empty_frame(TABLES[name]) for name in MUTABLE_TABLES}
    tables = stages.transform([to_frames(batch)], current) if batch.dumps else {}
    # the versions old runs recorded belong to the lake before the rebuild: nothing rolls back to them
    tables["runs"] = runs.with_columns(lake_versions=pl.lit(None, pl.String))
    whole = {name: tables.get(name, empty_frame(TABLES[name])) for name in TABLES}
    if storage.is_url(settings.lake):   # no folder rename on object storage: each table overwritten
        lake.overwrite_all(settings.lake, whole)
        return notes
    fresh = settings.lake.with_name("lake.rebuild")
    shutil.rmtree(fresh, ignore_errors=True)
    lake.overwrite_all(fresh, whole)
    old = settings.lake.with_name("lake.old")
    shutil.rmtree(old, ignore_errors=True)
    if settings.lake.exists():
        settings.lake.rename(old)
    fresh.rename(settings.lake)
    shutil.rmtree(old, ignore_errors=True)
    return notes

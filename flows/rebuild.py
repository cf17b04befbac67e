"""Rebuild the lake from the content-addressed copies in raw/ (after a parser change, say)."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from flows import extract, identity, raw_store, stages, storage
from flows.normalise import MUTABLE_TABLES
from flows.settings import Settings, UserError
from flows.validate import to_frames
from schemas.tables import TABLES, empty_frame
from warehouse import lake


def refuse_without_sources(settings: Settings, from_raw: bool) -> None:
    """A mistyped --home or --lake must not publish an empty warehouse, or an empty lake, over good ones."""
    has_lake = storage.exists(settings.lake / lake.MANIFEST)
    if not from_raw and not has_lake:
        raise UserError(f"no lake at {settings.lake} (no {lake.MANIFEST}): nothing to rebuild the warehouse from; "
                        "check --home and --lake, or run `profile-etl rebuild --from-raw` to make the lake from raw/")
    if from_raw and not settings.raw.is_dir() and not (has_lake and lake.read_table(settings.lake, "dumps").is_empty()):
        raise UserError(f"no raw/ folder at {settings.raw}: nothing to rebuild the lake from"
                        + ("; the lake's dumps would be lost" if has_lake else "; check --home"))


def refuse_to_lose(held: list[Path]) -> None:
    """Copies the lake holds but no raw/ meta names (the meta files were lost) would be left out."""
    if held:
        names = ", ".join(path.name for path in held[:3]) + (" …" if len(held) > 3 else "")
        raise UserError(f"no raw/{raw_store.RAW_META_DIR}/ file names {len(held)} raw/ copies the lake holds ({names}), "
                        "so a lake rebuilt from raw/ would lose them: restore raw/meta/, or rebuild the warehouse "
                        "from the lake alone with `profile-etl rebuild`")


def lake_from_raw(settings: Settings) -> list[Path]:
    """Re-parse every raw/ copy into a new lake, keep the runs history, and swap it in. Returns the
    copies left out: no meta file names them (a run died before its batch wrote one)."""
    dumps = lake.read_table(settings.lake, "dumps")
    loaded_by = dict(zip(dumps["dump_id"], dumps["run_id"]))
    batch, unnamed = extract.extract_raw_store(settings.raw, settings.max_dump_bytes, loaded_by)
    refuse_to_lose([path for path in unnamed if identity.dump_stem(path) in loaded_by])
    current = {name: empty_frame(TABLES[name]) for name in MUTABLE_TABLES}
    tables = stages.transform([to_frames(batch)], current) if batch.dumps else {}
    tables["runs"] = lake.read_table(settings.lake, "runs")
    run_id = f"rebuild-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}Z"
    if storage.is_url(settings.lake):
        # No folder rename on object storage: the rebuilt lake is a new version of the same one,
        # every table given whole, committed by one manifest PUT; the old files go after it.
        whole = {name: tables.get(name, empty_frame(TABLES[name])) for name in TABLES}
        lake.commit(settings.lake, run_id, whole, rewrite=frozenset(lake.APPEND_TABLES), new_lake=True)
        return unnamed
    fresh = settings.lake.with_name("lake.rebuild")
    shutil.rmtree(fresh, ignore_errors=True)
    lake.commit(fresh, run_id, tables)
    old = settings.lake.with_name("lake.old")
    shutil.rmtree(old, ignore_errors=True)
    if settings.lake.exists():
        settings.lake.rename(old)
    fresh.rename(settings.lake)
    shutil.rmtree(old, ignore_errors=True)
    return unnamed

"""Rebuild the lake from the content-addressed copies in raw/ (after a parser change, say)."""
from __future__ import annotations

import datetime as dt
import shutil

from flows import extract, stages
from flows.normalise import MUTABLE_TABLES
from flows.settings import Settings
from flows.validate import to_frames
from schemas.tables import TABLES, empty_frame
from warehouse import lake


def lake_from_raw(settings: Settings) -> None:
    """Re-parse every raw/ copy into a new lake, keep the runs history, and swap it in."""
    batch = extract.extract_raw_store(settings.raw, settings.max_dump_bytes)
    current = {name: empty_frame(TABLES[name]) for name in MUTABLE_TABLES}
    tables = stages.transform([to_frames(batch)], current) if batch.dumps else {}
    tables["runs"] = lake.read_table(settings.lake, "runs")
    fresh = settings.lake.with_name("lake.rebuild")
    shutil.rmtree(fresh, ignore_errors=True)
    lake.commit(fresh, f"rebuild-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}Z", tables)
    old = settings.lake.with_name("lake.old")
    shutil.rmtree(old, ignore_errors=True)
    if settings.lake.exists():
        settings.lake.rename(old)
    fresh.rename(settings.lake)
    shutil.rmtree(old, ignore_errors=True)

"""How long the lake keeps the files a commit replaced (SPEC §8: a retention period, 7 days by
default). Each table holds it as `delta.deletedFileRetentionDuration`, the property delta-rs's
vacuum and every other Delta engine read; `maintain --retention-days N` sets it on every table.
"""
from __future__ import annotations

import re

from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import DeltaError

from schemas.tables import TABLES
from store import storage
from store.errors import UserError
from warehouse.opened import open_table

KEY = "delta.deletedFileRetentionDuration"
DEFAULT_DAYS = 7
LEAST_DAYS = 1   # a lake reader (Spark, polars) that started within it keeps its files
MAX_DAYS = 36_500   # delta-rs's vacuum panics on a duration past its range
UNIT_HOURS = {"week": 168.0, "day": 24.0, "hour": 1.0, "minute": 1 / 60, "second": 1 / 3600,
              "millisecond": 1 / 3600e3, "microsecond": 1 / 3600e6, "nanosecond": 1 / 3600e9}
# delta-rs's reading (delta_kernel's parse_interval): `interval`, a whole number, a unit, lowercase and
# split by whitespace; any other form ("INTERVAL 2 DAYS", "2 days", "1.5 days") it takes for a week
INTERVAL = re.compile(r"\s*interval\s+(\d+)\s+(week|day|hour|minute|second|millisecond|microsecond|nanosecond)s?\s*$")


def interval(days: int) -> str:
    return f"interval {days} days"


def setting(days: int) -> dict[str, str]:
    return {KEY: interval(days)}


def hours(table: DeltaTable) -> float:
    return hours_in(value_of(table))


def hours_in(value: str | None) -> float:
    """A retention setting in hours (Delta's default of a week where a table sets none, or sets one
    in a form this doesn't read: vacuum itself goes by delta-rs's reading)."""
    found = INTERVAL.match(value or "")
    return float(found[1]) * UNIT_HOURS[found[2]] if found else DEFAULT_DAYS * 24.0


def shown(retention_hours: float) -> str:
    if retention_hours % 24:
        return f"{retention_hours:g} hours"
    days = int(retention_hours // 24)
    return "1 day" if days == 1 else f"{days} days"


def check_days(days: int) -> None:
    if not LEAST_DAYS <= days <= MAX_DAYS:
        raise UserError(f"--retention-days {days}: the lake's retention must be {LEAST_DAYS} to {MAX_DAYS} days "
                        f"(100 years); readers of the lake that started within it keep their files")


def longest(tables: dict[str, DeltaTable | None]) -> str:
    """The lake's retention as words: its tables' longest (they differ only after a `maintain
    --retention-days` stopped part way)."""
    held = [hours(table) for table in tables.values() if table is not None]
    return shown(max(held, default=DEFAULT_DAYS * 24.0))


def value_of(table: DeltaTable) -> str | None:
    return table.metadata().configuration.get(KEY)


def keep(table: DeltaTable, value: str | None, commit: CommitProperties) -> None:
    """Give the table the retention `value` (a setting as a table holds it; None: leave it) in a commit
    that keeps its rows (recovery.is_maintenance), unless it has it already."""
    if value is not None and value_of(table) != value:
        table.alter.set_table_properties({KEY: value}, commit_properties=commit)


def held(tables) -> str | None:
    """The longest setting the tables (None: a missing one) hold, None where none sets one."""
    values = [value for table in tables if table is not None and (value := value_of(table))]
    return max(values, key=hours_in, default=None)


def of_lake(lake: storage.Location) -> str | None:
    """The setting of a lake's tables that read (its longest), None where none does or sets one: what
    a lake made anew in its place keeps."""
    tables = []
    for name in TABLES:
        try:
            tables.append(open_table(lake, name, own=True))
        except (DeltaError, OSError):   # a damaged log: the tables that read still say it
            continue
    return held(tables)

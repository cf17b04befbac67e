"""The lake's retention as Delta engines write it (warehouse/retention.py)."""
from __future__ import annotations

import shutil

import pytest

from store.errors import UserError
from warehouse import retention


@pytest.mark.parametrize("value, hours", [("interval 7 days", 168), ("interval 1 day", 24), ("INTERVAL 1 WEEK", 168),
                                          ("interval 36 hours", 36), ("2 days", 168), ("interval 90 minutes", 1.5),
                                          ("INTERVAL 2 DAYS", 168), ("interval 1.5 days", 168), ("interval 2 weeks", 336),
                                          (None, 168), ("", 168), ("a fortnight", 168)])
def test_a_retention_setting_reads_in_hours_and_a_week_where_unreadable(value, hours):
    assert retention.hours_in(value) == hours


@pytest.mark.parametrize("value", ["interval 2 days", "INTERVAL 2 DAYS", "2 days", "interval 1.5 days",
                                   "interval 36 hours", "interval 2 weeks", "garbage"])
def test_a_retention_setting_reads_as_delta_rs_vacuum_reads_it(tmp_path, value):
    """Vacuum goes by delta-rs's reading of the property: `maintain` must read it the same, or
    `--retention-days 2` on a table another engine set to "INTERVAL 2 DAYS" changes nothing while
    vacuum keeps files a week, and its message names a retention vacuum didn't use."""
    import polars as pl
    from deltalake import DeltaTable, write_deltalake
    write_deltalake(str(tmp_path), pl.DataFrame({"a": [1]}).to_arrow())
    table = DeltaTable(str(tmp_path))
    table.alter.set_table_properties({retention.KEY: value})
    hours = retention.hours(table)
    table.vacuum(retention_hours=int(hours), enforce_retention_duration=True, dry_run=True)   # not below it
    with pytest.raises(Exception, match="minimum retention"):
        table.vacuum(retention_hours=int(hours) - 1, enforce_retention_duration=True, dry_run=True)


def test_a_retention_shows_in_days_where_whole():
    assert [retention.shown(h) for h in (24, 168, 36, 1.5)] == ["1 day", "7 days", "36 hours", "1.5 hours"]
    assert retention.hours_in(retention.setting(3)[retention.KEY]) == 72


@pytest.mark.parametrize("days", [0, -1, retention.MAX_DAYS + 1])
def test_a_retention_out_of_range_is_refused(days):
    with pytest.raises(UserError, match="must be 1 to 36500 days"):
        retention.check_days(days)


def test_a_table_made_beside_others_keeps_the_retention_they_hold(tmp_path):
    """A table a later version adds (or one made again) starts with the retention `maintain
    --retention-days` gave the others, not the default week."""
    from warehouse import lake
    tables = lake.ensure_tables(tmp_path)
    for table in tables.values():
        table.alter.set_table_properties(retention.setting(2))
    shutil.rmtree(tmp_path / "listings")
    assert retention.hours(lake.ensure_tables(tmp_path)["listings"]) == 48
    lake.ensure_tables(tmp_path)["papers"].alter.set_table_properties(retention.setting(9))
    shutil.rmtree(tmp_path / "listings")
    assert retention.hours(lake.ensure_tables(tmp_path)["listings"]) == 9 * 24   # the longest held

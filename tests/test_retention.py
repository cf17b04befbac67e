"""The lake's retention as Delta engines write it (warehouse/retention.py)."""
from __future__ import annotations

import pytest

from store.errors import UserError
from warehouse import retention


@pytest.mark.parametrize("value, hours", [("interval 7 days", 168), ("interval 1 day", 24), ("INTERVAL 1 WEEK", 168),
                                          ("interval 36 hours", 36), ("2 days", 48), ("interval 90 minutes", 1.5),
                                          (None, 168), ("", 168), ("a fortnight", 168)])
def test_a_retention_setting_reads_in_hours_and_a_week_where_unreadable(value, hours):
    assert retention.hours_in(value) == hours


def test_a_retention_shows_in_days_where_whole():
    assert [retention.shown(h) for h in (24, 168, 36, 1.5)] == ["1 day", "7 days", "36 hours", "1.5 hours"]
    assert retention.hours_in(retention.setting(3)[retention.KEY]) == 72


@pytest.mark.parametrize("days", [0, -1, retention.MAX_DAYS + 1])
def test_a_retention_out_of_range_is_refused(days):
    with pytest.raises(UserError, match="must be 1 to 36500 days"):
        retention.check_days(days)

"""Log checkpoints past the table's retention: `maintain` removes them (each holds the retention's
tombstones, and Delta keeps the log 30 days), and every version within the retention still loads."""
from __future__ import annotations

import os
import time

from deltalake import DeltaTable

from tests.test_lake import commit
from warehouse import lake, log_checkpoints, maintenance, recovery

DAY = 86400


def age(log, versions: list[int], days: float) -> None:
    """Those checkpoints written `days` ago."""
    then = time.time() - days * DAY
    for version in versions:
        os.utime(log / f"{version:020d}.checkpoint.parquet", (then, then))


def checkpointed(log) -> list[int]:
    return sorted(int(path.name[:20]) for path in log.glob("*.checkpoint.parquet"))


def test_maintain_removes_checkpoints_older_than_the_retention_and_the_versions_within_it_still_load(tmp_path):
    recovery.recover(tmp_path)
    for seq in range(1, 36):   # the runs table checkpoints at versions 9, 19 and 29
        commit(tmp_path, seq, f"r{seq}")
    log = tmp_path / "runs" / "_delta_log"
    age(log, [9, 19], days=8)   # past the 7 days' retention
    maintenance.maintain(tmp_path)
    latest = lake.open_table(tmp_path, "runs").version()
    assert checkpointed(log) == [19, 29, latest]   # the newest past the retention stays: versions after it load from it
    assert [DeltaTable(str(tmp_path / "runs"), version=v).version() for v in range(19, latest + 1)] == list(range(19, latest + 1))
    assert lake.read_table(tmp_path, "runs").height == 35


def test_a_checkpoint_past_the_retention_that_a_kept_version_loads_from_stays(tmp_path):
    recovery.recover(tmp_path)
    for seq in range(1, 36):
        commit(tmp_path, seq, f"r{seq}")
    log = tmp_path / "runs" / "_delta_log"
    age(log, [9, 19, 29], days=8)
    table = lake.open_table(tmp_path, "runs")
    assert log_checkpoints.prune_checkpoints(tmp_path, "runs", table, keep=[15]) == 1
    assert checkpointed(log) == [9, 29]
    assert DeltaTable(str(tmp_path / "runs"), version=15).version() == 15

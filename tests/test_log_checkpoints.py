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


def aged(log, days_of) -> None:
    """Each log file of the table written days_of(version, is_checkpoint) days ago."""
    now = time.time()
    for path in log.iterdir():
        if path.name[:20].isdigit():
            then = now - days_of(int(path.name[:20]), ".checkpoint." in path.name) * DAY
            os.utime(path, (then, then))


def test_the_latest_runs_rollback_still_finds_its_state_in_a_month_old_log_after_maintain(tmp_path):
    """A lake older than the log's 30 days whose latest run (8 commits to paper_authors, as a merge
    in parts makes) is 10 days old: `maintain` prunes the checkpoints older than the 7 days'
    retention, and a rollback of the latest run, which it keeps possible however old, still finds
    the version before it (looking back from the latest version, past the checkpoint it loads from)."""
    from tests.test_lake import authorship
    from warehouse import history
    recovery.recover(tmp_path)
    for seq in range(1, 21):
        lake.upsert(tmp_path, "paper_authors", authorship((f"{seq:04x}", 1, f"a{seq}")), seq, f"r{seq}", new_keys_only=True)
        commit(tmp_path, seq, f"r{seq}")
    for part in range(8):
        lake.upsert(tmp_path, "paper_authors", authorship((f"ff{part:02x}", 1, "b")), 21, "r21", new_keys_only=True,
                    part=f"r21-{part}")
    commit(tmp_path, 21, "r21")
    # the first commits past the log's retention, and the latest run past the lake's
    for name in ("paper_authors", "runs"):
        aged(tmp_path / name / "_delta_log", lambda version, checkpoint: 40 if version < 10 and not checkpoint else
             20 if version < 10 else 10)
    maintenance.maintain(tmp_path)
    done = history.rollback(tmp_path, "r21")
    assert done.versions["paper_authors"] == 20
    assert lake.read_table(tmp_path, "paper_authors").height == 20

"""SIGKILL a real `profile-etl run` process at every named point of a run, run again, and check
the home equals that of an uninterrupted run: no lost dump, no duplicate row, no orphan file."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import ingest
from store.faults import CRASH_ENV, FAIL_ENV, SIGNAL_ENV, InjectedFault
from store.lock import LOCK_FILE, flow_run_of
from tests import dumps
from tests.conftest import SAMPLE_NAME, write_dump
from tests.dumps import FIRST, LATER, later_snapshot, other_profile
from tests.warehouse_state import differences, lake_leftovers, run_statuses, same_tables, warehouse_tables

pytestmark = pytest.mark.e2e   # real runs killed at every point

BIN = Path(sys.executable).parent
POINTS = [
    "scan:done", "extract:batch-read", "extract:all-done", "validate:raw-validated", "normalise:tables-built",
    *[f"lake:committed:{t}" for t in ["dumps", "profile_snapshots", "listings", "rejects", "papers", "authors",
                                      "paper_authors", "profiles", "runs"]],
    "index:written",
    "load:copied", "load:table-synced:dumps", "load:table-synced:papers", "load:table-synced:runs",
    "normalise:merged", "load:before-commit", "load:built", "load:link-made", "load:published",
]


def with_bad_entry(text: str) -> str:
    header, blocks = dumps.split(text)
    blocks[1][0] = "LGFeb 30, 2024"
    return dumps.join(header, blocks)


@pytest.fixture(scope="module")
def homes(tmp_path_factory, sample_text, prefect_harness):
    """A home holding the sample (the state before the crashed run), the inbox of the second run,
    and the home an uninterrupted second run gives."""
    base = tmp_path_factory.mktemp("crash")
    inbox = base / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    ingest(home=base / "before", inbox=inbox, settle_seconds=0)
    ingest(home=base / "before", inbox=inbox, settle_seconds=0)  # both warehouse files exist: loads go in place
    write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    write_dump(inbox, "000_aaaabbbbccccdddd.txt", with_bad_entry(other_profile(sample_text)), LATER)
    shutil.copytree(base / "before", base / "expected", symlinks=True)
    ingest(home=base / "expected", inbox=inbox, settle_seconds=0)
    return base / "before", inbox, base / "expected"


def api_env() -> dict[str, str]:
    from prefect.settings import get_current_settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return env | {"PREFECT_API_URL": str(get_current_settings().api.url), "DO_NOT_TRACK": "1"}


def flow_run_state(flow_run_id: str) -> str:
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id).state.type.value


def killed_run(point: str, homes, tmp_path: Path) -> Path:
    """A copy of the home before the second run, after a `profile-etl run` process killed at point."""
    before, inbox, _ = homes
    home = tmp_path / "home"
    shutil.copytree(before, home, symlinks=True)
    killed = subprocess.run([str(BIN / "profile-etl"), "--home", str(home), "run", "--inbox", str(inbox),
                             "--settle-seconds", "0"], env=api_env() | {CRASH_ENV: point},
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, f"the run was not killed at {point}: {killed.stderr}"
    return home


@pytest.mark.parametrize("point", POINTS)
def test_killed_run_then_rerun_equals_uninterrupted_run(point, homes, tmp_path):
    before, inbox, expected = homes
    home = killed_run(point, homes, tmp_path)
    published = warehouse_tables(home)   # readers see the old state or the new one, nothing between
    assert same_tables(published, warehouse_tables(before)) or same_tables(published, warehouse_tables(expected))
    killed = flow_run_of((home / LOCK_FILE).read_text())   # the lock's record names the run that died holding it
    ingest(home=home, inbox=inbox, settle_seconds=0)
    assert differences(home, expected) == []
    assert flow_run_state(killed) == "CRASHED"   # not Running for ever in Prefect's UI
    assert lake_leftovers(home) == []
    assert set(run_statuses(home)) <= {"completed", "failed"}
    assert not list(home.glob(".warehouse.duckdb.tmp*"))


def test_a_run_killed_between_its_raw_copies_and_their_meta_file_leaves_raw_rebuildable(homes, tmp_path):
    """The copies the killed run wrote are named by the rerun's meta file (the rerun finds them written),
    so a lake rebuilt from raw/ holds every dump."""
    from flows.cli import main
    _, inbox, expected = homes
    home = killed_run("extract:copies-written", homes, tmp_path)
    ingest(home=home, inbox=inbox, settle_seconds=0)
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    assert differences(home, expected) == []


def test_a_rebuild_from_raw_after_a_killed_run_gives_its_dumps_a_run_row(homes, tmp_path, capsys):
    """The killed run's copies load, under that run's id, which gets a failed row in the history."""
    from flows.cli import main
    home = killed_run("lake:committed:listings", homes, tmp_path)
    assert main(["--home", str(home), "rebuild", "--from-raw"]) == 0
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        dead = con.execute("SELECT r.run_id, r.status, r.dumps_new, count(*) FROM dumps AS d JOIN runs AS r "
                           "USING (run_id) WHERE r.run_id NOT IN (SELECT run_id FROM runs WHERE status = 'completed') "
                           "GROUP BY ALL").fetchall()
        assert con.execute("SELECT count(*) FROM dumps WHERE run_id NOT IN (SELECT run_id FROM runs)").fetchone() == (0,)
    [(_, status, new, dumps)] = dead
    assert (status, new) == ("failed", dumps) and dumps > 0
    assert main(["--home", str(home), "check"]) == 0
    assert f"gave 1 run that the runs history lacks a failed row ({dead[0][0]})" in capsys.readouterr().err


def failed_run(point: str, homes, tmp_path: Path, monkeypatch) -> Path:
    """A copy of the home before the second run, after that run failed at point."""
    before, inbox, _ = homes
    home = tmp_path / "home"
    shutil.copytree(before, home, symlinks=True)
    monkeypatch.setenv(FAIL_ENV, point)
    with pytest.raises(InjectedFault):
        ingest(home=home, inbox=inbox, settle_seconds=0)
    monkeypatch.delenv(FAIL_ENV)
    return home


@pytest.mark.parametrize("point", ["extract:batch-read", "normalise:tables-built", "lake:committed:papers"])
def test_failed_run_keeps_the_previous_warehouse_and_is_marked_failed(point, homes, tmp_path, monkeypatch):
    before, inbox, expected = homes
    home = failed_run(point, homes, tmp_path, monkeypatch)
    assert differences(home, before) == []
    assert run_statuses(home) == ["completed", "completed", "failed"]
    assert lake_leftovers(home) == []
    ingest(home=home, inbox=inbox, settle_seconds=0)
    assert differences(home, expected) == []


@pytest.mark.parametrize("point", ["lake:committed:runs", "load:before-commit"])
def test_run_failing_while_committing_leaves_a_consistent_home(point, homes, tmp_path, monkeypatch):
    """When the lake itself can't be written (say the disk is full) there is nowhere to record the
    failure; the home stays as it was, or (past the lake commit) the warehouse catches up next run."""
    before, inbox, expected = homes
    home = failed_run(point, homes, tmp_path, monkeypatch)
    assert same_tables(warehouse_tables(home), warehouse_tables(before))
    assert lake_leftovers(home) == [] and not list(home.glob(".warehouse.duckdb.tmp*"))
    ingest(home=home, inbox=inbox, settle_seconds=0)
    assert differences(home, expected) == []
    assert run_statuses(home) == ["completed", "completed", "failed", "completed"]   # its data, but not `completed`


def test_a_stopped_run_removes_its_scratch(homes, tmp_path):
    """A run stopped (SIGTERM, Ctrl-C) after its merges left its whole reading's scratch in lake/_work/
    until the next run (0.5 GB after 40,000 dumps), though nothing reads it again."""
    before, inbox, _ = homes
    home = tmp_path / "home"
    shutil.copytree(before, home, symlinks=True)
    stopped = subprocess.run([str(BIN / "profile-etl"), "--home", str(home), "run", "--inbox", str(inbox),
                              "--settle-seconds", "0"], env=api_env() | {CRASH_ENV: "normalise:merged", SIGNAL_ENV: "TERM"},
                             capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 130, stopped.stderr
    assert not (home / "lake" / "_work").exists()

"""Two runs on one home, and readers that hold the warehouse open while a run publishes."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from flows.pipeline import ingest
from store.lock import RunLocked, run_lock
from tests.conftest import SAMPLE_NAME, write_dump
from tests.dumps import FIRST, LATER, later_snapshot
from tests.test_crash import api_env
from warehouse import files

# Tests that start run processes or readers are marked e2e one by one: the lock's in-process tests
# belong in the fast tier.

BIN = Path(sys.executable).parent
STATE_SQL = ("SELECT (SELECT count(*) FROM dumps), (SELECT count(*) FROM listings), (SELECT count(*) FROM papers), "
             "(SELECT sum(snapshots) FROM profiles)")

READER = textwrap.dedent("""
    import json, sys, duckdb
    from pathlib import Path
    db, stop, sql = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    held = duckdb.connect(db, read_only=True)
    seen = {"held": [], "fresh": []}
    while True:
        seen["held"].append(held.execute(sql).fetchone())
        with duckdb.connect(db, read_only=True) as fresh:
            seen["fresh"].append(fresh.execute(sql).fetchone())
        if len(seen["held"]) == 1:
            print("ready", flush=True)
        if stop.exists():
            break
    held.close()  # DuckDB shares one instance per file in a process: close it to see the new file
    with duckdb.connect(db, read_only=True) as fresh:
        seen["fresh"].append(fresh.execute(sql).fetchone())
    print(json.dumps(seen))
""")


def run_cli(home: Path, inbox: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "profile-etl"), "--home", str(home), "run", "--inbox", str(inbox),
                             "--settle-seconds", "0", "--json", *extra], env=api_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def state(home: Path) -> tuple:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(STATE_SQL).fetchone()


@pytest.fixture
def inbox(tmp_path, sample_text):
    folder = tmp_path / "inbox"
    write_dump(folder, SAMPLE_NAME, sample_text, FIRST)
    write_dump(folder, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    return folder


@pytest.mark.e2e
def test_two_runs_at_once_queue_and_load_everything_once(prefect_harness, tmp_path, inbox):
    home = tmp_path / "home"
    first, second = run_cli(home, inbox, "--wait", "300"), run_cli(home, inbox, "--wait", "300")
    results = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], [err for _, err in results]
    summaries = [json.loads(out) for out, _ in results]
    assert sorted(s["dumps_new"] for s in summaries) == [0, 2]
    assert state(home) == (2, 101, 52, 2)


@pytest.mark.e2e
def test_run_while_another_holds_the_home_exits_with_a_clear_message(prefect_harness, tmp_path, inbox):
    home = tmp_path / "home"
    with run_lock(home):
        blocked = run_cli(home, inbox)
        _, err = blocked.communicate(timeout=300)
        with pytest.raises(RunLocked, match="another run .*a deployment: its lock_wait_seconds parameter"):
            ingest(home=home, inbox=inbox, settle_seconds=0)   # a deployment's run has no --wait
    assert blocked.returncode == 2
    assert f"another run (pid {os.getpid()}) is working on {home}" in err and "--wait" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err   # one line, no Prefect log
    assert not (home / "warehouse.duckdb").exists()


@pytest.mark.e2e
def test_a_run_queued_behind_another_says_so(prefect_harness, tmp_path, inbox, capsys):
    """The wait was told to Prefect's log alone: a `watch` started during a backlog's first run queued
    its run for up to 10 minutes without a word on the terminal."""
    with run_lock(tmp_path / "home"), pytest.raises(RunLocked):
        ingest(home=tmp_path / "home", inbox=inbox, settle_seconds=0, lock_wait_seconds=1)
    told = f"profile-etl: another run (pid {os.getpid()}) is working on {tmp_path / 'home'}: waiting up to 1 s for it\n"
    assert told in capsys.readouterr().err


@pytest.mark.e2e
def test_readers_never_block_a_run_and_see_old_or_new_state(run_ingest, tmp_path, sample_text):
    home, first_inbox = tmp_path / "home", tmp_path / "first"
    write_dump(first_inbox, SAMPLE_NAME, sample_text, FIRST)
    run_ingest(home, first_inbox)
    old = state(home)
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(home / "warehouse.duckdb"), str(stop), STATE_SQL],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "ready"
    write_dump(first_inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    summary = run_ingest(home, first_inbox)
    stop.touch()
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    new = state(home)
    seen = {k: [tuple(v) for v in rows] for k, rows in json.loads(out.splitlines()[-1]).items()}
    assert summary["dumps_loaded"] == 1 and new != old
    assert set(seen["held"]) == {old}
    assert set(seen["fresh"]) <= {old, new} and seen["fresh"][-1] == new


@pytest.mark.e2e
def test_a_reader_holding_the_idle_warehouse_file_does_not_block_a_run(run_ingest, tmp_path, sample_text):
    """The file a run would load in place is still open in a reader from two publishes ago: the run
    loads a copy under that name instead, and the reader keeps what it opened."""
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    run_ingest(home, inbox)
    old, held_file = state(home), files.current(home / "warehouse.duckdb")
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(held_file), str(stop), STATE_SQL],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "ready"
    run_ingest(home, inbox)   # nothing new: publishes into the other file
    assert files.current(home / "warehouse.duckdb") != held_file
    write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    summary = run_ingest(home, inbox)
    stop.touch()
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    assert summary["dumps_loaded"] == 1
    assert files.current(home / "warehouse.duckdb") == held_file and state(home) != old
    seen = json.loads(out.splitlines()[-1])
    assert {tuple(v) for v in seen["held"]} == {old}


OPENER = textwrap.dedent("""
    import json, sys, duckdb
    from pathlib import Path
    db, stop = sys.argv[1], Path(sys.argv[2])
    opened, failed = 0, []
    print("ready", flush=True)
    while not stop.exists():
        try:
            duckdb.connect(db, read_only=True).close()
            opened += 1
        except duckdb.Error as exc:
            failed.append(str(exc))
    print(json.dumps({"opened": opened, "failed": failed}))
""")


@pytest.mark.e2e
def test_a_failed_run_prints_one_line_and_exits_1_and_verbose_shows_the_traceback(prefect_harness, tmp_path, inbox):
    from store.faults import FAIL_ENV
    home = tmp_path / "home"
    for extra, verbose in (((), False), (("--verbose",), True)):
        failed = subprocess.run([str(BIN / "profile-etl"), "--home", str(home), "run", "--inbox", str(inbox),
                                 "--settle-seconds", "0", *extra], env=api_env() | {FAIL_ENV: "normalise:tables-built"},
                                capture_output=True, text=True, timeout=300)
        assert failed.returncode == 1, failed.stderr
        assert failed.stderr.strip().splitlines()[-1].startswith("profile-etl: the run failed (InjectedFault")
        assert ("Traceback" in failed.stderr) == verbose, failed.stderr


@pytest.mark.e2e
def test_read_only_opens_never_fail_across_rebuilds_and_runs(run_ingest, tmp_path, inbox):
    """Case 7 of issue 21: `rebuild` deleted the previous file right after the switch, and DuckDB
    opens a link's target by its resolved name, so an open that resolved before the switch failed."""
    from flows.cli import main
    home = tmp_path / "home"
    run_ingest(home, inbox)
    stop = tmp_path / "stop"
    opener = subprocess.Popen([sys.executable, "-c", OPENER, str(home / "warehouse.duckdb"), str(stop)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert opener.stdout.readline().strip() == "ready"
    for round_ in range(12):
        assert main(["--home", str(home), "rebuild"]) == 0
        if round_ % 4 == 3:
            run_ingest(home, inbox)
    stop.touch()
    out, err = opener.communicate(timeout=120)
    seen = json.loads(out)
    assert seen["failed"] == [] and seen["opened"] > 0, err


@pytest.mark.e2e
def test_a_rebuild_leaves_the_file_a_reader_resolved_before_its_switch(run_ingest, tmp_path, inbox):
    """DuckDB opens a link's target by its resolved name twice (its header, then its blocks under a
    lock): both opens must reach one file even when a rebuild switches the link between them. A
    rebuild had copied the new file over the previous name, so a reader mixed the two files
    ("field id mismatch")."""
    from flows.cli import main
    home = tmp_path / "home"
    run_ingest(home, inbox)
    assert main(["--home", str(home), "rebuild"]) == 0
    run_ingest(home, inbox)   # the previous file, brought up to date in place, is laid out unlike a rebuilt one
    link = home / "warehouse.duckdb"
    resolved = link.parent / os.readlink(link)
    with open(resolved, "rb") as first:
        header = first.read(12288)
        assert main(["--home", str(home), "rebuild"]) == 0
        with open(resolved, "rb") as second:
            assert os.fstat(second.fileno()).st_ino == os.fstat(first.fileno()).st_ino
            assert second.read(12288) == header
    run_ingest(home, inbox)   # the file the rebuild left behind is copied over, never loaded in place
    assert main(["--home", str(home), "check"]) == 0


def test_the_lock_message_names_what_holds_the_home(tmp_path):
    with run_lock(tmp_path / "home", what="rollback"):
        with pytest.raises(RunLocked, match=rf"another rollback \(pid {os.getpid()}\) is working on"):
            with run_lock(tmp_path / "home"):
                pass


def test_a_run_that_waits_for_the_lock_says_so_once(tmp_path):
    """A deployment's run queued behind another (lock_wait_seconds, 600 by default) must not sit
    silent in Prefect's UI for minutes."""
    import threading
    said, waiting, got = [], threading.Event(), []

    def tell(line: str) -> None:
        said.append(line)
        waiting.set()

    def queued() -> None:
        with run_lock(tmp_path / "home", 600, waiting=tell):
            got.append(True)
    with run_lock(tmp_path / "home", what="rollback"):
        thread = threading.Thread(target=queued)
        thread.start()
        assert waiting.wait(60)
    thread.join(60)
    assert got == [True] and said == [f"another rollback (pid {os.getpid()}) is working on {tmp_path / 'home'}: "
                                      "waiting up to 600 s for it"]


def test_a_home_this_user_cant_write_is_refused_with_the_reason(tmp_path, monkeypatch):
    """Root writes anywhere, so the lock file's open is refused as the OS refuses another user's."""
    from store import lock
    from store.errors import UserError

    def refused(path, *args):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))
    monkeypatch.setattr(lock.os, "open", refused)
    with pytest.raises(UserError, match=r"can't write the home's lock .*run.lock \(Permission denied\).*Nothing was "
                                        r"changed") as refusal:
        with run_lock(tmp_path / "home"):
            pass
    assert refusal.value.exit_code == 2


def test_the_lock_names_to_its_next_holder_only_a_holder_that_died_holding_it(tmp_path):
    """A run's record names its flow run; one that lets go, however its run ended, clears it."""
    from store.lock import LOCK_FILE, flow_run_of
    home = tmp_path / "home"
    with pytest.raises(RuntimeError), run_lock(home, flow_run_id="f1") as died:
        assert died == "" and flow_run_of((home / LOCK_FILE).read_text()) == "f1"
        raise RuntimeError("the run failed")
    with run_lock(home) as died:
        assert died == ""
    (home / LOCK_FILE).write_text(f"{2**22 + 1} run flow-run=f2")   # as a killed holder leaves it
    with run_lock(home, 0, "doctor") as died:   # a command without a flow run passes it on
        assert flow_run_of(died) == "f2" and flow_run_of((home / LOCK_FILE).read_text()) is None
    with run_lock(home, flow_run_id="f3") as died:
        assert flow_run_of(died) == "f2" and flow_run_of((home / LOCK_FILE).read_text()) == "f3"
    with run_lock(home) as died:
        assert died == ""


def test_the_current_holder_is_the_live_process_holding_the_lock(tmp_path):
    """A killed holder's record, on a lock the OS has let go, names no holder (its pid may be another
    process's by now)."""
    from store.lock import LOCK_FILE, current_holder
    home = tmp_path / "home"
    assert current_holder(home) is None   # no lock file
    with run_lock(home, what="rollback"):
        assert current_holder(home) == f"{os.getpid()} rollback"
    assert current_holder(home) is None   # let go: its record cleared
    (home / LOCK_FILE).write_text(f"{os.getpid()} run flow-run=f2")   # as a killed holder leaves it
    assert current_holder(home) is None


@pytest.mark.e2e
def test_a_run_that_wont_wait_is_refused_before_prefect_starts(tmp_path, inbox):
    """It was refused once Prefect's temporary server had started, about ten seconds in."""
    home, prefect_home = tmp_path / "home", tmp_path / "prefect"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {"PREFECT_HOME": str(prefect_home)}
    with run_lock(home):
        refused = subprocess.run([str(BIN / "profile-etl"), "--home", str(home), "run", "--inbox", str(inbox)],
                                 env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and f"another run (pid {os.getpid()}) is working on {home}" in refused.stderr
    assert not (prefect_home / "prefect.db").exists(), "the temporary server started"

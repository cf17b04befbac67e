"""A run's head start: batches and merges begun before Prefect is up, then taken over by the flow."""
from __future__ import annotations

from collections import Counter
from concurrent.futures import Future
from types import SimpleNamespace

import polars as pl
import pytest

from flows import batch, headstart, merge, workers
from flows.faults import FAIL_ENV, InjectedFault
from flows.lock import run_lock
from flows.pipeline import ingest
from flows.settings import Settings
from schemas.tables import TABLES, empty_frame
from warehouse import lake, load
from tests.conftest import SAMPLE_NAME, write_dump
from tests.test_pipeline import FIRST, LATER, later_snapshot, other_profile
from tests.warehouse_state import differences, run_statuses, same_tables, unlisted_lake_files, warehouse_tables


@pytest.fixture
def inbox(tmp_path, sample_text):
    folder = tmp_path / "inbox"
    write_dump(folder, SAMPLE_NAME, sample_text, FIRST)
    write_dump(folder, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    write_dump(folder, "000_aaaabbbbccccdddd.txt", other_profile(sample_text), LATER)
    return folder


def settings_for(home, inbox) -> Settings:
    return Settings.load(home=home, inbox=inbox, settle_seconds=0, batch_size=1)


def head_started_run(home, inbox, load_first: bool = False) -> tuple[headstart.HeadStart, dict]:
    """With load_first, the flow starts once the load ahead has begun, as when Prefect's start takes
    its usual seconds (else a flow against the tests' running server may commit before it begins)."""
    with headstart.begin(settings_for(home, inbox)) as ahead:
        if load_first and ahead.merges:
            load_begun(ahead)
        summary = ingest(home=home, inbox=inbox, settle_seconds=0, batch_size=1)
    return ahead, summary


GROUPS = -(-len(lake.BUCKETS) // merge.GROUP_SIZE)


@pytest.fixture
def submitted(monkeypatch) -> Counter:
    """What the run's pool was given, by function name (the workers' start-up calls left out)."""
    names, pool = Counter(), workers.pool

    def recording(*args) -> SimpleNamespace:
        def submit(fn, *fn_args):
            names[fn.__name__] += fn.__name__ != "getpid"
            return pool(*args).submit(fn, *fn_args)
        return SimpleNamespace(submit=submit)
    monkeypatch.setattr(workers, "pool", recording)
    return names


@pytest.fixture
def plain_loads(monkeypatch) -> list:
    """The warehouse loads made the usual way (not finished from a load begun ahead)."""
    calls, original = [], load.load
    monkeypatch.setattr(load, "load", lambda *args: calls.append(args) or original(*args))
    return calls


def load_begun(ahead: headstart.HeadStart):
    """The warehouse load the head start began (warehouse/pending.py), once it has, or None."""
    ahead.merges._thread.join()
    if ahead.merges._loader is not None:
        ahead.merges._loader.join()
    return ahead.merges.load


def test_a_head_started_run_is_the_run_the_flow_makes(prefect_harness, tmp_path, inbox, submitted, plain_loads):
    home = tmp_path / "ahead"
    with headstart.begin(settings_for(home, inbox)) as ahead:
        load_begun(ahead)   # as Prefect's start would let it (see head_started_run)
        summary = ingest(home=home, inbox=inbox, settle_seconds=0, batch_size=1)
    assert len(ahead.jobs) == 3 and summary["run_id"] == ahead.run_id and summary["dumps_loaded"] == 3
    # each batch and each merge went to the pool once, begun ahead: the flow's tasks collected them
    assert +submitted == {"process_batch": 3, "merge_profile_table": 1, "merge_group": GROUPS}
    assert ahead.merges.plan is not None
    assert plain_loads == []   # the flow finished the warehouse load begun ahead
    ingest(home=tmp_path / "plain", inbox=inbox, settle_seconds=0, batch_size=1)
    assert differences(home, tmp_path / "plain") == []
    _, again = head_started_run(home, inbox)   # nothing new: planned ahead, nothing to read
    assert again["dumps_new"] == 0 and again["files_read"] == 0


def test_a_failing_head_started_batch_fails_the_run_and_keeps_the_home(prefect_harness, tmp_path, inbox,
                                                                      monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv(FAIL_ENV, "extract:batch-read")   # before the head start spawns its workers
    with pytest.raises(InjectedFault):
        head_started_run(home, inbox)
    assert run_statuses(home) == ["failed"] and unlisted_lake_files(home) == []
    monkeypatch.delenv(FAIL_ENV)
    head_started_run(home, inbox)
    ingest(home=tmp_path / "plain", inbox=inbox, settle_seconds=0, batch_size=1)
    assert differences(home, tmp_path / "plain") == []


def test_a_dump_two_batches_read_leaves_the_merges_to_the_flow(prefect_harness, tmp_path, inbox, sample_text,
                                                               submitted):
    write_dump(inbox / "elsewhere", "copy_of_sample.txt", sample_text, LATER)   # same bytes, another batch
    ahead, summary = head_started_run(tmp_path / "home", inbox)
    assert ahead.merges.plan is None and summary["dumps_loaded"] == 3
    # the flow read the later batch again without the copy, then merged (once)
    assert +submitted == {"process_batch": 5, "merge_profile_table": 1, "merge_group": GROUPS}
    ingest(home=tmp_path / "plain", inbox=inbox, settle_seconds=0, batch_size=1)
    assert differences(tmp_path / "home", tmp_path / "plain") == []


def test_head_started_runs_each_into_an_idle_file_a_publish_behind_equal_plain_runs(prefect_harness, tmp_path,
                                                                                    sample_text, plain_loads):
    """The third run's idle file lacks the second run's files: its load ahead catches up first,
    then upserts the run's bucket files over the rows they change."""
    inbox = tmp_path / "inbox"
    for name, text, when in [(SAMPLE_NAME, sample_text, FIRST),
                             ("001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER),
                             ("000_aaaabbbbccccdddd.txt", other_profile(sample_text), LATER)]:
        write_dump(inbox, name, text, when)
        head_started_run(tmp_path / "ahead", inbox, load_first=True)
        ingest(home=tmp_path / "plain", inbox=inbox, settle_seconds=0, batch_size=1)
        assert differences(tmp_path / "ahead", tmp_path / "plain") == [], name
    assert len(plain_loads) == 3, plain_loads   # the plain runs' loads: every head-started run finished its own


def test_a_load_begun_for_another_lake_than_the_committed_one_is_rolled_back(prefect_harness, tmp_path, inbox,
                                                                             plain_loads):
    home = tmp_path / "home"
    with headstart.begin(settings_for(home, inbox)) as ahead:
        begun = load_begun(ahead)
        begun.files["dumps"] = begun.files["dumps"][:-1]   # as if it had missed a file the commit lists
        ingest(home=home, inbox=inbox, settle_seconds=0, batch_size=1)
    assert not begun.finished and len(plain_loads) == 1   # the flow loaded the committed lake itself
    ingest(home=tmp_path / "plain", inbox=inbox, settle_seconds=0, batch_size=1)
    assert differences(home, tmp_path / "plain") == []


def test_a_run_failing_after_its_load_began_keeps_the_warehouse_and_records_the_failure(
        prefect_harness, tmp_path, inbox, sample_text, monkeypatch):
    home, first = tmp_path / "home", tmp_path / "first"
    write_dump(first, SAMPLE_NAME, sample_text, FIRST)
    ingest(home=home, inbox=first, settle_seconds=0)
    before = warehouse_tables(home)
    with headstart.begin(settings_for(home, inbox)) as ahead:
        assert load_begun(ahead) is not None
        monkeypatch.setenv(FAIL_ENV, "lake:file-written:profiles")   # in the lake commit, after the load began
        with pytest.raises(InjectedFault):
            ingest(home=home, inbox=inbox, settle_seconds=0, batch_size=1)
    monkeypatch.delenv(FAIL_ENV)
    assert run_statuses(home) == ["completed", "failed"] and same_tables(warehouse_tables(home), before)
    assert unlisted_lake_files(home) == []
    head_started_run(home, inbox)
    for folder in (first, inbox):
        ingest(home=tmp_path / "plain", inbox=folder, settle_seconds=0, batch_size=1)
    assert differences(home, tmp_path / "plain") == []


def test_no_head_start_while_another_run_holds_the_home(tmp_path, inbox):
    home = tmp_path / "home"
    with run_lock(home), headstart.begin(settings_for(home, inbox)) as ahead:
        assert ahead is None and workers._ahead == {}
    assert not (home / "lake").exists()   # it didn't plan: planning clears a crashed run's lake files


@pytest.mark.parametrize("batch_size, reprocess, local", [(2, False, True), (1, True, True), (1, False, False)])
def test_the_flow_refuses_a_head_start_made_for_another_run(tmp_path, inbox, batch_size, reprocess, local):
    home = tmp_path / "home"
    with headstart.begin(settings_for(home, inbox)):
        with pytest.raises(RuntimeError, match="head start was planned for|not for a flow on a Dask cluster"):
            headstart.take(Settings.load(home=home, inbox=inbox, settle_seconds=0, batch_size=batch_size), reprocess,
                           local)


def test_a_head_start_whose_planning_fails_leaves_the_run_to_the_flow(tmp_path, inbox, monkeypatch):
    def unreadable(*args):
        raise OSError("lake manifest unreadable")
    monkeypatch.setattr(headstart.discover, "plan_run", unreadable)
    home = tmp_path / "home"
    with headstart.begin(settings_for(home, inbox)) as ahead:
        assert ahead is None
        with run_lock(home):    # released: the flow can take it
            pass


def test_the_flow_gets_every_worker_while_work_is_left_to_them(tmp_path):
    batch_done = Future()
    merges = headstart.MergesAhead(settings_for(tmp_path / "home", tmp_path / "inbox"), "run", [batch_done])
    assert merges.needs_workers()   # its batch still running
    batch_done.set_exception(OSError("disk full"))
    merges.join()
    # no merge began: the flow reads the batch again and merges itself
    assert merges.plan is None and merges.needs_workers()


def test_no_worker_is_added_when_nothing_is_left_to_merge(tmp_path):
    batch_done = Future()
    batch_done.set_result(batch.BatchResult(0, pl.DataFrame(), empty_frame(TABLES["dumps"])))
    merges = headstart.MergesAhead(settings_for(tmp_path / "home", tmp_path / "inbox"), "run", [batch_done])
    merges.join()
    assert not merges.needs_workers()   # every file read was a dump already loaded


def test_no_worker_is_added_for_merges_begun_ahead_alone(tmp_path, monkeypatch):
    merge_running = Future()
    monkeypatch.setattr(headstart.workers, "submit_ahead", lambda fn, job: merge_running)
    monkeypatch.setattr(headstart.merge, "MergePlan", lambda *args: SimpleNamespace(profiles=None, groups=["one"]))
    batch_done = Future()
    batch_done.set_result(batch.BatchResult(0, pl.DataFrame(), pl.DataFrame({"dump_id": ["d1"]})))
    merges = headstart.MergesAhead(settings_for(tmp_path / "home", tmp_path / "inbox"), "run", [batch_done])
    merges._thread.join()
    try:
        assert merges.plan is not None and not merge_running.done()
        assert not merges.needs_workers()   # a merge still runs, but a new worker would be up after it
    finally:
        merge_running.set_exception(OSError("ended by the test"))
        merges.join()

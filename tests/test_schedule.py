"""Scheduled and event-driven runs: a real Prefect server serving the flow, the inbox watcher,
and the run artifact read back through the Prefect client."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC
from pathlib import Path

import duckdb
import polars as pl
import pytest

from core.validate import FILE_SCHEMA
from flows import file_index
from flows.artifact import ARTIFACT_KEY, MARKDOWN_SYNTAX, artifact_key
from flows.pipeline import ingest
from flows.prefect_env import run_tags
from flows.schedule import Watcher, deployment_name, watch
from store import storage
from store.faults import FAIL_ENV, InjectedFault
from store.settings import Settings
from tests.conftest import SAMPLE_NAME, write_dump
from tests.dumps import FIRST, LATER, later_snapshot
from tests.servers import (BIN, deployment_paused, dump_count, free_port, healthy, lasting_server,
                           latest_flow_run_tasks_and_logs, prefect_client, prefect_env, stop, until)

# Tests that start a lasting Prefect server or run processes are marked e2e one by one: the Watcher's
# fake-clock tests and the in-process serve/watch tests belong in the fast tier.



def completed_scheduled_runs(api_url: str, home: Path) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterName, FlowRunFilter,
                                                FlowRunFilterState, FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType

    async def count() -> int:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment_name(home)])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
                    any_=[StateType.COMPLETED]))))
            return len(runs)
    from prefect.settings import PREFECT_API_URL, temporary_settings
    with temporary_settings({PREFECT_API_URL: api_url}):
        return asyncio.run(count())


@pytest.mark.e2e
def test_served_flow_runs_on_its_schedule_and_loads_new_dumps(tmp_path, sample_text):
    port, inbox, home = free_port(), tmp_path / "inbox", tmp_path / "home"
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api, "DO_NOT_TRACK": "1"}
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    server = subprocess.Popen([str(BIN / "profile-etl"), "server", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    served, output = None, tmp_path / "serve.out"
    try:
        until(lambda: healthy(api), 120, "the Prefect server")
        ui = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/ui-settings", timeout=5).read())
        assert ui["api_url"] == api   # the UI calls this server, not the default port
        settings = json.loads(urllib.request.urlopen(f"{api}/admin/settings", timeout=5).read())
        assert set(settings["server"]["services"]["db_vacuum"]["enabled"]) == {"events", "flow_runs"}
        with output.open("w") as out:
            served = subprocess.Popen([str(BIN / "profile-etl"), "--home", str(home), "serve", "--interval", "5",
                                       "--inbox", str(inbox)], env=env | {"PROFILE_ETL_SETTLE_SECONDS": "0"},
                                      stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        until(lambda: dump_count(home) == 1, 180, "the first scheduled run to load the sample")
        write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
        until(lambda: dump_count(home) == 2, 180, "a later scheduled run to load the dropped-in dump")
        assert until(lambda: completed_scheduled_runs(api, home) >= 2, 60, "two completed scheduled runs")
        until(lambda: "1 loaded, 0 partial, 0 quarantined, 0 new profiles" in output.read_text(), 60,
              "the later run's result line")
        os.killpg(served.pid, signal.SIGINT)   # Ctrl-C: the serve pauses its schedule, and ends
        assert served.wait(timeout=60) == 0
        assert deployment_paused(api, deployment_name(home))
    finally:
        if served is not None:
            stop(served)
        server.send_signal(signal.SIGTERM)   # to the command alone: it must stop its Prefect server too
        try:
            code = server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stop(server)
            raise
    assert code == 0 and not healthy(api)
    # the runs' deployment concurrency leases were kept on disk, where a restarted server finds them
    assert (tmp_path / "prefect" / "concurrency_leases").is_dir()
    lines = output.read_text()
    assert "profile-etl: deployment run " in lines and "1 loaded, 0 partial, 0 quarantined, 1 new profile;" in lines, lines


def latest_summary(home: Path):
    """The latest run summary artifact of a home, as the Artifacts page shows it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def latest():
        async with get_client() as client:
            return await client.read_latest_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(
                any_=[artifact_key(Settings.load(home=home).home)])))
    return asyncio.run(latest())[0]


@pytest.mark.e2e
def test_run_artifact_reads_back_through_the_client(run_ingest, tmp_path, sample_text):
    write_dump(tmp_path / "inbox", SAMPLE_NAME, sample_text, FIRST)
    (tmp_path / "inbox" / "000_empty.txt").write_bytes(b"")
    os.utime(tmp_path / "inbox" / "000_empty.txt", (FIRST.timestamp(),) * 2)
    summary = run_ingest(tmp_path / "home", tmp_path / "inbox")
    artifact = latest_summary(tmp_path / "home")
    assert artifact.type == "markdown" and f"# Run {summary['run_id']}: completed" in artifact.data
    home = MARKDOWN_SYNTAX.sub(r"\\\1", str(Settings.load(home=tmp_path / "home").home))
    assert f"Home: {home}\n" in artifact.data   # which home, on a server that several report to
    assert "| 2 | 2 | 1 | 0 | 1 | 0 |" in artifact.data.replace("dumps seen", "")
    assert r"000\_empty.txt | quarantined | empty file \(" in artifact.data   # Markdown punctuation escaped


@pytest.mark.e2e
def test_two_homes_on_one_server_each_keep_their_latest_run_summary(run_ingest, tmp_path, sample_text):
    """An artifact key is global on a Prefect server: another home's run must not replace this home's
    latest summary (the Artifacts page shows the latest of each key)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    runs = []
    for team in ("a", "b"):
        write_dump(tmp_path / team / "inbox", SAMPLE_NAME, sample_text, FIRST)
        runs.append(run_ingest(tmp_path / team / "home", tmp_path / team / "inbox")["run_id"])
    with get_client(sync_client=True) as client:
        latest = client.read_latest_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(
            like_=f"{ARTIFACT_KEY}%")))
    for run_id in runs:
        assert any(f"# Run {run_id}: completed" in artifact.data for artifact in latest), run_id


@pytest.mark.e2e
def test_a_runs_batches_merges_and_load_are_task_runs_of_its_flow_run_with_their_logs(run_ingest, tmp_path,
                                                                                     sample_text, monkeypatch):
    write_dump(tmp_path / "inbox", SAMPLE_NAME, sample_text, FIRST)
    run_ingest(tmp_path / "home", tmp_path / "inbox")
    state, tasks, logs = latest_flow_run_tasks_and_logs()
    assert state == "COMPLETED" and {"process_batch", "merge_table", "publish_warehouse"} <= prefixes(tasks)
    # each named for what it did: which files a batch read, which table a merge wrote
    assert {f"process_batch-0: 1 file, {SAMPLE_NAME}", "merge_table-papers", "merge_table-profiles"} <= tasks
    assert any(line.startswith("batch 0: 1 files read, 1 new dumps (1 loaded)") for line in logs)
    write_dump(tmp_path / "inbox", "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    monkeypatch.setenv(FAIL_ENV, "normalise:merged")   # a failed run's restore and failed row: a task run too
    with pytest.raises(InjectedFault) as failed:
        run_ingest(tmp_path / "home", tmp_path / "inbox")
    state, tasks, logs = latest_flow_run_tasks_and_logs()
    assert state == "FAILED" and "record_failed_run" in prefixes(tasks) and "publish_warehouse" not in prefixes(tasks)
    # what became of the data, said in Prefect too, and the home's latest summary is this failure, not the run before
    said = f"run {failed.value.run_id} failed (InjectedFault: "
    assert any(line.startswith(said) and "the lake was restored to before the run" in line for line in logs), logs
    summary = latest_summary(tmp_path / "home").data
    assert summary.startswith(f"# Run {failed.value.run_id}: failed") and "InjectedFault" in summary, summary
    assert "The lake was restored to before the run" in summary


def prefixes(task_run_names: set[str]) -> set[str]:
    return {name.split("-", 1)[0] for name in task_run_names}


@pytest.mark.e2e
def test_a_partial_dumps_rejected_entries_are_a_warning_in_the_runs_log(run_ingest, tmp_path, sample_text):
    from tests import dumps
    header, blocks = dumps.split(sample_text)
    blocks[4][0] = "LGFeb 30, 2024"
    write_dump(tmp_path / "inbox", "000_badbadbadbadbad0.txt", dumps.join(header, blocks), FIRST)
    run_ingest(tmp_path / "home", tmp_path / "inbox")
    _, _, logs = latest_flow_run_tasks_and_logs()
    assert any(line.startswith("1 new dump was loaded partly") and
               line.endswith("000_badbadbadbadbad0.txt: 1 of 50 entries rejected") for line in logs), logs


def test_watch_says_when_a_failed_run_could_not_reach_prefects_api(tmp_path, sample_text, capsys, monkeypatch):
    import httpx
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    write_dump(tmp_path / "inbox", SAMPLE_NAME, sample_text, FIRST)
    settings = Settings.load(home=tmp_path / "home", inbox=tmp_path / "inbox", settle_seconds=0)

    def run() -> dict:
        try:
            raise httpx.ConnectError("[Errno 111] Connection refused")
        except httpx.ConnectError as cause:
            raise RuntimeError("Failed to reach API") from cause
    stops = iter([False])
    assert watch(settings, run, 0, 0, should_stop=lambda: next(stops, True)) == 1
    assert "didn't answer: start the server (`profile-etl server`)" in capsys.readouterr().err


def test_an_idle_watch_looks_at_a_slow_inbox_less_often(tmp_path, monkeypatch):
    """Listing a 20,000-file inbox every second took a sixth of a core while nothing arrived."""
    from flows import schedule
    clock, pauses = [0.0], []
    monkeypatch.setattr(schedule.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(schedule.time, "sleep", pauses.append)
    looks = iter([0.01, 1.0])   # seconds each look at the inbox takes

    def due(self) -> bool:
        clock[0] += next(looks)
        return False
    monkeypatch.setattr(schedule.Watcher, "due", due)
    settings = Settings.load(home=tmp_path / "home", inbox=tmp_path, settle_seconds=0)
    stops = iter([False, False])
    assert watch(settings, lambda: {}, 0, 1.0, should_stop=lambda: next(stops, True)) == 0
    assert pauses == [1.0, pytest.approx((1 - schedule.POLL_SHARE) / schedule.POLL_SHARE)]


def test_watcher_waits_for_a_burst_to_go_quiet(tmp_path, sample_text):
    now = [0.0]
    settings = Settings.load(home=tmp_path / "home", inbox=tmp_path / "inbox", settle_seconds=0)   # quiet alone
    watcher = Watcher(settings, quiet_seconds=2, clock=lambda: now[0])
    assert not watcher.due()
    path = write_dump(settings.inbox, "000_a.txt", sample_text[:1000], FIRST)
    write_dump(settings.inbox, "000_b.txt.part", sample_text, FIRST)
    assert not watcher.due()                          # something new: start the quiet period
    now[0] = 1.5
    with open(path, "a") as handle:                   # still being written: the quiet period restarts
        handle.write(sample_text[1000:2000])
    assert not watcher.due()
    now[0] = 3.0
    assert not watcher.due()
    now[0] = 3.6
    assert watcher.due()
    watcher.ran()
    assert not watcher.due()


def test_watcher_waits_for_the_settle_time_when_the_quiet_period_is_shorter(tmp_path, sample_text):
    """`--quiet-seconds` below the settle time: a run then would find the new files still settling
    and load nothing (an empty run, in `runs` and Prefect, each quiet period until they settle)."""
    wall = [FIRST.timestamp()]
    settings = Settings.load(home=tmp_path / "home", inbox=tmp_path / "inbox", settle_seconds=5)
    watcher = Watcher(settings, quiet_seconds=0, clock=lambda: wall[0], wall_clock=lambda: wall[0])
    write_dump(settings.inbox, "000_a.txt", sample_text, FIRST)   # written just now
    for wall[0] in (FIRST.timestamp() + 1, FIRST.timestamp() + 4.5):
        assert not watcher.due()
    wall[0] = FIRST.timestamp() + 5.5
    assert watcher.due()


def test_watcher_waits_for_a_sidecar_younger_than_its_dump_as_the_run_does(tmp_path, sample_text):
    """A dump past the settle time whose sidecar, written after it, is not: the run's listing leaves the
    dump waiting, so a run then loaded nothing (an empty run each quiet period until the sidecar settled)."""
    wall = [FIRST.timestamp() + 3]
    settings = Settings.load(home=tmp_path / "home", inbox=tmp_path / "inbox", settle_seconds=5)
    watcher = Watcher(settings, quiet_seconds=0, clock=lambda: wall[0], wall_clock=lambda: wall[0])
    write_dump(settings.inbox, "000_a.txt", sample_text, FIRST)
    write_dump(settings.inbox, "000_a.meta.json", json.dumps({"captured_at": "2026-06-01T00:00:00Z"}),
               FIRST + dt.timedelta(seconds=3))
    for wall[0] in (FIRST.timestamp() + 5.5, FIRST.timestamp() + 7.5):   # the dump settled, its sidecar not
        assert not watcher.due()
    wall[0] = FIRST.timestamp() + 8.5
    assert watcher.due()


def test_files_a_run_left_unread_wait_for_the_retry_time_or_a_new_file(tmp_path, sample_text):
    """An unreadable file (no permission, an archived object) must not make `watch` run every quiet period."""
    now = [0.0]
    settings = Settings.load(home=tmp_path / "home", inbox=tmp_path / "inbox")
    watcher = Watcher(settings, quiet_seconds=2, clock=lambda: now[0], retry_seconds=60)
    write_dump(settings.inbox, "000_a.txt", sample_text, FIRST)   # never indexed: as if unreadable
    assert not watcher.due()
    now[0] = 2.5
    assert watcher.due()
    watcher.ran()                                      # the run leaves it unread
    for now[0] in (3.0, 10.0, 30.0, 59.0):
        assert not watcher.due()
    write_dump(settings.inbox, "001_b.txt", sample_text.replace("h-index28", "h-index29"), FIRST)
    now[0] = 59.5
    assert not watcher.due()                           # a new file: its quiet period starts
    now[0] = 62.0
    assert watcher.due()
    watcher.ran()                                      # both left unread now
    now[0] = 100.0
    assert not watcher.due()
    now[0] = 122.5                                     # retry_seconds after that run
    assert not watcher.due()                           # they count again: their quiet period starts
    now[0] = 125.0
    assert watcher.due()


@pytest.mark.e2e
def test_watch_loads_a_burst_in_few_runs_and_a_slow_file_whole(prefect_harness, tmp_path, sample_text, capsys):
    settings = Settings.load(home=tmp_path / "home", inbox=tmp_path / "inbox", settle_seconds=3)
    settings.inbox.mkdir(parents=True)
    stop_watching, runs = threading.Event(), []

    def run() -> dict:
        return ingest(home=settings.home, inbox=settings.inbox, settle_seconds=settings.settle_seconds)
    thread = threading.Thread(target=lambda: runs.append(watch(settings, run, 1.0, 0.2, stop_watching.is_set)))
    thread.start()
    try:
        for i in range(40):
            write_dump(settings.inbox, f"{i:03d}_p{i}.txt", sample_text.replace("h-index28", f"h-index{i}"), FIRST)
        slow, text = settings.inbox / "100_slow.txt", sample_text.replace("h-index28", "h-index99")
        for start in range(0, len(text), len(text) // 5 + 1):
            with open(slow, "a", encoding="utf-8") as handle:  # a writer that takes its time
                handle.write(text[start:start + len(text) // 5 + 1])
            time.sleep(0.3)
        until(lambda: dump_count(settings.home) == 41, 120, "the watcher to load all 41 dumps")
    finally:
        stop_watching.set()
        thread.join(timeout=120)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        slow_rows = con.execute("SELECT entries_found, status FROM dumps WHERE source_path LIKE '%100_slow.txt'").fetchall()
        run_count = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    assert slow_rows == [(50, "loaded")]
    assert runs and runs[0] == run_count <= 4
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("watch: run ")]
    assert len(lines) == run_count and all(" loaded, " in line and " s end to end, " in line for line in lines), lines


def test_prefect_yaml_deploys_the_ingest_flow_from_a_folder_outside_the_clone(tmp_path, monkeypatch):
    """As a worker loads it after its pull step, in the folder of the home: for an installed package,
    a copy of prefect.yaml beside a home, no clone's flows/ there."""
    import yaml
    from prefect.flows import load_flow_from_entrypoint
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "prefect.yaml").read_text())
    [deployment] = config["deployments"]
    monkeypatch.chdir(tmp_path)
    flow = load_flow_from_entrypoint(deployment["entrypoint"])
    assert flow.name == "profile-etl-ingest"
    assert set(deployment["parameters"]) <= set(flow.parameters.properties)
    assert deployment["concurrency_limit"]["limit"] == 1


def test_watcher_sees_the_dumps_of_a_rolled_back_run_as_new(tmp_path, sample_text, monkeypatch):
    """Indexed files whose dump the lake no longer holds are pending, as a run reads them again."""
    from warehouse import lake
    now = [0.0]
    settings = Settings.load(home=tmp_path / "home", inbox=tmp_path / "inbox")
    path = write_dump(settings.inbox, "000_a.txt", sample_text, FIRST)
    stat = path.stat()
    file_index.add_to_file_index(settings.state, [pl.DataFrame(
        {"path": [str(path)], "size": [stat.st_size], "mtime_ns": [stat.st_mtime_ns], "dump_id": ["d1"]},
        schema=FILE_SCHEMA)])
    held = {"d1"}
    monkeypatch.setattr(lake, "known_dump_ids", lambda _: set(held))
    monkeypatch.setattr(storage, "stat", lambda _: (len(held), 0))   # the dumps log: one stamp per state
    (settings.lake / "dumps" / "_delta_log").mkdir(parents=True)
    watcher = Watcher(settings, quiet_seconds=0, clock=lambda: now[0])
    assert watcher.pending() == frozenset()
    held.clear()                                      # rolled back
    assert watcher.pending() == {file_index.row_key((str(path), stat.st_size, stat.st_mtime_ns))}


def test_after_a_failed_run_another_is_due_after_the_retry_time_though_nothing_is_pending(tmp_path):
    """A run that failed publishing committed its files: none is pending, but the warehouse is behind."""
    now = [0.0]
    settings = Settings.load(home=tmp_path / "home", inbox=tmp_path / "inbox")
    settings.inbox.mkdir(parents=True)
    watcher = Watcher(settings, quiet_seconds=2, clock=lambda: now[0], retry_seconds=60)
    watcher.ran()
    watcher.failed()
    for now[0] in (1.0, 30.0, 59.0):
        assert not watcher.due()
    now[0] = 60.0
    assert watcher.due()
    watcher.ran()                                      # that run starts; it succeeds
    now[0] = 200.0
    assert not watcher.due()


def test_failed_runs_in_a_row_wait_longer_each_time_until_one_succeeds(tmp_path):
    """A mart broken for days must not make a failed run every retry_seconds."""
    now = [0.0]
    settings = Settings.load(home=tmp_path / "home", inbox=tmp_path / "inbox")
    settings.inbox.mkdir(parents=True)
    watcher = Watcher(settings, quiet_seconds=2, clock=lambda: now[0], retry_seconds=60)
    waits = []
    for _ in range(6):
        watcher.ran()
        watcher.failed()
        started = now[0]
        while not watcher.due():
            now[0] += 1.0
        waits.append(now[0] - started)
    assert waits == [60, 120, 240, 480, 480, 480]
    watcher.ran()
    watcher.succeeded()
    watcher.ran()
    watcher.failed()
    started = now[0]
    now[0] = started + 59.0
    assert not watcher.due()
    now[0] = started + 60.0
    assert watcher.due()


def test_files_that_keep_arriving_run_after_the_longest_wait(tmp_path, sample_text):
    """A trickle of a file a second never goes quiet for 2 s: it runs after max_wait_seconds."""
    now = [0.0]
    settings = Settings.load(home=tmp_path / "home", inbox=tmp_path / "inbox")
    watcher = Watcher(settings, quiet_seconds=2, clock=lambda: now[0], max_wait_seconds=10)
    for second in range(12):
        now[0] = float(second)
        write_dump(settings.inbox, f"{second:03d}_p{second}.txt", sample_text.replace("h-index28", f"h-index{second}"), FIRST)
        assert watcher.due() == (second >= 10), second
    watcher.ran()
    assert not watcher.due()


def test_serve_makes_a_deployment_per_home_whose_runs_queue_behind_a_manual_run(tmp_path, monkeypatch):
    """Two homes served on one server must not share (or pause) one schedule; a scheduled run waits for
    the home's lock rather than failing at once."""
    from flows import dead_serve, schedule
    from flows import served as served_flow
    served = []
    monkeypatch.setattr(served_flow, "serve_flow", lambda flow, name, **kwargs: served.append({"name": name, **kwargs}))
    monkeypatch.setattr(dead_serve, "crash_runs_left_running", lambda *args: [])
    monkeypatch.setenv(dead_serve.SERVING_VARIABLE, "")   # restored afterwards: serve() sets it
    monkeypatch.chdir(tmp_path)
    for home in ("data", "other/data"):
        schedule.serve(Settings.load(home=home), "0 * * * *", None)
    first, second = served
    assert os.environ[dead_serve.SERVING_VARIABLE] == second["name"]   # the runs it starts inherit it
    assert first["name"] != second["name"] and first["name"].startswith("scheduled-ingest-data-")
    assert first["parameters"]["home"] == str(tmp_path / "data")
    assert first["parameters"]["inbox"] == str(tmp_path / "data" / "inbox")
    assert first["parameters"]["lock_wait_seconds"] >= 600
    # each home's runs carry a tag of its own, by which Prefect's UI shows one home's runs
    assert first["tags"] == run_tags(Settings.load(home="data").home) and first["tags"][1].startswith("home:data-")
    assert set(second["tags"]) - set(first["tags"]) == {second["tags"][1]}


def test_a_file_still_settling_when_a_run_starts_stays_new(tmp_path, sample_text):
    """A run skips files modified within the settle time: those are not left unread (which would
    wait retry_seconds), and count once they have settled."""
    now, start = [0.0], time.time()   # the wall clock from now: b is written now
    settings = Settings.load(home=tmp_path / "home", inbox=tmp_path / "inbox", settle_seconds=300)
    watcher = Watcher(settings, quiet_seconds=2, clock=lambda: now[0], wall_clock=lambda: start + now[0],
                      retry_seconds=600, max_wait_seconds=10)
    write_dump(settings.inbox, "000_a.txt", sample_text, FIRST)
    write_dump(settings.inbox, "001_b.txt", sample_text.replace("h-index28", "h-index29"),
               dt.datetime.fromtimestamp(start, UTC))   # just now
    for now[0] in (0.0, 2.5, 9.0):
        assert not watcher.due()                       # b keeps the burst open, up to the longest wait
    now[0] = 10.5
    assert watcher.due()                               # a, settled, runs
    watcher.ran()
    for now[0] in (11.0, 299.0):
        assert not watcher.due()
    now[0] = 300.5
    assert watcher.due()                               # b has settled: at once, not retry_seconds after the run


def test_one_file_still_being_appended_to_forces_no_run(tmp_path, sample_text):
    now = [0.0]
    settings = Settings.load(home=tmp_path / "home", inbox=tmp_path / "inbox")
    watcher = Watcher(settings, quiet_seconds=2, clock=lambda: now[0], max_wait_seconds=10)
    path = write_dump(settings.inbox, "000_slow.txt", sample_text[:100], FIRST)
    for second in range(30):
        now[0] = float(second)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(sample_text[100 + second:101 + second])
        assert not watcher.due(), second


def test_a_second_serve_of_a_home_is_refused(tmp_path, monkeypatch, capsys):
    """Its exit would pause the first one's schedule (one deployment per home)."""
    from flows import cli, schedule
    from store.lock import serve_lock
    served = []
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")   # never called: serve is replaced
    monkeypatch.setattr(schedule, "serve", lambda *args: served.append(args))
    (tmp_path / "home" / "inbox").mkdir(parents=True)
    with serve_lock(tmp_path / "home"):
        assert cli.main(["--home", str(tmp_path / "home"), "serve", "--interval", "60"]) == 2
    assert "serves" in capsys.readouterr().err and served == []
    assert cli.main(["--home", str(tmp_path / "home"), "serve", "--interval", "60"]) == 0 and len(served) == 1


def started_with(env: dict[str, str]) -> subprocess.Popen:
    """A process with `env` added, once it runs: until its exec has set up its memory, /proc shows
    it an empty environment (Popen returns before that)."""
    process = subprocess.Popen([sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.read()"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=os.environ | env)
    assert process.stdout.readline() == b"up\n"
    return process


@pytest.mark.e2e
@pytest.mark.parametrize("left_as", ["running", "cancelling"])
def test_a_serve_crashes_the_runs_a_killed_serve_left_running_and_their_slot_is_free(prefect_harness, tmp_path,
                                                                                     left_as):
    """Without it the new serve's runs wait for the dead run's concurrency lease to end (5 minutes).
    A run the user was cancelling when its serve died ends cancelled, not crashed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, StateType
    from prefect.states import Cancelling, Pending, Running

    from flows.dead_serve import SERVING_VARIABLE, crash_runs_left_running
    from store.lock import run_lock
    settings = Settings.load(home=tmp_path / "home")
    settings.home.mkdir()
    deployment = deployment_name(settings.home)
    limit = ConcurrencyLimitConfig(limit=1, collision_strategy="ENQUEUE")
    deployment_id = ingest.to_deployment(name=deployment, concurrency_limit=limit).apply()
    with get_client(sync_client=True) as client:
        left = client.create_flow_run_from_deployment(deployment_id)
        states = (Pending(), Running()) + ((Cancelling(),) if left_as == "cancelling" else ())
        for state in states:   # as the killed serve's run was: holding the one slot
            client.set_flow_run_state(left.id, state)
        waiting = client.create_flow_run_from_deployment(deployment_id)
        assert client.set_flow_run_state(waiting.id, Pending()).status.value != "ACCEPT"   # no slot: it queues
        with run_lock(settings.home):   # a run the killed serve left still works: it finishes by itself
            assert crash_runs_left_running(settings, deployment) == []
        still = started_with({SERVING_VARIABLE: deployment})
        try:   # a process the killed serve started lives, not holding the lock (starting, or waiting for it)
            assert crash_runs_left_running(settings, deployment) == []
        finally:
            still.communicate(b"", timeout=60)
        other = started_with({SERVING_VARIABLE: deployment + "-x"})
        try:   # another home's serve doesn't count
            assert crash_runs_left_running(settings, deployment) == [left.name]
        finally:
            other.communicate(b"", timeout=60)
        ended = StateType.CANCELLED if left_as == "cancelling" else StateType.CRASHED
        assert client.read_flow_run(left.id).state.type == ended
        assert client.set_flow_run_state(waiting.id, Pending()).status.value == "ACCEPT"


# `profile-etl run` whose lasting server (the process groups SERVER_PGIDS) is killed just before the run publishes.
SERVER_DIES_BEFORE_PUBLISH = """
import os, select, signal, sys
from flows import cli
from warehouse import publish

def in_group(pgid):
    pids = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[2]) == pgid:
                    pids.append(os.pidfd_open(int(name)))
        except OSError:
            pass
    return pids

def killing_the_server_first(*args, **kwargs):
    groups = [int(pgid) for pgid in os.environ["SERVER_PGIDS"].split()]
    exits = [pidfd for pgid in groups for pidfd in in_group(pgid)]
    for pgid in groups:
        os.killpg(pgid, signal.SIGKILL)
    for pidfd in exits:
        select.select([pidfd], [], [])   # readable once that process has exited, its sockets closed
    return publish_now(*args, **kwargs)

def marking_completed(*args, **kwargs):   # the run has completed here: what follows only tells Prefect
    if os.environ.get("COMPLETED_MARKER"):
        open(os.environ["COMPLETED_MARKER"], "w").close()
    return summary_now(*args, **kwargs)

publish_now, publish.publish = publish.publish, killing_the_server_first
from flows import run_report
summary_now, run_report.publish_summary = run_report.publish_summary, marking_completed
sys.argv = ["profile-etl", *sys.argv[1:]]
sys.exit(cli.entry())
"""


def server_groups(pid: int) -> str:
    """`profile-etl server`'s process group and its Prefect server's (a session of its own)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return " ".join([str(pid), *children])


@contextlib.contextmanager
def server_killed_before_publish(tmp_path: Path, client_retries: int):
    """A lasting server, and (api, the environment of a SERVER_DIES_BEFORE_PUBLISH run that kills it);
    client_retries: how often Prefect's client retries a lost server (1 s, 2 s, 4 s, ... apart)."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_env(tmp_path, api) | {"PROFILE_ETL_SETTLE_SECONDS": "0",
                                        "PREFECT_CLIENT_MAX_RETRIES": str(client_retries)}
    server = subprocess.Popen([str(BIN / "profile-etl"), "server", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        until(lambda: healthy(api), 120, "the Prefect server")
        yield api, env | {"SERVER_PGIDS": server_groups(server.pid)}
    finally:
        if server.poll() is None:
            stop(server)


@pytest.mark.e2e
def test_a_run_whose_server_dies_before_it_ends_reports_completed_with_a_warning(tmp_path, sample_text):
    """Prefect's task runs go on without their API, and only the flow run's final state can't be set: the
    data is in and published, so the run says it completed (exit 0), and warns that Prefect's record is wrong."""
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    with server_killed_before_publish(tmp_path, client_retries=0) as (api, env):   # no waiting for a restart
        run = subprocess.run([sys.executable, "-c", SERVER_DIES_BEFORE_PUBLISH, "--home", str(home), "run",
                              "--inbox", str(inbox), "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert summary["status"] == "completed" and summary["dumps_loaded"] == 2
    assert f"Prefect's API at {api} stopped answering" in summary["warning"]
    assert "warning: the run completed" in run.stderr
    assert dump_count(home) == 2   # published


@pytest.mark.e2e
def test_a_run_interrupted_while_prefect_retries_its_lost_server_after_publishing_reports_completed(
        tmp_path, sample_text):
    """Past the publish, Prefect retries the dead server (the summary artifact, then the final state):
    a Ctrl-C then must not report the published run as failed or interrupted."""
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    running = None
    with server_killed_before_publish(tmp_path, client_retries=3) as (api, env):   # 2 + 4 + 8 s of retries
        try:
            completed = tmp_path / "completed"
            running = subprocess.Popen([sys.executable, "-c", SERVER_DIES_BEFORE_PUBLISH, "--home", str(home), "run",
                                        "--inbox", str(inbox), "--json"], env=env | {"COMPLETED_MARKER": str(completed)},
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
            until(completed.exists, 300, "the run to complete (published, its summary made)")
            os.killpg(running.pid, signal.SIGINT)
            out, err = running.communicate(timeout=600)
        finally:
            if running is not None and running.poll() is None:
                stop(running)
    assert running.returncode == 0, err[-3000:]
    summary = json.loads(out)
    assert summary["status"] == "completed" and summary["dumps_loaded"] == 1 and summary["warning"]


@pytest.mark.e2e
def test_a_run_that_cannot_reach_its_server_says_to_start_it(tmp_path, sample_text):
    api = f"http://127.0.0.1:{free_port()}/api"   # nothing listens there
    write_dump(tmp_path / "inbox", SAMPLE_NAME, sample_text, FIRST)
    run = subprocess.run([str(BIN / "profile-etl"), "--home", str(tmp_path / "home"), "run", "--inbox",
                          str(tmp_path / "inbox"), "--json"], env=prefect_env(tmp_path, api),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    failure = json.loads(run.stdout)
    assert failure["status"] == "failed" and failure["run_id"] is None
    assert f"Prefect's API at {api} didn't answer: start the server (`profile-etl server`)" in failure["error"]


@pytest.mark.e2e
def test_watch_reports_a_run_whose_server_died_before_it_ended_as_a_run_that_loaded(tmp_path, sample_text):
    inbox, home, output = tmp_path / "inbox", tmp_path / "home", tmp_path / "watch.out"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    watching = None
    with server_killed_before_publish(tmp_path, client_retries=0) as (api, env):
        try:
            with output.open("w") as out:
                watching = subprocess.Popen([sys.executable, "-c", SERVER_DIES_BEFORE_PUBLISH, "--home", str(home),
                                             "watch", "--inbox", str(inbox), "--quiet-seconds", "0"], env=env,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            until(lambda: "watch: run 1:" in output.read_text(), 300, "the watched run's result line")
            os.killpg(watching.pid, signal.SIGINT)
            assert watching.wait(timeout=120) == 0   # not held up by Prefect's exit hooks for the dead server
        finally:
            if watching is not None and watching.poll() is None:
                stop(watching)
    lines = output.read_text()
    assert f"watch: warning: the run completed, but Prefect's API at {api} stopped answering" in lines
    assert "watch: run 1: 1 new dump" in lines and "watch: run 1 failed" not in lines, lines
    assert dump_count(home) == 1


def cancel_the_running_flow_run(api: str):
    """Cancel the flow run that is Running, as the UI's button and `prefect flow-run cancel` do; its id."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelling
    running = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])))
    with prefect_client(api) as client:
        flow_run = until(lambda: client.read_flow_runs(flow_run_filter=running), 120, "a Running flow run")[0]
        client.set_flow_run_state(flow_run.id, Cancelling(message="cancelled by the test"))
    return flow_run.id


def flow_run_state(api: str, flow_run_id):
    with prefect_client(api) as client:
        return client.read_flow_run(flow_run_id).state.type.value


def flow_run_tags(api: str, flow_run_id) -> set[str]:
    with prefect_client(api) as client:
        return set(client.read_flow_run(flow_run_id).tags)


@pytest.mark.e2e
def test_a_cancel_from_prefect_stops_the_runs_that_run_and_watch_started(tmp_path, sample_text):
    """A deployment's run is stopped by its runner or worker; those of `run` and `watch` have neither, and
    ran on to the end while Prefect showed them Cancelling. Each run here waits for the home's lock (held
    by the test) when the cancel comes; `watch` goes on, and loads the next new dump."""
    from store.lock import run_lock
    inbox, home, output = tmp_path / "inbox", tmp_path / "home", tmp_path / "watch.out"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    watching = None
    with lasting_server(tmp_path) as (api, env):
        with run_lock(home, 0.0, "test"):
            running = subprocess.Popen([str(BIN / "profile-etl"), "--home", str(home), "run", "--inbox", str(inbox),
                                        "--wait", "600", "--json"], env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, start_new_session=True)
            try:
                cancelled = cancel_the_running_flow_run(api)
                out, err = running.communicate(timeout=120)
            finally:
                if running.poll() is None:
                    stop(running)
            assert running.returncode == 130 and json.loads(out)["status"] == "cancelled", err[-3000:]
            assert "the run was cancelled from Prefect and stopped" in err
            assert flow_run_state(api, cancelled) == "CANCELLED"
            assert flow_run_tags(api, cancelled) == set(run_tags(Settings.load(home=home).home))   # its home's, for the UI's filter
            try:
                with output.open("w") as out_file:
                    watching = subprocess.Popen([str(BIN / "profile-etl"), "--home", str(home), "watch", "--inbox",
                                                 str(inbox), "--quiet-seconds", "0"], env=env, stdout=out_file,
                                                stderr=subprocess.STDOUT, start_new_session=True)
                cancelled = cancel_the_running_flow_run(api)
                until(lambda: "watch: run 1 was cancelled from Prefect and stopped; trying again" in output.read_text(), 120,
                      "the watch to say its run was cancelled")
            finally:
                if watching is not None and watching.poll() is not None:
                    pytest.fail(f"the watch ended: {output.read_text()}")
        try:
            assert flow_run_state(api, cancelled) == "CANCELLED" and dump_count(home) == 0
            assert flow_run_tags(api, cancelled) == set(run_tags(Settings.load(home=home).home))
            write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
            until(lambda: "watch: run 2: 2 new dumps" in output.read_text(), 300, "the watch's next run")
        finally:
            stop(watching)
    assert dump_count(home) == 2

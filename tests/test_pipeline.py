"""End-to-end runs of the real Prefect flow into tmp_path, checked against the warehouse tables."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading

import duckdb
import pytest

from tests import dumps
from tests.conftest import SAMPLE_NAME, write_dump
from tests.dumps import FIRST, LATER, later_snapshot, other_profile
from tests.warehouse_state import run_statuses

TABLES = ["dumps", "profile_snapshots", "profiles", "papers", "authors", "paper_authors", "listings", "rejects"]


def scalar(home, sql):
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def counts(home) -> dict[str, int]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in [*TABLES, "runs"]}


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def inbox(tmp_path, sample_text):
    folder = tmp_path / "inbox"
    write_dump(folder, SAMPLE_NAME, sample_text, FIRST)
    return folder


def test_sample_facts_in_the_warehouse(run_ingest, home, inbox):
    summary = run_ingest(home, inbox)
    assert (summary["dumps_new"], summary["dumps_loaded"]) == (1, 1)
    snap = "SELECT {} FROM profile_snapshots"
    assert scalar(home, snap.format("h_index")) == 28
    assert scalar(home, snap.format("papers_reported")) == 57
    assert scalar(home, snap.format("citations")) == 1945
    assert scalar(home, snap.format("novelty_pct")) == 55
    assert scalar(home, snap.format("ai_score")) == 62
    assert scalar(home, snap.format("papers_listed")) == 50
    assert scalar(home, "SELECT count(*) FROM papers") == 50
    assert scalar(home, "SELECT string_agg(category || ' ' || n, ', ' ORDER BY n DESC) FROM "
                        "(SELECT category, count(*) n FROM papers GROUP BY 1)") == "LG 25, CV 16, AI 5, CL 4"
    assert scalar(home, "SELECT count(*) FILTER (has_code_badge) FROM papers") == 18
    assert scalar(home, "SELECT count(code_url) FROM papers") == 17
    assert scalar(home, "SELECT count(*) FILTER (code_host = 'github') FROM papers") == 16
    assert scalar(home, "SELECT count(*) FILTER (code_host = 'huggingface') FROM papers") == 1
    assert scalar(home, "SELECT count(*) FILTER (authors_truncated) FROM papers") == 43
    assert scalar(home, "SELECT count(*) FILTER (year_inferred AND year(published_on) = 2026) FROM papers") == 4
    assert scalar(home, "SELECT owner_name || ' ' || round(owner_share * 50) FROM profile_snapshots") == "Weiran Huang 18.0"
    assert scalar(home, "SELECT a.name FROM paper_authors pa JOIN authors a USING (author_id) "
                        "GROUP BY a.name ORDER BY count(*) DESC LIMIT 1") == "Weiran Huang"
    assert scalar(home, "SELECT count(*) FROM listings") == 50
    assert scalar(home, "SELECT status FROM dumps") == "loaded"


def test_rerun_with_nothing_new_adds_only_a_runs_row(run_ingest, home, inbox):
    run_ingest(home, inbox)
    before = counts(home)
    summary = run_ingest(home, inbox)
    after = counts(home)
    assert summary["dumps_new"] == 0 and summary["rows_added"] == {"runs": 1}
    assert after == before | {"runs": before["runs"] + 1}


def test_same_bytes_under_another_name_is_the_same_dump(run_ingest, home, inbox, sample_text):
    run_ingest(home, inbox)
    write_dump(inbox / "elsewhere", "copy_of_sample.txt", sample_text, LATER)
    summary = run_ingest(home, inbox)
    assert summary["dumps_seen"] == 2 and summary["dumps_new"] == 0
    assert scalar(home, "SELECT count(*) FROM dumps") == 1


def test_later_snapshot_of_the_same_profile(run_ingest, home, inbox, sample_text):
    run_ingest(home, inbox)
    write_dump(inbox, "001_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    summary = run_ingest(home, inbox)
    assert summary["dumps_new"] == 1 and summary["dumps_loaded"] == 1
    assert scalar(home, "SELECT count(*) FROM profile_snapshots WHERE profile_key = '7707062aadfcc580'") == 2
    assert scalar(home, "SELECT snapshots || ' ' || h_index || ' ' || citations FROM profiles") == "2 29 2101"
    assert scalar(home, "SELECT count(*) FROM papers") == 52
    assert scalar(home, "SELECT count(*) - count(DISTINCT lower(title)) FROM papers") == 0
    assert scalar(home, "SELECT has_code_badge FROM papers WHERE title LIKE 'Rethinking Weak Supervision%'")
    assert scalar(home, "SELECT count(*) FILTER (has_code_badge) FROM papers") == 18 + 1 + 1
    assert scalar(home, "SELECT count(*) FROM papers WHERE year_inferred") == 0
    assert scalar(home, "SELECT count(*) FROM listings") == 50 + 51
    dropped = "SELECT count(*) FROM listings JOIN papers USING (paper_id) WHERE title LIKE 'Boosting Few-Shot%'"
    assert scalar(home, dropped) == 1
    assert scalar(home, "SELECT last_seen_at < TIMESTAMPTZ '2026-06-02' FROM papers WHERE title LIKE 'Boosting Few-Shot%'")


def test_a_naming_rule_of_ones_own_and_the_summary_counts_new_profiles(run_ingest, home, tmp_path, sample_text,
                                                                      monkeypatch):
    from flows.runs import describe
    inbox = tmp_path / "named"
    write_dump(inbox, "r1_013_7707062aadfcc580.txt", sample_text, FIRST)
    write_dump(inbox, "r2_013_7707062aadfcc580.txt", later_snapshot(sample_text), LATER)
    monkeypatch.setenv("PROFILE_ETL_PROFILE_KEY_PATTERN", r"r\d+_\d+_(?P<key>.+)")
    summary = run_ingest(home, inbox)
    assert summary["rows_added"]["profiles"] == 1 and "2 loaded, 0 partial, 0 quarantined, 1 new profile;" in describe(summary)
    assert scalar(home, "SELECT profile_key || ' ' || snapshots FROM profiles") == "7707062aadfcc580 2"
    write_dump(inbox, "003_aaaabbbbccccdddd.txt", other_profile(sample_text), LATER)
    summary = run_ingest(home, inbox)
    assert summary["dumps_quarantined"] == 1 and "0 new profiles;" in describe(summary)
    assert "gives no profile key by the rule" in scalar(home, "SELECT reason FROM dumps WHERE status = 'quarantined'")


def test_other_profile_links_to_existing_papers(run_ingest, home, inbox, sample_text):
    write_dump(inbox, "000_aaaabbbbccccdddd.txt", other_profile(sample_text), FIRST + dt.timedelta(days=14))
    run_ingest(home, inbox)
    assert scalar(home, "SELECT count(*) FROM profiles") == 2
    assert scalar(home, "SELECT count(*) FROM papers") == 51
    shared = ("SELECT count(DISTINCT profile_key) FROM listings JOIN papers USING (paper_id) "
              "WHERE title ILIKE '%instructiongpt-4%'")
    assert scalar(home, shared) == 2
    assert scalar(home, "SELECT count(*) FROM (SELECT paper_id FROM listings GROUP BY 1 HAVING count(*) = 2)") == 3


def test_bad_entry_is_rejected_and_the_rest_loads(run_ingest, home, tmp_path, sample_text):
    header, blocks = dumps.split(sample_text)
    blocks[4][0] = "LGFeb 30, 2024"
    folder = tmp_path / "bad"
    write_dump(folder, "000_badbadbadbadbad0.txt", dumps.join(header, blocks), FIRST)
    run_ingest(home, folder)
    assert scalar(home, "SELECT status || ' ' || entries_found || ' ' || entries_loaded || ' ' || entries_rejected "
                        "FROM dumps") == "partial 50 49 1"
    assert scalar(home, "SELECT reason || ' @' || line_no FROM rejects") == "impossible date in entry head @37"
    assert scalar(home, "SELECT raw_text FROM rejects").startswith("LGFeb 30, 2024\n")
    assert scalar(home, "SELECT count(*) FROM papers") == 49


def test_what_the_runs_row_names_is_flushed_to_disk_before_it_commits(run_ingest, home, inbox, monkeypatch):
    """raw/ copies and the lake's files reach the disk before the commit point: after a power loss the
    runs row never names a copy the disk didn't keep."""
    from store import storage
    from warehouse import lake
    events = []
    flush, commit = storage.flush_to_disk, lake.commit_run
    monkeypatch.setattr(storage, "flush_to_disk", lambda *folders: events.append(("flush", folders)) or flush(*folders))
    monkeypatch.setattr(lake, "commit_run", lambda *args: events.append(("commit", args[0])) or commit(*args))
    run_ingest(home, inbox)
    assert events == [("flush", (home / "raw", home / "lake")), ("commit", home / "lake")]


def test_a_missing_inbox_fails_the_run_instead_of_looking_empty(run_ingest, home, tmp_path):
    """A deployment's run gets the inbox as a parameter: an unmounted share must not be 'nothing new'."""
    from store.errors import UserError
    with pytest.raises(UserError, match="is not a folder"):
        run_ingest(home, tmp_path / "unmounted")
    assert not (home / "lake").exists()


def test_a_home_inside_its_inbox_reads_none_of_its_own_files(run_ingest, inbox):
    """The home's raw/ copies, lake and file index lie in the inbox it reads: none is a dump, nor an
    ignored file that buries the user's own."""
    home = inbox / "home"
    run_ingest(home, inbox)
    summary = run_ingest(home, inbox)
    assert (summary["dumps_seen"], summary["files_read"], summary["ignored"]) == (1, 0, 0)
    assert scalar(home, "SELECT count(*) FROM dumps") == 1


@pytest.mark.parametrize("interrupted", [RuntimeError("Query interrupted"), duckdb.InterruptException("Interrupted!")])
def test_a_publish_stopped_by_a_signal_is_a_stopped_run_not_a_failed_one(run_ingest, home, inbox, monkeypatch,
                                                                          interrupted):
    """A signal (the command's SIGTERM, a runner's cancel, Ctrl-C) during a DuckDB query ends it with
    `RuntimeError('Query interrupted')` and swallows the handler's own exception (duckdb 2.0; an
    interrupt from another thread is InterruptException): the run is stopped, its committed data stays
    its own (not a `failed` row), and the next run publishes it, as after a kill."""
    from warehouse import publish

    def stopped(*args, **kwargs):
        raise interrupted
    monkeypatch.setattr(publish, "publish", stopped)
    with pytest.raises(KeyboardInterrupt):
        run_ingest(home, inbox)
    monkeypatch.undo()
    run_ingest(home, inbox)
    assert run_statuses(home) == ["completed", "completed"] and scalar(home, "SELECT count(*) FROM dumps") == 1


def test_a_later_capture_naming_fewer_authors_leaves_only_its_authors(run_ingest, home, tmp_path):
    """SPEC §4: paper_authors are the latest capture's visible authors; a position it no longer has goes."""
    inbox = tmp_path / "inbox"
    header = "h-index28\n57papers\n1,945citations\nNovelty55%\nAI Score62\n\n57 Papers\n\n"
    for day, (name, authors) in enumerate([("000_k.txt", "A B, C D, E F"), ("001_k.txt", "A B, C D")]):
        text = header.replace("28", str(28 + day)) + "\n".join(dumps.entry("LGAug 23, 2023", "A Title", authors, "Text."))
        write_dump(inbox, name, text, FIRST + dt.timedelta(days=day))
        run_ingest(home, inbox)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT position, name FROM paper_authors JOIN authors USING (author_id) "
                           "ORDER BY position").fetchall() == [(1, "A B"), (2, "C D")]


def test_the_warehouse_shows_the_latest_of_the_runs_a_publish_catches_up_on(run_ingest, home, tmp_path, sample_text):
    """A publish brings the idle warehouse file up to date with every run since it was current (two
    from the third run on): the latest version of a row wins."""
    inbox = tmp_path / "inbox"
    for day, h_index in enumerate([28, 29, 30]):
        write_dump(inbox, f"{day:03d}_7707062aadfcc580.txt", sample_text.replace("h-index28", f"h-index{h_index}"),
                   FIRST + dt.timedelta(days=day))
        run_ingest(home, inbox)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT h_index, snapshots FROM profiles").fetchall() == [(30, 3)]


def test_a_summary_artifact_prefect_fails_to_take_leaves_the_run_completed(run_ingest, home, inbox, monkeypatch):
    """Past the commit point a Prefect API that went away must not mark a loaded run failed."""
    from flows import run_report

    def unreachable(**_):
        raise ConnectionError("the Prefect API went away")
    monkeypatch.setattr(run_report, "create_markdown_artifact", unreachable)
    summary = run_ingest(home, inbox)
    assert (summary["status"], summary["dumps_loaded"]) == ("completed", 1)
    assert scalar(home, "SELECT string_agg(status, ',') FROM runs") == "completed"


def test_a_run_without_parameters_takes_its_settings_from_the_environment(prefect_harness, home, inbox, monkeypatch):
    """A deployment run (prefect.yaml, a worker) passes only what its parameters name: the rest must
    come from PROFILE_ETL_* as on the command line, not from defaults baked into the flow."""
    from flows.pipeline import ingest
    monkeypatch.setenv("PROFILE_ETL_HOME", str(home))
    monkeypatch.setenv("PROFILE_ETL_INBOX", str(inbox))
    monkeypatch.setenv("PROFILE_ETL_MAX_DUMP_BYTES", "100")
    summary = ingest()
    assert (summary["dumps_new"], summary["dumps_quarantined"]) == (1, 1)
    assert "larger than the size limit of 100 bytes" in scalar(home, "SELECT reason FROM dumps")


def test_a_failed_batch_cancels_the_batches_not_yet_started(prefect_harness, tmp_path, sample_text, monkeypatch):
    """A run stopped mid-way (a failure, Ctrl-C, a cancel from Prefect's UI, which is a SIGTERM) must
    not go on to extract every queued batch before it ends: only the batches already running finish."""
    from flows import batch
    from flows.cluster import ClusterWatch
    from prefect.task_runners import ThreadPoolTaskRunner
    from flows.pipeline import ingest
    from store.faults import InjectedFault
    inbox = tmp_path / "inbox"
    for i in range(12):
        write_dump(inbox, f"{i:03d}_p{i}.txt", sample_text.replace("h-index28", f"h-index{i}"), FIRST)
    started, cancelled = [], threading.Event()
    process, cancel_unstarted = batch.process_batch, ClusterWatch.cancel_unstarted

    def fail_first_hold_others(job):
        started.append(job.index)
        if job.index == 0:
            raise InjectedFault("batch 0 fails")
        assert cancelled.wait(60), "the run never cancelled its queued batches"
        return process(job)

    def cancel_then_release(self, futures):
        running = cancel_unstarted(self, futures)
        cancelled.set()
        return running
    monkeypatch.setattr(batch, "process_batch", fail_first_hold_others)
    monkeypatch.setattr(ClusterWatch, "cancel_unstarted", cancel_then_release)
    with pytest.raises(InjectedFault):
        ingest.with_options(task_runner=ThreadPoolTaskRunner(max_workers=2))(
            home=tmp_path / "home", inbox=inbox, settle_seconds=0, batch_size=1)
    assert 0 in started and len(started) <= 3, started   # batch 0 and what the two threads held


def test_a_prefect_profiles_default_flow_retries_do_not_rerun_a_failed_run():
    """PREFECT_FLOWS_DEFAULT_RETRIES (in a user's environment or Prefect profile, for their other flows)
    made one failed `profile-etl run` three failed runs in `runs`; the flow's retries are its own, none."""
    env = os.environ | {"PREFECT_FLOWS_DEFAULT_RETRIES": "2"}
    said = subprocess.run([sys.executable, "-c", "from flows.pipeline import ingest; print(ingest.retries)"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert said.stdout.strip() == "0", said.stderr

"""A home moved (or renamed, or deleted) while a schedule or a watch still runs on its old path: their
runs must not start an empty home there, which would take the inbox's new dumps away from the moved home."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from flows.pipeline import ingest
from flows.schedule import watch
from store.settings import Settings
from tests.conftest import SAMPLE_NAME, write_dump
from tests.dumps import FIRST, LATER, later_snapshot
from tests.servers import dump_count, until
from tests.test_served import Served

GONE = "doesn't exist (moved, renamed or deleted?): nothing was done"


def test_a_watch_refuses_to_run_on_its_home_once_moved(prefect_harness, tmp_path, sample_text, capsys):
    settings = Settings.load(home=tmp_path / "home", inbox=tmp_path / "inbox", settle_seconds=0)
    write_dump(settings.inbox, SAMPLE_NAME, sample_text, FIRST)
    stop_watching, said = threading.Event(), []

    def run() -> dict:
        return ingest(home=settings.home, inbox=settings.inbox, settle_seconds=0)

    def output() -> str:
        captured = capsys.readouterr()
        said.append(captured.out + captured.err)
        return "".join(said)
    thread = threading.Thread(target=watch, args=(settings, run, 0.5, 0.1, stop_watching.is_set))
    thread.start()
    try:
        until(lambda: "watch: run 1: 1 new dump" in output(), 120, "the watch's first run to end")
        os.rename(settings.home, tmp_path / "moved")
        write_dump(settings.inbox, f"001_{SAMPLE_NAME[4:]}", later_snapshot(sample_text), LATER)
        until(lambda: GONE in output() or settings.home.exists(), 120, "the watch's next run")
    finally:
        stop_watching.set()
        thread.join(timeout=120)
    assert not settings.home.exists()   # no empty home made anew at the old path
    assert dump_count(tmp_path / "moved") == 1
    assert GONE in output() and "watch the home where it is now" in output()


@pytest.mark.e2e   # a lasting Prefect server
def test_a_served_deployment_refuses_to_run_on_its_home_once_moved(tmp_path, sample_text):
    """A real server and `serve`: after the home moves, the next scheduled run fails saying why and
    what to do, and the old path stays empty."""
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    write_dump(inbox, SAMPLE_NAME, sample_text, FIRST)
    with Served(tmp_path, PROFILE_ETL_SETTLE_SECONDS="0") as served:
        serving = served.serve(home, "--interval", "2", "--inbox", str(inbox))
        until(lambda: "1 loaded" in served.said(), 180, "the first scheduled run to load the sample and end")
        os.rename(home, tmp_path / "moved")
        write_dump(inbox, f"001_{SAMPLE_NAME[4:]}", later_snapshot(sample_text), LATER)
        until(lambda: GONE in served.said() or home.exists(), 180, "the next scheduled run")
        os.killpg(serving.pid, signal.SIGINT)
        assert serving.wait(timeout=60) == 0
    assert not home.exists()   # no empty home made anew at the old path
    assert dump_count(tmp_path / "moved") == 1
    assert GONE in served.said() and "serve the home where it is now" in served.said()

"""A home moved (or renamed, or deleted) while a schedule or a watch still runs on its old path: their
runs must not start an empty home there, which would take the inbox's new dumps away from the moved home."""
from __future__ import annotations

import os
import signal
import subprocess
import threading

import pytest

from flows.pipeline import ingest
from flows.schedule import watch
from store.settings import Settings
from tests.conftest import SAMPLE_NAME, write_dump
from tests.test_pipeline import FIRST, LATER, later_snapshot
from tests.test_schedule import BIN, dump_count, free_port, healthy, stop, until

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
        with output.open("w") as out:
            served = subprocess.Popen([str(BIN / "profile-etl"), "--home", str(home), "serve", "--interval", "2",
                                       "--inbox", str(inbox)], env=env | {"PROFILE_ETL_SETTLE_SECONDS": "0"},
                                      stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        until(lambda: "1 loaded" in output.read_text(), 180, "the first scheduled run to load the sample and end")
        os.rename(home, tmp_path / "moved")
        write_dump(inbox, f"001_{SAMPLE_NAME[4:]}", later_snapshot(sample_text), LATER)
        until(lambda: GONE in output.read_text() or home.exists(), 180, "the next scheduled run")
        os.killpg(served.pid, signal.SIGINT)
        assert served.wait(timeout=60) == 0
    finally:
        if served is not None:
            stop(served)
        stop(server)
    assert not home.exists()   # no empty home made anew at the old path
    assert dump_count(tmp_path / "moved") == 1
    assert GONE in output.read_text() and "serve the home where it is now" in output.read_text()

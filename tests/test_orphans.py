"""No orphans (issue 21, case 6): whatever ends a `profile-etl run` that uses Prefect's temporary
server (SIGKILL, SIGTERM, Ctrl-C), no process it started is left 10 s later, and none holds the
run's output open (a caller reading it would wait for ever)."""
from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from store.faults import CRASH_ENV, SIGNAL_ENV
from tests.test_concurrency import inbox  # noqa: F401  (the fixture: two dumps of one profile)

pytestmark = pytest.mark.e2e   # real runs killed and signalled

BIN = Path(sys.executable).parent
MARK = "PROFILE_ETL_TEST_MARK"


def processes_marked(mark: str) -> list[int]:
    """Processes whose environment holds the mark: the run's, and every process it started."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                if f"{MARK}={mark}".encode() in handle.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            pass
    return found


def still_running_after(pids: list[int], seconds: float) -> list[int]:
    """The pids that haven't exited within seconds (waited for on pidfds, not by polling)."""
    fds = {}
    for pid in pids:
        try:
            fds[os.pidfd_open(pid)] = pid
        except ProcessLookupError:
            pass
    try:
        deadline = time.monotonic() + seconds
        while fds and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(list(fds), [], [], left)
            for fd in ready:
                del fds[fd]
                os.close(fd)
        return sorted(fds.values())
    finally:
        for fd in fds:
            os.close(fd)


def hangup_as_by_default() -> None:
    """In the run's child: SIGHUP as a terminal's session leaves it, not as a `nohup` around the tests does."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def assert_none_outlives(mark: str) -> None:
    """No process of the run is left 10 s after it ended; any that is, is killed before the test fails."""
    survivors = still_running_after(processes_marked(mark), 10)
    for pid in survivors:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert survivors == []


@pytest.mark.parametrize("point, signal_name", [
    ("scan:done", "KILL"), ("extract:batch-read", "KILL"), ("load:built", "KILL"),
    ("extract:batch-read", "TERM"), ("normalise:merged", "TERM"), ("load:built", "INT"),
    ("extract:batch-read", "HUP")])   # its terminal closed (an ssh drop): died unsaid, its commits half made
def test_no_process_of_a_stopped_run_outlives_it(point, signal_name, inbox, tmp_path):
    mark = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}   # the temporary server
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), CRASH_ENV: point, SIGNAL_ENV: signal_name, MARK: mark}
    stopped = subprocess.run([str(BIN / "profile-etl"), "--home", str(tmp_path / "home"), "run", "--inbox", str(inbox),
                              "--settle-seconds", "0"], env=env, capture_output=True, text=True, timeout=300,
                             preexec_fn=hangup_as_by_default)
    if signal_name == "KILL":
        assert stopped.returncode == -9, stopped.stderr
    else:
        assert stopped.returncode == 130, stopped.stderr
        assert "the run was interrupted" in stopped.stderr and "Traceback" not in stopped.stderr, stopped.stderr
    assert_none_outlives(mark)


def test_watch_stopped_during_a_run_says_what_became_of_it_and_leaves_no_process(inbox, tmp_path):
    mark = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}   # the temporary server
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), CRASH_ENV: "extract:batch-read", SIGNAL_ENV: "TERM",
            MARK: mark}
    stopped = subprocess.run([str(BIN / "profile-etl"), "--home", str(tmp_path / "home"), "watch", "--inbox",
                              str(inbox), "--settle-seconds", "0", "--quiet-seconds", "0"],
                             env=env, capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 0, stopped.stderr   # stopping is how a watch ends
    assert "watch: stopped during a run: the run was interrupted" in stopped.stderr, stopped.stderr
    assert "Traceback" not in stopped.stderr, stopped.stderr
    assert_none_outlives(mark)


@pytest.mark.parametrize("command, signal_name", [("run", "INT"), ("run", "TERM"), ("run", "HUP"), ("watch", "TERM")])
def test_a_signal_to_the_whole_group_interrupts_the_run_rather_than_failing_it(command, signal_name, inbox, tmp_path):
    """A terminal's Ctrl-C (SIGINT) or hangup (SIGHUP: an ssh session dropped), timeout(1) or a service
    manager (SIGTERM) signal a whole process group: the run, and Prefect's temporary server unless that
    has a group of its own. The run must end as interrupted, not fail for want of its server (a minute
    later). The run stops itself at the point (SIGSTOP); the group gets the signal, then SIGCONT."""
    mark = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}   # the temporary server
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), CRASH_ENV: "extract:batch-read", SIGNAL_ENV: "STOP",
            MARK: mark}
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        run = subprocess.Popen([str(BIN / "profile-etl"), "--home", str(tmp_path / "home"), command, "--inbox",
                                str(inbox), "--settle-seconds", "0", *(["--json"] if command == "run" else [])],
                               env=env, stdout=out, stderr=err, preexec_fn=hangup_as_by_default,
                               start_new_session=True)   # a group of its own, as a terminal's foreground job
        _, status = os.waitpid(run.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), status
        os.killpg(run.pid, signal.Signals[f"SIG{signal_name}"])
        os.killpg(run.pid, signal.SIGCONT)
        run.wait(timeout=300)
    stderr = (tmp_path / "err").read_text()
    assert "Traceback" not in stderr and "ConnectError" not in stderr, stderr
    if command == "run":
        assert run.returncode == 130, stderr
        assert "the run was interrupted" in stderr, stderr
        assert '"status": "interrupted"' in (tmp_path / "out").read_text()
    else:
        assert run.returncode == 0, stderr   # stopping is how a watch ends
        assert "watch: stopped during a run: the run was interrupted" in stderr, stderr
    assert_none_outlives(mark)


# Loaded at the start of every Python process that has it on PYTHONPATH: the run stops itself (SIGSTOP)
# as it begins to import the module STOP_AT_IMPORT names, once.
STOP_AT_IMPORT = """
import os, signal, sys

class StopAt:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ.get("STOP_AT_IMPORT"):
            del os.environ["STOP_AT_IMPORT"]
            os.kill(os.getpid(), signal.SIGSTOP)
        return None

sys.meta_path.insert(0, StopAt())
"""


@pytest.mark.parametrize("module, signal_name", [("prefect", "TERM"), ("flows.pipeline", "INT")])
def test_a_run_stopped_while_it_starts_says_so_in_json_too(module, signal_name, inbox, tmp_path):
    """`timeout 3 profile-etl run --json`: the first seconds import Prefect and the flow's modules. A
    SIGTERM there ended the run unsaid (-15, no JSON), an interrupt printed no JSON object."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(STOP_AT_IMPORT)
    mark = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}   # the temporary server
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PYTHONPATH": str(tmp_path / "site"),
            "STOP_AT_IMPORT": module, MARK: mark}
    run = subprocess.Popen([str(BIN / "profile-etl"), "--home", str(tmp_path / "home"), "run", "--inbox",
                            str(inbox), "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, start_new_session=True)
    _, status = os.waitpid(run.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), status
    os.killpg(run.pid, signal.Signals[f"SIG{signal_name}"])
    os.killpg(run.pid, signal.SIGCONT)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 130, err
    assert json.loads(out) == {"status": "interrupted", "exit_code": 130, "error": None, "run_id": None}
    assert "Traceback" not in err, err
    assert_none_outlives(mark)

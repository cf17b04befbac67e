"""No orphans: what a run starts (Prefect's temporary server, worker processes) ends with it.

SIGTERM becomes a KeyboardInterrupt, so a terminated run unwinds like a Ctrl-C and Prefect's exit
hooks stop its temporary server (which a Ctrl-C doesn't reach; a SIGTERM to the whole group does, and
then the run ends at once). A SIGKILLed run gets no say, so a
watchdog process started beside it waits for the run's end (the pipe the run holds reaching
end-of-file), then stops every process still carrying the run's token in its environment, which
children inherit.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import contextmanager

TOKEN_ENV = "PROFILE_ETL_RUN_TOKEN"

# Run by a bare interpreter (-I -S: no site, no project imports), so it starts in milliseconds.
WATCHDOG = r"""
import os, signal, sys, time
token, me = sys.argv[1].encode(), os.getpid()
sys.stdin.buffer.read()          # returns when the run has exited, however it ended

def carriers():
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != me:
            try:
                with open(f"/proc/{name}/environ", "rb") as handle:
                    if token in handle.read().split(b"\0"):
                        found.append(int(name))
            except OSError:
                pass
    return found

def signal_all(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass

signal_all(carriers(), signal.SIGTERM)
deadline = time.monotonic() + 3
while (left := carriers()) and time.monotonic() < deadline:
    time.sleep(0.1)
signal_all(left, signal.SIGKILL)
"""


# the temporary server this command started (once its start has begun), and the thread awaiting its end
TEMPORARY = {"server": None, "watcher": None}
# while a flow run of this command needs that server: what ends the command if SIGTERM ends the server
ON_SERVER_STOPPED: list[Callable[[], int]] = []


# timeout(1) signals the command, then its whole group: one stop, which may arrive twice
REPEAT_WINDOW_SECONDS = 1.0


def terminate_as_interrupt() -> None:
    """SIGTERM, and SIGHUP (its terminal closed: an ssh session dropped), unwind the run as Ctrl-C does
    (exit hooks run), instead of ending it on the spot; a repeat within the window is the same stop,
    and would break the unwinding (Prefect's exit hooks)."""
    first: list[float] = []

    def interrupt(signum, frame):
        if first and time.monotonic() - first[0] < REPEAT_WINDOW_SECONDS:
            return
        first[:] = [time.monotonic()]
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:   # under nohup, a hangup stays ignored
        signal.signal(signal.SIGHUP, interrupt)


@contextmanager
def ended_at_once_if_server_stops(say: Callable[[], int]):
    """Within (a flow run on the temporary server this command started): if SIGTERM ends that server, as
    one sent to the run's whole process group does (timeout(1), a service manager), say() tells what
    became of the run and the command ends with its exit code at once. Prefect would retry the gone
    server for a minute to record the run's end; ending as a kill does is safe (the lake's commit protocol)."""
    process = getattr(TEMPORARY["server"], "server_process", None)
    if process is not None and TEMPORARY["watcher"] is None:   # one for the command's life (`watch` has many runs)
        TEMPORARY["watcher"] = threading.Thread(target=end_if_stopped, args=(process,), daemon=True,
                                                name="temporary-server-watch")
        TEMPORARY["watcher"].start()
    ON_SERVER_STOPPED.append(say)
    try:
        yield
    finally:
        ON_SERVER_STOPPED.remove(say)


def end_if_stopped(process: subprocess.Popen) -> None:
    """Wait for the temporary server's end; if SIGTERM ended it while a flow run needed it, end the command."""
    if process.wait() == -signal.SIGTERM and ON_SERVER_STOPPED:
        code = ON_SERVER_STOPPED[-1]()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def start_temporary_server() -> Future:
    """Prefect's temporary server starting, while the command loads the rest of itself; the flow uses it
    once the future is done. It starts from a thread that blocks SIGINT and SIGHUP, so the server inherits
    the block: a terminal's Ctrl-C (or hangup) signals the run's whole process group, and a server stopped
    by it failed the run; now the run unwinds as interrupted through its server, which Prefect stops
    with SIGTERM as the run exits."""
    from prefect.server.api.server import SubprocessASGIServer
    started: Future = Future()
    server = TEMPORARY["server"] = SubprocessASGIServer()

    def start() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGHUP})
        try:
            started.set_result(server.start())
        except BaseException as exc:   # the command reports it when it waits for the server
            started.set_exception(exc)
    threading.Thread(target=start, name="temporary-server-start", daemon=True).start()
    return started


def watch_children() -> subprocess.Popen | None:
    """Start the watchdog and mark this process's future children with its token (Linux: it reads
    /proc; elsewhere a killed run's temporary server is left to the user, as Prefect leaves it)."""
    if not os.path.isdir("/proc/self") or TOKEN_ENV in os.environ:
        return None
    token = f"{TOKEN_ENV}={uuid.uuid4().hex}"
    watchdog = subprocess.Popen([sys.executable, "-I", "-S", "-c", WATCHDOG, token], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    os.environ[TOKEN_ENV] = token.split("=", 1)[1]
    return watchdog   # its stdin pipe closes when this process ends, which wakes it

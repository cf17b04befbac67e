"""Running ingestion without a person: a Prefect deployment on a schedule, a local Prefect server,
and a watcher that starts a run when new dumps have settled in the inbox."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from flows import discover, file_index
from flows.prefect_env import home_digest, run_tags
from store import storage
from store.errors import UserError
from store.settings import Settings

DEPLOYMENT = "scheduled-ingest"   # + the home's folder name and a hash of its path: a deployment per home
SCHEDULED_LOCK_WAIT = 600.0   # a scheduled or watched run queues this long behind a manual run holding the home
# Offline and quiet: what a Prefect server or client needs on a machine without internet.
OFFLINE_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def serve(settings: Settings, cron: str | None, interval: float | None) -> None:
    """Serve the ingestion flow as a deployment; needs a Prefect server (PREFECT_API_URL)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig

    from flows.dead_serve import crash_runs_left_running, mark_serving
    from flows.pipeline import ingest_flow
    from flows.served import serve_flow
    name = deployment_name(settings.home)   # read once: the home's id is a file
    if ended := crash_runs_left_running(settings, name):
        print(f"profile-etl: ended the runs a killed serve left running (crashed; cancelled, those it was "
              f"cancelling): {', '.join(ended)}", flush=True)
    mark_serving(name)
    flow = ingest_flow(settings.dask_address)   # kept in memory by the served runner, task runner and all
    serve_flow(flow, name, cron=cron, interval=interval, tags=run_tags(settings.home),
               concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy="ENQUEUE"),
               parameters={"home": str(settings.home), "inbox": str(settings.inbox), "lake": str(settings.lake),
                           "settle_seconds": settings.settle_seconds, "batch_size": settings.batch_size,
                           "max_dump_bytes": settings.max_dump_bytes,
                           "lock_wait_seconds": max(settings.lock_wait_seconds, SCHEDULED_LOCK_WAIT)})


def deployment_name(home: Path) -> str:
    """The serve deployment of a home: homes served on one server never share (or pause) a schedule."""
    return f"{DEPLOYMENT}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', home.name)[:40]}-{home_digest(home)}"


# Prefect keeps concurrency leases in memory by default: a restarted server forgets the lease of a
# run that was starting and never frees its slot, so a serve's schedule (limit 1) would stop for good.
# And it keeps flow runs for good: vacuumed 90 days after they end, as a schedule adds ~0.25 MB a run.
SERVER_DEFAULTS = {"PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect.server.concurrency.lease_storage.filesystem",
                   "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs"}


def server_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]


def run_server(host: str, port: int) -> int:
    """`prefect server start` with telemetry off, its UI calling this server's API whatever the port;
    SIGINT and SIGTERM are passed on to it (in a session of its own, it gets a terminal's Ctrl-C
    once), so stopping this command stops the server. Returns its exit code (0 when stopped so)."""
    api = f"http://{host}:{port}/api"
    refuse_taken_port(host, port, api)
    print(f"Prefect server on http://{host}:{port} — in other shells: export PREFECT_API_URL={api}", flush=True)
    env = {"PREFECT_UI_API_URL": api} | SERVER_DEFAULTS | os.environ | OFFLINE_ENV
    child = subprocess.Popen(server_command(host, port), env=env, start_new_session=True)
    asked: list[int] = []

    def stop(signum, _frame) -> None:
        asked.append(signum)
        child.send_signal(signum)
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = child.wait()
        return 0 if asked else code   # stopped as asked: a clean exit
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def refuse_taken_port(host: str, port: int, api: str) -> None:
    """A port another process listens on is refused before the server is announced (as uvicorn binds)."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError:
        return   # a host name that doesn't resolve: the server says so itself
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise UserError(f"can't serve on {host}:{port} ({exc.strerror or exc}): if a Prefect server is there "
                            f"already, use it (export PREFECT_API_URL={api}); else pick another port with --port") from None


MAX_BACKOFF = 8   # a mart broken for days makes a failed run every 80 min, not every 10
# An idle watch spends at most this share of a core looking at the inbox: one of 20,000 files takes
# about 0.17 s to list and match against the file index, which every second would be a sixth of a core.
POLL_SHARE = 0.05


@dataclass
class Watcher:
    """Decides when to run: some dump files are new (not in the file index by path, size and mtime,
    or indexed to a dump the lake no longer holds: a rollback's), none of them has changed for
    quiet_seconds, and the run's listing would read each (past the settle time, its sidecar too).
    Temporary names (`.part`, `.tmp`, dot files) don't count until they are renamed.
    While new files keep arriving, the settled ones run after max_wait_seconds (default: 10 quiet
    periods, at least a minute). Settled files a run left unread (or a run that failed) count again
    after retry_seconds, or when changed; a new file's run tries them too. A run that failed after
    its files were committed (publishing the warehouse, say) leaves none pending: after retry_seconds
    a run is due anyway, to publish what the lake holds. Each further failure in a row doubles that
    wait, up to MAX_BACKOFF times retry_seconds; a run that succeeds resets it."""
    settings: Settings
    quiet_seconds: float
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time   # what the listing compares mtimes with, as a run's does
    retry_seconds: float = 600.0
    max_wait_seconds: float | None = None
    _first_seen: dict = field(default_factory=dict)   # new file's key -> when first seen (a change is a new key)
    _waiting_since: float | None = None               # since when some new file has been pending
    _seen: frozenset = field(default=frozenset())     # pending at the last check
    _tried: frozenset = field(default=frozenset())    # settled and pending when the last run started
    _tried_at: float = 0.0
    _failed_at: float | None = None   # when the last run failed, until a run starts again
    _failures: int = 0                # failed runs in a row
    _known: tuple = (None, frozenset())   # (the dumps log's stamp, the dump ids the lake holds)
    _unlistable: str | None = None        # why the inbox can't be listed, said once

    def pending(self) -> frozenset:
        index = file_index.read_file_index(self.settings.state)
        indexed = dict(zip(index.drop("dump_id").iter_rows(), index["dump_id"]))
        found = self.scan(settle_seconds=0)
        keys = [file_index.row_key(row) for row in found.found]
        known = self.known() if any(key in indexed for key in keys) else frozenset()
        return frozenset(key for key in keys if indexed.get(key) not in known)

    def scan(self, settle_seconds: float) -> discover.Inbox:
        """The inbox listed; one that can't be listed is said once (until it can be again) and
        holds nothing pending: the watch goes on, as for a share that is back after a while."""
        try:
            found = discover.scan_inbox(self.settings.inbox, settle_seconds, self.wall_clock(),
                                        home_folders=self.settings.home_folders)
        except UserError as exc:
            if str(exc) != self._unlistable:
                print(f"watch: {exc}", file=sys.stderr, flush=True)
            self._unlistable = str(exc)
            return discover.Inbox([], [], [])
        self._unlistable = None
        return found

    def known(self) -> frozenset:
        """The lake's dump ids, read again when its dumps table has a new commit (a local lake's log
        folder changes), or once a minute on object storage."""
        log = self.settings.lake / "dumps" / "_delta_log"
        stamp = int(self.clock() // 60) if storage.is_url(log) else (storage.stat(log) if log.is_dir() else None)
        if stamp != self._known[0]:
            from warehouse import lake
            self._known = (stamp, frozenset(lake.known_dump_ids(self.settings.lake)))
        return self._known[1]

    def due(self) -> bool:
        now = self.clock()
        if self._tried and now - self._tried_at >= self.retry_after():
            self._tried = frozenset()
        self._seen = self.pending()
        if self._failed_at is not None and now - self._failed_at >= self.retry_after():
            return True
        fresh = self._seen - self._tried
        self._first_seen = {key: self._first_seen.get(key, now) for key in fresh}
        if not fresh:
            self._waiting_since = None
            return False
        self._waiting_since = now if self._waiting_since is None else self._waiting_since
        quiet = self.settled([key for key, seen in self._first_seen.items() if now - seen >= self.quiet_seconds])
        max_wait = self.max_wait_seconds if self.max_wait_seconds is not None else max(60.0, 10 * self.quiet_seconds)
        return len(quiet) == len(fresh) or (bool(quiet) and now - self._waiting_since >= max_wait)

    def settled(self, keys: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
        """Those the run's own listing would read now: past the settle time, their sidecars too."""
        if not keys or not self.settings.settle_seconds:
            return keys
        # listed again, only when some are quiet: a dump's mtime alone misses a sidecar written after it
        ready = {file_index.row_key(row) for row in self.scan(self.settings.settle_seconds).found}
        return [key for key in keys if key in ready]

    def ran(self) -> None:
        """A run starts: the settled files among those pending (the ones it reads) wait for
        retry_seconds if it leaves them unread; files still being written stay new."""
        found = self.scan(self.settings.settle_seconds).found
        self._tried = self._seen & {file_index.row_key(row) for row in found}
        self._tried_at, self._first_seen, self._waiting_since = self.clock(), {}, None
        self._failed_at = None

    def failed(self) -> None:
        """The run just started failed."""
        self._failed_at, self._failures = self.clock(), self._failures + 1

    def succeeded(self) -> None:
        """The run just started succeeded."""
        self._failures = 0

    def retry_after(self) -> float:
        """Seconds before files left unread, or a failed run, are tried again."""
        return self.retry_seconds * min(2 ** max(self._failures - 1, 0), MAX_BACKOFF)


def watch(settings: Settings, run: Callable[[], dict], quiet_seconds: float, poll_seconds: float,
          should_stop: Callable[[], bool] = lambda: False) -> int:
    """Poll the inbox every poll_seconds (less often where looking takes long, see POLL_SHARE); after
    a burst of new files goes quiet, run once, and print its result line. Returns the number of runs."""
    from flows.cancel_watch import RunCancelled
    from flows.run_failure import unreachable_hint
    from flows.runs import describe  # here: `profile-etl server` imports this module, and needs no polars
    watcher, runs = Watcher(settings, quiet_seconds), 0
    settings.home.mkdir(parents=True, exist_ok=True)   # a new home is made here: a run then refuses one gone since
    while not should_stop():
        looked = time.monotonic()
        due = watcher.due()
        pause = max(poll_seconds, (time.monotonic() - looked) * (1 - POLL_SHARE) / POLL_SHARE)
        if due:
            runs += 1
            watcher.ran()
            started = time.monotonic()
            try:
                settings.refuse_gone_home("watch")
                summary = run()
            except Exception as exc:  # recorded in `runs`; a run is due again with a new file or after a while
                watcher.failed()
                what = ("was cancelled from Prefect and stopped" if isinstance(exc, RunCancelled)
                        else f"failed: {type(exc).__name__}: {exc}")
                print(f"watch: run {runs} {what};{unreachable_hint(exc)} trying again in "
                      f"{watcher.retry_after() / 60:g} min, or when a new file arrives", file=sys.stderr, flush=True)
                continue
            watcher.succeeded()
            print(f"watch: run {runs}: {describe(summary, time.monotonic() - started)}", flush=True)
        time.sleep(pause)
    return runs

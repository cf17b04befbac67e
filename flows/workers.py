"""The local process pool that runs batches on every core of this machine.

Batches parse and normalise in pure Python and polars; threads would share one core through the
GIL. Workers are spawned (not forked: the flow's process has Prefect's and polars' threads) and
started as soon as a run knows it has files to read, so their start overlaps the rest of the plan;
the run shuts them down when it ends.
"""
from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor

from flows import faults

_pool: ProcessPoolExecutor | None = None
_ahead: dict[int, tuple[object, Future]] = {}   # id(arg) -> (arg, its future): work begun before asked for
_lock = threading.RLock()
PARENT_CHECK_SECONDS = 0.5


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _in_worker(run_pid: int, niceness: int) -> None:
    faults.KILL_PARENT = True   # a crash test's kill is meant for the run, not only this worker
    os.environ.setdefault("POLARS_MAX_THREADS", "1")   # the pool already has a process per core
    os.nice(niceness)
    threading.Thread(target=_exit_with_the_run, args=(run_pid,), daemon=True, name="run-watch").start()
    # A worker has nothing to tear down (results travel through a pipe written at once): skipping
    # the interpreter's finalization of polars, pyarrow and pandera makes the run's end faster.
    atexit.register(os._exit, 0)
    import flows.batch   # imported and warmed while the flow still plans, not inside the first task
    flows.batch.warm()


def _exit_with_the_run(run_pid: int) -> None:
    """A worker whose run died (killed, out of memory) exits: its pool's pipes never close on their
    own, since every worker holds both ends, and an orphan would keep the run's output open."""
    while os.getppid() == run_pid:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def pool(niceness: int = 0) -> ProcessPoolExecutor:
    """The run's pool; niceness applies to the workers of a pool this call creates."""
    global _pool
    with _lock:   # batch tasks call this from several threads
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=cores(), mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_in_worker, initargs=(os.getpid(), niceness))
        return _pool


def start(niceness: int = 0, count: int | None = None) -> None:
    """Spawn the workers now (ProcessPoolExecutor would wait for the first task): every core's, or
    only `count` of them, and then no more until `widen`, however many tasks queue up."""
    with _lock:
        executor = pool(niceness)
        if count is not None and count < cores():
            # the executor's own bound on the processes it spawns as tasks arrive (set at its
            # creation; lowered, it leaves the queue sized for every core)
            executor._max_workers = count
        for _ in range(count or cores()):
            executor.submit(os.getpid)


def widen(spawn: bool) -> None:
    """Let the pool grow to every core's worker; with spawn, start the missing ones now, for work
    already queued. Private parts of CPython's executor, as `start` uses, under its own lock."""
    with _lock:
        if _pool is None or _pool._max_workers >= cores():
            return
        with _pool._shutdown_lock:
            _pool._max_workers = cores()
            # The executor spawns on demand when it counts no idle worker, and it counts one each
            # time a worker finishes a task, queue or not: forget those, so that a task submitted
            # later finds the workers it lacks spawned
            while _pool._idle_worker_semaphore.acquire(blocking=False):
                pass
            if spawn and not (_pool._broken or _pool._shutdown_thread):
                _spawn_missing(_pool)


def _spawn_missing(executor: ProcessPoolExecutor) -> None:
    try:
        while len(executor._processes) < cores():
            executor._spawn_process()
    except Exception:   # the pool broke meanwhile: its manager reports that to the waiting tasks
        return
    executor._executor_manager_thread_wakeup.wakeup()   # it watches the worker processes it knew


def submit_ahead(fn, arg) -> Future | None:
    """Begin fn(arg) now; a later run(fn, arg), with this very arg object, returns its result.
    None once the run's pool is shut down: work begun ahead never outlives its run."""
    with _lock:
        if _pool is None:
            return None
        future = pool().submit(fn, arg)
        _ahead[id(arg)] = (arg, future)
        return future


def run(fn, *args):
    """fn(*args) in a worker process; a worker that died (killed, out of memory) gets the pool rebuilt."""
    arg, future = _ahead.pop(id(args[0]), (None, None)) if len(args) == 1 else (None, None)
    if arg is not args[0]:
        future = pool().submit(fn, *args)
    try:
        return future.result()
    except BaseException:
        if getattr(_pool, "_broken", False):   # not pool(): after a shutdown it would make a new one
            shutdown()
        raise


def shutdown() -> None:
    global _pool
    with _lock:
        _ahead.clear()
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
            _pool = None

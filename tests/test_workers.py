"""The local worker pool: how many processes it spawns, and when."""
from __future__ import annotations

import multiprocessing
import os

import pytest

from flows import workers


def wait_for_writer(fifo: str) -> int:
    """Blocks until the test opens the FIFO for writing (a worker kept busy without a sleep)."""
    with open(fifo) as handle:
        handle.read()
    return os.getpid()


GUARD = 120   # seconds: a task that never runs fails the test instead of hanging it


def spawned(before: set) -> int:
    return len(set(multiprocessing.active_children()) - before)


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(workers, "cores", lambda: 2)
    workers.shutdown()
    yield
    workers.shutdown()


def test_a_pool_started_with_fewer_workers_grows_only_when_widened(tmp_path, two_cores):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    before = set(multiprocessing.active_children())
    workers.start(count=1)
    # tasks queued and done before, as a head start's batches are: the executor then counts its
    # one worker idle several times over, which must not stop widen from spawning for queued work
    earlier = [workers.pool().submit(os.getpid) for _ in range(6)]
    assert len({future.result(timeout=GUARD) for future in earlier}) == 1
    busy = workers.pool().submit(wait_for_writer, str(fifo))
    queued = workers.pool().submit(os.getpid)
    assert spawned(before) == 1   # a task waits rather than spawn a second worker
    workers.widen(spawn=True)
    # the queued task now runs in a second worker while the first still waits on the FIFO
    second = queued.result(timeout=GUARD)
    assert spawned(before) == 2
    with open(fifo, "w") as handle:
        handle.write("go")
    assert busy.result(timeout=GUARD) != second


def test_a_pool_started_whole_spawns_every_cores_worker(two_cores):
    before = set(multiprocessing.active_children())
    workers.start()
    assert spawned(before) == 2
    workers.widen(spawn=True)   # nothing to widen
    assert spawned(before) == 2

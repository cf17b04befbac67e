"""Peak memory of a process and its descendants, sampled by a thread while it runs."""
from __future__ import annotations

import threading
from pathlib import Path

import psutil

MB = 1024 * 1024


def hwm_bytes(pid: int) -> int:
    """The kernel's high-water mark of a process's resident set (VmHWM), 0 when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def reset_own_hwm() -> bool:
    """Reset this process's VmHWM (Linux: write 5 to clear_refs); False when not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class TreeMonitor:
    """Samples every `interval` s: the largest sum of RSS over the tree (the run, Prefect's
    server and any worker at once) and the main process's own high-water mark."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.pid, self.interval = pid, interval
        self.tree_peak = self.main_hwm = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "TreeMonitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            self._sample(root)
            self._stop.wait(self.interval)

    def _sample(self, root: psutil.Process) -> None:
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        self.tree_peak = max(self.tree_peak, total)
        self.main_hwm = max(self.main_hwm, hwm_bytes(self.pid))

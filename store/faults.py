"""Named points in a run where tests can make it die (SIGKILL) or fail (an exception).

`PROFILE_ETL_CRASH_AT=<point>` kills the process at that point (with the signal named by
`PROFILE_ETL_CRASH_SIGNAL`, default KILL); `PROFILE_ETL_FAIL_AT=<point>` raises InjectedFault there. Unset (always, outside tests), a checkpoint costs one dict lookup.
"""
from __future__ import annotations

import os
import signal

CRASH_ENV = "PROFILE_ETL_CRASH_AT"
FAIL_ENV = "PROFILE_ETL_FAIL_AT"
SIGNAL_ENV = "PROFILE_ETL_CRASH_SIGNAL"


class InjectedFault(RuntimeError):
    """Raised at a checkpoint named by PROFILE_ETL_FAIL_AT."""


def checkpoint(point: str) -> None:
    if os.environ.get(CRASH_ENV) == point:
        os.kill(os.getpid(), signal.Signals[f"SIG{os.environ.get(SIGNAL_ENV, 'KILL')}"])
    if os.environ.get(FAIL_ENV) == point:
        raise InjectedFault(f"fault injected at {point}")

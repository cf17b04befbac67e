"""The process's resource limits (`ulimit`, a container's or a batch system's) that a run needs: one
too low is refused before Prefect starts, naming the limit, instead of an abort or a hang mid-run;
a failure that a limit explains says which."""
from __future__ import annotations

import errno
import resource

from store.errors import UserError

# Measured on 2 cores: 48 open files ran 2,000 dumps; 40 failed the publish, 32 the merges, and 20
# hung Prefect's event loop threads until killed.
MIN_OPEN_FILES = 64
# A run reserves about 3.4 GB of address space on 2 cores (thread pools and allocator arenas of
# polars, delta-rs and DuckDB) while using under 1 GB: below 4 GiB Rust's allocator aborts the run.
MIN_ADDRESS_SPACE = 4 << 30


def limit(which: int) -> tuple[float, float]:
    """A limit's soft and hard values, unlimited as infinity."""
    return tuple(float("inf") if v == resource.RLIM_INFINITY else v for v in resource.getrlimit(which))


def refuse_low_limits() -> None:
    """Raise the open-files soft limit towards the hard one where it is too low (as servers do), then
    refuse a limit still below what a run needs, with the `ulimit` that lifts it."""
    soft, hard = limit(resource.RLIMIT_NOFILE)
    if soft < MIN_OPEN_FILES < hard:
        soft = min(hard, 4096)
        resource.setrlimit(resource.RLIMIT_NOFILE, (int(soft), resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    if soft < MIN_OPEN_FILES:
        raise UserError(f"the open-files limit (`ulimit -n`) is {soft:g}; a run needs at least {MIN_OPEN_FILES} "
                        "(the lake's files, DuckDB and Prefect open their own): raise it (`ulimit -n 1024`)")
    if (space := limit(resource.RLIMIT_AS)[0]) < MIN_ADDRESS_SPACE:
        raise UserError(f"the address-space limit (`ulimit -v`) is {int(space) >> 20:,} MiB; a run reserves about "
                        f"3.5 GB of it (thread pools), though it uses far less memory: raise it to "
                        f"{MIN_ADDRESS_SPACE >> 20:,} MiB or more (`ulimit -v unlimited`), or limit memory "
                        "instead (a cgroup: docker --memory, systemd MemoryMax)")


def limit_hint(exc: BaseException) -> str:
    """What a limit has to do with a failure: a thread that couldn't start under the process limit; a file
    that grew past the file-size limit (EFBIG, `File too large` from DuckDB or delta-rs), or any failure
    while that limit is set (Prefect's temporary server then fails as an HTTP 500 or a start that times
    out, its database stopped growing)."""
    tasks = limit(resource.RLIMIT_NPROC)[0]
    if "can't start new thread" in str(exc) and tasks != float("inf"):
        return (f" The limit of processes and threads (`ulimit -u`, counted over all of the user's processes) "
                f"is {int(tasks):,}: raise it (100 was enough for a run and its temporary server, 40 was not).")
    if (size := limit(resource.RLIMIT_FSIZE)[0]) == float("inf"):
        return ""
    if getattr(exc, "errno", None) == errno.EFBIG or "File too large" in str(exc):
        return (f" The file-size limit (`ulimit -f`) is {int(size):,} bytes, which a file the run wrote "
                "reached: raise it.")
    return (f" The file-size limit (`ulimit -f`) is {int(size):,} bytes: a file that grows past it fails (the "
            "warehouse, the lake's, Prefect's database): raise it if one may have (`ulimit -f unlimited`).")

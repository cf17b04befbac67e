"""The benchmark of `profile-etl run` (docs/benchmarks.md): wall time as users wait for it, in two
modes (served: against a lasting Prefect server the bench starts; temporary: each run starts
Prefect's temporary server), CPU-seconds of the work, peak memory, against the parsing floor and
a dlt peer, with the issue's targets printed as met or not.

    python -m bench [--dumps N] [--repeat R] [--scale K] [--memory-dumps M] [--modes served,temporary] ...

Modules: `corpus` (synthetic dumps, cached), `server` (the lasting Prefect server), `runner` (one
timed process: wall, rusage CPU, the server's CPU meanwhile, RSS from `rss`), `measure` (the
measurements, run in rounds), `bighome` (the cached big home), `floor` (read + parse, in this
process), `peer` (dlt into DuckDB, in this process, offline via `offline`), `figures` (differences,
ratios, targets), `prefect_db` (time breakdown from Prefect's records), `report` (table, lines, JSON).
Apart: `served` (the bench in served mode only), `timeline` (which process uses which core
during one run), `stages` (one run's stages timed in this process) and `engines` (those stages on
polars' streaming engine against its in-memory one).
"""

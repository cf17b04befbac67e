"""Benchmark of issue 4: the cost of a `profile-etl run` against the parsing floor and a dlt peer.

    python -m bench [--dumps N] [--seed S] [--repeat R] [--scale K] [--out FILE] [--workdir DIR]

Modules: `corpus` (synthetic dumps, cached by N and seed), `runner` (one timed `profile-etl run`
process, with its peak memory from `rss`), `measure` (the five pipeline measurements), `floor`
(read + parse only, in this process), `peer` (dlt into DuckDB, in this process, offline),
`loadref` (the warehouse load alone: a full ingest's lake into a new DuckDB file, in a child process),
`report` (the table, the ratios against the issue's targets, the JSON file). Apart:
`served` (runs against a Prefect server already up) and `timeline` (which process uses which core
during one run).
Not a test: it prints numbers and passes or fails nothing.
"""

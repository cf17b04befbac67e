"""Data tests: each `sql/checks/*.sql` returns the rows that break a rule; none means it holds.

A check walks the rows of `checked_<table>` (a temporary view) and looks up whatever it needs in
the tables themselves. The views hold every row, or with `scoped` only the rows a publish added or
changed (the keys in the temporary tables `_scope_dump_id` and `_scope_paper_id`, which
warehouse/load.py fills), so a small run into a big warehouse checks what it changed: rows outside
the scope were checked when they were loaded, and nothing a run does removes what they refer to.
"""
from __future__ import annotations

from importlib import resources

import duckdb

CHECKS = resources.files("warehouse") / "sql" / "checks"
CHECKED = {"dumps": "dump_id", "listings": "dump_id", "papers": "paper_id", "paper_authors": "paper_id"}


class DataCheckFailed(RuntimeError):
    """A data test returned offending rows; the warehouse was not published."""


def check_names() -> list[str]:
    return sorted(e.name.removesuffix(".sql") for e in CHECKS.iterdir() if e.name.endswith(".sql"))


def create_checked_views(con: duckdb.DuckDBPyConnection, scoped: bool) -> None:
    for table, key in CHECKED.items():
        where = f" WHERE {key} IN (SELECT {key} FROM _scope_{key})" if scoped else ""
        con.execute(f"CREATE OR REPLACE TEMP VIEW checked_{table} AS SELECT * FROM main.{table}{where}")


def run_checks(con: duckdb.DuckDBPyConnection, scoped: bool = False) -> dict[str, list[tuple]]:
    """Offending rows of each failing check (at most 5 each)."""
    create_checked_views(con, scoped)
    failures = {}
    for name in check_names():
        rows = con.execute(f"SELECT * FROM ({(CHECKS / f'{name}.sql').read_text().rstrip().rstrip(';')}) LIMIT 5").fetchall()
        if rows:
            failures[name] = rows
    return failures


def assert_checks_pass(con: duckdb.DuckDBPyConnection, scoped: bool = False) -> None:
    failures = run_checks(con, scoped)
    if failures:
        detail = "; ".join(f"{name}: {rows}" for name, rows in failures.items())
        raise DataCheckFailed(f"data tests failed, the warehouse was not published: {detail}")

"""Data tests: each `sql/checks/*.sql` returns the rows that break a rule; none means it holds."""
from __future__ import annotations

from importlib import resources

import duckdb

CHECKS = resources.files("warehouse") / "sql" / "checks"


class DataCheckFailed(RuntimeError):
    """A data test returned offending rows; the warehouse was not published."""


def check_names() -> list[str]:
    return sorted(e.name.removesuffix(".sql") for e in CHECKS.iterdir() if e.name.endswith(".sql"))


def run_checks(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Offending rows of each failing check (at most 5 each)."""
    failures = {}
    for name in check_names():
        rows = con.execute(f"SELECT * FROM ({(CHECKS / f'{name}.sql').read_text().rstrip().rstrip(';')}) LIMIT 5").fetchall()
        if rows:
            failures[name] = rows
    return failures


def assert_checks_pass(con: duckdb.DuckDBPyConnection) -> None:
    failures = run_checks(con)
    if failures:
        detail = "; ".join(f"{name}: {rows}" for name, rows in failures.items())
        raise DataCheckFailed(f"data tests failed, the warehouse was not published: {detail}")

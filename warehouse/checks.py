"""Data tests: each `sql/checks/*.sql` returns the rows that break a rule; none means it holds.

A check walks the rows of `checked_<table>` (a temporary view) and looks up whatever it needs in
the tables themselves. The views hold every row, or with `scoped` only the rows a publish added or
changed (by each table's `scoped_by` column in schemas/tables.py: the values in the temporary
table `_scope_<column>`, which warehouse/load.py fills), so a small run into a big warehouse
checks what it changed: rows outside
the scope were checked when they were loaded, and nothing a run does removes what they refer to.
A scoped load runs only the checks that read a table it changed.
"""
from __future__ import annotations

import re
from functools import cache
from importlib import resources

import duckdb

from schemas.tables import REGISTRY, polars_schema
from warehouse.views import view_files

CHECKS = resources.files("warehouse") / "sql" / "checks"
CHECKED = {name: table.scoped_by for name, table in REGISTRY.items() if table.scoped_by}
ROWS_SHOWN = 3   # offending rows a failure's message shows of each check


class DataCheckFailed(RuntimeError):
    """A data test returned offending rows; the warehouse was not published."""


class DataCheckBroken(RuntimeError):
    """A data test's SQL can't run on a warehouse of the tables it expects: a mistake in it."""


SQL_MISTAKES = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)


def check_names() -> list[str]:
    return sorted(e.name.removesuffix(".sql") for e in CHECKS.iterdir() if e.name.endswith(".sql"))


def create_checked_views(con: duckdb.DuckDBPyConnection, scoped: bool) -> None:
    """checked_<table> of every table: a table without a scope column holds all its rows."""
    for table in REGISTRY:
        key = CHECKED.get(table)
        where = f" WHERE {key} IN (SELECT {key} FROM _scope_{key})" if scoped and key else ""
        con.execute(f"CREATE OR REPLACE TEMP VIEW checked_{table} AS SELECT * FROM main.{table}{where}")


def check_sql(name: str) -> str:
    return (CHECKS / f"{name}.sql").read_text()


def check_description(name: str) -> str:
    """The rule a check tests: its SQL's leading comment."""
    lines = [line.lstrip("- ").strip() for line in check_sql(name).splitlines() if line.startswith("--")]
    return " ".join(lines)


def tables_read(name: str) -> set[str] | None:
    """The tables a check reads: every table its SQL names (`checked_<table>` naming <table>); None
    when it names a view too (which may read any table), or no table at all."""
    words = set(re.findall(r"\w+", check_sql(name)))
    tables = {word.removeprefix("checked_") for word in words} & set(REGISTRY)
    return tables if tables and not words & view_names() else None


@cache
def view_names() -> frozenset[str]:
    return frozenset({"staging", *(view.name for view in view_files())})


def check_all(con: duckdb.DuckDBPyConnection, scoped: bool = False,
              changed: set[str] | None = None) -> dict[str, tuple[list[str], list[tuple]]]:
    """Each check's result: the columns and offending rows (at most 5; none: it holds). With
    `changed`, only the checks that read one of those tables: the others read what they passed on."""
    create_checked_views(con, scoped)
    results = {}
    for name in check_names():
        reads = tables_read(name) if changed is not None else None
        if reads is not None and not reads & changed:
            continue
        try:
            cursor = con.execute(f"SELECT * FROM ({check_sql(name).rstrip().rstrip(';')}) LIMIT 5")
        except SQL_MISTAKES as exc:
            if not has_every_column(con):   # the warehouse, not the check: said as any damage is
                raise
            raise DataCheckBroken(f"data test {name} can't run, a mistake in warehouse/sql/checks/{name}.sql: "
                                  f"{str(exc).splitlines()[0]}") from None
        results[name] = ([d[0] for d in cursor.description], cursor.fetchall())
    return results


def has_every_column(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse holds each table of the registry with each of its columns. In a load's
    transaction, which the failed check aborted, it does: the load made its tables from the registry."""
    try:
        held = set(con.execute("SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main'")
                   .fetchall())
    except duckdb.TransactionException:
        return True
    return all((name, column) in held for name, table in REGISTRY.items() for column in polars_schema(table.model))


def run_checks(con: duckdb.DuckDBPyConnection, scoped: bool = False,
               changed: set[str] | None = None) -> dict[str, list[tuple]]:
    """Offending rows of each failing check (at most 5 each)."""
    return {name: rows for name, (_, rows) in check_all(con, scoped, changed).items() if rows}


def assert_checks_pass(con: duckdb.DuckDBPyConnection, scoped: bool = False, changed: set[str] | None = None) -> None:
    failures = {name: found for name, found in check_all(con, scoped, changed).items() if found[1]}
    if failures:
        detail = "; ".join(failure_text(name, *found) for name, found in failures.items())
        raise DataCheckFailed(f"data tests failed, the warehouse was not published: {detail}")


def failure_text(name: str, columns: list[str], rows: list[tuple]) -> str:
    """A failing check, its rule and its first offending rows as `column=value`."""
    shown = " | ".join(", ".join(f"{c}={v}" for c, v in zip(columns, row)) for row in rows[:ROWS_SHOWN])
    more = ", ..." if len(rows) > ROWS_SHOWN else ""
    return f"{name} ({check_description(name).rstrip('.')}): {shown}{more}"

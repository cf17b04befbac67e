"""What the warehouse holds, as `profile-etl tables` and `describe` show it: its tables and marts
(schema `main`) with their descriptions and row counts, and a relation's columns. The texts are
the DuckDB comments the load writes from the pandera models and the marts' SQL."""
from __future__ import annotations

import duckdb

RELATIONS = """
SELECT table_name, 'table', comment FROM duckdb_tables() WHERE schema_name = 'main' AND NOT internal
UNION ALL
SELECT view_name, 'mart', comment FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal
ORDER BY 2 DESC, 1
"""


def relations(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int | None, str]]:
    """(name, kind, rows, description) of each table, then each mart; a mart that fails when queried
    (an analyst's, say) has rows None and the error for its description."""
    return [(name, kind, *row_count(con, name, comment or "")) for name, kind, comment in con.execute(RELATIONS).fetchall()]


# Errors a query raises on the data it reads (a mart's cast that a value fails), not on the file.
QUERY_ERRORS = (duckdb.ConversionException, duckdb.OutOfRangeException, duckdb.InvalidInputException)


def mart_hint(folder: object = "<home>/marts/") -> str:
    return f"an analyst's mart in {folder}? fix or remove its file"


def row_count(con: duckdb.DuckDBPyConnection, name: str, comment: str) -> tuple[int | None, str]:
    try:
        return con.execute(f'SELECT count(*) FROM main."{name}"').fetchone()[0], comment
    except QUERY_ERRORS as exc:
        return None, f"can't be queried: {query_error(exc)}"


def query_error(exc: duckdb.Error) -> str:
    """DuckDB's message, without the query it quotes."""
    return str(exc).split("\n\nLINE ")[0].strip()


def columns(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple[str, str, str]]:
    """(column, type, description) of a table or mart of `main`, in order; [] if there is none."""
    return con.execute("SELECT column_name, data_type, coalesce(comment, '') FROM duckdb_columns() "
                       "WHERE schema_name = 'main' AND table_name = ? ORDER BY column_index", [name]).fetchall()

"""Staging and mart views from `sql/staging` and `sql/marts`, with comments from their SQL.

Each view file starts with `--` lines describing the view, then `-- @column: description` lines;
those become `COMMENT ON VIEW` / `COMMENT ON COLUMN`, so BI tools show them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources

import duckdb

SQL = resources.files("warehouse") / "sql"
LAYERS = ("staging", "marts")
COLUMN_DOC = re.compile(r"--\s*@(\w+):\s*(.+)")


@dataclass
class ViewFile:
    name: str
    layer: str
    sql: str
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)

    @property
    def qualified(self) -> str:
        """Staging views live in schema `staging`, marts in `main` beside the tables."""
        return f"staging.{self.name}" if self.layer == "staging" else self.name


def parse_view_file(name: str, layer: str, sql: str) -> ViewFile:
    view = ViewFile(name, layer, sql)
    lines = []
    for line in sql.splitlines():
        if match := COLUMN_DOC.fullmatch(line.strip()):
            view.columns[match.group(1)] = match.group(2).strip()
        elif line.startswith("--"):
            lines.append(line.lstrip("- ").strip())
        else:
            break
    view.description = " ".join(lines)
    return view


def view_files() -> list[ViewFile]:
    return [parse_view_file(entry.name.removesuffix(".sql"), layer, entry.read_text())
            for layer in LAYERS
            for entry in sorted((SQL / layer).iterdir(), key=lambda e: e.name) if entry.name.endswith(".sql")]


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS staging")
    for view in view_files():
        if view.layer == "staging":   # a file from before the staging schema had it in main
            con.execute(f"DROP VIEW IF EXISTS main.{view.name}")
        con.execute(view.sql)
        con.execute(f"COMMENT ON VIEW {view.qualified} IS {sql_literal(view.description)}")
        for column, text in view.columns.items():
            con.execute(f"COMMENT ON COLUMN {view.qualified}.{column} IS {sql_literal(text)}")


def sql_literal(text: str) -> str:
    """A SQL string literal (for DuckDB statements that take no parameters: COMMENT, COPY)."""
    return "'" + text.replace("'", "''") + "'"

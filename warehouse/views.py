"""Staging and mart views from `sql/staging` and `sql/marts`, and an analyst's own marts from the
home's `marts/` folder, with comments from their SQL.

Each view file starts with `--` lines describing the view, then `-- @column: description` lines;
those become `COMMENT ON VIEW` / `COMMENT ON COLUMN`, so BI tools show them. An analyst's mart
`marts/NAME.sql` holds a query (SELECT or WITH) after its comments, and becomes the view NAME.
"""
from __future__ import annotations

import functools
import graphlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

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
    miswritten: list[str] = field(default_factory=list)   # `-- @...` lines that are no column's comment
    query: str = ""                                        # an analyst's mart: the query it is a view of

    @property
    def shown(self) -> str:
        """Staging views live in schema `staging`, marts in `main` beside the tables (and unqualified)."""
        return f"staging.{self.name}" if self.layer == "staging" else self.name

    @property
    def qualified(self) -> str:
        """The view's name in SQL, quoted: an analyst's mart may be named `order`."""
        return f'{"staging" if self.layer == "staging" else "main"}."{self.name}"'


def parse_view_file(name: str, layer: str, sql: str) -> ViewFile:
    view = ViewFile(name, layer, sql)
    lines = []
    for line in sql.splitlines():
        if match := COLUMN_DOC.fullmatch(line.strip()):
            view.columns[match.group(1)] = match.group(2).strip()
        elif line.startswith("--") and line.lstrip("- ").startswith("@"):
            view.miswritten.append(line.strip())
        elif line.startswith("--"):
            lines.append(line.lstrip("- ").strip())
        else:
            break
    view.description = " ".join(lines)
    return view


@functools.cache
def query(name: str) -> str:
    """A query of a command (`status`, `report`) from `sql/queries/NAME.sql`."""
    return (SQL / "queries" / f"{name}.sql").read_text(encoding="utf-8")


def view_files() -> list[ViewFile]:
    return [parse_view_file(entry.name.removesuffix(".sql"), layer, entry.read_text())
            for layer in LAYERS
            for entry in sorted((SQL / layer).iterdir(), key=lambda e: e.name) if entry.name.endswith(".sql")]


class MartError(RuntimeError):
    """An analyst's mart can't be created; the publish stops, and the last warehouse stays."""


NAME = re.compile(r"[a-z_][a-z0-9_]*")


def user_marts(folder: Path | None, taken: set[str]) -> list[ViewFile]:
    """The analyst's marts in folder (`<home>/marts/*.sql`), each a query made a view of its name."""
    views = []
    for path in sorted(folder.glob("*.sql")) if folder is not None and folder.is_dir() else []:
        name = path.stem
        if not NAME.fullmatch(name) or name in taken:
            raise MartError(f"{path}: the file name must be a new view name (lower-case letters, digits, _), "
                            f"not {name!r}" + (": a table or mart of profile-etl has it" if name in taken else ""))
        view = parse_view_file(name, "marts", path.read_text(encoding="utf-8-sig"))   # as Notepad saves it too
        if view.miswritten:
            raise MartError(f"{path}: a column's comment is written `-- @column_name: description`, so "
                            f"{view.miswritten[0]!r} names no column")
        query = "\n".join(line for line in view.sql.splitlines() if not line.startswith("--")).strip().rstrip(";")
        view.query, view.sql = query, f'CREATE OR REPLACE VIEW main."{name}" AS\n{query}'
        view.description = view.description or f"An analyst's mart, from {path}."
        views.append(view)
    return views


def in_creation_order(con: duckdb.DuckDBPyConnection, marts: list[ViewFile]) -> list[ViewFile]:
    """The analyst's marts ordered so that a mart reading another comes after it (DuckDB checks a
    view's query when it is created); MartError names marts that read each other."""
    by_name = {view.name: view for view in marts}
    order = graphlib.TopologicalSorter({view.name: sorted(read_marts(con, view, by_name)) for view in marts})
    try:
        return [by_name[name] for name in order.static_order()]
    except graphlib.CycleError as exc:
        raise MartError(f"the marts {' -> '.join(exc.args[1])} read each other in a circle: no order "
                        "can create them; change one of them") from None


def read_marts(con: duckdb.DuckDBPyConnection, view: ViewFile, marts: dict[str, ViewFile]) -> set[str]:
    """The other marts that view's query names, from DuckDB's parse tree (nothing is bound or read;
    a query that doesn't parse names none, and its creation says what is wrong)."""
    [(tree,)] = con.execute("SELECT json_serialize_sql($query)", {"query": view.query}).fetchall()
    tables, ctes = set(), set()
    collect_names(json.loads(tree), tables, ctes)
    return {name.lower() for schema, name in tables if schema in ("", "main")} - {c.lower() for c in ctes} \
        & (marts.keys() - {view.name})


def collect_names(node, tables: set[tuple[str, str]], ctes: set[str]) -> None:
    """The (schema, name) of each table a parse tree reads, and the names of its CTEs."""
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE":
            tables.add((node.get("schema_name", ""), node.get("table_name", "")))
        ctes.update(entry["key"] for entry in node.get("cte_map", {}).get("map", []))
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            collect_names(child, tables, ctes)


def create_views(con: duckdb.DuckDBPyConnection, marts_folder: Path | None = None) -> None:
    """The package's views, then the analyst's marts; a view of `main` neither defines (a mart
    whose file is gone) is dropped."""
    con.execute("CREATE SCHEMA IF NOT EXISTS staging")
    package = view_files()
    taken = {v.name for v in package} | {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()}
    for view in package:
        if view.layer == "staging":   # a file from before the staging schema had it in main
            con.execute(f"DROP VIEW IF EXISTS main.{view.name}")
        create_view(con, view)
    own = in_creation_order(con, [one_query(con, view, marts_folder) for view in user_marts(marts_folder, taken)])
    for view in own:
        try:
            create_view(con, view)
            con.execute(f"SELECT * FROM {view.qualified} LIMIT 0")
        except duckdb.Error as exc:
            raise MartError(f"{marts_folder / (view.name + '.sql')}: {exc}") from None
    wanted = {v.name for v in package + own}
    for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal").fetchall():
        if name not in wanted:
            con.execute(f'DROP VIEW main."{name}"')


def one_query(con: duckdb.DuckDBPyConnection, view: ViewFile, folder: Path) -> ViewFile:
    """An analyst's mart whose file holds one query: any other statement would run on the warehouse."""
    try:
        kinds = [statement.type.name for statement in con.extract_statements(view.query)]
    except duckdb.Error as exc:
        raise MartError(f"{folder / (view.name + '.sql')}: {exc}") from None
    if kinds != ["SELECT"]:
        raise MartError(f"{folder / (view.name + '.sql')}: a mart is one query (SELECT, or WITH ... SELECT); the file "
                        f"holds {len(kinds)} statements ({', '.join(kinds)}): nothing of it was run")
    return view


def create_view(con: duckdb.DuckDBPyConnection, view: ViewFile) -> None:
    con.execute(view.sql)
    con.execute(f"COMMENT ON VIEW {view.qualified} IS {sql_literal(view.description)}")
    for column, text in view.columns.items():
        con.execute(f'COMMENT ON COLUMN {view.qualified}."{column}" IS {sql_literal(text)}')


def sql_literal(text: str) -> str:
    """A SQL string literal (for DuckDB statements that take no parameters: COMMENT, COPY)."""
    return "'" + text.replace("'", "''") + "'"

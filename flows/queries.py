"""Read-side commands: SQL on the warehouse, status, export, tables, describe and the data tests."""
from __future__ import annotations

import csv
import io
import math
from decimal import Decimal
from pathlib import Path

import duckdb

from core import identity
from flows import json_out
from store import lock
from store.advice import command
from store.errors import UserError
from warehouse.load import connect
from warehouse.views import sql_literal
from warehouse.views import query as named_query


def open_read_only(warehouse: Path) -> duckdb.DuckDBPyConnection:
    if warehouse.exists():
        return connect(warehouse, read_only=True)
    lake = warehouse.parent / "lake"
    if not (lake / "runs").is_dir():
        raise UserError(f"no warehouse at {warehouse}: run `profile-etl run` first, or pass --home")
    if lake_has_runs(lake):
        raise UserError(f"no warehouse at {warehouse}, though the home has a lake: "
                        f"{command(lake, 'rebuild', warehouse.parent)} makes it again from the lake")
    if holder := lock.current_holder(warehouse.parent):   # a first run of a big inbox takes minutes
        raise UserError(f"no warehouse at {warehouse} yet: {lock.holder_of(holder)} is working on this home, and "
                        "no run has completed in it before; its results are here once it completes")
    raise UserError(f"no warehouse at {warehouse}: no run has completed in this home; run `profile-etl run` first")


def lake_has_runs(lake: Path) -> bool:
    """Whether a run (or a rebuild) committed to the home's lake; a first run stopped before its commit
    point leaves only empty tables."""
    from warehouse import lake as lake_mod   # deltalake only on this error path
    try:
        table = lake_mod.open_table(lake, "runs")
    except Exception:   # a damaged table: doctor names it
        return True
    return table is not None and lake_mod.run_of(table) > 0


def open_for_queries(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse for what a user types: the read-only file refuses writes to it, and with
    external access off nothing else can be read or written either (`COPY … TO`, `ATTACH`,
    `read_text`, installing extensions). Locked, so a query can't turn that back on."""
    con = open_read_only(warehouse)
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def query(warehouse: Path, sql: str) -> tuple[list[tuple], list[str]]:
    with open_for_queries(warehouse) as con:
        try:
            if len(con.extract_statements(sql)) > 1:   # only the last one's rows would show
                raise UserError("`sql` runs one statement at a time: pass each as its own `sql` command")
            cursor = con.execute(sql)
        except duckdb.PermissionException as exc:
            raise UserError(f"`sql` reads the warehouse only, no other file ({exc}); to write tables to files "
                            "use `profile-etl export DIR`") from None
        except duckdb.Error as exc:
            if "read-only" in str(exc).lower():
                raise UserError("the warehouse is opened read-only: `sql` runs queries, not writes "
                                f"({exc.__class__.__name__}: {exc})") from None
            raise UserError(f"query failed: {exc}") from None
        if cursor is None:
            raise UserError("the query has no statement to run: pass one, e.g. `sql \"SELECT * FROM profiles\"`")
        if cursor.description is None:
            return [], []
        return cursor.fetchall(), [d[0] for d in cursor.description]


def unique_names(columns: list[str]) -> list[str]:
    """JSON objects need distinct keys: a repeated column name gets the first free `_2`, `_3`..."""
    used: set[str] = set()
    out = []
    for name in columns:
        k, unique = 1, name
        while unique in used:
            k += 1
            unique = f"{name}_{k}"
        used.add(unique)
        out.append(unique)
    return out


def json_value(value):
    """Strict JSON has no NaN or infinities: they become null, in lists and structs too. A DECIMAL is a
    number, as DuckDB's own JSON writes it (a double past 15 or so digits)."""
    if isinstance(value, Decimal):
        value = int(value) if value.is_finite() and value == value.to_integral_value() else float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    return value


def json_rows(rows: list[tuple], columns: list[str]) -> list[dict]:
    names = unique_names(columns)
    return [{k: json_value(v) for k, v in zip(names, row)} for row in rows]


def dump_json(data) -> str:
    return json_out.dumps(data, ensure_ascii=False, allow_nan=False)


CELL_WIDTH = 60


def render(rows: list[tuple], columns: list[str], fmt: str, whole_last: bool = False) -> str:
    """The rows as JSON, CSV (ending in a newline) or a table whose longer cells are cut with `…`
    (whole_last: but for the last column's, such as a reason that says what to do)."""
    if fmt == "json":
        return dump_json(json_rows(rows, columns)) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return out.getvalue()
    cells = [columns] + [[_cell(v, whole_last and i == len(row) - 1) for i, v in enumerate(row)] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    widths[-1] = len(columns[-1]) if whole_last else widths[-1]   # a long last cell only runs on
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines + [f"({len(rows)} row{'' if len(rows) == 1 else 's'})"]) + "\n"


def _cell(value, whole: bool = False) -> str:
    text = "" if value is None else identity.shown(" ".join(str(value).splitlines()))
    return text if whole or len(text) <= CELL_WIDTH else text[:CELL_WIDTH - 1] + "…"


STATUS_QUERIES = {"dumps per status": "status_dumps_per_status", "tables": "status_tables",
                  "last runs": "status_last_runs", "quarantined dumps": "quarantined_dumps",
                  "rejected entries": "rejected_entries"}


def status(warehouse: Path, as_json: bool = False) -> str:
    with open_read_only(warehouse) as con:
        results = {}
        for title, name in STATUS_QUERIES.items():
            cursor = con.execute(named_query(name))
            results[title] = (cursor.fetchall(), [d[0] for d in cursor.description])
    if as_json:
        return dump_json({title: json_rows(*result) for title, result in results.items()})
    return "\n\n".join(f"## {title}\n{render(rows, columns, 'table', whole_last=True).rstrip()}"
                       for title, (rows, columns) in results.items())


def export(warehouse: Path, out: Path, fmt: str) -> list[Path]:
    """Every table and mart (an analyst's own too) as `<out>/<name>.<fmt>`, each file replaced whole;
    a mart that fails when queried is named in a UserError after the others are written."""
    from warehouse.catalog import QUERY_ERRORS, RELATIONS, mart_hint, query_error
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER true"
    written, failed = [], []
    with open_read_only(warehouse) as con:   # first: no folder is made for a home that has no warehouse
        out.mkdir(parents=True, exist_ok=True)
        for name, _, _ in con.execute(RELATIONS).fetchall():
            target, tmp = out / f"{name}.{fmt}", out / f".{name}.{fmt}.tmp"
            try:
                con.execute(f'COPY (SELECT * FROM main."{name}") TO {sql_literal(str(tmp))} ({options})')
            except QUERY_ERRORS as exc:
                tmp.unlink(missing_ok=True)
                failed.append(f"{name}: {query_error(exc)}")
                continue
            tmp.replace(target)
            written.append(target)
    if failed:
        raise UserError(f"wrote {len(written)} files to {out}, but {len(failed)} marts fail when queried "
                        f"({mart_hint()}): {'; '.join(failed)}")
    return written


def tables_text(warehouse: Path) -> str:
    """The tables and marts, one line each: name, kind, rows, description."""
    with open_read_only(warehouse) as con:
        rows = warehouse_relations(con, warehouse)
    width = max(len(name) for name, *_ in rows)
    return "".join(f"{name:<{width}}  {kind:<5}  {rows_shown(count):>9}  {text}\n" for name, kind, count, text in rows)


def rows_shown(count: int | None) -> str:
    return "error" if count is None else f"{count:,}"


def warehouse_relations(con: duckdb.DuckDBPyConnection, warehouse: Path) -> list[tuple]:
    from warehouse.catalog import relations
    if not (found := relations(con)):
        raise UserError(f"{warehouse} holds no tables: not a warehouse profile-etl made; "
                        f"{command(warehouse.parent / 'lake', 'rebuild', warehouse.parent)} makes it again from the lake")
    return found


def describe_text(warehouse: Path, name: str) -> str:
    """A table's or mart's description, then its columns: name, type, description."""
    from warehouse.catalog import columns
    with open_read_only(warehouse) as con:
        found = {rel[0]: rel for rel in warehouse_relations(con, warehouse)}
        if name not in found:
            raise UserError(f"no table or mart named {name!r}; `profile-etl tables` lists them: {', '.join(found)}")
        cols = columns(con, name)
    _, kind, count, text = found[name]
    width, type_width = max(len(c) for c, *_ in cols), max(len(t) for _, t, _ in cols)
    lines = [f"{name} ({kind}, {rows_shown(count)} rows): {text}", ""]
    lines += [f"{column:<{width}}  {dtype:<{type_width}}  {about}" for column, dtype, about in cols]
    return "\n".join(lines) + "\n"


def check_text(warehouse: Path) -> tuple[str, int]:
    """Each data test's result (offending rows of a failing one), and how many failed."""
    from warehouse.checks import DataCheckBroken, check_all, check_description
    with open_read_only(warehouse) as con:
        try:
            results = check_all(con)
        except DataCheckBroken as exc:   # the check's SQL, not the warehouse file
            raise UserError(str(exc)) from None
    lines, failed = [], 0
    for name, (columns, rows) in results.items():
        lines.append(f"{'FAIL' if rows else 'pass'}  {name}: {check_description(name)}")
        if rows:
            failed += 1
            lines += ["      " + line for line in render(rows, columns, "table").splitlines()]
    lines.append(f"{len(results)} data tests: {len(results) - failed} passed, {failed} failed")
    return "\n".join(lines) + "\n", failed

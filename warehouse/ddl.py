"""The warehouse's tables in DuckDB, derived from the registry (schemas/tables.py): their DDL, their
primary keys, and comments from the models' descriptions, so BI tools show them."""
from __future__ import annotations

import duckdb
import polars as pl

from schemas.tables import REGISTRY, polars_schema
from warehouse.views import sql_literal

SQL_TYPES = {pl.String: "VARCHAR", pl.Int64: "BIGINT", pl.Float64: "DOUBLE", pl.Boolean: "BOOLEAN", pl.Date: "DATE"}


def sql_type(dtype: pl.DataType) -> str:
    return "TIMESTAMPTZ" if isinstance(dtype, pl.Datetime) else SQL_TYPES[dtype]


def create_table(name: str) -> str:
    """A table's CREATE statement: its model's columns, types and nullability (keys come later)."""
    columns = REGISTRY[name].model.to_schema().columns
    lines = [f"    {column} {sql_type(dtype)}{'' if columns[column].nullable else ' NOT NULL'}"
             for column, dtype in polars_schema(REGISTRY[name].model).items()]
    return f"CREATE TABLE IF NOT EXISTS {name} (\n" + ",\n".join(lines) + "\n)"


def add_primary_key(con: duckdb.DuckDBPyConnection, name: str) -> None:
    if keys := REGISTRY[name].key:
        con.execute(f"ALTER TABLE {name} ADD PRIMARY KEY ({', '.join(keys)})")


def describe_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Table and column comments from the pandera models."""
    for name in REGISTRY:
        describe_table(con, name)


def describe_table(con: duckdb.DuckDBPyConnection, name: str) -> None:
    con.execute(f"COMMENT ON TABLE {name} IS {sql_literal(REGISTRY[name].description)}")
    for column, spec in REGISTRY[name].model.to_schema().columns.items():
        con.execute(f"COMMENT ON COLUMN {name}.{column} IS {sql_literal(spec.description or '')}")

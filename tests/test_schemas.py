"""The models are the contract: every field described, the DuckDB DDL in step with them."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import duckdb
import pytest

from schemas.raw import RawDump, RawEntry
from schemas.tables import APPEND, MERGE, REGISTRY, TABLES, polars_schema
from warehouse.load import add_missing_keys, ensure_schema

MODELS = {**TABLES, "raw_dumps": RawDump, "raw_entries": RawEntry}


@pytest.mark.parametrize("name", MODELS)
def test_every_field_has_a_description(name):
    columns = MODELS[name].to_schema().columns
    assert columns and all(spec.description for spec in columns.values()), name
    assert MODELS[name].__doc__


def test_duckdb_tables_match_the_models_and_carry_their_comments(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ensure_schema(con)
        add_missing_keys(con)   # a load adds them after a new table's first rows
        for name, model in TABLES.items():
            described = con.execute(f"SELECT column_name, comment, is_nullable FROM duckdb_columns() "
                                    f"WHERE table_name = '{name}' ORDER BY column_index").fetchall()
            specs = model.to_schema().columns
            assert [c for c, _, _ in described] == list(polars_schema(model).names()), name
            assert all(comment == specs[c].description for c, comment, _ in described), name
            assert all(nullable == specs[c].nullable for c, _, nullable in described), name
        keys = dict(con.execute("SELECT table_name, constraint_column_names FROM duckdb_constraints() "
                                "WHERE constraint_type = 'PRIMARY KEY'").fetchall())
    assert keys["papers"] == ["paper_id"] and keys["listings"] == ["dump_id", "rank"]
    assert keys["paper_authors"] == ["paper_id", "position"] and keys["runs"] == ["run_id"]


def test_the_registry_names_only_columns_its_tables_have():
    for name, table in REGISTRY.items():
        columns = set(polars_schema(table.model).names())
        named = {*table.latest_by, *(c for c in (table.bucket_of, table.scoped_by) if c)}
        assert named <= columns, (name, named - columns)
        assert table.kind in (APPEND, MERGE) and (table.key or table.kind == APPEND), name
        assert not table.latest_by or table.kind == MERGE, name   # only a merged table has versions to pick from


def test_a_column_added_to_a_model_reaches_the_ddl_and_the_dictionary(monkeypatch):
    """The DDL and the dictionary derive from the model: nothing else lists a table's columns."""
    import pandera.polars as pa

    from warehouse import ddl, dictionary
    extended = type("Authors", (REGISTRY["authors"].model,), {
        "__annotations__": {"orcid": str}, "orcid": pa.Field(nullable=True, description="ORCID iD, when shown")})
    monkeypatch.setitem(REGISTRY, "authors", dataclasses.replace(REGISTRY["authors"], model=extended))
    assert "    orcid VARCHAR\n)" in ddl.create_table("authors")
    assert "| `orcid` | VARCHAR | yes | ORCID iD, when shown |" in dictionary.render()


@pytest.mark.parametrize("given, expected", [(None, "in-memory"), ("streaming", "streaming")])
def test_validation_runs_on_polars_in_memory_engine_unless_the_user_chose_one(given, expected):
    """pandera's many small queries cost several times more on the streaming engine (docs/benchmarks.md)."""
    env = {k: v for k, v in os.environ.items() if k != "POLARS_ENGINE_AFFINITY"}
    env |= {"POLARS_ENGINE_AFFINITY": given} if given else {}
    shown = subprocess.run([sys.executable, "-c", "import schemas.tables, polars as pl; "
                            "print(pl.Config.state(if_set=True).get('POLARS_ENGINE_AFFINITY'))"],
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert shown == expected

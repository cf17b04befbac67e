"""What BI tools and analysts get: comments everywhere, the data dictionary, SQLAlchemy access, exports."""
from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
import sqlalchemy as sa

from flows.cli import main
from schemas.tables import REGISTRY
from tests.test_marts import home  # noqa: F401  (the session's two-profile home, tests/conftest.py)
from warehouse.dictionary import render
from warehouse.views import view_files

DICTIONARY = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"
TABLES_AND_MARTS = len(REGISTRY) + sum(view.layer == "marts" for view in view_files())
USER_OBJECTS = "SELECT {} FROM duckdb_{}() WHERE NOT internal AND schema_name = 'main'"


def test_data_dictionary_is_up_to_date():
    assert DICTIONARY.read_text() == render(), "regenerate: python -m warehouse.dictionary > docs/data-dictionary.md"


def test_every_table_view_and_column_has_a_comment_and_a_dictionary_line(home):  # noqa: F811
    text = DICTIONARY.read_text()
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        relations = con.execute(USER_OBJECTS.format("table_name, comment", "tables", "table_name")).fetchall()
        relations += con.execute(USER_OBJECTS.format("view_name, comment", "views", "view_name")).fetchall()
        staging = con.execute("SELECT 'staging.' || view_name, comment FROM duckdb_views() WHERE schema_name = 'staging'").fetchall()
        columns = con.execute("SELECT CASE schema_name WHEN 'main' THEN '' ELSE schema_name || '.' END || table_name, "
                              "column_name, comment FROM duckdb_columns() "
                              "WHERE NOT internal AND schema_name IN ('main', 'staging')").fetchall()
    assert len(relations) == TABLES_AND_MARTS   # staging views and the load's bookkeeping are elsewhere
    relations += staging
    assert [name for name, comment in relations if not comment] == []
    assert [(t, c) for t, c, comment in columns if not comment] == []
    assert all(f"## `{name}` (" in text for name, _ in relations)
    assert [(t, c) for t, c, comment in columns if f"| `{c}` |" not in text.split(f"## `{t}` (")[1].split("\n## ")[0]] == []


@pytest.fixture
def engine(home):  # noqa: F811
    """A BI tool's engine on the warehouse, disposed however the test ends: an open one would keep
    the file open with another configuration than the tests after it open it with."""
    engine = sa.create_engine(f"duckdb:///{home / 'warehouse.duckdb'}", connect_args={"read_only": True})
    yield engine
    engine.dispose()


def test_sqlalchemy_client_lists_tables_with_comments_and_runs_a_mart(engine):
    inspector = sa.inspect(engine)
    assert {"papers", "profiles", "listings"} <= set(inspector.get_table_names())
    assert {"profile_growth", "coauthors", "profile_coauthors"} <= set(inspector.get_view_names())
    assert not [n for n in inspector.get_table_names() + inspector.get_view_names() if n.startswith(("_", "stg_"))]
    assert inspector.get_table_comment("papers")["text"].startswith("One row per distinct paper")
    comments = {c["name"]: c["comment"] for c in inspector.get_columns("profile_growth")}
    assert comments["citations_change"].startswith("citations minus")
    # a BI tool's schema browser lists schema by schema: main holds the tables and marts, each column described
    assert {"main", "staging", "internal"} <= {name.split(".")[-1] for name in inspector.get_schema_names()}
    relations = inspector.get_table_names(schema="main") + inspector.get_view_names(schema="main")
    assert len(relations) == TABLES_AND_MARTS
    assert [(r, c["name"]) for r in relations for c in inspector.get_columns(r, schema="main") if not c["comment"]] == []
    with engine.connect() as con:
        rows = con.execute(sa.text("SELECT snapshot_no, citations_change FROM profile_growth "
                                   "WHERE profile_key = '7707062aadfcc580' ORDER BY 1")).fetchall()
    assert rows == [(1, None), (2, 156)]


def test_export_writes_stable_file_names_that_read_back(home, tmp_path):  # noqa: F811
    out = tmp_path / "it's an export"   # a quote in the path: COPY takes it as a literal
    assert main(["--home", str(home), "export", str(out)]) == 0
    assert main(["--home", str(home), "export", str(out), "--format", "csv"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"papers.parquet", "papers.csv", "profile_growth.parquet", "new_papers.csv"} <= names
    assert not [n for n in names if n.startswith(".")]
    assert pl.read_parquet(out / "papers.parquet").height == 53 == pl.read_csv(out / "papers.csv").height


def test_export_names_files_of_relations_the_warehouse_no_longer_has_and_keeps_them(home, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "export"
    out.mkdir()
    (out / "old_mart.parquet").write_bytes(b"an earlier export's")
    assert main(["--home", str(home), "export", str(out)]) == 0
    said = capsys.readouterr().out
    assert "also holds old_mart.parquet, which no table or mart of the warehouse has now" in said
    assert "papers.parquet" not in said.split("also holds")[1]
    assert (out / "old_mart.parquet").read_bytes() == b"an earlier export's"
